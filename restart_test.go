package ianua_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
)

// The client restarts ICE in the middle of a call, as janus.js does with
// createOffer({iceRestart: true}): a new offer with new credentials in a
// plain message (RFC 8839 section 4.4.1.1.1). The answer must carry new
// credentials too, and the echo must go on over the new ICE session.
func TestClientICERestart(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	c := newEchoCall(t, r, newClient(t, clientOptions{}))
	video := c.addTrack("video", 4)
	audio := c.addTrack("audio", 5)
	c.offer(map[string]any{"audio": true, "video": true}, false)
	c.waitConnected()
	c.send(video, 4, 50)
	c.send(audio, 5, 50)
	c.wg.Wait()
	testpeer.WaitFor(t, 3*time.Second, "echo before the restart", func() bool {
		for mid := range c.markers {
			if right, _ := c.counts(mid); right < 45 {
				return false
			}
		}
		return true
	})
	serverUfrag := ufragOf(c.pc.RemoteDescription().SDP)
	clientUfrag := ufragOf(c.pc.LocalDescription().SDP)
	before := map[string]int{}
	for mid := range c.markers {
		before[mid], _ = c.counts(mid)
	}

	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if ufragOf(offer.SDP) == clientUfrag {
		t.Fatal("the client's restart offer kept its ufrag")
	}
	mark := c.log.Len()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.h.Message(ctx, ianua.Message{
		Body:        mustJSON(map[string]any{"audio": true, "video": true}),
		JSEP:        &ianua.JSEP{Type: "offer", SDP: offer.SDP},
		Transaction: "tx-restart",
	}); err != nil {
		t.Fatalf("restart offer: %v", err)
	}
	ev := c.log.WaitFrom(t, mark, 5*time.Second, "restart answer", func(e ianua.Event) bool {
		return pluginResult("ok", "answer")(e) && e.Transaction == "tx-restart"
	})
	if u := ufragOf(ev.JSEP.SDP); u == "" || u == serverUfrag {
		t.Errorf("answer to an ICE restart has ufrag %q, the old one was %q", u, serverUfrag)
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 10*time.Second, "connected after the restart", func() bool {
		return c.pc.ICEConnectionState() == webrtc.ICEConnectionStateConnected
	})

	c.send(video, 4, 50)
	c.send(audio, 5, 50)
	c.wg.Wait()
	testpeer.WaitFor(t, 3*time.Second, "echo after the restart", func() bool {
		for mid := range c.markers {
			if right, _ := c.counts(mid); right < before[mid]+45 {
				return false
			}
		}
		return true
	})
	for mid := range c.markers {
		if _, wrong := c.counts(mid); wrong != 0 {
			t.Errorf("mid %s: %d packets of another stream", mid, wrong)
		}
	}
	if info := c.h.Info(); !info.HasPeerConnection {
		t.Error("the handle lost its PeerConnection in the restart")
	}
}
