package rtpmunge

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp/codecs"
)

func TestParseVP8(t *testing.T) {
	testCases := []struct {
		name string
		in   []byte
		want VP8Descriptor
		err  error
	}{
		{"empty", nil, VP8Descriptor{}, ErrShortPayload},
		{"minimal key frame", []byte{0x10, 0x00}, VP8Descriptor{Start: true, KeyFrame: true, HeaderSize: 1}, nil},
		{"minimal inter frame", []byte{0x10, 0x01}, VP8Descriptor{Start: true, HeaderSize: 1}, nil},
		{"not a partition start", []byte{0x00, 0x00}, VP8Descriptor{HeaderSize: 1}, nil},
		{"partition 1 start", []byte{0x11, 0x00}, VP8Descriptor{Start: true, PartitionID: 1, HeaderSize: 1}, nil},
		{"non-reference", []byte{0x20, 0x01}, VP8Descriptor{NonReference: true, HeaderSize: 1}, nil},
		{"X with nothing", []byte{0x90, 0x00, 0x00}, VP8Descriptor{Start: true, KeyFrame: true, HeaderSize: 2}, nil},
		{"7-bit picture id", []byte{0x90, 0x80, 0x55, 0x01}, VP8Descriptor{
			Start: true, PictureIDPresent: true, PictureID: 0x55, HeaderSize: 3}, nil},
		{"15-bit picture id", []byte{0x90, 0x80, 0x81, 0x23, 0x00}, VP8Descriptor{
			Start: true, PictureIDPresent: true, PictureID15: true, PictureID: 0x0123, KeyFrame: true, HeaderSize: 4}, nil},
		{"all fields, as Chrome sends", []byte{0x90, 0xf0, 0xab, 0xcd, 0x42, 0b10_1_00111, 0x00}, VP8Descriptor{
			Start: true, PictureIDPresent: true, PictureID15: true, PictureID: 0x2bcd,
			TL0PICIDXPresent: true, TL0PICIDX: 0x42,
			TIDPresent: true, TID: 2, Y: true,
			KeyIdxPresent: true, KeyIdx: 7,
			KeyFrame: true, HeaderSize: 6}, nil},
		{"T without K", []byte{0x80, 0x20, 0b01_0_11111, 0x01}, VP8Descriptor{
			TIDPresent: true, TID: 1, HeaderSize: 3}, nil},
		{"K without T", []byte{0x80, 0x10, 0b11_1_00101, 0x01}, VP8Descriptor{
			KeyIdxPresent: true, KeyIdx: 5, HeaderSize: 3}, nil},
		{"L without I", []byte{0x80, 0x40, 0x07, 0x01}, VP8Descriptor{
			TL0PICIDXPresent: true, TL0PICIDX: 7, HeaderSize: 3}, nil},
		{"truncated X", []byte{0x80}, VP8Descriptor{}, ErrShortPayload},
		{"truncated I", []byte{0x80, 0x80}, VP8Descriptor{}, ErrShortPayload},
		{"truncated M", []byte{0x80, 0x80, 0x80}, VP8Descriptor{}, ErrShortPayload},
		{"truncated L", []byte{0x80, 0xc0, 0x01}, VP8Descriptor{}, ErrShortPayload},
		{"truncated T", []byte{0x80, 0xe0, 0x01, 0x02}, VP8Descriptor{}, ErrShortPayload},
		{"no payload after the descriptor", []byte{0x80, 0xe0, 0x01, 0x02, 0x00}, VP8Descriptor{}, ErrShortPayload},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVP8(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseVP8 checks ParseVP8 against pion's VP8 depacketizer.
func FuzzParseVP8(f *testing.F) {
	for _, seed := range [][]byte{
		{0x10, 0x00}, {0x90, 0xf0, 0xab, 0xcd, 0x42, 0xa7, 0x00}, {0x90, 0x80, 0x55, 0x01},
		{0x80, 0x20, 0x5f, 0x01}, {0x80, 0x40}, {0x80, 0xe0, 0x01, 0x02},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseVP8(b)
		var p codecs.VP8Packet
		rest, perr := p.Unmarshal(b)
		if err != nil {
			// pion accepts a descriptor with no payload; we do not.
			if perr == nil && len(rest) != 0 {
				t.Fatalf("%x: we fail (%v), pion parses", b, err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("%x: pion fails (%v), we parse", b, perr)
		}
		if d.HeaderSize != len(b)-len(rest) ||
			d.NonReference != (p.N == 1) || d.Start != (p.S == 1) || d.PartitionID != p.PID ||
			d.PictureIDPresent != (p.I == 1) || d.TL0PICIDXPresent != (p.L == 1) ||
			d.TIDPresent != (p.T == 1) || d.KeyIdxPresent != (p.K == 1) ||
			d.PictureID != p.PictureID || d.TL0PICIDX != p.TL0PICIDX ||
			(d.TIDPresent && (d.TID != p.TID || d.Y != (p.Y == 1))) ||
			d.KeyIdx != p.KEYIDX {
			t.Fatalf("%x: ours %+v, pion %+v", b, d, p)
		}
	})
}

// vp8 builds a VP8 payload: S set, PID 0, with a 7-bit (m false) or 15-bit
// PictureID, a TL0PICIDX, a TID, and one payload byte (key frame or not).
func vp8(m bool, pid uint16, tl0 uint8, tid uint8, key bool) []byte {
	b := []byte{0x90, 0xe0}
	if m {
		b = append(b, 0x80|byte(pid>>8), byte(pid))
	} else {
		b = append(b, byte(pid&0x7f))
	}
	b = append(b, tl0, tid<<6)
	if key {
		return append(b, 0x00)
	}
	return append(b, 0x01)
}

func TestVP8Munger(t *testing.T) {
	type pkt struct {
		sw      bool // Switch before it
		in      []byte
		wantPID uint16
		wantTL0 uint8
	}
	testCases := []struct {
		name string
		pkts []pkt
	}{
		{"first stream passes unchanged", []pkt{
			{false, vp8(true, 1000, 10, 0, true), 1000, 10},
			{false, vp8(true, 1001, 10, 1, false), 1001, 10},
			{false, vp8(true, 1002, 11, 0, false), 1002, 11},
		}},
		{"switch continues both fields", []pkt{
			{false, vp8(true, 1000, 10, 0, true), 1000, 10},
			{false, vp8(true, 1001, 11, 0, false), 1001, 11},
			{true, vp8(true, 20000, 200, 0, true), 1002, 12},
			{false, vp8(true, 20000, 200, 0, true), 1002, 12}, // same picture, next packet
			{false, vp8(true, 20001, 200, 1, false), 1003, 12},
			{false, vp8(true, 20002, 201, 0, false), 1004, 13},
		}},
		{"15-bit wraps at 32768", []pkt{
			{false, vp8(true, 32767, 255, 0, true), 32767, 255},
			{false, vp8(true, 0, 0, 0, false), 0, 0},
			{true, vp8(true, 500, 9, 0, true), 1, 1},
		}},
		{"switch over the wrap", []pkt{
			{false, vp8(true, 32767, 255, 0, true), 32767, 255},
			{true, vp8(true, 12, 30, 0, true), 0, 0},
			{false, vp8(true, 13, 31, 0, false), 1, 1},
		}},
		{"7-bit stays 7-bit and wraps at 128", []pkt{
			{false, vp8(false, 126, 5, 0, true), 126, 5},
			{false, vp8(false, 127, 5, 0, false), 127, 5},
			{true, vp8(false, 40, 77, 0, true), 0, 6},
			{false, vp8(false, 41, 77, 0, false), 1, 6},
		}},
		{"15-bit to 7-bit keeps the low bits continuous", []pkt{
			{false, vp8(true, 1000, 10, 0, true), 1000, 10},
			{true, vp8(false, 3, 50, 0, true), 1001 & 0x7f, 11},
			{false, vp8(false, 4, 50, 0, false), 1002 & 0x7f, 11},
		}},
		{"7-bit to 15-bit", []pkt{
			{false, vp8(false, 100, 10, 0, true), 100, 10},
			{true, vp8(true, 9000, 50, 0, true), 101, 11},
		}},
		{"late packet does not move the origin", []pkt{
			{false, vp8(true, 1000, 10, 0, true), 1000, 10},
			{false, vp8(true, 1002, 11, 0, false), 1002, 11},
			{false, vp8(true, 1001, 10, 1, false), 1001, 10}, // late
			{true, vp8(true, 7, 3, 0, true), 1003, 12},
		}},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			var v VP8Munger
			for i, p := range tc.pkts {
				if p.sw {
					v.Switch()
				}
				buf := bytes.Clone(p.in)
				in, err := v.Process(buf)
				if err != nil {
					t.Fatal(err)
				}
				if want, _ := ParseVP8(p.in); in != want {
					t.Fatalf("packet %d: returned %+v, not the input descriptor", i, in)
				}
				out, err := ParseVP8(buf)
				if err != nil {
					t.Fatal(err)
				}
				if out.PictureID != p.wantPID || out.TL0PICIDX != p.wantTL0 {
					t.Fatalf("packet %d: PictureID %d TL0PICIDX %d, want %d %d", i, out.PictureID, out.TL0PICIDX, p.wantPID, p.wantTL0)
				}
				// Only those two fields change.
				out.PictureID, out.TL0PICIDX = in.PictureID, in.TL0PICIDX
				if out != in || len(buf) != len(p.in) || buf[len(buf)-1] != p.in[len(p.in)-1] {
					t.Fatalf("packet %d: other fields changed: %+v", i, out)
				}
			}
		})
	}
}

func TestVP8MungerPartialDescriptors(t *testing.T) {
	var v VP8Munger
	// No PictureID, TL0PICIDX only: rewritten at offset 2.
	if _, err := v.Process([]byte{0x90, 0x40, 5, 0}); err != nil {
		t.Fatal(err)
	}
	v.Switch()
	b := []byte{0x90, 0x40, 99, 0}
	if _, err := v.Process(b); err != nil || b[2] != 6 {
		t.Fatalf("TL0PICIDX %d %v, want 6", b[2], err)
	}
	// No descriptor extension at all: nothing to rewrite.
	b = []byte{0x10, 0x00}
	if _, err := v.Process(b); err != nil || !bytes.Equal(b, []byte{0x10, 0x00}) {
		t.Fatalf("%x %v", b, err)
	}
	// A broken descriptor is left alone.
	b = []byte{0x80, 0x80}
	if _, err := v.Process(b); !errors.Is(err, ErrShortPayload) || !bytes.Equal(b, []byte{0x80, 0x80}) {
		t.Fatalf("%x %v", b, err)
	}
}

// TestVP8MungerRetransmission: a packet rewritten again before the next
// Switch (a NACK answered from the cache) comes out the same.
func TestVP8MungerRetransmission(t *testing.T) {
	var v VP8Munger
	v.Process(vp8(true, 100, 1, 0, true))
	v.Switch()
	first := vp8(true, 5000, 40, 0, true)
	v.Process(first)
	for i := range 10 {
		v.Process(vp8(true, uint16(5001+i), uint8(41+i), 0, false))
	}
	again := vp8(true, 5000, 40, 0, true)
	v.Process(again)
	if !bytes.Equal(first, again) {
		t.Fatalf("retransmission %x, original %x", again, first)
	}
}

func TestVP8Allocs(t *testing.T) {
	var v VP8Munger
	buf := vp8(true, 100, 1, 0, true)
	var i int
	if a := testing.AllocsPerRun(1000, func() {
		i++
		if i%100 == 0 {
			v.Switch()
		}
		buf[3]++
		v.Process(buf)
		KeyFrame("video/VP8", buf)
	}); a != 0 {
		t.Errorf("%v allocs per packet, want 0", a)
	}
}

func BenchmarkParseVP8(b *testing.B) {
	buf := vp8(true, 100, 1, 0, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseVP8(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVP8Munger(b *testing.B) {
	var v VP8Munger
	buf := vp8(true, 100, 1, 0, true)
	b.ReportAllocs()
	var i int
	for b.Loop() {
		i++
		if i%1000 == 0 {
			v.Switch()
		}
		buf[3]++
		if _, err := v.Process(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVP8MungerActive(t *testing.T) {
	var v VP8Munger
	if v.Active() {
		t.Fatal("zero value active")
	}
	v.Switch()
	if !v.Active() {
		t.Fatal("not active after Switch")
	}
	var w VP8Munger
	w.Process(vp8(true, 1, 1, 0, true))
	if !w.Active() {
		t.Fatal("not active after a packet")
	}
}

// FuzzVP8KeyFrame checks the short path of KeyFrame against ParseVP8.
func FuzzVP8KeyFrame(f *testing.F) {
	for _, seed := range [][]byte{
		{0x10, 0x00}, {0x10, 0x01}, {0x90, 0xf0, 0xab, 0xcd, 0x42, 0xa7, 0x00}, {0x90, 0x80, 0x55, 0x00},
		{0x90, 0x80, 0x85}, {0x90, 0x40}, {0x11, 0x00}, {0x90, 0xe0, 0x01, 0x02},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseVP8(b)
		if want := err == nil && d.KeyFrame; vp8KeyFrame(b) != want {
			t.Fatalf("%x: vp8KeyFrame %v, ParseVP8 %v", b, !want, want)
		}
	})
}
