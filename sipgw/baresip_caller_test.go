package sipgw

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/internal/testsip"
)

// baresipCtrl drives a baresip through its ctrl_tcp module: commands and
// their answers, and baresip's events, as netstrings ("len:json,") of
// JSON objects.
type baresipCtrl struct {
	conn net.Conn
	done chan struct{}

	mu        sync.Mutex
	cond      *sync.Cond
	events    []map[string]any
	responses []map[string]any
	closed    bool
}

// dialCtrl connects to b's ctrl_tcp until the end of the test.
func dialCtrl(t *testing.T, b *testsip.Baresip) *baresipCtrl {
	t.Helper()
	conn, err := net.DialTimeout("tcp4", b.Ctrl, 5*time.Second)
	if err != nil {
		t.Fatalf("ctrl_tcp: %v\n%s", err, b.Log())
	}
	c := &baresipCtrl{conn: conn, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.read()
	t.Cleanup(func() {
		_ = conn.Close()
		<-c.done
	})
	return c
}

func (c *baresipCtrl) read() {
	defer close(c.done)
	r := bufio.NewReader(c.conn)
	for {
		msg, err := readNetstring(r)
		var m map[string]any
		if err == nil {
			err = json.Unmarshal(msg, &m)
		}
		c.mu.Lock()
		switch {
		case err != nil:
			c.closed = true
		case m["event"] == true:
			c.events = append(c.events, m)
		case m["response"] == true:
			c.responses = append(c.responses, m)
		}
		c.cond.Broadcast()
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// readNetstring reads one netstring's content.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(head[:len(head)-1])
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("netstring length %q", head)
	}
	msg := make([]byte, n+1)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	if msg[n] != ',' {
		return nil, fmt.Errorf("netstring not ended by a comma")
	}
	return msg[:n], nil
}

// waitFor waits until cond holds of what was received (under the lock).
func (c *baresipCtrl) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ok := make(chan bool, 1)
	go func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for !cond() && !c.closed {
			c.cond.Wait()
		}
		ok <- cond()
	}()
	select {
	case good := <-ok:
		if !good {
			t.Fatalf("baresip's ctrl_tcp closed before %s", what)
		}
	case <-time.After(10 * time.Second):
		// Wake the waiter up for good: the test ends.
		_ = c.conn.Close()
		t.Fatalf("timed out waiting for %s from baresip", what)
	}
}

// command runs a command of baresip's menu module and waits for its
// answer, which must be ok.
func (c *baresipCtrl) command(t *testing.T, cmd, params string) {
	t.Helper()
	c.mu.Lock()
	token := strconv.Itoa(len(c.responses) + 1)
	c.mu.Unlock()
	msg, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": token})
	if _, err := fmt.Fprintf(c.conn, "%d:%s,", len(msg), msg); err != nil {
		t.Fatalf("ctrl_tcp %s: %v", cmd, err)
	}
	var res map[string]any
	c.waitFor(t, "the answer to "+cmd, func() bool {
		for _, r := range c.responses {
			if r["token"] == token {
				res = r
				return true
			}
		}
		return false
	})
	if res["ok"] != true {
		t.Fatalf("baresip %s %s: %v", cmd, params, res)
	}
}

// mark is where waitEvent starts looking.
func (c *baresipCtrl) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// waitEvent waits for an event of a type (CALL_ESTABLISHED, CALL_CLOSED,
// ...) from the mark on and returns it.
func (c *baresipCtrl) waitEvent(t *testing.T, mark int, typ string) map[string]any {
	t.Helper()
	var ev map[string]any
	c.waitFor(t, typ, func() bool {
		for _, e := range c.events[mark:] {
			if e["type"] == typ {
				ev = e
				return true
			}
		}
		return false
	})
	return ev
}

// TestBaresipCaller takes calls from baresip (PCMU), dialed through its
// ctrl_tcp interface, at the gateway's registered user: media both ways,
// hold and unhold from the browser, then hangup from the browser's side
// in the first call and from baresip's in the second.
func TestBaresipCaller(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	peer := testsip.StartBaresip(t, testsip.BaresipOptions{User: "carol", Codecs: "PCMU/8000", Ctrl: true})
	ctrl := dialCtrl(t, peer)
	a := e.h.Attachment().(*Agent)

	// call has baresip dial alice and the browser answer; it returns the
	// browser once audio flows both ways.
	call := func(mark, ctrlMark int) *browser {
		t.Helper()
		ctrl.command(t, "dial", e.gwURI("alice"))
		ev := e.log.WaitFrom(t, mark, 10*time.Second, "incomingcall", sipEvent(e.h.ID(), "incomingcall"))
		if r := resultOf(ev); r["username"] != peer.URI() || r["callee"] != e.gwURI("alice") {
			t.Errorf("incomingcall: %v", r)
		}
		if ev.JSEP == nil || !strings.Contains(ev.JSEP.SDP, "PCMU/8000") {
			t.Fatalf("incomingcall offer: %+v", ev.JSEP)
		}
		b := newBrowser(t, e.h, e.log, "pcmu")
		e.must(e.h, map[string]any{"request": "accept"}, b.answer(ev.JSEP))
		b.flush()
		e.log.WaitFrom(t, mark, 10*time.Second, "accepted", sipEvent(e.h.ID(), "accepted"))
		ctrl.waitEvent(t, ctrlMark, "CALL_ESTABLISHED")
		b.sendAudio()
		waitPackets(t, "baresip's sine at the browser", func() bool { return b.received.Load() > 25 })
		waitPackets(t, "browser audio to baresip", func() bool { return a.Status().PacketsToPeer > 25 })
		// baresip got RTP it could use.
		ctrl.waitEvent(t, ctrlMark, "CALL_RTPESTAB")
		if !strings.EqualFold(b.remoteMime(), "audio/PCMU") {
			t.Errorf("browser receives %s", b.remoteMime())
		}
		st := a.Status()
		t.Logf("gateway: %d packets to baresip, %d from it; browser got %d", st.PacketsToPeer, st.PacketsFromPeer, b.received.Load())
		return b
	}

	// First call: hold, unhold, the browser hangs up.
	b := call(0, 0)
	holdAndResume(t, e, b)
	ctrlMark := ctrl.mark()
	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	closed := ctrl.waitEvent(t, ctrlMark, "CALL_CLOSED")
	t.Logf("baresip: call closed: %v", closed["param"])
	legsEnded(t, e, b, 0)

	// Second call: baresip hangs up.
	mark, ctrlMark := e.log.Len(), ctrl.mark()
	b = call(mark, ctrlMark)
	ctrl.command(t, "hangup", "")
	h := e.log.WaitFrom(t, mark, 10*time.Second, "hangup", sipEvent(e.h.ID(), "hangup"))
	if r := resultOf(h); r["code"] != float64(200) {
		t.Errorf("hangup by baresip: %v", r)
	}
	ctrl.waitEvent(t, ctrlMark, "CALL_CLOSED")
	legsEnded(t, e, b, mark)
	testpeer.WaitFor(t, 5*time.Second, "the handle free for another call", func() bool { return a.currentCall() == nil })
}

// TestBaresipVideoCaller takes a call from baresip with audio and VP8
// video from its fake camera, plain and with SDES-SRTP mandatory (RTP/SAVP
// and a key per stream, answered with ours): the browser is offered both,
// answers both, and video flows both ways (baresip reports the first
// video RTP it takes, once decrypted with SRTP).
func TestBaresipVideoCaller(t *testing.T) {
	for _, tc := range []struct{ name, srtp, mediaenc string }{
		{"plain", "", ""},
		{"sdes-srtp", "sdes_mandatory", "srtp-mand"},
	} {
		t.Run(tc.name, func(t *testing.T) { testBaresipVideoCaller(t, tc.srtp, tc.mediaenc) })
	}
}

func testBaresipVideoCaller(t *testing.T, srtp, mediaenc string) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	peer := testsip.StartBaresip(t, testsip.BaresipOptions{User: "carol", Codecs: "PCMU/8000", Video: "vp8", Mediaenc: mediaenc, Ctrl: true})
	ctrl := dialCtrl(t, peer)
	a := e.h.Attachment().(*Agent)

	ctrl.command(t, "dial", e.gwURI("alice"))
	ev := e.wait(e.log, e.h, "incomingcall")
	if ev.JSEP == nil || !strings.Contains(videoSection(ev.JSEP.SDP), "VP8/90000") {
		t.Fatalf("incomingcall offer without VP8: %+v", ev.JSEP)
	}
	if got, _ := resultOf(ev)["srtp"].(string); got != srtp {
		t.Errorf("incomingcall srtp %q, want %q", got, srtp)
	}
	b := newBrowser(t, e.h, e.log, "pcmu").withVideo("vp8")
	e.must(e.h, map[string]any{"request": "accept", "srtp": srtp}, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")
	ctrl.waitEvent(t, 0, "CALL_ESTABLISHED")
	if m := a.vmedia.Load(); m == nil || (m.srtp.Load() != nil) != (srtp != "") {
		t.Errorf("video SRTP in use: want %v", srtp != "")
	}
	b.sendAudio()
	b.sendVideo()
	waitPackets(t, "baresip's video at the browser", func() bool { return b.videoReceived.Load() > 30 })
	waitPackets(t, "browser video to baresip", func() bool { return a.Status().VideoPacketsToPeer > 30 })
	waitPackets(t, "video RTP at baresip", func() bool { return strings.Contains(peer.Log(), "incoming rtp for 'video' established") })
	waitPackets(t, "baresip's audio at the browser", func() bool { return b.received.Load() > 25 })
	st := a.Status()
	t.Logf("gateway: %d video packets to baresip, %d from it; browser got %d", st.VideoPacketsToPeer, st.VideoPacketsFromPeer, b.videoReceived.Load())

	ctrlMark := ctrl.mark()
	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	e.wait(e.log, e.h, "hangup")
	ctrl.waitEvent(t, ctrlMark, "CALL_CLOSED")
	legsEnded(t, e, b, 0)
}
