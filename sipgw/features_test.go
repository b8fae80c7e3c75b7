package sipgw

import (
	"strings"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
)

// establish calls u from e's handle and waits until audio echoes.
func establish(t *testing.T, e *env, u *uas, codec string) *browser {
	t.Helper()
	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, codec)
	e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo")}, b.offer())
	b.flush()
	b.apply(e.wait(e.log, e.h, "accepted").JSEP)
	b.sendAudio()
	waitPackets(t, "echo", func() bool { return b.received.Load() > 10 })
	return b
}

func TestDTMF(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{codec: "pcmu", sendDTMF: true})
	establish(t, e, u, "pcmu")

	// RFC 4733 from the SIP peer: one event for the five packets.
	d := resultOf(e.wait(e.log, e.h, "dtmf"))
	if d["signal"] != "7" || d["duration"] != float64(100) || d["sender"] != u.uri("echo") {
		t.Errorf("dtmf: %v", d)
	}
	time.Sleep(200 * time.Millisecond)
	if n := e.log.Count(sipEvent(e.h.ID(), "dtmf")); n != 1 {
		t.Errorf("%d dtmf events for one key press", n)
	}

	// dtmf_info: an INFO to the peer.
	e.must(e.h, map[string]any{"request": "dtmf_info", "digit": "#", "duration": 250}, nil)
	e.wait(e.log, e.h, "dtmfsent")
	testpeer.WaitFor(t, 5*time.Second, "INFO at the peer", func() bool { return len(u.infoBodies()) == 1 })
	if got := u.infoBodies()[0]; got != "Signal=#\r\nDuration=250\r\n" {
		t.Errorf("INFO body %q", got)
	}
	e.must(e.h, map[string]any{"request": "info", "type": "text/plain", "content": "hello"}, nil)
	e.wait(e.log, e.h, "infosent")
	testpeer.WaitFor(t, 5*time.Second, "second INFO", func() bool { return len(u.infoBodies()) == 2 })
}

func TestHold(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{codec: "pcmu"})
	b := establish(t, e, u, "pcmu")

	e.must(e.h, map[string]any{"request": "hold"}, nil)
	e.wait(e.log, e.h, "holding")
	testpeer.WaitFor(t, 5*time.Second, "re-INVITE", func() bool { return len(u.offerBodies()) == 2 })
	if o := u.offerBodies()[1]; !strings.Contains(o, "a=sendonly") {
		t.Errorf("hold re-INVITE:\n%s", o)
	}
	// The peer answered recvonly: what it still sends (an echo does not
	// care) no longer reaches the browser.
	time.Sleep(300 * time.Millisecond)
	held := b.received.Load()
	time.Sleep(300 * time.Millisecond)
	if got := b.received.Load(); got-held > 2 {
		t.Errorf("browser got %d packets while held", got-held)
	}
	if u.echoed.Load() == 0 {
		t.Error("nothing sent to the peer")
	}

	e.must(e.h, map[string]any{"request": "unhold"}, nil)
	e.wait(e.log, e.h, "resuming")
	testpeer.WaitFor(t, 5*time.Second, "second re-INVITE", func() bool { return len(u.offerBodies()) == 3 })
	if o := u.offerBodies()[2]; !strings.Contains(o, "a=sendrecv") {
		t.Errorf("unhold re-INVITE:\n%s", o)
	}
	resumed := b.received.Load()
	waitPackets(t, "audio after unhold", func() bool { return b.received.Load() > resumed+10 })

	// Hold and unhold in a row: re-INVITEs one at a time, the last one
	// offering what was asked last.
	e.must(e.h, map[string]any{"request": "hold", "direction": "inactive"}, nil)
	e.must(e.h, map[string]any{"request": "unhold"}, nil)
	e.must(e.h, map[string]any{"request": "hold", "direction": "recvonly"}, nil)
	testpeer.WaitFor(t, 5*time.Second, "the last re-INVITE", func() bool {
		o := u.offerBodies()
		return strings.Contains(o[len(o)-1], "a=recvonly") && e.h.Attachment().(*Agent).currentCall().reinvitingDone()
	})
}
