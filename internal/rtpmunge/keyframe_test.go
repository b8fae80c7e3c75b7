package rtpmunge

import "testing"

func TestH264KeyFrame(t *testing.T) {
	// NAL header bytes: F=0, NRI=3, type.
	const (
		idr   = 0x65
		sps   = 0x67
		pps   = 0x68
		slice = 0x41 // non-IDR slice
		sei   = 0x06
	)
	testCases := []struct {
		name string
		in   []byte
		want bool
	}{
		{"empty", nil, false},
		{"IDR", []byte{idr, 0x88, 0x84}, true},
		{"SPS", []byte{sps, 0x42, 0xc0, 0x1f}, true},
		{"PPS alone", []byte{pps, 0xce}, false},
		{"non-IDR slice", []byte{slice, 0x9a}, false},
		{"SEI", []byte{sei, 0x05}, false},
		{"STAP-A SPS PPS IDR", []byte{0x78, 0, 2, sps, 0x42, 0, 1, pps, 0, 2, idr, 0x88}, true},
		{"STAP-A SPS first", []byte{0x78, 0, 4, sps, 0x42, 0xc0, 0x1f}, true},
		{"STAP-A IDR last", []byte{0x78, 0, 2, sei, 0x05, 0, 1, pps, 0, 2, idr, 0x88}, true},
		{"STAP-A no key", []byte{0x78, 0, 2, sei, 0x05, 0, 2, slice, 0x9a}, false},
		{"STAP-A size past the end", []byte{0x78, 0, 9, sei, 0x05, 0, 2, idr, 0x88}, false},
		{"STAP-A zero size", []byte{0x78, 0, 0, idr}, false},
		{"STAP-A truncated size", []byte{0x78, 0}, false},
		{"STAP-A size with no unit", []byte{0x78, 0, 1}, false},
		{"STAP-B", []byte{0x79, 0, 7, 0, 2, idr, 0x88}, true},
		{"STAP-B no key", []byte{0x79, 0, 7, 0, 2, slice, 0x88}, false},
		{"FU-A start IDR", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A start SPS", []byte{0x7c, 0x87, 0x42}, true},
		{"FU-A middle IDR", []byte{0x7c, 0x05, 0x88}, false},
		{"FU-A end IDR", []byte{0x7c, 0x45, 0x88}, false},
		{"FU-A start non-IDR", []byte{0x7c, 0x81, 0x9a}, false},
		{"FU-A truncated", []byte{0x7c}, false},
		{"FU-B start IDR", []byte{0x7d, 0x85, 0, 1, 0x88}, true},
		{"MTAP16", []byte{0x7a, 0, 1, 0, 2, idr, 0x88}, false},
	}
	for _, tc := range testCases {
		if got := H264KeyFrame(tc.in); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestVP9KeyFrame(t *testing.T) {
	const (
		I = 0x80
		P = 0x40
		L = 0x20
		F = 0x10
		B = 0x08
		E = 0x04
		V = 0x02
	)
	testCases := []struct {
		name string
		in   []byte
		want bool
	}{
		{"empty", nil, false},
		{"bare key start", []byte{B, 0}, true},
		{"inter-predicted", []byte{P | B, 0}, false},
		{"not the frame's first packet", []byte{0, 0}, false},
		{"7-bit picture id", []byte{I | B | E, 0x12, 0}, true},
		{"15-bit picture id, layer 0", []byte{I | L | B, 0x81, 0x23, 0b000_0_000_0, 5, 0}, true},
		{"15-bit picture id, spatial layer 1", []byte{I | L | B, 0x81, 0x23, 0b000_1_001_1, 5, 0}, false},
		{"7-bit picture id, spatial layer 2", []byte{I | L | B, 0x12, 0b000_0_010_0, 5, 0}, false},
		{"temporal layer does not matter", []byte{I | L | B, 0x12, 0b010_0_000_0, 5, 0}, true},
		{"flexible mode, layer 0", []byte{I | L | F | B, 0x12, 0b000_0_000_0, 0}, true},
		{"with scalability structure", []byte{I | L | B | V, 0x12, 0, 5, 0x18, 0}, true},
		{"truncated picture id", []byte{I | B}, false},
		{"truncated 15-bit picture id layer", []byte{I | L | B, 0x81, 0x23}, false},
		{"truncated layer", []byte{L | B}, false},
	}
	for _, tc := range testCases {
		if got := VP9KeyFrame(tc.in); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAV1KeyFrame(t *testing.T) {
	testCases := []struct {
		in   []byte
		want bool
	}{
		{nil, false},
		{[]byte{0x18, 0x0a}, true},  // W=1, N=1: sequence header OBU follows
		{[]byte{0x10, 0x32}, false}, // W=1, N=0
		{[]byte{0x88, 0x00}, true},  // Z=1 N=1: odd, reported as the header says
		{[]byte{0x40, 0x00}, false},
	}
	for _, tc := range testCases {
		if got := AV1KeyFrame(tc.in); got != tc.want {
			t.Errorf("%x: %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestKeyFrame(t *testing.T) {
	vp8Key := []byte{0x10, 0x00}
	vp8Delta := []byte{0x10, 0x01}
	h264Key := []byte{0x65, 0x88}
	vp9Key := []byte{0x08, 0}
	av1Key := []byte{0x18, 0x0a}
	testCases := []struct {
		mime string
		in   []byte
		want bool
	}{
		{"video/vp8", vp8Key, true},
		{"video/VP8", vp8Key, true},
		{"VIDEO/VP8", vp8Key, true},
		{"video/vp8", vp8Delta, false},
		{"video/vp8", []byte{0x80}, false},
		{"video/H264", h264Key, true},
		{"video/h264", vp8Delta, false},
		{"video/VP9", vp9Key, true},
		{"video/AV1", av1Key, true},
		{"video/H265", h264Key, false},
		{"audio/opus", vp8Key, false},
		{"", vp8Key, false},
		{"video/", vp8Key, false},
		{"video", vp8Key, false},
		{"ViDeO/vP8", vp8Key, true},
		{"audio/vp8", vp8Key, false},
		{"video/vp8x", vp8Key, false},
		{"video/vp", vp8Key, false},
		{"video/h2640", h264Key, false},
		{"video/vp8\x00", vp8Key, false},
		// The same bytes mean different things per codec.
		{"video/vp8", []byte{0x08, 0x0a}, false},
		{"video/av1", []byte{0x08, 0x0a}, true},
	}
	for _, tc := range testCases {
		if got := KeyFrame(tc.mime, tc.in); got != tc.want {
			t.Errorf("KeyFrame(%q, %x) = %v, want %v", tc.mime, tc.in, got, tc.want)
		}
	}
}

func TestKeyFrameAllocs(t *testing.T) {
	stap := []byte{0x78, 0, 2, 0x06, 0x05, 0, 1, 0x68, 0, 2, 0x65, 0x88}
	vp9 := []byte{0xa8, 0x12, 0, 5, 0}
	if a := testing.AllocsPerRun(1000, func() {
		KeyFrame("video/H264", stap)
		KeyFrame("video/VP9", vp9)
		KeyFrame("video/AV1", vp9)
	}); a != 0 {
		t.Errorf("%v allocs, want 0", a)
	}
}

func BenchmarkKeyFrame(b *testing.B) {
	for _, bc := range []struct {
		mime string
		in   []byte
	}{
		{"video/VP8", []byte{0x90, 0xe0, 0x80, 0x01, 0x02, 0x00, 0x00}},
		{"video/H264", []byte{0x78, 0, 2, 0x06, 0x05, 0, 1, 0x68, 0, 2, 0x65, 0x88}},
		{"video/VP9", []byte{0xa8, 0x81, 0x23, 0, 5, 0}},
		{"video/AV1", []byte{0x18, 0x0a}},
	} {
		b.Run(bc.mime[6:], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				KeyFrame(bc.mime, bc.in)
			}
		})
	}
}
