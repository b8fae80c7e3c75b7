package janusapi_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/janusapi"
)

func shortTimeout(d time.Duration) func(*ianua.Config) {
	return func(c *ianua.Config) { c.SessionTimeout = d }
}

// TestSessionTimeout leaves a session without keepalives: its client gets
// {"janus":"timeout"} and the session, its handle and every goroutine are
// gone. Keepalives (and, over HTTP, long polls) keep a session alive.
func TestSessionTimeout(t *testing.T) {
	for _, kind := range transports {
		t.Run(string(kind), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, shortTimeout(2*time.Second), nil)
			c := e.dial(t, kind)
			if kind == overHTTP {
				// A long poll is a keepalive: create one session that
				// is polled and one that is not.
				polled := c.create()
				idle := c.request(map[string]any{"janus": "create"}).id()
				c.attach(idle, janusapi.EchoTestPlugin)
				testpeer.WaitFor(t, 8*time.Second, "the idle session reaped", func() bool {
					_, err := e.router.Session(idle)
					return err != nil
				})
				if _, err := e.router.Session(polled); err != nil {
					t.Fatalf("the polled session timed out: %v", err)
				}
				c.close() // stop polling: now it times out too
				testpeer.WaitFor(t, 8*time.Second, "the polled session reaped", func() bool { return len(e.router.Sessions()) == 0 })
				return
			}
			sid := c.create()
			c.attach(sid, janusapi.EchoTestPlugin)
			// Keepalives hold it for longer than the timeout...
			for range 5 {
				time.Sleep(500 * time.Millisecond)
				if r := c.request(map[string]any{"janus": "keepalive", "session_id": sid}); r.Janus != "ack" {
					t.Fatalf("keepalive: %s", r)
				}
			}
			// ...and without them it times out.
			to := c.wait(0, 8*time.Second, "timeout event", janusType("timeout", 0))
			if to.SessionID != sid {
				t.Errorf("timeout event %s", to)
			}
			if r := c.request(map[string]any{"janus": "keepalive", "session_id": sid}); r.code() != janusapi.ErrorSessionNotFound {
				t.Errorf("keepalive after the timeout: %s", r)
			}
			if n := len(e.router.Sessions()); n != 0 {
				t.Errorf("%d sessions left", n)
			}
		})
	}
}

// TestAbandonedSessionsReaped creates many sessions with handles, over both
// transports, and abandons them: the timeout reaps them all.
func TestAbandonedSessionsReaped(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, shortTimeout(1500*time.Millisecond), nil)
	ws := e.dial(t, overWS)
	h := e.dial(t, overHTTP)
	const n = 40
	wsIDs := map[uint64]bool{}
	for i := range n {
		c := h
		if i%2 == 0 {
			c = ws
		}
		sid := c.request(map[string]any{"janus": "create"}).id() // never polled
		if sid == 0 {
			t.Fatal("create failed")
		}
		if c == ws {
			wsIDs[sid] = true
		}
		c.attach(sid, janusapi.EchoTestPlugin)
		c.attach(sid, janusapi.VideoRoomPlugin)
	}
	testpeer.WaitFor(t, 10*time.Second, "every session reaped", func() bool { return len(e.router.Sessions()) == 0 })
	// The WebSocket, still open, was told of each of its sessions.
	testpeer.WaitFor(t, 5*time.Second, "timeout events", func() bool {
		return len(ws.all(janusType("timeout", 0))) == n/2
	})
	for _, m := range ws.all(janusType("timeout", 0)) {
		if !wsIDs[m.SessionID] {
			t.Errorf("timeout event for a session the socket did not create: %s", m)
		}
	}
	if r := e.admin(t, map[string]any{"janus": "list_sessions"}); len(r.Sessions) != 0 {
		t.Errorf("admin lists %s", r)
	}
}

// TestClaim moves a session from one connection to another.
func TestClaim(t *testing.T) {
	t.Run("after the socket closed", func(t *testing.T) {
		checkLeaks(t)
		e := newEnv(t, nil, func(p *janusapi.Params) { p.ReclaimTimeout = 2 * time.Second })
		c1 := e.dial(t, overWS)
		sid := c1.create()
		hid := c1.attach(sid, janusapi.EchoTestPlugin)
		c1.close()
		time.Sleep(300 * time.Millisecond) // the server sees the socket close
		// Events while nobody owns the session wait for the claim.
		is, err := e.router.Session(sid)
		if err != nil {
			t.Fatalf("the session did not wait for a claim: %v", err)
		}
		h, _ := is.Handle(hid)
		_ = h.PushEvent("", map[string]any{"echotest": "event", "result": "while away"}, nil)

		c2 := e.dial(t, overWS)
		if r := c2.request(map[string]any{"janus": "claim", "session_id": sid}); r.Janus != "success" || r.SessionID != sid {
			t.Fatalf("claim: %s", r)
		}
		c2.wait(0, 5*time.Second, "the event sent while away", pluginEvent(hid, "result", "while away"))
		mark := c2.mark()
		c2.message(sid, hid, map[string]any{"video": true}, nil)
		c2.wait(mark, 5*time.Second, "result on the new socket", pluginEvent(hid, "result", "ok"))
		// Now the second socket owns it: once closed, the session waits
		// ReclaimTimeout for another claim, then ends.
		c2.close()
		testpeer.WaitFor(t, 15*time.Second, "the session destroyed", func() bool { return len(e.router.Sessions()) == 0 })
	})
	t.Run("from a live socket to HTTP", func(t *testing.T) {
		checkLeaks(t)
		e := newEnv(t, nil, nil)
		c1 := e.dial(t, overWS)
		sid := c1.create()
		hid := c1.attach(sid, janusapi.EchoTestPlugin)
		c2 := e.dial(t, overHTTP)
		// Long polls are for sessions the HTTP transport owns.
		resp, err := http.Get(e.base + "/janus/" + itoa(sid))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("long poll on a WebSocket's session: HTTP %d, want 404", resp.StatusCode)
		}
		if r := c2.request(map[string]any{"janus": "claim", "session_id": sid}); r.Janus != "success" {
			t.Fatalf("claim: %s", r)
		}
		c2.poll(sid)
		mark := c2.mark()
		c2.message(sid, hid, map[string]any{"audio": true}, nil)
		c2.wait(mark, 5*time.Second, "result by long poll", pluginEvent(hid, "result", "ok"))
		if got := c1.all(func(m jmsg) bool { return m.Janus == "event" }); len(got) != 0 {
			t.Errorf("the old socket still gets events: %v", got)
		}
		// Closing the old socket no longer ends the session.
		c1.close()
		time.Sleep(200 * time.Millisecond)
		if _, err := e.router.Session(sid); err != nil {
			t.Errorf("closing the old socket destroyed the claimed session")
		}
	})
	t.Run("too late", func(t *testing.T) {
		checkLeaks(t)
		e := newEnv(t, nil, nil) // ReclaimTimeout 0: a session dies with its socket
		c1 := e.dial(t, overWS)
		sid := c1.create()
		c1.close()
		testpeer.WaitFor(t, 5*time.Second, "the session destroyed", func() bool { return len(e.router.Sessions()) == 0 })
		c2 := e.dial(t, overWS)
		if r := c2.request(map[string]any{"janus": "claim", "session_id": sid}); r.code() != janusapi.ErrorSessionNotFound {
			t.Fatalf("claim of a dead session: %s", r)
		}
	})
}

// TestClose shuts the server down with a WebSocket open and a long poll
// waiting: Close returns promptly, the socket and the poll end, the
// sessions are destroyed.
func TestClose(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, nil, nil)
	ws := e.dial(t, overWS)
	ws.attach(ws.create(), janusapi.EchoTestPlugin)
	h := e.dial(t, overHTTP)
	h.attach(h.create(), janusapi.VideoRoomPlugin)
	time.Sleep(100 * time.Millisecond) // the long poll is waiting

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("close took %v", d)
	}
	ws.wait(0, 5*time.Second, "socket closed", janusType("closed", 0))
	if n := len(e.router.Sessions()); n != 0 {
		t.Errorf("%d sessions left", n)
	}
	resp, err := http.Post(e.base+"/janus", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST after close: HTTP %d, want 503", resp.StatusCode)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
