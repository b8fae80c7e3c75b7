package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// wsClient speaks the signaling of server.go for a test. A reader
// goroutine keeps every message, so that a test waits for one while its
// pion clients run.
type wsClient struct {
	t    *testing.T
	c    *websocket.Conn
	done chan struct{} // the reader ended: the socket is closed

	mu   sync.Mutex
	msgs []serverMsg
	seq  int
}

func dialWS(t *testing.T, addr string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetReadLimit(maxClientMessage)
	w := &wsClient{t: t, c: c, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m serverMsg
			if err := json.Unmarshal(data, &m); err != nil {
				t.Errorf("bad server message %s: %v", data, err)
				continue
			}
			w.mu.Lock()
			w.msgs = append(w.msgs, m)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.close)
	return w
}

// close closes the socket and waits for the reader.
func (w *wsClient) close() {
	_ = w.c.CloseNow()
	<-w.done
}

// wait returns the first message that match accepts.
func (w *wsClient) wait(timeout time.Duration, what string, match func(serverMsg) bool) serverMsg {
	w.t.Helper()
	var found serverMsg
	testpeer.WaitFor(w.t, timeout, what, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		i := slices.IndexFunc(w.msgs, match)
		if i >= 0 {
			found = w.msgs[i]
		}
		return i >= 0
	})
	return found
}

// call sends a message of this type with a fresh tx and returns the reply
// (ack, success or error).
func (w *wsClient) call(typ string, fields map[string]any) serverMsg {
	w.t.Helper()
	w.mu.Lock()
	w.seq++
	tx := fmt.Sprintf("tx%d", w.seq)
	w.mu.Unlock()
	msg := map[string]any{"type": typ, "tx": tx}
	for k, v := range fields {
		msg[k] = v
	}
	b, _ := json.Marshal(msg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
	return w.wait(10*time.Second, typ+" reply", func(m serverMsg) bool {
		return m.Tx == tx && (m.Type == "ack" || m.Type == "success" || m.Type == "error")
	})
}

func (w *wsClient) attach() uint64 {
	w.t.Helper()
	m := w.call("attach", map[string]any{"plugin": sfu.Name})
	if m.Type != "success" || m.Handle == 0 {
		w.t.Fatalf("attach: %+v", m)
	}
	return m.Handle
}

// request sends a plugin request, with an optional JSEP, and fails the
// test on an error reply.
func (w *wsClient) request(handle uint64, body any, jsep *webrtc.SessionDescription) serverMsg {
	w.t.Helper()
	fields := map[string]any{"handle": handle, "body": body}
	if jsep != nil {
		fields["jsep"] = map[string]string{"type": jsep.Type.String(), "sdp": jsep.SDP}
	}
	m := w.call("message", fields)
	if m.Type == "error" {
		w.t.Fatalf("%v: error %d %s", body, m.Code, m.Error)
	}
	return m
}

// pluginEvent matches a plugin event of a handle whose data has key =
// value (value nil: any), with a JSEP when jsep says so.
func pluginEvent(handle uint64, key string, value any, jsep bool) func(serverMsg) bool {
	return func(m serverMsg) bool {
		if m.Type != "event" || m.Handle != handle || (m.JSEP != nil) != jsep {
			return false
		}
		d := data(m)
		v, ok := d[key]
		return ok && (value == nil || v == value)
	}
}

func data(m serverMsg) map[string]any {
	var d map[string]any
	_ = json.Unmarshal(m.Data, &d)
	return d
}

// feedID reads an id of the plugin's data (a JSON number).
func feedID(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

// gathered sets a local description and waits for the candidates to be in
// it, so that the test clients need no trickle.
func gathered(t *testing.T, pc *webrtc.PeerConnection, desc webrtc.SessionDescription) webrtc.SessionDescription {
	t.Helper()
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ICE gathering did not complete")
	}
	return *pc.LocalDescription()
}

// joinPublisher joins room 1234 as a publisher; it returns the handle and
// the "joined" data.
func joinPublisher(t *testing.T, w *wsClient, display string) (uint64, map[string]any) {
	t.Helper()
	h := w.attach()
	w.request(h, map[string]any{"request": "join", "ptype": "publisher", "room": 1234, "display": display}, nil)
	return h, data(w.wait(10*time.Second, display+" joined", pluginEvent(h, "videoroom", "joined", false)))
}

// publishPion publishes synthetic Opus and VP8 from a pion client until
// the test ends.
func publishPion(t *testing.T, w *wsClient, h uint64) {
	t.Helper()
	pc := testpeer.NewClient(t, testpeer.Options{})
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "pion")
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pion")
	for _, tr := range []*webrtc.TrackLocalStaticRTP{audio, video} {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		// Ends when the client closes, at the test's end.
		go func() {
			for {
				if _, _, err := sender.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	w.request(h, map[string]any{"request": "publish"}, new(gathered(t, pc, offer)))
	ev := w.wait(10*time.Second, "configured", pluginEvent(h, "configured", "ok", true))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(stop); wg.Wait() })
	for _, x := range []struct {
		tr *webrtc.TrackLocalStaticRTP
		ts uint32
	}{{audio, 480}, {video, 900}} {
		wg.Go(func() {
			payload := make([]byte, 200)
			payload[0] = 0x10 // a VP8 keyframe start, every packet: any subscriber decodes at once
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				_ = x.tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * x.ts, Marker: true}, Payload: payload})
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
	}
}

// pionSubscriber counts the packets a pion subscriber receives.
type pionSubscriber struct {
	audio, video atomic.Int64
}

// subscribePion subscribes a new handle to every stream of a feed, with a
// pion client.
func subscribePion(t *testing.T, w *wsClient, privateID any, feed uint64) *pionSubscriber {
	t.Helper()
	s := &pionSubscriber{}
	pc := testpeer.NewClient(t, testpeer.Options{})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		count := &s.audio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			count = &s.video
		}
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			count.Add(1)
		}
	})
	h := w.attach()
	w.request(h, map[string]any{"request": "join", "ptype": "subscriber", "room": 1234, "private_id": privateID, "streams": []any{map[string]any{"feed": feed}}}, nil)
	ev := w.wait(10*time.Second, "attached", pluginEvent(h, "videoroom", "attached", true))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	w.request(h, map[string]any{"request": "start"}, new(gathered(t, pc, answer)))
	return s
}

// receiving waits until the subscriber gets more audio and video.
func (s *pionSubscriber) receiving(t *testing.T, what string) {
	t.Helper()
	a, v := s.audio.Load(), s.video.Load()
	testpeer.WaitFor(t, 15*time.Second, what, func() bool { return s.audio.Load() > a+20 && s.video.Load() > v+20 })
}

// getStatus reads a node's GET /api/cluster.
func getStatus(t *testing.T, n *node) clusterStatus {
	t.Helper()
	resp, err := http.Get("http://" + n.addr + "/api/cluster")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s clusterStatus
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// feed finds a publisher in a status.
func (s clusterStatus) feed(id uint64) (feedStatus, bool) {
	i := slices.IndexFunc(s.Feeds, func(f feedStatus) bool { return f.ID == id })
	if i < 0 {
		return feedStatus{}, false
	}
	return s.Feeds[i], true
}

// TestRelayAcrossNodes: a pion publisher on node 3 is announced to a
// participant on node 1 and received there through a relay, over the
// example's signaling and nothing else; then it leaves, and the cluster
// shuts down cleanly with clients connected.
func TestRelayAcrossNodes(t *testing.T) {
	nodes, stop := startCluster(t, "")
	node1, node3 := nodes["node1"], nodes["node3"]
	waitNodes(t, nodes)
	if s := getStatus(t, node1); s.Node != "node1" || len(s.Nodes) != 3 {
		t.Errorf("node1's status: %+v, want node1 and 3 nodes", s)
	}

	// Carol publishes on node 3.
	w3 := dialWS(t, node3.addr)
	h3, joined3 := joinPublisher(t, w3, "Carol")
	carol := feedID(joined3["id"])
	publishPion(t, w3, h3)

	// Alice, on node 1, hears of her: in "joined" if Carol's feed is
	// already announced, else in a "publishers" event.
	w1 := dialWS(t, node1.addr)
	h1, joined1 := joinPublisher(t, w1, "Alice")
	announced := func(v any) bool {
		list, _ := v.([]any)
		return slices.ContainsFunc(list, func(p any) bool { m, _ := p.(map[string]any); return feedID(m["id"]) == carol })
	}
	if !announced(joined1["publishers"]) {
		w1.wait(10*time.Second, "Carol announced on node1", func(m serverMsg) bool {
			return pluginEvent(h1, "publishers", nil, false)(m) && announced(data(m)["publishers"])
		})
	}
	if f, ok := getStatus(t, node1).feed(carol); !ok || !f.Remote || f.Display != "Carol" {
		t.Errorf("Carol in node1's status: %+v %v, want remote", f, ok)
	}
	if f, ok := getStatus(t, node3).feed(carol); !ok || f.Remote {
		t.Errorf("Carol in node3's status: %+v %v, want local", f, ok)
	}

	// Alice subscribes: the media comes from node 3, one relay per
	// stream.
	sub := subscribePion(t, w1, joined1["private_id"], carol)
	sub.receiving(t, "Carol's audio and video on node1")
	if got := node3.member.RelaysOut(); got["node1"] != 2 {
		t.Errorf("relays out of node3: %v, want 2 to node1", got)
	}

	// Rooms cannot be made by clients: one would exist on one node only.
	if m := w1.call("message", map[string]any{"handle": h1, "body": map[string]any{"request": "create", "room": 5678}}); m.Code != sfu.ErrorUnauthorized {
		t.Errorf("create: %+v, want error %d", m, sfu.ErrorUnauthorized)
	}

	// Carol leaves (her socket closes): Alice is told, as of a local
	// publisher.
	w3.close()
	w1.wait(10*time.Second, "Carol gone on node1", func(m serverMsg) bool {
		d := data(m)
		return m.Type == "event" && m.Handle == h1 && (feedID(d["unpublished"]) == carol || feedID(d["leaving"]) == carol)
	})
	testpeer.WaitFor(t, 5*time.Second, "Carol gone from node1's status", func() bool {
		_, ok := getStatus(t, node1).feed(carol)
		return !ok
	})

	// Shutdown with Alice connected: prompt, clean, and her socket ends.
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	select {
	case <-w1.done:
	case <-time.After(5 * time.Second):
		t.Error("Alice's socket is still open after shutdown")
	}
}

// TestExternalNATS: with -nats the nodes meet on a server that is not
// theirs, leave it running at shutdown, and free their ids on it: the
// same nodes start again at once.
func TestExternalNATS(t *testing.T) {
	ns := startExternalNATS(t)
	for i := range 2 {
		nodes, stop := startCluster(t, ns.ClientURL())
		waitNodes(t, nodes)
		if err := stop(); err != nil {
			t.Fatalf("run %d: shutdown: %v", i, err)
		}
		if !ns.Running() {
			t.Fatalf("run %d: the external NATS server was stopped", i)
		}
	}
}
