package audiolevel

import (
	"errors"
	"testing"
)

func TestParseExtension(t *testing.T) {
	testCases := []struct {
		in    []byte
		level uint8
		voice bool
		ok    bool
	}{
		{nil, 0, false, false},
		{[]byte{}, 0, false, false},
		{[]byte{0x00}, 0, false, true},
		{[]byte{0x80}, 0, true, true},
		{[]byte{0x7f}, 127, false, true},
		{[]byte{0xff}, 127, true, true},
		{[]byte{0x80 | 30}, 30, true, true},
		{[]byte{25, 0, 0}, 25, false, true}, // padding after
	}
	for _, tc := range testCases {
		level, voice, ok := ParseExtension(tc.in)
		if level != tc.level || voice != tc.voice || ok != tc.ok {
			t.Errorf("ParseExtension(%x) = %d, %v, %v; want %d, %v, %v", tc.in, level, voice, ok, tc.level, tc.voice, tc.ok)
		}
	}
}

func TestParams(t *testing.T) {
	testCases := []struct {
		name string
		in   Params
		want Params
		err  bool
	}{
		{"defaults", Params{}, Params{TalkingLevel: 25, StoppedLevel: 35, ActivePackets: 100}, false},
		{"stop follows talk", Params{TalkingLevel: 40}, Params{TalkingLevel: 40, StoppedLevel: 50, ActivePackets: 100}, false},
		{"stop clamped", Params{TalkingLevel: 120}, Params{TalkingLevel: 120, StoppedLevel: 127, ActivePackets: 100}, false},
		{"janus-like", Params{TalkingLevel: 24, StoppedLevel: 25, ActivePackets: 50}, Params{TalkingLevel: 24, StoppedLevel: 25, ActivePackets: 50}, false},
		{"stop not above talk", Params{TalkingLevel: 30, StoppedLevel: 30}, Params{}, true},
		{"stop below talk", Params{TalkingLevel: 30, StoppedLevel: 20}, Params{}, true},
		{"talk negative", Params{TalkingLevel: -1}, Params{}, true},
		{"talk silence", Params{TalkingLevel: 127}, Params{}, true},
		{"stop too big", Params{StoppedLevel: 128}, Params{}, true},
		{"negative window", Params{ActivePackets: -1}, Params{}, true},
	}
	for _, tc := range testCases {
		d, err := New(tc.in)
		if tc.err {
			if !errors.Is(err, ErrParams) {
				t.Errorf("%s: error %v, want ErrParams", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if d.Params() != tc.want {
			t.Errorf("%s: params %+v, want %+v", tc.name, d.Params(), tc.want)
		}
	}
}

// window is a run of packets at one level, and the event its last packet
// must return.
type window struct {
	level uint8
	voice bool
	n     int
	want  Event
}

func TestDetector(t *testing.T) {
	p := Params{TalkingLevel: 25, StoppedLevel: 35, ActivePackets: 4}
	testCases := []struct {
		name    string
		p       Params
		windows []window
	}{
		{"silence raises nothing", p, []window{
			{127, false, 4, None}, {127, false, 4, None},
		}},
		{"talk then stop", p, []window{
			{20, true, 4, Talking},
			{20, true, 4, None},
			{60, false, 4, StoppedTalking},
			{60, false, 4, None},
		}},
		{"thresholds are inclusive", p, []window{
			{25, true, 4, Talking},
			{35, true, 4, StoppedTalking},
		}},
		{"hysteresis: between the levels keeps the state", p, []window{
			{30, true, 4, None}, // not talking yet: 30 is above 25
			{20, true, 4, Talking},
			{30, true, 4, None}, // still talking: 30 is below 35
			{34, true, 4, None},
			{36, true, 4, StoppedTalking},
			{30, true, 4, None},
		}},
		{"no event before the window ends", p, []window{
			{0, true, 3, None}, {0, true, 1, Talking},
		}},
		{"average, not last packet", p, []window{
			// 10+10+10+100 = 130 > 25*4: not talking.
			{10, true, 3, None}, {100, true, 1, None},
			// 0+0+0+100 = 100 <= 25*4: talking.
			{0, true, 3, None}, {100, true, 1, Talking},
		}},
		{"V flag ignored without UseVAD", p, []window{{20, false, 4, Talking}}},
		{"V flag clear counts as silence with UseVAD", Params{ActivePackets: 4, UseVAD: true}, []window{
			{20, false, 4, None},
			{20, true, 4, Talking},
			{20, false, 4, StoppedTalking},
		}},
		{"V bit in the level is masked", p, []window{{0x80 | 20, true, 4, Talking}}},
		{"one-packet window", Params{ActivePackets: 1}, []window{
			{10, true, 1, Talking}, {127, true, 1, StoppedTalking},
		}},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.windows {
				for j := range w.n {
					got := d.Observe(w.level, w.voice)
					want := None
					if j == w.n-1 {
						want = w.want
					}
					if got != want {
						t.Fatalf("window %d packet %d: %v, want %v", i, j, got, want)
					}
				}
			}
		})
	}
}

func TestAverageAndReset(t *testing.T) {
	d, _ := New(Params{ActivePackets: 2})
	if _, ok := d.Average(); ok {
		t.Fatal("average before any window")
	}
	d.Observe(10, true)
	if _, ok := d.Average(); ok {
		t.Fatal("average before the window ends")
	}
	if d.Observe(13, true) != Talking || !d.Talking() {
		t.Fatal("not talking")
	}
	if avg, ok := d.Average(); !ok || avg != 12 { // 11.5 rounds up
		t.Fatalf("average %d %v, want 12", avg, ok)
	}
	d.Observe(0, true)
	d.Reset()
	if d.Talking() {
		t.Fatal("talking after Reset")
	}
	if _, ok := d.Average(); ok {
		t.Fatal("average after Reset")
	}
	if d.Params().ActivePackets != 2 {
		t.Fatal("Reset lost the parameters")
	}
	// The half window before Reset is gone: two packets make a window.
	d.Observe(0, true)
	if d.Observe(0, true) != Talking {
		t.Fatal("no event after Reset")
	}
}

func TestEventString(t *testing.T) {
	for e, s := range map[Event]string{None: "none", Talking: "talking", StoppedTalking: "stopped-talking", 9: "Event(9)"} {
		if e.String() != s {
			t.Errorf("%d: %q, want %q", int(e), e.String(), s)
		}
	}
}

func TestObserveAllocs(t *testing.T) {
	d, _ := New(Params{ActivePackets: 10})
	var i uint8
	if a := testing.AllocsPerRun(1000, func() {
		i++
		ParseExtension([]byte{0x80 | i&0x7f})
		d.Observe(i&0x7f, true)
	}); a != 0 {
		t.Errorf("%v allocs per packet, want 0", a)
	}
}

func BenchmarkObserve(b *testing.B) {
	d, _ := New(Params{})
	ext := []byte{0x80 | 30}
	b.ReportAllocs()
	var i uint8
	for b.Loop() {
		i++
		ext[0] = 0x80 | i&0x3f
		level, voice, _ := ParseExtension(ext)
		d.Observe(level, voice)
	}
}
