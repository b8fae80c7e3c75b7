package cluster_test

import (
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
)

// A simulcast feed is relayed layer by layer (one relay per layer to each
// node), so that a subscriber on another node chooses its layer as it
// would of a local publisher.
func TestSimulcastRelay(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())
	pub := publishWith(t, a, testRoom, "alice", true)
	testpeer.WaitFor(t, 5*time.Second, "alice on b", func() bool { return hasFeed(b, t, pub.id) })
	pt, _ := b.room(t).Participant(pub.id)
	var videoSimulcast bool
	for _, st := range pt.Streams() {
		if st.Kind == "video" {
			videoSimulcast = st.Simulcast
		}
	}
	if !videoSimulcast {
		t.Fatal("alice's video is not simulcast on b")
	}

	sub := subscribe(t, b, pub.id)
	sub.receiving(t, "subscriber on b")
	// The layers' relays start one after the other.
	testpeer.WaitFor(t, 5*time.Second, "4 relays from A to B (audio, and video's three layers)", func() bool {
		return a.node.RelaysOut()["b"] == 4
	})
	ev := sub.log.Wait(t, time.Second, "attached", testpeer.Plugin(sub.h.ID(), "videoroom", "attached", "offer"))
	var videoMID string
	for _, st := range pluginData(ev)["streams"].([]any) {
		if m := st.(map[string]any); m["type"] == "video" {
			videoMID, _ = m["mid"].(string)
		}
	}
	if videoMID == "" {
		t.Fatalf("no video stream in %v", pluginData(ev))
	}
	for _, layer := range []int{0, 2, 1} {
		message(t, sub.h, map[string]any{"request": "configure", "streams": []any{map[string]any{"mid": videoMID, "substream": layer}}}, nil)
		// Packets of other layers may still be on their way: wait until
		// the last 30 video packets are all of the wanted layer.
		testpeer.WaitFor(t, 5*time.Second, "video of layer "+string(rune('0'+layer)), func() bool {
			before := sub.layers[layer].Load()
			var others int64
			for i := range sub.layers {
				if i != layer {
					others += sub.layers[i].Load()
				}
			}
			time.Sleep(300 * time.Millisecond)
			var othersAfter int64
			for i := range sub.layers {
				if i != layer {
					othersAfter += sub.layers[i].Load()
				}
			}
			return sub.layers[layer].Load() >= before+20 && othersAfter == others
		})
	}
}
