package sipgw

import (
	"strconv"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/internal/testsip"
)

// Real SIP peers: SIPp (Debian package sip-tester), installed by
// scripts/test.sh, run by internal/testsip. These tests fail, not skip,
// without it.

// runSIPp runs SIPp with args until it exits (or the test ends, or a
// minute has passed), with a scenario timeout of 30 s.
func runSIPp(t *testing.T, args ...string) *testsip.SIPp {
	t.Helper()
	return runSIPpIn(t, "", args...)
}

// runSIPpIn is runSIPp in the working directory dir ("" for a new one).
func runSIPpIn(t *testing.T, dir string, args ...string) *testsip.SIPp {
	t.Helper()
	return testsip.Start(t, testsip.Options{Dir: dir, Timeout: 30 * time.Second, Lifetime: 60 * time.Second}, args...)
}

// legsEnded waits until a call is over on both legs: the SIP call (the
// agent is idle) and the WebRTC one, on the gateway's side (EventHangup
// after the event log's mark, no PeerConnection) and on the browser's
// (pion closes its PeerConnection on the gateway's DTLS close_notify, so
// its audio stops).
func legsEnded(t *testing.T, e *env, b *browser, mark int) {
	t.Helper()
	e.log.WaitFrom(t, mark, 10*time.Second, "WebRTC hangup", testpeer.Type(ianua.EventHangup, e.h.ID()))
	testpeer.WaitFor(t, 10*time.Second, "SIP leg idle", func() bool { return e.h.Attachment().(*Agent).Status().CallStatus == "idle" })
	if e.h.HasPeerConnection() {
		t.Error("the handle still has a PeerConnection")
	}
	testpeer.WaitFor(t, 10*time.Second, "browser PeerConnection closed", func() bool {
		return b.pc.ConnectionState() == webrtc.PeerConnectionStateClosed
	})
	n := b.received.Load()
	time.Sleep(200 * time.Millisecond)
	if m := b.received.Load(); m != n {
		t.Errorf("browser still receiving after the hangup: %d -> %d", n, m)
	}
}

// stalled says whether count stops growing: a settling pause for packets
// in flight, then at most 2 more in 500 ms (50 at 20 ms a packet when
// flowing).
func stalled(count func() int64) bool {
	time.Sleep(300 * time.Millisecond)
	n := count()
	time.Sleep(500 * time.Millisecond)
	return count()-n <= 2
}

// TestSIPpUAS calls SIPp answering with PCMU and echoing RTP, holds
// (inactive: nothing flows either way) and unholds, and hangs up from
// the browser's side.
func TestSIPpUAS(t *testing.T) {
	e := newEnv(t)
	port, media := testsip.FreePort(t, false), testsip.FreePort(t, true)
	sipp := runSIPp(t, "-sf", testsip.Scenario(t, "sipp-uas-hold.xml"), "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-p", strconv.Itoa(port), "-mp", strconv.Itoa(media), "-m", "1")
	testsip.WaitBound(t, port, false)

	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "call", "uri": "sip:echo@127.0.0.1:" + strconv.Itoa(port)}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	b.sendAudio()
	a := e.h.Attachment().(*Agent)
	waitPackets(t, "RTP echoed by SIPp", func() bool { return b.received.Load() > 25 })
	st := a.Status()
	t.Logf("browser sent %d, got %d back through SIPp; gateway: %d to SIPp, %d from it", b.sent.Load(), b.received.Load(), st.PacketsToPeer, st.PacketsFromPeer)

	// Hold, inactive: the gateway stops sending, so the echo stops too.
	e.must(e.h, map[string]any{"request": "hold", "direction": "inactive"}, nil)
	e.wait(e.log, e.h, "holding")
	testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return a.currentCall().reinvitingDone() })
	if !stalled(func() int64 { return int64(a.Status().PacketsToPeer) }) {
		t.Error("still sending to SIPp while held")
	}
	if !stalled(b.received.Load) {
		t.Error("browser still receiving while held")
	}
	resumed := b.received.Load()
	e.must(e.h, map[string]any{"request": "unhold"}, nil)
	e.wait(e.log, e.h, "resuming")
	waitPackets(t, "echo after unhold", func() bool { return b.received.Load() > resumed+25 })

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	// The scenario fails unless it got the hold, the unhold and the BYE.
	sipp.Check(t, 10*time.Second)
	legsEnded(t, e, b, 0)
}

// TestSIPpUAC takes a call from SIPp, which echoes RTP and hangs up.
func TestSIPpUAC(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	media := testsip.FreePort(t, true)
	// SIPp's uac scenario: INVITE (PCMU), ACK, a pause of -d, BYE.
	sipp := runSIPp(t, "-sn", "uac", "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(media),
		"-p", strconv.Itoa(testsip.FreePort(t, false)), "-s", "alice", "-d", "3000", "-m", "1", e.gw.Addr().String())

	ev := e.wait(e.log, e.h, "incomingcall")
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "accept"}, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")
	b.sendAudio()
	waitPackets(t, "RTP echoed by SIPp", func() bool { return b.received.Load() > 25 })
	// SIPp hangs up after its pause.
	if r := resultOf(e.log.Wait(t, 15*time.Second, "hangup", sipEvent(e.h.ID(), "hangup"))); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	sipp.Check(t, 10*time.Second)
	legsEnded(t, e, b, 0)
}

// TestSIPpRegistrar registers with SIPp as the registrar: its scenario
// challenges every REGISTER and checks the digest with <verifyauth>.
func TestSIPpRegistrar(t *testing.T) {
	e := newEnv(t)
	port := testsip.FreePort(t, false)
	// Two calls: the wrong secret's REGISTERs, then the right one's
	// REGISTERs and un-REGISTERs (one Call-ID each).
	sipp := runSIPp(t, "-sf", testsip.Scenario(t, "sipp-registrar.xml"), "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "2")
	testsip.WaitBound(t, port, false)
	proxy := "sip:127.0.0.1:" + strconv.Itoa(port)

	_, h2, log2 := e.newHandle()
	e.must(h2, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "wrong", "proxy": proxy}, nil)
	if r := resultOf(e.wait(log2, h2, "registration_failed")); r["code"] != float64(403) {
		t.Errorf("registration_failed: %v", r)
	}

	e.must(e.h, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "s3cret", "proxy": proxy}, nil)
	if r := resultOf(e.wait(e.log, e.h, "registered")); r["username"] != "alice" || r["register_sent"] != true {
		t.Errorf("registered: %v", r)
	}
	e.must(e.h, map[string]any{"request": "unregister"}, nil)
	e.wait(e.log, e.h, "unregistered")
	// The scenario fails unless the un-REGISTER's digest was right too.
	sipp.Check(t, 10*time.Second)
}
