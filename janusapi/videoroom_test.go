package janusapi_test

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/janusapi"
)

// roomPeer is one participant of room 1234 as the janus.js multistream
// demo runs it: a publisher handle and a subscriber handle in one session.
type roomPeer struct {
	t      *testing.T
	c      *client
	sid    uint64
	pub    uint64 // publisher handle
	sub    uint64 // subscriber handle
	id     uint64 // participant id
	pubPC  *webrtc.PeerConnection
	subPC  *webrtc.PeerConnection
	media  *media
	remote *media // what the subscriber receives
}

func number(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

// joinAndPublish joins room 1234 as a publisher and publishes audio and
// video.
func joinAndPublish(t *testing.T, c *client, display string) *roomPeer {
	t.Helper()
	p := &roomPeer{t: t, c: c}
	p.sid = c.create()
	p.pub = c.attach(p.sid, janusapi.VideoRoomPlugin)
	mark := c.mark()
	if r, _ := c.message(p.sid, p.pub, map[string]any{"request": "join", "room": 1234, "ptype": "publisher", "display": display}, nil); r.Janus != "ack" {
		t.Fatalf("join: %s", r)
	}
	joined := c.wait(mark, 5*time.Second, "joined", pluginEvent(p.pub, "videoroom", "joined"))
	p.id = number(joined.plugin()["id"])

	p.pubPC = testpeer.NewClient(t, testpeer.Options{})
	p.media = addTracks(t, p.pubPC, webrtc.RTPTransceiverDirectionSendonly)
	c.trickleTo(p.pubPC, p.sid, p.pub)
	offer, err := p.pubPC.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.pubPC.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	mark = c.mark()
	r, tx := c.message(p.sid, p.pub, map[string]any{"request": "configure", "audio": true, "video": true}, &offer)
	if r.Janus != "ack" {
		t.Fatalf("configure: %s", r)
	}
	ev := c.wait(mark, 10*time.Second, "configured", pluginEvent(p.pub, "configured", "ok"))
	if ev.JSEP == nil || ev.JSEP.Type != "answer" || ev.Transaction != tx {
		t.Fatalf("configured event %s: want an answer for %s", ev, tx)
	}
	if err := p.pubPC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	c.trickleFrom(p.pubPC, p.pub)
	c.wait(0, 10*time.Second, "publisher webrtcup", janusType("webrtcup", p.pub))
	return p
}

// subscribe opens the subscriber handle on a feed and answers the
// plugin's offer with "start".
func (p *roomPeer) subscribe(feed uint64) {
	t, c := p.t, p.c
	t.Helper()
	p.sub = c.attach(p.sid, janusapi.VideoRoomPlugin)
	p.subPC = testpeer.NewClient(t, testpeer.Options{})
	p.remote = &media{t: t, got: map[[2]byte]int{}}
	p.remote.receive(p.subPC)
	c.trickleTo(p.subPC, p.sid, p.sub)
	mark := c.mark()
	if r, _ := c.message(p.sid, p.sub, map[string]any{"request": "join", "room": 1234, "ptype": "subscriber", "streams": []map[string]any{{"feed": feed}}}, nil); r.Janus != "ack" {
		t.Fatalf("subscriber join: %s", r)
	}
	ev := c.wait(mark, 10*time.Second, "attached", pluginEvent(p.sub, "videoroom", "attached"))
	if ev.JSEP == nil || ev.JSEP.Type != "offer" {
		t.Fatalf("attached event without offer: %s", ev)
	}
	if err := p.subPC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	answer, err := p.subPC.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.subPC.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	c.trickleFrom(p.subPC, p.sub)
	mark = c.mark()
	if r, _ := c.message(p.sid, p.sub, map[string]any{"request": "start", "room": 1234}, &answer); r.Janus != "ack" {
		t.Fatalf("start: %s", r)
	}
	c.wait(mark, 5*time.Second, "started", pluginEvent(p.sub, "started", "ok"))
	c.wait(0, 10*time.Second, "subscriber webrtcup", janusType("webrtcup", p.sub))
}

// TestVideoRoom publishes two pion clients in room 1234 and subscribes
// each to the other, over each transport (one client per transport in the
// mixed case).
func TestVideoRoom(t *testing.T) {
	for _, kinds := range [][2]transport{{overWS, overWS}, {overHTTP, overHTTP}, {overWS, overHTTP}} {
		t.Run(string(kinds[0])+"+"+string(kinds[1]), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, nil, nil)
			a := joinAndPublish(t, e.dial(t, kinds[0]), "Alice")
			b := joinAndPublish(t, e.dial(t, kinds[1]), "Bob")

			// Alice hears of Bob's feed.
			pubs := a.c.wait(0, 5*time.Second, "publishers", func(m jmsg) bool {
				return pluginEvent(a.pub, "videoroom", "event")(m) && m.plugin()["publishers"] != nil
			})
			list, _ := pubs.plugin()["publishers"].([]any)
			if len(list) != 1 || number(list[0].(map[string]any)["id"]) != b.id {
				t.Fatalf("publishers event %s, want Bob (%d)", pubs, b.id)
			}

			a.subscribe(b.id)
			b.subscribe(a.id)
			stop := make(chan struct{})
			var sending sync.WaitGroup
			a.media.send('A', stop, &sending)
			b.media.send('B', stop, &sending)
			defer func() { close(stop); sending.Wait() }()
			testpeer.WaitFor(t, 15*time.Second, "each receives the other's audio and video", func() bool {
				return a.remote.received('B', kindVideo) > 20 && a.remote.received('B', kindAudio) > 20 &&
					b.remote.received('A', kindVideo) > 20 && b.remote.received('A', kindAudio) > 20
			})
			if n := a.remote.received('A', kindVideo); n != 0 {
				t.Errorf("Alice received %d packets of her own video", n)
			}

			// A synchronous request answers with plugindata at once.
			r, _ := a.c.message(a.sid, a.pub, map[string]any{"request": "listparticipants", "room": 1234}, nil)
			if r.Janus != "success" || r.Sender != a.pub || r.PluginData == nil || r.PluginData.Plugin != janusapi.VideoRoomPlugin {
				t.Fatalf("listparticipants: %s", r)
			}
			if ps, _ := r.plugin()["participants"].([]any); len(ps) != 2 {
				t.Errorf("listparticipants: %s, want 2 participants", r)
			}

			// Bob leaves: Alice is told.
			mark := a.c.mark()
			if r := b.c.request(map[string]any{"janus": "destroy", "session_id": b.sid}); r.Janus != "success" {
				t.Fatalf("destroy: %s", r)
			}
			a.c.wait(mark, 5*time.Second, "Bob's leaving", func(m jmsg) bool {
				d := m.plugin()
				return m.Janus == "event" && m.Sender == a.pub && (number(d["leaving"]) == b.id || number(d["unpublished"]) == b.id)
			})
		})
	}
}
