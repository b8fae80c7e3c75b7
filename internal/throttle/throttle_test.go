package throttle

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// step is one call: Allow (or Pending) at at after the start.
type step struct {
	at      time.Duration
	pending bool // call Pending instead of Allow
	want    bool
}

func TestScript(t *testing.T) {
	ms := time.Millisecond
	testCases := []struct {
		name     string
		interval time.Duration
		steps    []step
	}{
		{"first request passes", 500 * ms, []step{{at: 0, want: true}}},
		{"second within the interval is held", 500 * ms, []step{
			{at: 0, want: true},
			{at: 100 * ms, want: false},
			{at: 499 * ms, want: false},
			{at: 500 * ms, want: true},
		}},
		{"nothing pending without a held request", 500 * ms, []step{
			{at: 0, want: true},
			{at: 600 * ms, pending: true, want: false},
			{at: 5000 * ms, pending: true, want: false},
		}},
		{"held request goes out at the end of the interval", 500 * ms, []step{
			{at: 0, want: true},
			{at: 10 * ms, want: false},
			{at: 20 * ms, want: false},
			{at: 300 * ms, pending: true, want: false}, // too early
			{at: 510 * ms, pending: true, want: true},  // exactly one
			{at: 520 * ms, pending: true, want: false},
			{at: 530 * ms, want: false}, // the pending one restarted the interval
			{at: 1010 * ms, pending: true, want: true},
		}},
		{"allow at the end clears the pending mark", 500 * ms, []step{
			{at: 0, want: true},
			{at: 100 * ms, want: false},
			{at: 600 * ms, want: true}, // serves the held one too
			{at: 1200 * ms, pending: true, want: false},
		}},
		{"request during a pending interval is held again", 500 * ms, []step{
			{at: 0, want: true},
			{at: 100 * ms, want: false},
			{at: 550 * ms, pending: true, want: true},
			{at: 560 * ms, want: false},
			{at: 1000 * ms, pending: true, want: false},
			{at: 1050 * ms, pending: true, want: true},
		}},
		{"slightly older clock reading from a racing caller is within", 500 * ms, []step{
			{at: 1000 * ms, want: true},
			{at: 990 * ms, want: false},
		}},
		{"clock set back by more than an interval", 500 * ms, []step{
			{at: time.Hour, want: true},
			{at: 0, want: true},
			{at: 100 * ms, want: false},
		}},
		{"zero interval lets all through", 0, []step{
			{at: 0, want: true}, {at: 0, want: true}, {at: 1, want: true},
			{at: 2, pending: true, want: false},
		}},
	}
	base := time.Unix(1_700_000_000, 0)
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			th := Throttle{Interval: tc.interval}
			for i, s := range tc.steps {
				var got bool
				if s.pending {
					got = th.Pending(base.Add(s.at))
				} else {
					got = th.Allow(base.Add(s.at))
				}
				if got != s.want {
					t.Fatalf("step %d (pending=%v at %v): %v, want %v", i, s.pending, s.at, got, s.want)
				}
			}
		})
	}
}

// TestSameInstant has many goroutines ask at the same instant: exactly one
// request may pass, and the rest leave one pending.
func TestSameInstant(t *testing.T) {
	th := Throttle{Interval: time.Second}
	now := time.Unix(1_700_000_000, 0)
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if th.Allow(now) {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if passed.Load() != 1 {
		t.Fatalf("%d requests passed, want 1", passed.Load())
	}
	if !th.Pending(now.Add(time.Second)) {
		t.Fatal("no pending request after the interval")
	}
}

// TestConcurrentRequesters is the brief's scenario: 50 subscribers asking
// for keyframes at random for 3 s, an interval of 500 ms, and the owner
// polling Pending. Six intervals fit in 3 s; the pending request of the
// last one may add one, and scheduling one more.
func TestConcurrentRequesters(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 3 s")
	}
	th := Throttle{Interval: 500 * time.Millisecond}
	var forwarded atomic.Int32
	start := time.Now()
	end := start.Add(3 * time.Second)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for time.Now().Before(end) {
				if th.Allow(time.Now()) {
					forwarded.Add(1)
				}
				time.Sleep(time.Duration(rand.IntN(40)+1) * time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		for time.Now().Before(end) {
			if th.Pending(time.Now()) {
				forwarded.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	wg.Wait()
	n := forwarded.Load()
	t.Logf("%d requests forwarded", n)
	if n < 6 || n > 8 {
		t.Fatalf("%d requests forwarded in 3 s, want 6 to 8", n)
	}
}

func TestAllocs(t *testing.T) {
	th := Throttle{Interval: time.Second}
	now := time.Unix(1_700_000_000, 0)
	if a := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		th.Allow(now)
		th.Pending(now)
	}); a != 0 {
		t.Errorf("%v allocs per request, want 0", a)
	}
}

func BenchmarkAllow(b *testing.B) {
	th := Throttle{Interval: 500 * time.Millisecond}
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		th.Allow(now)
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	th := Throttle{Interval: 500 * time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			th.Allow(time.Now())
		}
	})
}

func BenchmarkPending(b *testing.B) {
	th := Throttle{Interval: 500 * time.Millisecond}
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		th.Pending(now)
	}
}
