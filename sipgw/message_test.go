package sipgw

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// inbox is a SIP peer that takes MESSAGEs, challenging each first with
// 407 (RFC 3261 section 22.3) for user/password.
type inbox struct {
	*sipPeer
	user, password string

	mu       sync.Mutex
	messages []*sip.Request // the authenticated ones
}

func newInbox(e *env, user, password string) *inbox {
	b := &inbox{sipPeer: newSIPPeer(e, "inbox"), user: user, password: password}
	b.srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		const realm, nonce = "ianua.test", "m1"
		auth := req.GetHeader("Proxy-Authorization")
		if auth == nil {
			res := sip.NewResponseFromRequest(req, sip.StatusProxyAuthRequired, "Proxy Authentication Required", nil)
			res.AppendHeader(sip.NewHeader("Proxy-Authenticate", fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5`, realm, nonce)))
			_ = tx.Respond(res)
			return
		}
		params := map[string]string{}
		for part := range strings.SplitSeq(strings.TrimPrefix(auth.Value(), "Digest "), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			params[k] = strings.Trim(v, `"`)
		}
		ha1 := md5hex(b.user + ":" + realm + ":" + b.password)
		want := md5hex(ha1 + ":" + nonce + ":" + md5hex("MESSAGE:"+params["uri"]))
		if params["username"] != b.user || params["response"] != want {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
			return
		}
		b.mu.Lock()
		b.messages = append(b.messages, req)
		b.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusAccepted, "Accepted", nil))
	})
	b.serve(e)
	return b
}

func (b *inbox) received() []*sip.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*sip.Request(nil), b.messages...)
}

func TestMessageOutOfDialog(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")

	// To an external peer that challenges the MESSAGE.
	box := newInbox(e, "alice", "pw")
	tr := e.must(e.h, map[string]any{"request": "message", "uri": box.uri("carol"), "content": "hello carol",
		"call_id": "msg-1@ianua", "headers": map[string]string{"X-Thread": "7"}}, nil)
	sent := e.log.Wait(t, 10*time.Second, "messagesent", func(ev ianua.Event) bool {
		return sipEvent(e.h.ID(), "messagesent")(ev) && ev.Transaction == tr
	})
	if r := resultOf(sent); r["call_id"] != "msg-1@ianua" {
		t.Errorf("messagesent: %v", r)
	}
	d := resultOf(e.wait(e.log, e.h, "messagedelivery"))
	if d["code"] != float64(202) {
		t.Errorf("messagedelivery: %v", d)
	}
	got := box.received()
	if len(got) != 1 {
		t.Fatalf("%d MESSAGEs at the peer", len(got))
	}
	m := got[0]
	if string(m.Body()) != "hello carol" || m.ContentType().Value() != "text/plain" || m.CallID().Value() != "msg-1@ianua" ||
		m.GetHeader("X-Thread") == nil || m.From().Address.User != "alice" || m.To().Address.User != "carol" {
		t.Errorf("MESSAGE at the peer:\n%s", m)
	}

	// To another handle of the gateway, by the user it registered.
	regBob := newRegistrar(e, "bob", "pw", 60)
	_, hb, logB := e.newHandle()
	e.register(hb, logB, regBob, "bob")
	mark := e.log.Len()
	e.must(e.h, map[string]any{"request": "message", "uri": e.gwURI("bob"), "content": "<b>hi</b>", "content_type": "text/html"}, nil)
	r := resultOf(e.wait(logB, hb, "message"))
	if r["content"] != "<b>hi</b>" || r["content_type"] != "text/html" || r["sender"] != "sip:alice@127.0.0.1" {
		t.Errorf("message: %v", r)
	}
	d = resultOf(e.log.WaitFrom(t, mark, 10*time.Second, "second delivery", sipEvent(e.h.ID(), "messagedelivery")))
	if d["code"] != float64(200) {
		t.Errorf("messagedelivery: %v", d)
	}

	// To nobody: the delivery report says so.
	mark = e.log.Len()
	e.must(e.h, map[string]any{"request": "message", "uri": e.gwURI("nobody"), "content": "anyone?"}, nil)
	d = resultOf(e.log.WaitFrom(t, mark, 10*time.Second, "failed delivery", sipEvent(e.h.ID(), "messagedelivery")))
	if d["code"] != float64(404) {
		t.Errorf("messagedelivery: %v", d)
	}
	if n := logB.Count(sipEvent(hb.ID(), "message")); n != 1 {
		t.Errorf("bob got %d messages", n)
	}
}

func TestMessageInDialog(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{codec: "pcmu"})
	establish(t, e, u, "pcmu")
	callID := resultOf(e.wait(e.log, e.h, "calling"))["call_id"]

	e.must(e.h, map[string]any{"request": "message", "content": "in the call", "content_type": "text/x-note; charset=utf-8"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "messagesent")); r["call_id"] != callID {
		t.Errorf("messagesent %v, want call_id %v", r, callID)
	}
	if d := resultOf(e.wait(e.log, e.h, "messagedelivery")); d["code"] != float64(200) {
		t.Errorf("messagedelivery: %v", d)
	}
	msgs := u.messageRequests()
	if len(msgs) != 1 || string(msgs[0].Body()) != "in the call" || msgs[0].CallID().Value() != callID ||
		!strings.HasPrefix(msgs[0].ContentType().Value(), "text/x-note") {
		t.Fatalf("MESSAGEs at the peer: %v", msgs)
	}
	if tag, _ := msgs[0].To().Params.Get("tag"); tag == "" {
		t.Errorf("in-dialog MESSAGE without a To tag:\n%s", msgs[0])
	}

	// The peer writes back in the dialog.
	res := u.request(t, sip.MESSAGE, "text/plain", []byte("hi from SIP"))
	if res.StatusCode != 200 {
		t.Errorf("MESSAGE answered %d", res.StatusCode)
	}
	ev := e.wait(e.log, e.h, "message")
	if r := resultOf(ev); r["content"] != "hi from SIP" || r["content_type"] != "text/plain" || r["sender"] != u.uri("echo") {
		t.Errorf("message: %v", r)
	}
	if id := callIDOf(ev); id != callID {
		t.Errorf("message call_id %q, want %v", id, callID)
	}
}

// callIDOf is the call_id of a Janus SIP event.
func callIDOf(e ianua.Event) string {
	var d struct {
		CallID string `json:"call_id"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.CallID
}

func TestMessageBadInput(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("x", maxMessageSize+1)
	testCases := []struct {
		name string
		body map[string]any
		code int
	}{
		{"no content", map[string]any{"request": "message", "uri": "sip:bob@127.0.0.1"}, ErrorMissingElement},
		{"content too long", map[string]any{"request": "message", "uri": "sip:bob@127.0.0.1", "content": long}, ErrorInvalidElement},
		{"content type injection", map[string]any{"request": "message", "uri": "sip:bob@127.0.0.1", "content": "x", "content_type": "text/plain\r\nX-Evil: 1"}, ErrorInvalidElement},
		{"content type not a media type", map[string]any{"request": "message", "uri": "sip:bob@127.0.0.1", "content": "x", "content_type": "plain"}, ErrorInvalidElement},
		{"content not a string", map[string]any{"request": "message", "uri": "sip:bob@127.0.0.1", "content": 5}, ErrorInvalidElement},
		{"malformed uri", map[string]any{"request": "message", "uri": "sip:bob @127.0.0.1", "content": "x"}, ErrorInvalidAddress},
		{"uri injection", map[string]any{"request": "message", "uri": "sip:bob@127.0.0.1\r\nX-Evil: 1", "content": "x"}, ErrorInvalidAddress},
		{"header injection", map[string]any{"request": "message", "uri": "sip:bob@127.0.0.1", "content": "x", "headers": map[string]string{"X-A": "1\r\nVia: x"}}, ErrorInvalidElement},
		{"call_id injection", map[string]any{"request": "message", "uri": "sip:bob@127.0.0.1", "content": "x", "call_id": "a\r\nb"}, ErrorInvalidElement},
		{"not registered", map[string]any{"request": "message", "uri": "sip:bob@127.0.0.1", "content": "x"}, ErrorWrongState},
		{"no call", map[string]any{"request": "message", "content": "x"}, ErrorWrongState},
	}
	for _, tc := range testCases {
		if _, err := e.send(e.h, tc.body, nil); codeOf(err) != tc.code {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.code)
		}
	}
	e.guest(e.h, e.log)
	if _, err := e.send(e.h, map[string]any{"request": "message", "content": "x"}, nil); codeOf(err) != ErrorWrongState {
		t.Errorf("in dialog without a call: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	for _, name := range []string{"messagesent", "messagedelivery"} {
		if n := e.log.Count(sipEvent(e.h.ID(), name)); n != 0 {
			t.Errorf("%d %s events after refused requests", n, name)
		}
	}
}
