package sipgw

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
)

// We transfer the peer (blind): a REFER, its 202 as "referred", and the
// peer's NOTIFYs as "notify" events.
func TestTransferOut(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{codec: "pcmu"})
	establish(t, e, u, "pcmu")
	e.must(e.h, map[string]any{"request": "transfer", "uri": "sip:carol@127.0.0.1:5999", "headers": map[string]string{"X-Why": "lunch"}}, nil)
	e.wait(e.log, e.h, "transferring")
	if r := resultOf(e.wait(e.log, e.h, "referred")); r["code"] != float64(202) {
		t.Errorf("referred: %v", r)
	}
	notifies := func() []map[string]any {
		var out []map[string]any
		for _, ev := range e.log.All(sipEvent(e.h.ID(), "notify")) {
			out = append(out, resultOf(ev))
		}
		return out
	}
	testpeer.WaitFor(t, 10*time.Second, "two NOTIFYs", func() bool { return len(notifies()) == 2 })
	n := notifies()
	// Each incoming request is served on its own goroutine, so the two
	// events may come in either order (the peer's CSeq orders them).
	if n[0]["content"] != "SIP/2.0 100 Trying" {
		n[0], n[1] = n[1], n[0]
	}
	if n[0]["content"] != "SIP/2.0 100 Trying" || n[0]["substate"] != "active" || n[0]["notify"] != "refer" || n[0]["content-type"] != "message/sipfrag" {
		t.Errorf("progress notify: %v", n[0])
	}
	if n[1]["content"] != "SIP/2.0 200 OK" || n[1]["substate"] != "terminated" {
		t.Errorf("final notify: %v", n[1])
	}
	refers := u.referRequests()
	if len(refers) != 1 {
		t.Fatalf("%d REFERs at the peer", len(refers))
	}
	r := refers[0]
	if h := r.GetHeader("Refer-To"); h == nil || h.Value() != "<sip:carol@127.0.0.1:5999>" {
		t.Errorf("Refer-To: %v", h)
	}
	if h := r.GetHeader("Referred-By"); h == nil || !strings.Contains(h.Value(), "sip:alice@127.0.0.1") {
		t.Errorf("Referred-By: %v", h)
	}
	if r.GetHeader("X-Why") == nil {
		t.Errorf("custom header missing:\n%s", r)
	}
	// The plugin hangs up nothing by itself, as in Janus.
	if st := e.h.Attachment().(*Agent).Status(); st.CallStatus != "incall" {
		t.Errorf("after the transfer: %+v", st)
	}
}

// Attended transfer: the Refer-To carries a Replaces (RFC 3891) naming
// the other call of the same account, as the target sees it.
func TestTransferAttended(t *testing.T) {
	e := newEnv(t)
	transferee := newUAS(e, uasOptions{codec: "pcmu"})
	establish(t, e, transferee, "pcmu")
	target := newUAS(e, uasOptions{codec: "pcmu"})
	_, h2, log2 := e.newHandle()
	e.guest(h2, log2)
	b2 := newBrowser(t, h2, log2, "pcmu")
	e.must(h2, map[string]any{"request": "call", "uri": target.uri("carol")}, b2.offer())
	b2.flush()
	b2.apply(e.wait(log2, h2, "accepted").JSEP)
	id2 := resultOf(e.wait(log2, h2, "calling"))["call_id"].(string)

	// A call that does not exist, or not of this account: 454.
	if _, err := e.send(e.h, map[string]any{"request": "transfer", "uri": target.uri("carol"), "replace": "no-such-call"}, nil); codeOf(err) != ErrorNoSuchCallID {
		t.Errorf("unknown call: %v", err)
	}
	mallory := &account{uri: sip.Uri{Scheme: "sip", User: "mallory", Host: "127.0.0.1"}}
	if _, ok := e.gw.replacesFor(id2, mallory); ok {
		t.Error("another account's call can be replaced")
	}

	e.must(e.h, map[string]any{"request": "transfer", "uri": target.uri("carol"), "replace": id2}, nil)
	testpeer.WaitFor(t, 10*time.Second, "REFER", func() bool { return len(transferee.referRequests()) == 1 })
	h := transferee.referRequests()[0].GetHeader("Refer-To")
	var u sip.Uri
	if _, err := sip.ParseAddressValue(h.Value(), &u, nil); err != nil {
		t.Fatalf("Refer-To %q: %v", h.Value(), err)
	}
	v, ok := u.Headers.Get("Replaces")
	if !ok {
		t.Fatalf("no Replaces in %q", h.Value())
	}
	replaces, err := url.QueryUnescape(v)
	if err != nil {
		t.Fatal(err)
	}
	target.mu.Lock()
	dlg := target.lastDlg
	target.mu.Unlock()
	ourTag, _ := dlg.InviteRequest.From().Params.Get("tag")
	targetTag, _ := dlg.InviteRequest.To().Params.Get("tag") // set by ReadInvite
	if want := fmt.Sprintf("%s;to-tag=%s;from-tag=%s", id2, targetTag, ourTag); replaces != want {
		t.Errorf("Replaces %q, want %q", replaces, want)
	}
	if u.User != "carol" {
		t.Errorf("Refer-To %q", h.Value())
	}
}

// The peer transfers us: 202, "transfer" to the client, a NOTIFY "100
// Trying"; another handle of the account calls the target with the
// refer_id and the transferor hears "180 Ringing" and "200 OK". A second
// transfer is declined: the transferor hears the code.
func TestTransferIn(t *testing.T) {
	e := newEnv(t)
	transferor := newUAC(e)
	answerIncoming(t, e, transferor, nil)

	// carol, the target, is a handle of the gateway.
	regCarol := newRegistrar(e, "carol", "pw", 60)
	_, hc, logC := e.newHandle()
	e.register(hc, logC, regCarol, "carol")

	res := transferor.refer(t, []string{"<" + e.gwURI("carol") + ">"}, sip.NewHeader("Referred-By", "<sip:bob@127.0.0.1>"))
	if res.StatusCode != sip.StatusAccepted {
		t.Fatalf("REFER answered %d", res.StatusCode)
	}
	r := resultOf(e.wait(e.log, e.h, "transfer"))
	if r["refer_to"] != e.gwURI("carol") || r["referred_by"] != "<sip:bob@127.0.0.1>" || r["refer_id"] == nil {
		t.Fatalf("transfer: %v", r)
	}
	referID := uint32(r["refer_id"].(float64))
	testpeer.WaitFor(t, 5*time.Second, "NOTIFY 100", func() bool { return len(transferor.notifyRequests()) == 1 })
	first := transferor.notifyRequests()[0]
	if string(first.Body()) != "SIP/2.0 100 Trying\r\n" || !strings.HasPrefix(first.GetHeader("Subscription-State").Value(), "active") ||
		!strings.HasPrefix(first.GetHeader("Event").Value(), "refer") || !strings.HasPrefix(first.ContentType().Value(), "message/sipfrag") {
		t.Errorf("first NOTIFY:\n%s", first)
	}

	// Another handle of alice's account follows the transfer, the first
	// one being in the call.
	_, h2, log2 := e.newHandle()
	e.guest(h2, log2)
	if _, err := e.send(h2, map[string]any{"request": "call", "uri": e.gwURI("carol"), "refer_id": referID + 1}, newBrowser(t, h2, log2, "pcmu").offer()); codeOf(err) != ErrorWrongState {
		t.Errorf("call with an unknown refer_id: %v", err)
	}
	_, h4, log4 := e.newHandle()
	e.guest(h4, log4)
	b2 := newBrowser(t, h4, log4, "opus")
	e.must(h4, map[string]any{"request": "call", "uri": r["refer_to"], "refer_id": referID}, b2.offer())
	b2.flush()
	in := e.wait(logC, hc, "incomingcall")
	if ri := resultOf(in); ri["referred_by"] != "<sip:bob@127.0.0.1>" {
		t.Errorf("incomingcall at the target: %v", ri)
	}
	bc := newBrowser(t, hc, logC, "opus")
	e.must(hc, map[string]any{"request": "accept"}, bc.answer(in.JSEP))
	bc.flush()
	b2.apply(e.wait(log4, h4, "accepted").JSEP)
	testpeer.WaitFor(t, 10*time.Second, "final NOTIFY", func() bool {
		n := transferor.notifyRequests()
		return len(n) > 1 && strings.HasPrefix(n[len(n)-1].GetHeader("Subscription-State").Value(), "terminated")
	})
	var bodies []string
	for _, n := range transferor.notifyRequests() {
		bodies = append(bodies, string(n.Body()))
	}
	if want := []string{"SIP/2.0 100 Trying\r\n", "SIP/2.0 180 Ringing\r\n", "SIP/2.0 200 OK\r\n"}; strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("NOTIFYs %q, want %q", bodies, want)
	}
	// Used up: the refer_id names nothing any more.
	if _, err := e.send(e.h, map[string]any{"request": "decline", "refer_id": referID}, nil); codeOf(err) != ErrorWrongState {
		t.Errorf("decline of a finished transfer: %v", err)
	}

	// A second transfer, declined.
	if res := transferor.refer(t, []string{"<sip:dave@127.0.0.1>"}); res.StatusCode != sip.StatusAccepted {
		t.Fatalf("second REFER answered %d", res.StatusCode)
	}
	mark := e.log.Len()
	ev := e.log.WaitFrom(t, mark-1, 10*time.Second, "second transfer", func(ev ianua.Event) bool {
		return sipEvent(e.h.ID(), "transfer")(ev) && resultOf(ev)["refer_to"] == "sip:dave@127.0.0.1"
	})
	id2 := resultOf(ev)["refer_id"]
	e.must(e.h, map[string]any{"request": "decline", "refer_id": id2, "code": 486}, nil)
	if d := resultOf(e.wait(e.log, e.h, "declining")); d["refer_id"] != id2 || d["code"] != float64(486) {
		t.Errorf("declining: %v", d)
	}
	testpeer.WaitFor(t, 10*time.Second, "NOTIFY 486", func() bool {
		n := transferor.notifyRequests()
		return string(n[len(n)-1].Body()) == "SIP/2.0 486 Busy Here\r\n"
	})
	if st := e.h.Attachment().(*Agent).Status(); st.CallStatus != "incall" {
		t.Errorf("the transferee's call: %+v", st)
	}

	// Broken REFERs: no Refer-To, or two.
	if res := transferor.refer(t, nil); res.StatusCode != sip.StatusBadRequest {
		t.Errorf("REFER without Refer-To: %d", res.StatusCode)
	}
	if res := transferor.refer(t, []string{"<sip:a@127.0.0.1>", "<sip:b@127.0.0.1>"}); res.StatusCode != sip.StatusBadRequest {
		t.Errorf("REFER with two Refer-To: %d", res.StatusCode)
	}
	if n := e.log.Count(sipEvent(e.h.ID(), "transfer")); n != 2 {
		t.Errorf("%d transfer events", n)
	}
}
