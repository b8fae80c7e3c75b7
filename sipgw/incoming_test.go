package sipgw

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua/internal/testpeer"
)

// ring makes uac call the registered alice at the gateway and returns the
// dialog and the outcome of waiting for its answer.
func ring(t *testing.T, e *env, c *uac, body []byte) (*sipgo.DialogClientSession, <-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dlg, err := c.invite(ctx, e.gwURI("alice"), body)
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() { answered <- dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}) }()
	return dlg, answered, cancel
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	return nil
}

func sipCode(err error) int {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res.StatusCode
	}
	return 0
}

func TestIncomingCall(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	c := newUAC(e)
	dlg, answered, _ := ring(t, e, c, c.offer())

	ev := e.wait(e.log, e.h, "incomingcall")
	r := resultOf(ev)
	if r["username"] != "sip:bob@127.0.0.1" || r["displayname"] != "Bob" || r["callee"] != e.gwURI("alice") {
		t.Errorf("incomingcall: %v", r)
	}
	if ev.JSEP == nil || ev.JSEP.Type != "offer" || !strings.Contains(ev.JSEP.SDP, "PCMU") || strings.Contains(ev.JSEP.SDP, "opus") {
		t.Fatalf("incomingcall offer: %+v", ev.JSEP)
	}
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "accept", "headers": map[string]string{"X-Answered-By": "ianua"}}, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")
	if err := waitErr(t, answered); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if h := dlg.InviteResponse.GetHeader("X-Answered-By"); h == nil || h.Value() != "ianua" {
		t.Errorf("custom header missing from the 200:\n%s", dlg.InviteResponse)
	}
	if err := dlg.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	answer := dlg.InviteResponse.Body()
	if d, err := parseAudio(answer); err != nil || len(d.Codecs) == 0 || d.Codecs[0].Name != "pcmu" {
		t.Fatalf("200 SDP %v:\n%s", err, answer)
	}
	c.sendAudio(answer)
	b.sendAudio()
	waitPackets(t, "media both ways", func() bool { return c.received.Load() > 25 && b.received.Load() > 25 })
	if !strings.EqualFold(b.remoteMime(), "audio/PCMU") {
		t.Errorf("browser receives %s", b.remoteMime())
	}
	t.Logf("caller sent %d, browser got %d; browser sent %d, caller got %d", c.sent.Load(), b.received.Load(), b.sent.Load(), c.received.Load())

	// DTMF from the SIP side as an INFO.
	if err := c.info("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n")); err != nil {
		t.Fatal(err)
	}
	d := resultOf(e.wait(e.log, e.h, "dtmf"))
	if d["signal"] != "5" || d["duration"] != float64(160) {
		t.Errorf("dtmf: %v", d)
	}
	if i := resultOf(e.wait(e.log, e.h, "info")); i["type"] != "application/dtmf-relay" {
		t.Errorf("info: %v", i)
	}

	// The caller holds (sendonly): we answer recvonly.
	reinvite, _ := c.newReinvite(dirSend)
	res, err := dlg.Do(context.Background(), reinvite)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE: %v %v", res, err)
	}
	if ad, err := parseAudio(res.Body()); err != nil || ad.Dir != dirRecv {
		t.Errorf("answer to a sendonly re-INVITE: %v\n%s", err, res.Body())
	}
	ack := sip.NewRequest(sip.ACK, dlg.InviteResponse.Contact().Address)
	if err := dlg.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}

	// The caller hangs up.
	if err := dlg.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := resultOf(e.wait(e.log, e.h, "hangup"))
	if h["code"] != float64(200) {
		t.Errorf("hangup: %v", h)
	}
}

func TestIncomingDecline(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	c := newUAC(e)
	_, answered, _ := ring(t, e, c, c.offer())
	e.wait(e.log, e.h, "incomingcall")
	e.must(e.h, map[string]any{"request": "decline", "code": 603}, nil)
	if r := resultOf(e.wait(e.log, e.h, "declining")); r["code"] != float64(603) {
		t.Errorf("declining: %v", r)
	}
	if code := sipCode(waitErr(t, answered)); code != 603 {
		t.Errorf("caller got %d, want 603", code)
	}
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(603) {
		t.Errorf("hangup: %v", r)
	}
	if e.h.HasPeerConnection() {
		t.Error("PeerConnection left after decline")
	}
}

func TestIncomingCancel(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	c := newUAC(e)
	_, answered, cancel := ring(t, e, c, c.offer())
	e.wait(e.log, e.h, "incomingcall")
	cancel() // CANCEL
	waitErr(t, answered)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(487) {
		t.Errorf("hangup: %v", r)
	}
}

func TestIncomingBusyAndRejects(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	c := newUAC(e)
	_, first, _ := ring(t, e, c, c.offer())
	e.wait(e.log, e.h, "incomingcall")

	// A second call while the first rings: busy, and a missed_call event.
	c2 := newUAC(e)
	_, second, _ := ring(t, e, c2, c2.offer())
	if code := sipCode(waitErr(t, second)); code != 486 {
		t.Errorf("second call: %d, want 486", code)
	}
	if r := resultOf(e.wait(e.log, e.h, "missed_call")); r["caller"] != "sip:bob@127.0.0.1" {
		t.Errorf("missed_call: %v", r)
	}

	// No codec we can carry untouched: 488, and the browser hears nothing.
	c3 := newUAC(e)
	g729 := localSDP{SessionID: 3, Version: 1, IP: "127.0.0.1", Port: 4000, Dir: dirSendRecv, Codecs: []codec{{Name: "g729", PT: 18, Clock: 8000}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dlg3, err := c3.invite(ctx, e.gwURI("alice"), g729.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if code := sipCode(dlg3.WaitAnswer(ctx, sipgo.AnswerOptions{})); code != 488 {
		t.Errorf("G.729 only: %d, want 488", code)
	}
	// Nobody registered as carol: 404.
	dlg4, err := c3.invite(ctx, e.gwURI("carol"), c3.offer())
	if err != nil {
		t.Fatal(err)
	}
	if code := sipCode(dlg4.WaitAnswer(ctx, sipgo.AnswerOptions{})); code != 404 {
		t.Errorf("unknown user: %d, want 404", code)
	}
	if n := e.log.Count(sipEvent(e.h.ID(), "incomingcall")); n != 1 {
		t.Errorf("%d incomingcall events", n)
	}

	// Detaching while the first call rings: 480 to its caller.
	if err := e.h.Detach(); err != nil {
		t.Fatal(err)
	}
	if code := sipCode(waitErr(t, first)); code != 480 {
		t.Errorf("first call after detach: %d, want 480", code)
	}
	testpeer.WaitFor(t, 5*time.Second, "un-REGISTER", func() bool { _, removed, _ := reg.counts(); return removed == 1 })
}

// Two handles of one gateway call each other: the INVITE leaves the
// gateway's socket and comes back to it, with one Call-ID for both calls.
func TestHandleToHandle(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	_, hb, logB := e.newHandle()
	e.register(hb, logB, reg, "alice")
	e.guest(e.h, e.log)

	caller := newBrowser(t, e.h, e.log, "opus")
	e.must(e.h, map[string]any{"request": "call", "uri": e.gwURI("alice")}, caller.offer())
	caller.flush()
	ev := e.wait(logB, hb, "incomingcall")
	if r := resultOf(ev); r["username"] != "sip:alice@127.0.0.1" {
		t.Errorf("incomingcall: %v", r)
	}
	callee := newBrowser(t, hb, logB, "opus")
	e.must(hb, map[string]any{"request": "accept"}, callee.answer(ev.JSEP))
	callee.flush()
	caller.apply(e.wait(e.log, e.h, "accepted").JSEP)
	caller.sendAudio()
	callee.sendAudio()
	waitPackets(t, "audio between the handles", func() bool { return caller.received.Load() > 25 && callee.received.Load() > 25 })
	if !strings.EqualFold(caller.remoteMime(), "audio/opus") || !strings.EqualFold(callee.remoteMime(), "audio/opus") {
		t.Errorf("codecs %s / %s", caller.remoteMime(), callee.remoteMime())
	}
	e.must(hb, map[string]any{"request": "hangup"}, nil)
	e.wait(logB, hb, "hangup")
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("caller's hangup: %v", r)
	}
}

// A guest (no REGISTER) is reached at the gateway's address by its user
// part, as Janus guests are at their own; a handle that registers the
// same user takes it over, and a guest does not take it back.
func TestIncomingCallToGuest(t *testing.T) {
	e := newEnv(t)
	e.guest(e.h, e.log) // sip:alice@127.0.0.1
	c := newUAC(e)
	_, _, cancel := ring(t, e, c, c.offer())
	ev := e.wait(e.log, e.h, "incomingcall")
	if ev.JSEP == nil || ev.JSEP.Type != "offer" {
		t.Fatalf("incomingcall to a guest: %+v", ev)
	}
	e.must(e.h, map[string]any{"request": "decline"}, nil)
	cancel()

	// Another handle registers alice for real: calls go there now, and a
	// second guest named alice does not take them.
	_, h2, log2 := e.newHandle()
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(h2, log2, reg, "alice")
	_, h3, log3 := e.newHandle()
	e.guest(h3, log3)
	mark2, mark3 := log2.Len(), log3.Len()
	_, _, cancel2 := ring(t, e, c, c.offer())
	defer cancel2()
	log2.WaitFrom(t, mark2, 5*time.Second, "incomingcall on the registered handle", sipEvent(h2.ID(), "incomingcall"))
	time.Sleep(200 * time.Millisecond)
	if n := log3.Count(sipEvent(h3.ID(), "incomingcall")); n != 0 || log3.Len() < mark3 {
		t.Errorf("the second guest got %d incoming calls", n)
	}
}
