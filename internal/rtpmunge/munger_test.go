package rtpmunge

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Actions of a scripted Munger test.
const (
	doProcess = iota
	doDrop
	doSwitch
)

// step is one call. at is the arrival time after the script's start; for
// doProcess, ok, seq and ts are what must come out (seq and ts only if ok).
type step struct {
	do      int
	ssrc    uint32
	in      uint16
	inTS    uint32
	at      time.Duration
	ok      bool
	seq     uint16
	ts      uint32
	rate    uint32 // for doSwitch
	comment string
}

func p(ssrc uint32, in uint16, inTS uint32, at time.Duration, ok bool, seq uint16, ts uint32) step {
	return step{do: doProcess, ssrc: ssrc, in: in, inTS: inTS, at: at, ok: ok, seq: seq, ts: ts}
}

func drop(ssrc uint32, in uint16) step { return step{do: doDrop, ssrc: ssrc, in: in} }

func sw(rate uint32) step { return step{do: doSwitch, rate: rate} }

func TestMunger(t *testing.T) {
	ms := time.Millisecond
	testCases := []struct {
		name  string
		steps []step
	}{
		{"first packet passes unchanged", []step{
			p(1, 100, 5000, 0, true, 100, 5000),
			p(1, 101, 5000, 0, true, 101, 5000),
			p(1, 102, 8000, 33*ms, true, 102, 8000),
		}},
		{"loss stays a gap", []step{
			p(1, 100, 0, 0, true, 100, 0),
			p(1, 103, 0, 0, true, 103, 0),
		}},
		{"wraparound", []step{
			p(1, 65534, 4294967000, 0, true, 65534, 4294967000),
			p(1, 65535, 4294967000, 0, true, 65535, 4294967000),
			p(1, 0, 2000, 0, true, 0, 2000),
			p(1, 1, 2000, 0, true, 1, 2000),
		}},
		{"drop closes the gap", []step{
			p(1, 10, 0, 0, true, 10, 0),
			drop(1, 11),
			p(1, 12, 0, 0, true, 11, 0),
			drop(1, 13), drop(1, 14), drop(1, 15),
			p(1, 16, 0, 0, true, 12, 0),
		}},
		{"drop across wraparound", []step{
			p(1, 65535, 0, 0, true, 65535, 0),
			drop(1, 0),
			p(1, 1, 0, 0, true, 0, 0),
		}},
		{"loss then drop: the loss stays a gap", []step{
			p(1, 10, 0, 0, true, 10, 0),
			// 11 lost
			drop(1, 12),
			p(1, 13, 0, 0, true, 12, 0),
			// 11 arrives late and fills its own gap.
			p(1, 11, 0, 0, true, 11, 0),
		}},
		{"late packet after a drop", []step{
			p(1, 10, 0, 0, true, 10, 0),
			drop(1, 11),
			// 12 late
			p(1, 13, 0, 0, true, 12, 0),
			p(1, 12, 0, 0, true, 11, 0),
		}},
		{"late copy of a dropped packet is not forwarded", []step{
			p(1, 10, 0, 0, true, 10, 0),
			drop(1, 11),
			p(1, 12, 0, 0, true, 11, 0),
			p(1, 11, 0, 0, false, 0, 0),
		}},
		{"late copy of the newest, dropped, packet", []step{
			p(1, 10, 0, 0, true, 10, 0),
			drop(1, 11),
			p(1, 11, 0, 0, false, 0, 0),
		}},
		{"duplicate of a forwarded packet gets the same number", []step{
			p(1, 10, 0, 0, true, 10, 0),
			drop(1, 11),
			p(1, 12, 0, 0, true, 11, 0),
			p(1, 12, 0, 0, true, 11, 0),
			p(1, 10, 0, 0, true, 10, 0),
		}},
		{"late drop cannot close the gap", []step{
			p(1, 10, 0, 0, true, 10, 0),
			p(1, 12, 0, 0, true, 12, 0),
			drop(1, 11),
			p(1, 13, 0, 0, true, 13, 0),
		}},
		{"another SSRC without a switch is refused", []step{
			p(1, 10, 0, 0, true, 10, 0),
			p(2, 500, 0, 0, false, 0, 0),
			drop(2, 501), // ignored
			p(1, 11, 0, 0, true, 11, 0),
		}},
		{"switch: numbers continue, timestamp follows the clock", []step{
			p(1, 100, 1000, 0, true, 100, 1000),
			p(1, 101, 1000, 0, true, 101, 1000),
			p(1, 102, 4000, 33*ms, true, 102, 4000),
			sw(90000),
			// 100 ms after the last output: 9000 ticks.
			p(2, 5000, 777, 133*ms, true, 103, 13000),
			p(2, 5001, 777, 133*ms, true, 104, 13000),
			p(2, 5002, 3777, 166*ms, true, 105, 16000),
			// Older than the switch point.
			p(2, 4999, 0, 170*ms, false, 0, 0),
			// The old stream is gone.
			p(1, 103, 7000, 170*ms, false, 0, 0),
		}},
		{"switch: drops before the keyframe are ignored", []step{
			p(1, 100, 1000, 0, true, 100, 1000),
			sw(90000),
			drop(2, 7000), drop(2, 7001),
			p(2, 7002, 50, 10*ms, true, 101, 1900),
			p(2, 7001, 50, 10*ms, false, 0, 0),
			p(2, 7003, 50, 10*ms, true, 102, 1900),
		}},
		{"switch: a gap left by a loss stays reserved", []step{
			p(1, 10, 0, 0, true, 10, 0),
			// 11 lost
			drop(1, 12),
			sw(48000),
			p(2, 300, 0, 20*ms, true, 12, 960),
		}},
		{"switch: trailing drops are not reserved", []step{
			p(1, 10, 0, 0, true, 10, 0),
			drop(1, 11), drop(1, 12),
			sw(48000),
			p(2, 300, 0, 20*ms, true, 11, 960),
		}},
		{"switch: same SSRC resumed after a pause", []step{
			p(1, 10, 0, 0, true, 10, 0),
			sw(48000),
			p(1, 60, 48000, time.Second, true, 11, 48000),
			p(1, 61, 48960, time.Second, true, 12, 48960),
		}},
		{"switch: at least one tick", []step{
			p(1, 10, 500, 0, true, 10, 500),
			sw(90000),
			p(2, 20, 9, 0, true, 11, 501),
		}},
		{"switch: no clock rate", []step{
			p(1, 10, 500, 0, true, 10, 500),
			sw(0),
			p(2, 20, 9, time.Second, true, 11, 501),
		}},
		{"switch: clock set back", []step{
			p(1, 10, 500, time.Second, true, 10, 500),
			sw(90000),
			p(2, 20, 9, 0, true, 11, 501),
		}},
		{"switch: output wraps", []step{
			p(1, 65535, 4294967295, 0, true, 65535, 4294967295),
			sw(1000),
			p(2, 40000, 0, 10*ms, true, 0, 9),
			p(2, 40001, 1, 10*ms, true, 1, 10),
		}},
		{"switch before the first packet", []step{
			sw(90000),
			p(2, 40, 90, 0, true, 40, 90),
		}},
		{"two switches in a row: the last clock rate", []step{
			p(1, 10, 0, 0, true, 10, 0),
			sw(90000), sw(1000),
			p(2, 20, 0, time.Second, true, 11, 1000),
		}},
		{"a big jump forward is kept", []step{
			p(1, 10, 0, 0, true, 10, 0),
			p(1, 30010, 0, 0, true, 30010, 0),
			p(1, 30011, 0, 0, true, 30011, 0),
		}},
	}
	base := time.Unix(1_700_000_000, 0)
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			var m Munger
			for i, s := range tc.steps {
				h := rtp.Header{SSRC: s.ssrc, SequenceNumber: s.in, Timestamp: s.inTS, PayloadType: 96}
				switch s.do {
				case doSwitch:
					m.Switch(s.rate)
				case doDrop:
					m.Drop(&h)
				case doProcess:
					ok := m.Process(&h, base.Add(s.at))
					if ok != s.ok {
						t.Fatalf("step %d (in %d): ok %v, want %v", i, s.in, ok, s.ok)
					}
					if !ok {
						if h.SequenceNumber != s.in || h.Timestamp != s.inTS {
							t.Fatalf("step %d: refused packet was changed", i)
						}
						continue
					}
					if h.SequenceNumber != s.seq || h.Timestamp != s.ts {
						t.Fatalf("step %d (in %d): out %d ts %d, want %d ts %d", i, s.in, h.SequenceNumber, h.Timestamp, s.seq, s.ts)
					}
					if h.SSRC != s.ssrc || h.PayloadType != 96 {
						t.Fatalf("step %d: SSRC or payload type changed", i)
					}
					// Every forwarded packet can be found for a NACK.
					mp, found := m.Lookup(s.seq)
					if !found || mp.InSeq != s.in || mp.SSRC != s.ssrc || s.inTS+mp.TimestampOffset != s.ts {
						t.Fatalf("step %d: Lookup(%d) = %+v %v", i, s.seq, mp, found)
					}
				}
			}
		})
	}
}

func TestLookup(t *testing.T) {
	var m Munger
	if _, ok := m.OutToIn(0); ok {
		t.Fatal("lookup before any packet")
	}
	if _, _, ok := m.Last(); ok {
		t.Fatal("Last before any packet")
	}
	now := time.Unix(1_700_000_000, 0)
	fwd := func(ssrc uint32, seq uint16) uint16 {
		t.Helper()
		h := rtp.Header{SSRC: ssrc, SequenceNumber: seq}
		if !m.Process(&h, now) {
			t.Fatalf("packet %d refused", seq)
		}
		return h.SequenceNumber
	}
	fwd(1, 1000) // out 1000
	m.Drop(&rtp.Header{SSRC: 1, SequenceNumber: 1001})
	// 1002 lost: its number, 1001, stays a gap.
	fwd(1, 1003) // out 1002
	m.Switch(90000)
	fwd(2, 7) // out 1003
	fwd(2, 8) // out 1004

	testCases := []struct {
		out  uint16
		in   uint16
		ssrc uint32
		ok   bool
	}{
		{1000, 1000, 1, true},
		{1001, 0, 0, false}, // the gap left by lost input 1002
		{1002, 1003, 1, true},
		{1003, 7, 2, true},
		{1004, 8, 2, true},
		{1005, 0, 0, false}, // not sent yet
		{999, 0, 0, false},  // never sent
		{40000, 0, 0, false},
	}
	for _, tc := range testCases {
		mp, ok := m.Lookup(tc.out)
		if ok != tc.ok || (ok && (mp.InSeq != tc.in || mp.SSRC != tc.ssrc)) {
			t.Errorf("Lookup(%d) = %+v %v, want in %d ssrc %d %v", tc.out, mp, ok, tc.in, tc.ssrc, tc.ok)
		}
		in, ok := m.OutToIn(tc.out)
		if ok != tc.ok || (ok && in != tc.in) {
			t.Errorf("OutToIn(%d) = %d %v", tc.out, in, ok)
		}
	}
	if seq, _, ok := m.Last(); !ok || seq != 1004 {
		t.Errorf("Last = %d %v, want 1004", seq, ok)
	}

	// Older than HistorySize: forgotten, even where the slot still
	// matches after a jump.
	for i := range HistorySize {
		fwd(2, uint16(9+i))
	}
	if _, ok := m.Lookup(1004); ok {
		t.Error("Lookup found a packet older than the history")
	}
	if in, ok := m.OutToIn(1004 + HistorySize); !ok || in != 8+HistorySize {
		t.Errorf("newest packet: %d %v", in, ok)
	}
}

// TestManyDropRuns drops every other packet, more runs than the Munger
// remembers: recent late packets still find their number, older ones are
// refused rather than misnumbered.
func TestManyDropRuns(t *testing.T) {
	var m Munger
	now := time.Unix(1_700_000_000, 0)
	h := rtp.Header{SSRC: 1, SequenceNumber: 0}
	m.Process(&h, now)
	// Inputs 1..400: odd ones dropped, even ones forwarded except 2 and
	// 396, which arrive late.
	for in := uint16(1); in <= 400; in++ {
		h := rtp.Header{SSRC: 1, SequenceNumber: in}
		switch {
		case in%2 == 1:
			m.Drop(&h)
		case in == 2 || in == 396:
		default:
			if !m.Process(&h, now) || h.SequenceNumber != in/2 {
				t.Fatalf("in %d: out %d, want %d", in, h.SequenceNumber, in/2)
			}
		}
	}
	h = rtp.Header{SSRC: 1, SequenceNumber: 396}
	if !m.Process(&h, now) || h.SequenceNumber != 198 {
		t.Fatalf("late 396: out %d, want 198", h.SequenceNumber)
	}
	h = rtp.Header{SSRC: 1, SequenceNumber: 2}
	if m.Process(&h, now) {
		t.Fatalf("late 2 forwarded as %d though its offset is forgotten", h.SequenceNumber)
	}
}

// TestMungerModel drives the Munger with random streams (losses, reordering,
// drops, switches) and checks each output against a model that counts,
// instead of tracking offsets: within a stream, a packet's output number
// is the stream's first output plus the number of inputs from the stream's
// first packet up to it that were not dropped in order.
func TestMungerModel(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 42))
		var m Munger
		now := time.Unix(1_700_000_000, 0)
		type stream struct {
			ssrc    uint32
			first   int  // input index of the first packet forwarded
			started bool // first is set
			highest int  // highest input index forwarded or dropped in order
			dropped map[int]bool
			base    int // output of first, extended
			tsOff   uint32
		}
		var cur *stream
		used := map[uint16]int{} // out -> extended input index + 1<<20*ssrc
		reservedOut := -1
		seqBase := uint16(rng.IntN(65536))
		for sIdx := range 8 {
			s := &stream{ssrc: uint32(sIdx + 1), dropped: map[int]bool{}}
			if cur != nil {
				m.Switch(90000)
			}
			// Arrival order: 0..n-1 with some losses and some packets
			// delayed by up to 3 places.
			n := 200 + rng.IntN(300)
			order := make([]int, 0, n)
			var delayed []int
			for i := range n {
				if rng.IntN(20) == 0 {
					continue // lost
				}
				if rng.IntN(10) == 0 {
					delayed = append(delayed, i)
					continue
				}
				order = append(order, i)
				for len(delayed) > 0 && rng.IntN(3) == 0 {
					order = append(order, delayed[0])
					delayed = delayed[1:]
				}
			}
			order = append(order, delayed...)
			pause := rng.IntN(4) == 0
			ssrcSeq := seqBase + uint16(rng.IntN(65536))
			for _, i := range order {
				now = now.Add(time.Millisecond)
				h := rtp.Header{SSRC: s.ssrc, SequenceNumber: ssrcSeq + uint16(i), Timestamp: uint32(i) * 3000}
				wantDrop := (pause && i > n/3 && i < n/2) || rng.IntN(6) == 0
				if !s.started && i > 5 && wantDrop {
					// Dropping before the first forwarded packet
					// (waiting for a keyframe) is ignored.
					m.Drop(&h)
					continue
				}
				if wantDrop {
					if s.started && i > s.highest {
						s.dropped[i] = true
						s.highest = i
					}
					m.Drop(&h)
					continue
				}
				if !s.started {
					// Late packets of an earlier stream never
					// reach us here: the caller picks the stream.
					s.started, s.first, s.highest = true, i, i
					s.base = reservedOut + 1
					if cur == nil {
						s.base = int(h.SequenceNumber)
					}
				}
				wantOK := i >= s.first
				inTS := h.Timestamp
				ok := m.Process(&h, now)
				if ok != wantOK {
					t.Fatalf("seed %d stream %d input %d: ok %v, want %v", seed, sIdx, i, ok, wantOK)
				}
				if !ok {
					continue
				}
				if i > s.highest {
					s.highest = i
				}
				if i == s.first {
					s.tsOff = h.Timestamp - inTS
				}
				want := s.base
				for j := s.first; j < i; j++ {
					if !s.dropped[j] {
						want++
					}
				}
				if h.SequenceNumber != uint16(want) {
					t.Fatalf("seed %d stream %d input %d: out %d, want %d", seed, sIdx, i, h.SequenceNumber, uint16(want))
				}
				if h.Timestamp != inTS+s.tsOff {
					t.Fatalf("seed %d stream %d input %d: timestamp not shifted by the stream's offset", seed, sIdx, i)
				}
				key := i + sIdx<<20
				if prev, dup := used[h.SequenceNumber]; dup && prev != key {
					t.Fatalf("seed %d: output %d used twice", seed, h.SequenceNumber)
				}
				used[h.SequenceNumber] = key
				if in, ok := m.OutToIn(h.SequenceNumber); !ok || in != ssrcSeq+uint16(i) {
					t.Fatalf("seed %d: OutToIn(%d) = %d %v", seed, h.SequenceNumber, in, ok)
				}
			}
			if s.started {
				reservedOut = s.base
				for j := s.first; j < s.highest; j++ {
					if !s.dropped[j] {
						reservedOut++
					}
				}
				if s.dropped[s.highest] {
					reservedOut--
				}
				cur = s
			}
			clear(used) // outputs never collide across streams: checked by base
		}
	}
}

func TestTicks(t *testing.T) {
	testCases := []struct {
		d    time.Duration
		rate uint32
		want uint32
	}{
		{time.Second, 90000, 90000},
		{20 * time.Millisecond, 48000, 960},
		{time.Microsecond, 8000, 1}, // rounds to 0, at least 1
		{0, 90000, 1},
		{-time.Second, 90000, 1},
		{time.Second, 0, 1},
		{24 * time.Hour, 90000, uint32(uint64(86400*90000) % (1 << 32))},
	}
	for _, tc := range testCases {
		if got := ticks(tc.d, tc.rate); got != tc.want {
			t.Errorf("ticks(%v, %d) = %d, want %d", tc.d, tc.rate, got, tc.want)
		}
	}
}

func TestMungerAllocs(t *testing.T) {
	var m Munger
	now := time.Unix(1_700_000_000, 0)
	h := rtp.Header{SSRC: 1}
	var seq uint16
	if a := testing.AllocsPerRun(1000, func() {
		seq++
		h.SequenceNumber, h.Timestamp = seq, uint32(seq)*3000
		if seq%7 == 0 {
			m.Drop(&h)
			return
		}
		if seq%500 == 0 {
			m.Switch(90000)
		}
		m.Process(&h, now)
		m.Lookup(h.SequenceNumber - 3)
	}); a != 0 {
		t.Errorf("%v allocs per packet, want 0", a)
	}
}

func BenchmarkMungerProcess(b *testing.B) {
	var m Munger
	now := time.Unix(1_700_000_000, 0)
	h := rtp.Header{SSRC: 1}
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		seq++
		h.SequenceNumber, h.Timestamp = seq, uint32(seq)*3000
		m.Process(&h, now)
	}
}

// BenchmarkMungerMixed drops one packet in four (a temporal layer),
// forwards one in ten late, and switches every 1000.
func BenchmarkMungerMixed(b *testing.B) {
	var m Munger
	now := time.Unix(1_700_000_000, 0)
	var h rtp.Header
	b.ReportAllocs()
	var i int
	for b.Loop() {
		i++
		seq := uint16(i)
		if i%10 == 0 {
			seq -= 2
		}
		h = rtp.Header{SSRC: uint32(i / 1000), SequenceNumber: seq, Timestamp: uint32(i) * 3000}
		switch {
		case i%1000 == 0:
			m.Switch(90000)
			m.Process(&h, now)
		case i%4 == 0:
			m.Drop(&h)
		default:
			m.Process(&h, now)
		}
	}
}

func BenchmarkMungerLookup(b *testing.B) {
	var m Munger
	now := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		h := rtp.Header{SSRC: 1, SequenceNumber: uint16(i)}
		m.Process(&h, now)
	}
	b.ReportAllocs()
	var i uint16
	for b.Loop() {
		i++
		m.Lookup(999 - i%500)
	}
}
