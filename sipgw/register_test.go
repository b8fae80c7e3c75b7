package sipgw

import (
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
)

func TestRegisterDigest(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "s3cret", 2)
	e.must(e.h, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "s3cret",
		"display_name": `Alice "A"`, "proxy": reg.uri(), "headers": map[string]string{"X-Test": "1"}}, nil)
	e.wait(e.log, e.h, "registering")
	ev := e.wait(e.log, e.h, "registered")
	// Janus reports the user part, not the URI.
	if r := resultOf(ev); r["username"] != "alice" || r["register_sent"] != true {
		t.Errorf("registered: %v", r)
	}
	if _, _, contact := reg.counts(); contact != e.gwURI("alice") {
		t.Errorf("binding %q, want %q", contact, e.gwURI("alice"))
	}
	// Granted 2 s: refreshed at 1.5 s, without new events.
	testpeer.WaitFor(t, 5*time.Second, "refresh", func() bool { n, _, _ := reg.counts(); return n >= 3 })
	if n := e.log.Count(sipEvent(e.h.ID(), "registered")); n != 1 {
		t.Errorf("%d registered events for refreshes", n)
	}
	if st := e.h.Attachment().(*Agent).Status(); st.Registration != "registered" {
		t.Errorf("status %+v", st)
	}

	// A refresh re-registers, keeping the binding.
	e.must(e.h, map[string]any{"request": "register", "refresh": true, "username": "sip:alice@127.0.0.1", "secret": "s3cret", "proxy": reg.uri()}, nil)
	testpeer.WaitFor(t, 5*time.Second, "second registered", func() bool { return e.log.Count(sipEvent(e.h.ID(), "registered")) == 2 })
	if _, removed, contact := reg.counts(); removed != 0 || contact != e.gwURI("alice") {
		t.Errorf("after refresh: removed %d, binding %q", removed, contact)
	}

	// A second register without refresh is refused.
	if _, err := e.send(e.h, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "x"}, nil); codeOf(err) != ErrorAlreadyRegistered {
		t.Errorf("second register: %v", err)
	}

	e.must(e.h, map[string]any{"request": "unregister"}, nil)
	e.wait(e.log, e.h, "unregistering")
	e.wait(e.log, e.h, "unregistered")
	if _, removed, contact := reg.counts(); removed != 1 || contact != "" {
		t.Errorf("after unregister: removed %d, binding %q", removed, contact)
	}
	// Not registered any more.
	if _, err := e.send(e.h, map[string]any{"request": "unregister"}, nil); codeOf(err) != ErrorWrongState {
		t.Errorf("unregister twice: %v", err)
	}
	n, _, _ := reg.counts()
	time.Sleep(2 * time.Second)
	if m, _, _ := reg.counts(); m != n {
		t.Errorf("REGISTERs after unregister: %d -> %d", n, m)
	}
}

func TestRegisterWrongPassword(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "s3cret", 60)
	e.must(e.h, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "wrong", "proxy": reg.uri()}, nil)
	ev := e.wait(e.log, e.h, "registration_failed")
	if r := resultOf(ev); r["code"] != float64(403) || r["reason"] != "Forbidden" {
		t.Errorf("registration_failed: %v", r)
	}
	// Free to try again, with the right one.
	e.register(e.h, e.log, reg, "alice")
}

func TestRegisterDetachWithdraws(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	if err := e.h.Detach(); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 5*time.Second, "un-REGISTER", func() bool { _, removed, _ := reg.counts(); return removed == 1 })
}

func TestRegisterGuestAndBadInput(t *testing.T) {
	e := newEnv(t)
	testCases := []struct {
		name string
		body map[string]any
		code int
	}{
		{"no username", map[string]any{"request": "register", "secret": "x"}, ErrorMissingElement},
		{"bad username", map[string]any{"request": "register", "username": "alice", "secret": "x"}, ErrorInvalidAddress},
		{"CRLF in username", map[string]any{"request": "register", "username": "sip:a@b\r\nX: y", "secret": "x"}, ErrorInvalidAddress},
		{"no secret", map[string]any{"request": "register", "username": "sip:a@b"}, ErrorMissingElement},
		{"bad proxy", map[string]any{"request": "register", "username": "sip:a@b", "secret": "x", "proxy": "http://x"}, ErrorInvalidAddress},
		{"CRLF in display name", map[string]any{"request": "register", "username": "sip:a@b", "secret": "x", "display_name": "A\r\nVia: x"}, ErrorInvalidElement},
		{"header injection", map[string]any{"request": "register", "username": "sip:a@b", "secret": "x", "headers": map[string]string{"X-A": "1\r\nContact: <sip:evil@x>"}}, ErrorInvalidElement},
		{"helper", map[string]any{"request": "register", "username": "sip:a@b", "type": "helper", "master_id": 1}, ErrorHelper},
		{"call first", map[string]any{"request": "call", "uri": "sip:b@c"}, ErrorMissingSDP},
		{"unknown", map[string]any{"request": "dance"}, ErrorInvalidRequest},
		{"not yet", map[string]any{"request": "subscribe"}, ErrorInvalidRequest},
		{"unregister first", map[string]any{"request": "unregister"}, ErrorWrongState},
		{"accept nothing", map[string]any{"request": "accept"}, ErrorWrongState},
	}
	for _, tc := range testCases {
		if _, err := e.send(e.h, tc.body, nil); codeOf(err) != tc.code {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.code)
		}
	}
	e.must(e.h, map[string]any{"request": "register", "type": "guest", "username": "sip:guest@127.0.0.1"}, nil)
	ev := e.wait(e.log, e.h, "registered")
	if r := resultOf(ev); r["register_sent"] != false {
		t.Errorf("guest: %v", r)
	}
}
