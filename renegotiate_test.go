package ianua_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// A renegotiation offer that the plugin refuses changes nothing: the
// PeerConnection stays stable and the client's next offer is answered
// (pion cannot roll a remote offer back, so the core applies such an
// offer only once the plugin takes it).
func TestRefusedRenegotiation(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	pc := newClient(t, clientOptions{})
	c := newEchoCall(t, r, pc)
	c.addTrack("audio", 1)
	c.offer(map[string]any{"audio": true}, false)
	c.waitConnected()
	srv := func() *webrtc.PeerConnection {
		p, err := c.h.PeerConnection()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The client adds a video stream, but with a request the plugin
	// refuses.
	c.addTrack("video", 2)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.h.Message(ctx, ianua.Message{Body: mustJSON(map[string]any{"request": "dance"}), JSEP: &ianua.JSEP{Type: "offer", SDP: offer.SDP}})
	var pe *ianua.PluginError
	if !errors.As(err, &pe) {
		t.Fatalf("refused offer: %v, want a plugin error", err)
	}
	if st := srv().SignalingState(); st != webrtc.SignalingStateStable {
		t.Errorf("after the refusal the server is in %s, want stable", st)
	}
	if n := len(srv().GetTransceivers()); n != 1 {
		t.Errorf("after the refusal the server has %d transceivers, want 1", n)
	}

	// The same offer with a request it takes is answered.
	mark := c.log.Len()
	if _, err := c.h.Message(ctx, ianua.Message{Body: mustJSON(map[string]any{"audio": true, "video": true}), JSEP: &ianua.JSEP{Type: "offer", SDP: offer.SDP}}); err != nil {
		t.Fatalf("accepted offer: %v", err)
	}
	ev := c.log.WaitFrom(t, mark, 5*time.Second, "answer", pluginResult("ok", "answer"))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	if st := srv().SignalingState(); st != webrtc.SignalingStateStable {
		t.Errorf("after the answer the server is in %s, want stable", st)
	}
	if n := len(srv().GetTransceivers()); n != 2 {
		t.Errorf("the server has %d transceivers, want 2", n)
	}
}
