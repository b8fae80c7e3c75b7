package cluster_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/cluster"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testRoom = 1234

// Short timings so that the tests see deaths and relays quickly, long
// enough that a loaded machine (twenty-odd PeerConnections set up under
// the race detector on two cores) does not miss heartbeats.
const (
	heartbeat = 200 * time.Millisecond
	deadAfter = 2 * time.Second
)

// startNATS runs an embedded NATS server with JetStream on loopback; port
// 0 picks one.
func startNATS(t *testing.T, port int) *natsserver.Server {
	t.Helper()
	if port == 0 {
		port = -1
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// testNode is one ianua node: router, sfu plugin, cluster node.
type testNode struct {
	id   string
	r    *ianua.MediaRouter
	sfu  *sfu.Plugin
	nc   *nats.Conn
	node *cluster.Node
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// nodeLogger is quiet unless CLUSTER_DEBUG is set.
func nodeLogger() *slog.Logger {
	if os.Getenv("CLUSTER_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return testpeer.QuietLogger()
}

func startNode(t *testing.T, id, url string) *testNode {
	t.Helper()
	return startNodeFanOut(t, id, url, 0)
}

func startNodeFanOut(t *testing.T, id, url string, fanOut int) *testNode {
	t.Helper()
	return startNodeWith(t, id, url, func(p *cluster.Params) { p.FanOut = fanOut })
}

// startNodeWith starts a node with the test timings, and mod's changes.
func startNodeWith(t *testing.T, id, url string, mod func(*cluster.Params)) *testNode {
	t.Helper()
	p, err := sfu.New(sfu.Params{Rooms: []sfu.RoomParams{{ID: testRoom, Publishers: 10}}, Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{id: id, sfu: p, nc: connect(t, url)}
	n.r = testpeer.NewRouter(t, nil, p)
	params := cluster.Params{ID: id, Conn: n.nc, Router: n.r, SFU: p,
		Heartbeat: heartbeat, DeadAfter: deadAfter, RelayGrace: 300 * time.Millisecond, Logger: nodeLogger()}
	if mod != nil {
		mod(&params)
	}
	n.node, err = cluster.Join(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	// Before the router's cleanup (registered first, run last).
	t.Cleanup(func() { _ = n.node.Close() })
	return n
}

func (n *testNode) room(t *testing.T) *sfu.Room {
	t.Helper()
	r, err := n.sfu.Room(testRoom)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func message(t *testing.T, h *ianua.Handle, body any, jsep *ianua.JSEP) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.Message(ctx, ianua.Message{Body: testpeer.JSON(body), JSEP: jsep, Transaction: "tx"}); err != nil {
		t.Fatalf("%v: %v", body, err)
	}
}

func pluginData(e ianua.Event) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(e.Data, &m)
	return m
}

// publisher is a pion client publishing synthetic VP8 and Opus in a room.
type publisher struct {
	id uint64
	h  *ianua.Handle
	// withData makes publish open a data channel, dc.
	withData bool
	dc       *webrtc.DataChannel
	// loud makes the audio packets' level (RFC 6464) loud instead of
	// silent.
	loud atomic.Bool
	log  *testpeer.EventLog
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// end stops sending.
func (p *publisher) end() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

func publish(t *testing.T, n *testNode, display string) *publisher {
	t.Helper()
	return publishIn(t, n, testRoom, display)
}

func publishIn(t *testing.T, n *testNode, room uint64, display string) *publisher {
	t.Helper()
	return publishWith(t, n, room, display, false)
}

// publishWith publishes audio and video, the video in three simulcast
// layers (q, h, f; the fifth payload byte says which) if simulcast.
func publishWith(t *testing.T, n *testNode, room uint64, display string, simulcast bool) *publisher {
	t.Helper()
	p := joinAs(t, n, room, display)
	p.publish(t, simulcast)
	return p
}

// joinAs joins a room as a publisher that does not publish (yet).
func joinAs(t *testing.T, n *testNode, room uint64, display string) *publisher {
	t.Helper()
	s, err := n.r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	p := &publisher{log: testpeer.Watch(s), stop: make(chan struct{})}
	t.Cleanup(p.end)
	if p.h, err = s.Attach(sfu.Name); err != nil {
		t.Fatal(err)
	}
	message(t, p.h, map[string]any{"request": "join", "ptype": "publisher", "room": room, "display": display}, nil)
	ev := p.log.Wait(t, 5*time.Second, "joined", testpeer.Plugin(p.h.ID(), "videoroom", "joined", ""))
	p.id = uint64(pluginData(ev)["id"].(float64))
	return p
}

// publish publishes audio and video, the video in three simulcast layers
// (q, h, f; the fifth payload byte says which) if simulcast.
func (p *publisher) publish(t *testing.T, simulcast bool) {
	t.Helper()
	h := p.h
	pc := testpeer.NewClient(t, testpeer.Options{AudioLevel: true})
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	var videos []*webrtc.TrackLocalStaticRTP
	if simulcast {
		for _, rid := range []string{"q", "h", "f"} {
			tr, _ := webrtc.NewTrackLocalStaticRTP(vp8, "video", "pub", webrtc.WithRTPStreamID(rid))
			videos = append(videos, tr)
		}
	} else {
		tr, _ := webrtc.NewTrackLocalStaticRTP(vp8, "video", "pub")
		videos = append(videos, tr)
	}
	// Reads end when the client closes, at the test's end.
	readRTCP := func(read func() error) {
		go func() {
			for read() == nil {
			}
		}()
	}
	sender, err := pc.AddTrack(audio)
	if err != nil {
		t.Fatal(err)
	}
	readRTCP(func() error { _, _, err := sender.ReadRTCP(); return err })
	vtr, err := pc.AddTransceiverFromTrack(videos[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range videos[1:] {
		if err := vtr.Sender().AddEncoding(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range videos {
		if simulcast {
			readRTCP(func() error { _, _, err := vtr.Sender().ReadSimulcastRTCP(l.RID()); return err })
		} else {
			readRTCP(func() error { _, _, err := vtr.Sender().ReadRTCP(); return err })
		}
	}
	if p.withData {
		if p.dc, err = pc.CreateDataChannel("JanusDataChannel", nil); err != nil {
			t.Fatal(err)
		}
	}
	testpeer.TrickleTo(t, pc, h)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	mark := p.log.Len()
	message(t, h, map[string]any{"request": "publish"}, &ianua.JSEP{Type: "offer", SDP: offer.SDP})
	ev := p.log.WaitFrom(t, mark, 5*time.Second, "configured", testpeer.Plugin(h.ID(), "configured", "ok", "answer"))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	testpeer.TrickleFrom(p.log, h.ID(), pc, p.stop)
	p.log.Wait(t, 10*time.Second, "publisher webrtcup", testpeer.Type(ianua.EventWebRTCUp, h.ID()))
	var levelID uint8
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == nil || tr.Sender().Track() != audio {
			continue
		}
		for _, e := range tr.Sender().GetParameters().HeaderExtensions {
			if e.URI == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" {
				levelID = uint8(e.ID)
			}
		}
	}
	// pion does not add the mid and rid header extensions (RFC 8852) to
	// simulcast packets; browsers do, so this does.
	var midID, ridID uint8
	for _, e := range vtr.Sender().GetParameters().HeaderExtensions {
		switch e.URI {
		case "urn:ietf:params:rtp-hdrext:sdes:mid":
			midID = uint8(e.ID)
		case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
			ridID = uint8(e.ID)
		}
	}
	type stream struct {
		tr          *webrtc.TrackLocalStaticRTP
		kind, layer byte
		ts          uint32
	}
	senders := []stream{{audio, 1, 0, 960}}
	for i, v := range videos {
		senders = append(senders, stream{v, 2, byte(i), 3000})
	}
	for _, x := range senders {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			payload := make([]byte, 200+300*int(x.layer))
			payload[0], payload[3], payload[4] = 0x10, x.kind, x.layer // a VP8 keyframe, every packet
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * x.ts, Marker: true}, Payload: payload}
				if simulcast && x.kind == 2 {
					_ = pkt.SetExtension(midID, []byte(vtr.Mid()))
					_ = pkt.SetExtension(ridID, []byte(x.tr.RID()))
				}
				if x.kind == 1 && levelID != 0 {
					level := byte(127)
					if p.loud.Load() {
						level = 10
					}
					_ = pkt.SetExtension(levelID, []byte{0x80 | level})
				}
				_ = x.tr.WriteRTP(pkt)
				select {
				case <-p.stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
}

// subscriber is a pion client subscribed to one feed.
type subscriber struct {
	h     *ianua.Handle
	log   *testpeer.EventLog
	audio atomic.Int64
	video atomic.Int64
	// layers counts video packets per simulcast layer (payload byte 4).
	layers [3]atomic.Int64
	// lost is the video packets missing so far: gaps in the sequence
	// numbers, less those that came late (repaired).
	lost atomic.Int64
	// chat is what came on the data channel.
	mu   sync.Mutex
	chat []string
}

func (s *subscriber) videoLost() int64 { return s.lost.Load() }

func (s *subscriber) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.chat...)
}

func subscribe(t *testing.T, n *testNode, feed uint64) *subscriber {
	t.Helper()
	return subscribeIn(t, n, testRoom, feed)
}

func subscribeIn(t *testing.T, n *testNode, room, feed uint64) *subscriber {
	t.Helper()
	s, err := n.r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sub := &subscriber{log: testpeer.Watch(s)}
	if sub.h, err = s.Attach(sfu.Name); err != nil {
		t.Fatal(err)
	}
	pc := testpeer.NewClient(t, testpeer.Options{})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		count := &sub.audio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			count = &sub.video
		}
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		var highest uint16
		started := false
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			count.Add(1)
			if tr.Kind() == webrtc.RTPCodecTypeVideo && pkt.Unmarshal(buf[:n]) == nil {
				switch diff := pkt.SequenceNumber - highest; {
				case !started:
					started, highest = true, pkt.SequenceNumber
				case diff == 0:
				case diff < 1<<15:
					sub.lost.Add(int64(diff) - 1)
					highest = pkt.SequenceNumber
				default:
					sub.lost.Add(-1) // a missing one, late
				}
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo && pkt.Unmarshal(buf[:n]) == nil && len(pkt.Payload) > 4 && pkt.Payload[4] < 3 {
				sub.layers[pkt.Payload[4]].Add(1)
			}
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			sub.mu.Lock()
			sub.chat = append(sub.chat, string(m.Data))
			sub.mu.Unlock()
		})
	})
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	testpeer.TrickleTo(t, pc, sub.h)
	message(t, sub.h, map[string]any{"request": "join", "ptype": "subscriber", "room": room, "streams": []any{map[string]any{"feed": feed}}}, nil)
	ev := sub.log.Wait(t, 5*time.Second, "attached", testpeer.Plugin(sub.h.ID(), "videoroom", "attached", "offer"))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	message(t, sub.h, map[string]any{"request": "start", "room": room}, &ianua.JSEP{Type: "answer", SDP: ans.SDP})
	testpeer.TrickleFrom(sub.log, sub.h.ID(), pc, stop)
	sub.log.Wait(t, 10*time.Second, "subscriber webrtcup", testpeer.Type(ianua.EventWebRTCUp, sub.h.ID()))
	return sub
}

// receiving waits until the subscriber gets more audio and video.
func (s *subscriber) receiving(t *testing.T, what string) {
	t.Helper()
	a, v := s.audio.Load(), s.video.Load()
	deadline := time.Now().Add(5 * time.Second)
	for s.audio.Load() <= a+20 || s.video.Load() <= v+20 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: audio %d → %d, video %d → %d packets in 5 s", what, a, s.audio.Load(), v, s.video.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hasFeed says whether a node's room lists the feed, publishing.
func hasFeed(n *testNode, t *testing.T, feed uint64) bool {
	pt, ok := n.room(t).Participant(feed)
	return ok && pt.Publishing()
}
