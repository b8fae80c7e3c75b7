package sipgw

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// Refused requests of transfer, update and the refer_id of call and
// decline: Janus's error codes, and nothing changes.
func TestTransferUpdateBadInput(t *testing.T) {
	e := newEnv(t)
	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "pcmu")
	offer := b.offer()
	idle := []struct {
		name string
		body map[string]any
		jsep *ianua.JSEP
		code int
	}{
		{"transfer without a call", map[string]any{"request": "transfer", "uri": "sip:carol@127.0.0.1"}, nil, ErrorWrongState},
		{"transfer without uri", map[string]any{"request": "transfer"}, nil, ErrorMissingElement},
		{"transfer to a malformed uri", map[string]any{"request": "transfer", "uri": "sip:carol @127.0.0.1"}, nil, ErrorInvalidAddress},
		{"transfer to a tel uri", map[string]any{"request": "transfer", "uri": "tel:+123"}, nil, ErrorInvalidAddress},
		{"transfer uri injection", map[string]any{"request": "transfer", "uri": "sip:carol@127.0.0.1\r\nX-Evil: 1"}, nil, ErrorInvalidAddress},
		{"transfer header injection", map[string]any{"request": "transfer", "uri": "sip:carol@127.0.0.1", "headers": map[string]string{"X-A": "1\nX-Evil: 1"}}, nil, ErrorInvalidElement},
		{"transfer replace injection", map[string]any{"request": "transfer", "uri": "sip:carol@127.0.0.1", "replace": "a\r\nX-Evil: 1"}, nil, ErrorInvalidElement},
		{"update without jsep", map[string]any{"request": "update"}, nil, ErrorMissingSDP},
		{"update without a call", map[string]any{"request": "update"}, offer, ErrorWrongState},
		{"call with an unknown refer_id", map[string]any{"request": "call", "uri": "sip:carol@127.0.0.1", "refer_id": 12345}, offer, ErrorWrongState},
		{"refer_id not a number", map[string]any{"request": "call", "uri": "sip:carol@127.0.0.1", "refer_id": "x"}, offer, ErrorInvalidElement},
		{"decline of an unknown refer_id", map[string]any{"request": "decline", "refer_id": 12345}, nil, ErrorWrongState},
	}
	for _, tc := range idle {
		if _, err := e.send(e.h, tc.body, tc.jsep); codeOf(err) != tc.code {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.code)
		}
	}
	if e.h.HasPeerConnection() {
		t.Error("a refused request left a PeerConnection")
	}
	_ = b.pc.Close()

	// In a call.
	u := newUAS(e, uasOptions{codec: "pcmu"})
	b = newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo")}, b.offer())
	b.flush()
	b.apply(e.wait(e.log, e.h, "accepted").JSEP)
	b.sendAudio()
	waitPackets(t, "echo", func() bool { return b.received.Load() > 10 })

	o, err := b.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	noPCMU := strings.ReplaceAll(o.SDP, "PCMU/8000", "G729/8000")
	inCall := []struct {
		name string
		body map[string]any
		jsep *ianua.JSEP
		code int
	}{
		{"update without jsep", map[string]any{"request": "update"}, nil, ErrorMissingSDP},
		{"transfer to a malformed uri", map[string]any{"request": "transfer", "uri": "sip:carol@"}, nil, ErrorInvalidAddress},
		{"transfer replacing no call", map[string]any{"request": "transfer", "uri": "sip:carol@127.0.0.1", "replace": "nope"}, nil, ErrorNoSuchCallID},
		{"in-dialog message without content", map[string]any{"request": "message"}, nil, ErrorMissingElement},
		// Refused before the offer is applied: the PeerConnection
		// stays stable (the core defers renegotiation offers).
		{"update dropping the call's codec", map[string]any{"request": "update"}, &ianua.JSEP{Type: "offer", SDP: noPCMU}, ErrorMissingSDP},
	}
	pc, err := e.h.PeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range inCall {
		if _, err := e.send(e.h, tc.body, tc.jsep); codeOf(err) != tc.code {
			t.Errorf("in a call, %s: %v, want code %d", tc.name, err, tc.code)
		}
		if st := pc.SignalingState(); st != webrtc.SignalingStateStable {
			t.Errorf("in a call, %s: signaling state %s", tc.name, st)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, name := range []string{"updating", "transferring", "referred", "declining"} {
		if n := e.log.Count(sipEvent(e.h.ID(), name)); n != 0 {
			t.Errorf("%d %s events after refused requests", n, name)
		}
	}
	if n, r := len(u.offerBodies()), len(u.referRequests()); n != 1 || r != 0 {
		t.Errorf("the peer got %d INVITEs and %d REFERs", n, r)
	}
	before := b.received.Load()
	waitPackets(t, "audio after the refusals", func() bool { return b.received.Load() > before+10 })
}
