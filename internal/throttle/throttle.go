// Package throttle aggregates the keyframe requests (PLI, RFC 4585 section
// 6.3.1; FIR, RFC 5104 section 4.3.1) that many subscribers send about one
// source, so that the publisher gets at most one per interval: every
// keyframe costs it a burst of bitrate, and one keyframe serves every
// subscriber at once.
//
// A request that arrives while the interval runs is not lost: it leaves a
// pending mark, and one more request goes out when the interval ends, so a
// subscriber that joined just after a keyframe still gets one.
//
// It imports nothing of ianua's.
package throttle

import (
	"sync/atomic"
	"time"
)

// Throttle limits requests to one per Interval. The zero value (Interval 0)
// lets every request through. Set Interval before first use and leave it;
// all methods are then safe for concurrent use and never allocate.
type Throttle struct {
	// Interval is the shortest time between two forwarded requests.
	// Janus's fir_freq and LiveKit's PLI throttle are of the order of a
	// few hundred milliseconds to seconds.
	Interval time.Duration

	// state is the Unix time in nanoseconds of the last forwarded request,
	// with its lowest bit replaced by the pending flag: one word, so that
	// one compare-and-swap moves both.
	state atomic.Int64
}

// Allow reports whether a request made at now is to be forwarded. If not,
// the request is remembered and Pending forwards one at the end of the
// interval.
func (t *Throttle) Allow(now time.Time) bool {
	n := now.UnixNano() &^ 1
	for {
		s := t.state.Load()
		if t.elapsed(n, s) {
			if t.state.CompareAndSwap(s, n) {
				return true
			}
			continue
		}
		if s&1 == 1 || t.state.CompareAndSwap(s, s|1) {
			return false
		}
	}
}

// Pending reports whether a request was held back and the interval has now
// passed. When it reports true the caller must forward one request: that
// counts as the interval's request, as if Allow had returned true. The
// owner of the source polls it, say every tenth of the interval.
func (t *Throttle) Pending(now time.Time) bool {
	n := now.UnixNano() &^ 1
	for {
		s := t.state.Load()
		if s&1 == 0 || !t.elapsed(n, s) {
			return false
		}
		if t.state.CompareAndSwap(s, n) {
			return true
		}
	}
}

// elapsed reports whether the interval since the request recorded in state
// s has passed at n. A time more than an interval before the last request
// means the wall clock was set back: waiting for it to catch up could
// starve subscribers of keyframes for hours, so that counts as passed. A
// time less than an interval before it is a concurrent caller whose clock
// reading is a little older, and does not.
func (t *Throttle) elapsed(n, s int64) bool {
	iv := int64(t.Interval)
	d := n - s&^1
	return iv <= 0 || d >= iv || d <= -iv
}
