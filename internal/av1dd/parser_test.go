package av1dd

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// bits packs fields written as strings of 0s and 1s (spaces ignored),
// most significant bit first, into bytes padded with zeros: the
// descriptors below are written field by field from A.4.1.
func bits(fields ...string) []byte {
	s := strings.ReplaceAll(strings.Join(fields, ""), " ", "")
	out := make([]byte, (len(s)+7)/8)
	for i, c := range s {
		if c == '1' {
			out[i/8] |= 0x80 >> (i % 8)
		}
	}
	return out
}

// l1t3 is the first packet of a keyframe of the L1T3 example (A.6.1):
// five templates from id 1, three decode targets (30, 15, 7.5 fps), one
// chain protecting all three, a 640x360 resolution.
var l1t3 = bits(
	// mandatory_descriptor_fields: start, end, template id 1, frame 1
	"1", "1", "000001", "0000000000000001",
	// structure present, no active bitmask, no custom dtis/fdiffs/chains
	"1", "0", "0", "0", "0",
	// template_id_offset 1, dtis_cnt_minus_one 2
	"000001", "00010",
	// template_layers: T0, same; T0, next tid; T1, next tid; T2, same; T2, end
	"00", "01", "01", "00", "11",
	// template_dtis: SSS, SSS, SD-, D--, D--
	"10 10 10", "10 10 10", "10 01 00", "01 00 00", "01 00 00",
	// template_fdiffs: none; 4; 2; 1; 1
	"0", "1 0011 0", "1 0001 0", "1 0000 0", "1 0000 0",
	// template_chains: chains_cnt ns(4) = 1 (2 bits), each decode target
	// protected by ns(2) = 0 (1 bit), chain fdiffs 0, 4, 2, 1, 3
	"01", "0", "0", "0", "0000", "0100", "0010", "0001", "0011",
	// resolutions present: 639+1 x 359+1
	"1", "0000001001111111", "0000000101100111",
)

func TestParseL1T3(t *testing.T) {
	var p Parser
	d, err := p.Parse(l1t3)
	if err != nil {
		t.Fatal(err)
	}
	if !d.StartOfFrame || !d.EndOfFrame || d.TemplateID != 1 || d.FrameNumber != 1 || !d.NewStructure {
		t.Errorf("mandatory fields: %+v", d)
	}
	s := d.Structure
	if s == nil || s != p.Structure() {
		t.Fatal("no structure")
	}
	if s.IDOffset != 1 || s.DecodeTargets != 3 || len(s.Templates) != 5 || s.ChainCount != 1 || s.MaxSpatial != 0 || s.MaxTemporal != 2 {
		t.Fatalf("structure: offset %d, %d decode targets, %d templates, %d chains, max S%dT%d",
			s.IDOffset, s.DecodeTargets, len(s.Templates), s.ChainCount, s.MaxSpatial, s.MaxTemporal)
	}
	want := []struct {
		tid    uint8
		dtis   []DTI
		fdiffs []uint16
		chain  uint8
	}{
		{0, []DTI{Switch, Switch, Switch}, nil, 0},
		{0, []DTI{Switch, Switch, Switch}, []uint16{4}, 4},
		{1, []DTI{Switch, Discardable, NotPresent}, []uint16{2}, 2},
		{2, []DTI{Discardable, NotPresent, NotPresent}, []uint16{1}, 1},
		{2, []DTI{Discardable, NotPresent, NotPresent}, []uint16{1}, 3},
	}
	for i, w := range want {
		tp := s.Templates[i]
		if tp.Spatial != 0 || tp.Temporal != w.tid || !slices.Equal(tp.Fdiffs, w.fdiffs) || !slices.Equal(tp.Chains, []uint8{w.chain}) {
			t.Errorf("template %d: S%dT%d fdiffs %v chains %v, want T%d %v [%d]", i, tp.Spatial, tp.Temporal, tp.Fdiffs, tp.Chains, w.tid, w.fdiffs, w.chain)
		}
		for dt, dti := range w.dtis {
			if tp.DTIs.At(dt) != dti {
				t.Errorf("template %d, decode target %d: DTI %d, want %d", i, dt, tp.DTIs.At(dt), dti)
			}
		}
	}
	if s.ProtectedBy[0] != 0 || s.ProtectedBy[1] != 0 || s.ProtectedBy[2] != 0 {
		t.Errorf("protected by %v", s.ProtectedBy[:3])
	}
	if !slices.Equal(s.Resolutions, []Resolution{{640, 360}}) {
		t.Errorf("resolutions %v", s.Resolutions)
	}
	for dt, tid := range []int{2, 1, 0} {
		if sid, got := s.TargetLayer(dt); sid != 0 || got != tid {
			t.Errorf("decode target %d: S%dT%d, want S0T%d", dt, sid, got, tid)
		}
		if got := s.DecodeTarget(0, tid); got != dt {
			t.Errorf("DecodeTarget(0, %d) = %d, want %d", tid, got, dt)
		}
	}
	if d.ActiveDecodeTargets != 0b111 || d.Temporal != 0 || d.DTIs != s.Templates[0].DTIs {
		t.Errorf("frame: active %b, T%d", d.ActiveDecodeTargets, d.Temporal)
	}

	// A later packet: template 4 (index 3, T2), mandatory fields only.
	d, err = p.Parse(bits("0", "1", "000100", "0000000000000010"))
	if err != nil {
		t.Fatal(err)
	}
	if d.StartOfFrame || !d.EndOfFrame || d.FrameNumber != 2 || d.NewStructure || d.Temporal != 2 ||
		d.DTIs.At(0) != Discardable || !slices.Equal(d.Fdiffs, []uint16{1}) || !slices.Equal(d.Chains, []uint8{1}) {
		t.Errorf("template 4: %+v", d)
	}

	// The same structure again (the next keyframe): kept, not copied.
	d, err = p.Parse(l1t3)
	if err != nil || d.Structure != s {
		t.Errorf("same structure again: %v, new copy %v", err, d.Structure != s)
	}
}

// Extended fields without a structure: the active decode targets, custom
// DTIs, fdiffs and chains are read, and skipped correctly.
func TestParseCustomFields(t *testing.T) {
	var p Parser
	if _, err := p.Parse(l1t3); err != nil {
		t.Fatal(err)
	}
	ext := bits(
		"1", "0", "000011", "0000000000000101", // template 3 (T1), frame 5
		"0", "1", "1", "1", "1", // active bitmask, custom dtis, fdiffs, chains
		"011",        // active decode targets: 30 and 15 fps
		"11 11 00",   // frame_dtis: R R -
		"01", "0101", // fdiff of 4 bits: 5+1
		"10", "00100000", // fdiff of 8 bits: 32+1
		"11", "000000000011", // fdiff of 12 bits: 3+1
		"00",       // no more fdiffs
		"00001001", // frame_chain_fdiff 9
	)
	d, err := p.Parse(ext)
	if err != nil {
		t.Fatal(err)
	}
	if d.ActiveDecodeTargets != 0b011 {
		t.Errorf("active decode targets %b", d.ActiveDecodeTargets)
	}
	if d.Temporal != 1 || d.DTIs.At(0) != Required || d.DTIs.At(1) != Required || d.DTIs.At(2) != NotPresent {
		t.Errorf("T%d, dtis %b", d.Temporal, d.DTIs)
	}
	if !slices.Equal(d.Fdiffs, []uint16{6, 33, 4}) || !slices.Equal(d.Chains, []uint8{9}) {
		t.Errorf("fdiffs %v, chains %v", d.Fdiffs, d.Chains)
	}
	// The bitmask stays until a new structure resets it.
	d, _ = p.Parse(bits("1", "1", "000001", "0000000000000110"))
	if d.ActiveDecodeTargets != 0b011 {
		t.Errorf("active decode targets after: %b", d.ActiveDecodeTargets)
	}
	d, _ = p.Parse(l1t3)
	if d.ActiveDecodeTargets != 0b111 {
		t.Errorf("active decode targets after a structure: %b", d.ActiveDecodeTargets)
	}
}

func TestParseErrors(t *testing.T) {
	testCases := []struct {
		name   string
		before []byte // parsed first
		ext    []byte
		want   error
	}{
		{"empty", nil, nil, ErrShort},
		{"two bytes", nil, []byte{0x80, 0}, ErrShort},
		{"no structure yet", nil, bits("1", "1", "000001", "0000000000000001"), ErrNoStructure},
		{"active bitmask without a structure", nil, bits("1", "1", "000001", "0000000000000001", "0", "1", "000", "111"), ErrNoStructure},
		{"template outside the structure", l1t3, bits("1", "1", "000110", "0000000000000001"), ErrUnknownTemplate},
		{"template below the offset", l1t3, bits("1", "1", "000000", "0000000000000001"), ErrUnknownTemplate},
		{"five spatial layers", nil, bits("1", "1", "000000", "0000000000000001", "10000",
			"000000", "00000", "10", "10", "10", "10", "11"), ErrInvalid},
		{"eight temporal layers", nil, bits("1", "1", "000000", "0000000000000001", "10000",
			"000000", "00000", "01", "01", "01", "01", "01", "01", "01", "01", "11"), ErrInvalid},
		{"custom dtis cut short", l1t3, []byte{0xc3, 0, 1, 0x20}, ErrShort},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			var p Parser
			if tc.before != nil {
				if _, err := p.Parse(tc.before); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p.Parse(tc.ext); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}

	// 65 templates: more than template ids can name.
	layers := strings.Repeat("00", 64) + "11"
	var p Parser
	if _, err := p.Parse(bits("1", "1", "000000", "0000000000000001", "10000", "000000", "00000", layers)); !errors.Is(err, ErrInvalid) {
		t.Errorf("65 templates: %v", err)
	}
}

// Every truncation of a descriptor with a structure fails cleanly, and
// keeps the structure known before.
func TestParseTruncated(t *testing.T) {
	var p Parser
	if _, err := p.Parse(l1t3); err != nil {
		t.Fatal(err)
	}
	s := p.Structure()
	for n := range len(l1t3) {
		if n == 3 {
			continue // the mandatory fields alone: a valid descriptor
		}
		if _, err := p.Parse(l1t3[:n]); err == nil {
			t.Errorf("%d of %d bytes: no error", n, len(l1t3))
		}
		if p.Structure() != s {
			t.Fatalf("%d bytes: structure replaced", n)
		}
	}
}

// Random input never panics, and a parser survives it.
func TestParseRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var p Parser
	buf := make([]byte, 64)
	for range 100000 {
		n := rng.IntN(len(buf))
		for i := range n {
			buf[i] = byte(rng.Uint32())
		}
		_, _ = p.Parse(buf[:n])
	}
	if _, err := p.Parse(l1t3); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(l1t3)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Parser
		_, _ = p.Parse(l1t3)
		_, _ = p.Parse(b)
	})
}

// Steady state allocates nothing: packets naming templates, custom
// fields, and a structure sent again unchanged.
func TestParseAllocs(t *testing.T) {
	var p Parser
	if _, err := p.Parse(l1t3); err != nil {
		t.Fatal(err)
	}
	plain := bits("1", "1", "000011", "0000000000000101")
	custom := bits("1", "0", "000011", "0000000000000101", "0", "1", "1", "1", "1", "011", "11 11 00", "01", "0101", "00", "00001001")
	_, _ = p.Parse(custom)
	if n := testing.AllocsPerRun(100, func() {
		_, _ = p.Parse(plain)
		_, _ = p.Parse(custom)
		_, _ = p.Parse(l1t3)
	}); n != 0 {
		t.Errorf("%v allocations per run", n)
	}
}
