package sipgw

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
)

var ufragRE = regexp.MustCompile(`a=ice-ufrag:(\S+)`)

func ufrag(sdp string) string {
	if m := ufragRE.FindStringSubmatch(sdp); m != nil {
		return m[1]
	}
	return ""
}

// restartOffer makes the browser's ICE-restart offer.
func (b *browser) restartOffer() *ianua.JSEP {
	b.t.Helper()
	o, err := b.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.pc.SetLocalDescription(o); err != nil {
		b.t.Fatal(err)
	}
	return &ianua.JSEP{Type: "offer", SDP: o.SDP}
}

// The browser restarts ICE in the middle of a call: the SIP side gets a
// re-INVITE with the same RTP port and codec, the browser its answer, and
// the audio goes on with the same SSRCs both ways.
func TestUpdateICERestart(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{codec: "pcmu"})
	b := establish(t, e, u, "pcmu")
	first, err := parseAudio([]byte(u.offerBodies()[0]))
	if err != nil {
		t.Fatal(err)
	}
	oldUfrag := ufrag(b.pc.RemoteDescription().SDP)

	mark := e.log.Len()
	e.must(e.h, map[string]any{"request": "update"}, b.restartOffer())
	e.log.WaitFrom(t, mark, 10*time.Second, "updating", sipEvent(e.h.ID(), "updating"))
	acc := e.log.WaitFrom(t, mark, 10*time.Second, "accepted", sipEvent(e.h.ID(), "accepted"))
	if acc.JSEP == nil || ufrag(acc.JSEP.SDP) == oldUfrag {
		t.Fatalf("answer to the ICE restart: %+v", acc.JSEP)
	}
	b.apply(acc.JSEP)

	offers := u.offerBodies()
	if len(offers) != 2 {
		t.Fatalf("%d offers at the peer", len(offers))
	}
	re, err := parseAudio([]byte(offers[1]))
	if err != nil {
		t.Fatal(err)
	}
	if re.Port != first.Port || re.RTCPPort != first.RTCPPort || re.Dir != dirSendRecv || len(re.Codecs) == 0 || re.Codecs[0].Name != "pcmu" {
		t.Errorf("re-INVITE after the update:\n%s", offers[1])
	}
	if n := strings.Count(offers[1], "a=rtpmap:"); n > 2 {
		t.Errorf("re-INVITE offers %d codecs, want the call's:\n%s", n, offers[1])
	}
	before, echoed := b.received.Load(), u.echoed.Load()
	waitPackets(t, "audio after the ICE restart", func() bool { return b.received.Load() > before+25 && u.echoed.Load() > echoed+25 })
	testpeer.WaitFor(t, 10*time.Second, "ICE connected again", func() bool {
		return b.pc.ICEConnectionState() == webrtc.ICEConnectionStateConnected
	})
	if b.tracks.Load() != 1 || b.remoteSSRCs() != 1 || u.rtpSSRCs() != 1 {
		t.Errorf("tracks %d, SSRCs to the browser %d, to the peer %d: want one of each", b.tracks.Load(), b.remoteSSRCs(), u.rtpSSRCs())
	}
	if e.log.Count(sipEvent(e.h.ID(), "hangup")) != 0 {
		t.Error("the update ended the call")
	}
}

// The peer refuses the update: the SIP side stays as it was, the browser
// still gets its answer, with an error.
func TestUpdateRefused(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{codec: "pcmu"})
	b := establish(t, e, u, "pcmu")
	reinviteHook(func(req *sip.Request, tx sip.ServerTransaction) bool {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
		return true
	}).set(&u.hook)
	mark := e.log.Len()
	e.must(e.h, map[string]any{"request": "update"}, b.restartOffer())
	ev := e.log.WaitFrom(t, mark, 10*time.Second, "update error", func(ev ianua.Event) bool {
		return ev.HandleID == e.h.ID() && strings.Contains(string(ev.Data), `"error_code":449`)
	})
	if ev.JSEP == nil || ev.JSEP.Type != "answer" {
		t.Fatalf("no answer with the error: %s", ev.Data)
	}
	b.apply(ev.JSEP)
	before := b.received.Load()
	waitPackets(t, "audio after the refused update", func() bool { return b.received.Load() > before+25 })
	if st := e.h.Attachment().(*Agent).Status(); st.CallStatus != "incall" {
		t.Errorf("status %+v", st)
	}
}

// With autoaccept_reinvites false the peer's re-INVITE waits for the
// browser: "updatingcall" with an offer, "update" with the answer, then
// the peer's 200. A second re-INVITE meanwhile gets 500 with Retry-After
// (RFC 3261 section 14.2).
func TestUpdatingCall(t *testing.T) {
	e := newEnv(t)
	c := newUAC(e)
	_, b := answerIncoming(t, e, c, map[string]any{"autoaccept_reinvites": false})

	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := c.newReinvite(dirSend)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan *sip.Response, 1)
	go func() {
		r, err := dlg.Do(ctx, first)
		if err != nil {
			r = sip.NewResponseFromRequest(first, 999, err.Error(), nil)
		}
		res <- r
	}()
	ev := e.wait(e.log, e.h, "updatingcall")
	if r := resultOf(ev); r["username"] != "sip:bob@127.0.0.1" || r["displayname"] != "Bob" {
		t.Errorf("updatingcall: %v", r)
	}
	if ev.JSEP == nil || ev.JSEP.Type != "offer" {
		t.Fatalf("updatingcall without an offer: %+v", ev.JSEP)
	}
	second, err := c.newReinvite(dirSendRecv)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := dlg.Do(ctx, second)
	if err != nil || r2.StatusCode != sip.StatusInternalServerError || r2.GetHeader("Retry-After") == nil {
		t.Errorf("second re-INVITE: %v %v", r2, err)
	}
	select {
	case r := <-res:
		t.Fatalf("the peer got %d before the browser answered", r.StatusCode)
	default:
	}

	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	a, err := b.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.pc.SetLocalDescription(a); err != nil {
		t.Fatal(err)
	}
	e.must(e.h, map[string]any{"request": "update"}, &ianua.JSEP{Type: "answer", SDP: a.SDP})
	e.wait(e.log, e.h, "updated")
	var r *sip.Response
	select {
	case r = <-res:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the re-INVITE")
	}
	if d, err := parseAudio(r.Body()); r.StatusCode != 200 || err != nil || d.Dir != dirRecv {
		t.Fatalf("answer to the sendonly re-INVITE: %d %s %v\n%s", r.StatusCode, r.Reason, err, r.Body())
	}
	// The dialog would number the ACK after the second re-INVITE: it is
	// written by hand with the first one's CSeq (RFC 3261 section
	// 13.2.2.4).
	ack := sip.NewRequest(sip.ACK, dlg.InviteResponse.Contact().Address)
	ack.AppendHeader(sip.HeaderClone(first.From()))
	ack.AppendHeader(sip.HeaderClone(r.To()))
	ack.AppendHeader(sip.HeaderClone(first.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: first.CSeq().SeqNo, MethodName: sip.ACK})
	if err := c.cli.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	// Held by the peer: nothing goes to it, its audio still reaches the
	// browser.
	time.Sleep(200 * time.Millisecond)
	toPeer, toBrowser := c.received.Load(), b.received.Load()
	time.Sleep(300 * time.Millisecond)
	if got := c.received.Load() - toPeer; got > 2 {
		t.Errorf("%d packets to the peer that holds", got)
	}
	if b.received.Load() <= toBrowser+5 {
		t.Error("the browser hears nothing while the peer holds")
	}
	call := e.h.Attachment().(*Agent).currentCall()
	// Before the 64*T1 = 1.6 s the 2xx is retransmitted for.
	testpeer.WaitFor(t, time.Second, "the re-INVITE acknowledged", func() bool {
		call.mu.Lock()
		defer call.mu.Unlock()
		return call.inviteIn == nil
	})
	// An answer with nothing to answer is refused.
	if _, err := e.send(e.h, map[string]any{"request": "update"}, &ianua.JSEP{Type: "answer", SDP: a.SDP}); err == nil {
		t.Error("second answer accepted")
	}
}
