package sipgw

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua/internal/testpeer"
)

func TestGlareDelay(t *testing.T) {
	testCases := []struct {
		owner  bool
		lo, hi time.Duration
	}{
		{true, 2100 * time.Millisecond, 4000 * time.Millisecond},
		{false, 0, 2000 * time.Millisecond},
	}
	for _, tc := range testCases {
		seenLo, seenHi := tc.hi, tc.lo
		for range 5000 {
			d := glareDelay(tc.owner, defaultGlareUnit)
			if d < tc.lo || d > tc.hi || d%(10*time.Millisecond) != 0 {
				t.Fatalf("owner %v: %v outside %v-%v in 10 ms steps", tc.owner, d, tc.lo, tc.hi)
			}
			seenLo, seenHi = min(seenLo, d), max(seenHi, d)
		}
		if seenLo > tc.lo+50*time.Millisecond || seenHi < tc.hi-50*time.Millisecond {
			t.Errorf("owner %v: draws cover only %v-%v", tc.owner, seenLo, seenHi)
		}
	}
}

// A re-INVITE of the peer that crosses ours gets 491 (RFC 3261 section
// 14.2); ours goes through, and the peer's once ours is done.
func TestGlarePeerReinvite(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{codec: "pcmu"})
	establish(t, e, u, "pcmu")
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	reinviteHook(func(req *sip.Request, tx sip.ServerTransaction) bool {
		first := false
		once.Do(func() { first = true })
		if !first {
			return false
		}
		close(arrived)
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		d, _ := parseAudio(req.Body())
		_ = tx.Respond(sip.NewSDPResponseFromRequest(req, u.sdp(d, d.Dir.reverse())))
		return true
	}).set(&u.hook)

	e.must(e.h, map[string]any{"request": "hold"}, nil)
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("no re-INVITE for hold")
	}
	if res := u.reinvite(t, dirSendRecv); res.StatusCode != sip.StatusRequestPending {
		t.Errorf("crossing re-INVITE answered %d, want 491", res.StatusCode)
	}
	close(release)
	c := e.h.Attachment().(*Agent).currentCall()
	testpeer.WaitFor(t, 5*time.Second, "hold done", c.reinvitingDone)
	if res := u.reinvite(t, dirSendRecv); res.StatusCode != 200 {
		t.Errorf("re-INVITE after ours answered %d", res.StatusCode)
	} else if d, err := parseAudio(res.Body()); err != nil || d.Dir != dirSend {
		t.Errorf("answer while held: %v\n%s", err, res.Body())
	}
	if o := u.offerBodies(); len(o) != 2 || !strings.Contains(o[1], "a=sendonly") {
		t.Errorf("offers at the peer: %q", o)
	}
}

// Our re-INVITE refused with 491 goes again after RFC 3261 section 14.1's
// wait: 2.1-4 s (here in 1 ms units, 210-400 ms) when we made the call,
// 0-2 s (0-200 ms) when the peer did.
func TestGlareOurReinvite(t *testing.T) {
	testCases := []struct {
		name     string
		outgoing bool
		lo, hi   time.Duration
	}{
		{"we own the Call-ID", true, 210 * time.Millisecond, 400 * time.Millisecond},
		{"the peer owns it", false, 0, 200 * time.Millisecond},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.gw.glareUnit = time.Millisecond
			waits := make(chan time.Duration, 4)
			e.gw.onGlare = func(d time.Duration) { waits <- d }
			var mu sync.Mutex
			var times []time.Time
			hook := reinviteHook(func(req *sip.Request, tx sip.ServerTransaction) bool {
				mu.Lock()
				times = append(times, time.Now())
				n := len(times)
				mu.Unlock()
				if n == 1 {
					_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusRequestPending, "Request Pending", nil))
					return true
				}
				return false
			})
			var offers func() []string
			if tc.outgoing {
				u := newUAS(e, uasOptions{codec: "pcmu"})
				establish(t, e, u, "pcmu")
				hook.set(&u.hook)
				offers = func() []string { return u.offerBodies()[1:] }
			} else {
				c := newUAC(e)
				answerIncoming(t, e, c, nil)
				hook.set(&c.hook)
				offers = c.offerBodies
			}
			e.must(e.h, map[string]any{"request": "hold"}, nil)
			var wait time.Duration
			select {
			case wait = <-waits:
			case <-time.After(5 * time.Second):
				t.Fatal("no retry scheduled")
			}
			if wait < tc.lo || wait > tc.hi {
				t.Errorf("retry after %v, want %v-%v", wait, tc.lo, tc.hi)
			}
			call := e.h.Attachment().(*Agent).currentCall()
			testpeer.WaitFor(t, 5*time.Second, "the retried re-INVITE", func() bool { return len(offers()) == 2 && call.reinvitingDone() })
			mu.Lock()
			gap := times[1].Sub(times[0])
			mu.Unlock()
			if gap < wait {
				t.Errorf("retried %v after the 491, before the %v wait", gap, wait)
			}
			o := offers()
			if !strings.Contains(o[0], "a=sendonly") || !strings.Contains(o[1], "a=sendonly") {
				t.Errorf("offers: %q", o)
			}
			if len(waits) != 0 {
				t.Errorf("%d more retries", len(waits))
			}
			t.Logf("491, then the re-INVITE again after %v (drawn %v)", gap, wait)
		})
	}
}
