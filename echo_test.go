package ianua_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/echotest"
	"github.com/ianua/ianua/internal/testpeer"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// checkLeaks fails the test if goroutines started during it outlive it. It
// must be called first, so that its cleanup runs after every other one.
func checkLeaks(t testing.TB) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// echoCall is a client connected to the echotest plugin.
type echoCall struct {
	t     testing.TB
	r     *ianua.MediaRouter
	s     *ianua.Session
	h     *ianua.Handle
	log   *testpeer.EventLog
	pc    *webrtc.PeerConnection
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	count map[string]int // echoed packets per mid carrying the right marker
	wrong map[string]int // echoed packets on a mid carrying another one
	// markers maps our mids to the marker their packets carry.
	markers        map[string]byte
	pendingMarkers []pendingMarker
	// sent counts packets per track, so that sequence numbers go on
	// (SRTP drops replayed ones).
	sent map[*webrtc.TrackLocalStaticRTP]int
	// onRTCP, if set (a func(rtcp.Packet)), sees the RTCP the client gets
	// for its tracks.
	onRTCP atomic.Value
}

func newEchoCall(t testing.TB, r *ianua.MediaRouter, pc *webrtc.PeerConnection) *echoCall {
	t.Helper()
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Attach(echotest.Name)
	if err != nil {
		t.Fatal(err)
	}
	c := &echoCall{
		t: t, r: r, s: s, h: h, log: testpeer.Watch(s), pc: pc,
		stop:    make(chan struct{}),
		count:   map[string]int{},
		wrong:   map[string]int{},
		markers: map[string]byte{},
		sent:    map[*webrtc.TrackLocalStaticRTP]int{},
	}
	t.Cleanup(c.close)
	pc.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		mid := ""
		for _, x := range pc.GetTransceivers() {
			if x.Receiver() == rcv {
				mid = x.Mid()
			}
		}
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if n < 14 {
				continue
			}
			// 12-byte header without CSRCs; extensions may follow.
			pkt := buf[:n]
			off := 12
			if pkt[0]&0x10 != 0 {
				extLen := int(pkt[off+2])<<8 | int(pkt[off+3])
				off += 4 + 4*extLen
			}
			if off+2 > n {
				continue
			}
			c.mu.Lock()
			if want, ok := c.markers[mid]; ok && pkt[off+1] == want {
				c.count[mid]++
			} else {
				c.wrong[mid]++
			}
			c.mu.Unlock()
		}
	})
	return c
}

func (c *echoCall) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
}

func (c *echoCall) counts(mid string) (right, wrong int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count[mid], c.wrong[mid]
}

// addTrack adds a sendrecv track to the client and remembers its marker.
func (c *echoCall) addTrack(kind string, marker byte) *webrtc.TrackLocalStaticRTP {
	c.t.Helper()
	cap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	if kind == "audio" {
		cap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	}
	track, err := webrtc.NewTrackLocalStaticRTP(cap, kind+string('0'+marker), "client")
	if err != nil {
		c.t.Fatal(err)
	}
	tr, err := c.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		c.t.Fatal(err)
	}
	c.pendingMarkers = append(c.pendingMarkers, pendingMarker{tr, marker})
	// Read the RTCP for our track as a browser does: pion's NACK responder
	// only sees feedback that is read. It ends when the client closes.
	go func() {
		for {
			pkts, _, err := tr.Sender().ReadRTCP()
			if err != nil {
				return
			}
			if f, ok := c.onRTCP.Load().(func(rtcp.Packet)); ok {
				for _, p := range pkts {
					f(p)
				}
			}
		}
	}()
	return track
}

type pendingMarker struct {
	tr     *webrtc.RTPTransceiver
	marker byte
}

// offer negotiates with the client offering; candidatesFirst sends all the
// client's candidates before the offer.
func (c *echoCall) offer(body any, candidatesFirst bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !candidatesFirst {
		testpeer.TrickleTo(c.t, c.pc, c.h)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	for _, pm := range c.pendingMarkers {
		c.markers[pm.tr.Mid()] = pm.marker
	}
	c.mu.Unlock()
	sdp := offer.SDP
	if candidatesFirst {
		<-gathered
		// Trickle every candidate before the SDP, as a client whose
		// messages overtake each other would.
		for _, cand := range candidatesOf(c.pc.LocalDescription().SDP) {
			if err := c.h.Trickle(webrtc.ICECandidateInit{Candidate: cand}); err != nil {
				c.t.Fatalf("early trickle: %v", err)
			}
		}
	}
	reply, err := c.h.Message(ctx, ianua.Message{Body: mustJSON(body), JSEP: &ianua.JSEP{Type: "offer", SDP: sdp}, Transaction: "tx-offer"})
	if err != nil {
		c.t.Fatalf("message with offer: %v", err)
	}
	if !reply.Async {
		c.t.Fatal("echotest should acknowledge and answer in an event")
	}
	ev := c.log.Wait(c.t, 5*time.Second, "answer", pluginResult("ok", "answer"))
	if ev.Transaction != "tx-offer" {
		c.t.Errorf("answer event transaction %q, want tx-offer", ev.Transaction)
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		c.t.Fatal(err)
	}
	testpeer.TrickleFrom(c.log, c.h.ID(), c.pc, c.stop)
}

func (c *echoCall) waitConnected() {
	c.t.Helper()
	c.log.Wait(c.t, 10*time.Second, "webrtcup", testpeer.Type(ianua.EventWebRTCUp, 0))
}

func (c *echoCall) send(track *webrtc.TrackLocalStaticRTP, marker byte, n int) {
	first := c.sent[track]
	c.sent[track] += n
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		sendRTP(track, marker, first, n, 200, 10*time.Millisecond, c.stop)
	}()
}

// Multistream: two video streams, one audio stream and a data channel on one
// PeerConnection, each echoed on its own m-line.
func TestEchoMultistream(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	c := newEchoCall(t, r, newClient(t, clientOptions{}))
	audio := c.addTrack("audio", 1)
	videoA := c.addTrack("video", 2)
	videoB := c.addTrack("video", 3)
	dc, err := c.pc.CreateDataChannel("JanusDataChannel", nil)
	if err != nil {
		t.Fatal(err)
	}
	echoed := make(chan string, 4)
	dc.OnMessage(func(m webrtc.DataChannelMessage) { echoed <- string(m.Data) })
	dc.OnOpen(func() { _ = dc.SendText("hello ianua") })

	c.offer(map[string]any{"audio": true, "video": true}, false)
	c.waitConnected()

	const n = 200
	c.send(audio, 1, n)
	c.send(videoA, 2, n)
	c.send(videoB, 3, n)
	c.wg.Wait()
	time.Sleep(300 * time.Millisecond)

	for mid, marker := range c.markers {
		right, wrong := c.counts(mid)
		t.Logf("mid %s (marker %d): %d/%d echoed, %d on the wrong stream", mid, marker, right, n, wrong)
		if right < n*95/100 {
			t.Errorf("mid %s: %d of %d packets echoed, want >= 95%%", mid, right, n)
		}
		if wrong != 0 {
			t.Errorf("mid %s: %d packets of another stream", mid, wrong)
		}
	}
	select {
	case got := <-echoed:
		if got != "hello ianua" {
			t.Errorf("data echo %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Error("no data channel echo")
	}
	if got := c.log.Count(testpeer.Type(ianua.EventMedia, 0)); got == 0 {
		t.Error("no media event")
	}

	if err := c.h.Detach(); err != nil {
		t.Fatal(err)
	}
	c.log.Wait(t, 2*time.Second, "detached", testpeer.Type(ianua.EventDetached, 0))
	c.log.Wait(t, 2*time.Second, "done", pluginResult("done", ""))
	if err := c.h.Detach(); err == nil {
		t.Error("second Detach succeeded")
	}
}

// The client trickles every candidate before its offer arrives.
func TestTrickleBeforeSDP(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	c := newEchoCall(t, r, newClient(t, clientOptions{}))
	video := c.addTrack("video", 7)
	c.offer(map[string]any{"audio": true, "video": true}, true)
	c.waitConnected()
	c.send(video, 7, 50)
	c.wg.Wait()
	time.Sleep(200 * time.Millisecond)
	for mid := range c.markers {
		if right, _ := c.counts(mid); right < 45 {
			t.Errorf("mid %s: %d of 50 echoed", mid, right)
		}
	}
}

// The plugin offers (two video, one audio, data), the client answers and
// trickles; then the plugin renegotiates with an ICE restart.
func TestServerOffer(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	pc := newClient(t, clientOptions{})
	c := newEchoCall(t, r, pc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var dcEcho atomic.Value
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnOpen(func() { _ = dc.SendText("ping") })
		dc.OnMessage(func(m webrtc.DataChannelMessage) { dcEcho.Store(string(m.Data)) })
	})
	testpeer.TrickleTo(t, pc, c.h)
	if _, err := c.h.Message(ctx, ianua.Message{Body: mustJSON(map[string]any{"request": "offer", "video_streams": 2, "audio_streams": 1}), Transaction: "o1"}); err != nil {
		t.Fatal(err)
	}
	ev := c.log.Wait(t, 5*time.Second, "offer", pluginResult("ok", "offer"))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	testpeer.TrickleFrom(c.log, c.h.ID(), pc, c.stop)
	// Answer with our own tracks on the offered transceivers.
	var tracks []*webrtc.TrackLocalStaticRTP
	for i, tr := range pc.GetTransceivers() {
		if tr.Kind() != webrtc.RTPCodecTypeVideo && tr.Kind() != webrtc.RTPCodecTypeAudio {
			continue
		}
		cap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			cap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		}
		track, err := webrtc.NewTrackLocalStaticRTP(cap, "t"+tr.Mid(), "client")
		if err != nil {
			t.Fatal(err)
		}
		// pion gives a remote offer's transceivers no sender; AddTrack
		// takes the first free one of the kind, which is this one.
		sender, err := pc.AddTrack(track)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Sender() != sender {
			t.Fatalf("track for mid %s went elsewhere", tr.Mid())
		}
		c.mu.Lock()
		c.markers[tr.Mid()] = byte(10 + i)
		c.mu.Unlock()
		tracks = append(tracks, track)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	if _, err := c.h.Message(ctx, ianua.Message{Body: mustJSON(map[string]any{}), JSEP: &ianua.JSEP{Type: "answer", SDP: answer.SDP}}); err != nil {
		t.Fatalf("answer: %v", err)
	}
	c.waitConnected()
	if len(tracks) != 3 {
		t.Fatalf("%d media transceivers offered, want 3", len(tracks))
	}
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == nil {
			continue
		}
		if track, ok := tr.Sender().Track().(*webrtc.TrackLocalStaticRTP); ok {
			c.send(track, c.markers[tr.Mid()], 50)
		}
	}
	c.wg.Wait()
	time.Sleep(300 * time.Millisecond)
	for mid := range c.markers {
		if right, wrong := c.counts(mid); right < 45 || wrong > 0 {
			t.Errorf("mid %s: %d of 50 echoed, %d wrong", mid, right, wrong)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for dcEcho.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got, _ := dcEcho.Load().(string); got != "ping" {
		t.Errorf("data echo %q", got)
	}

	// Renegotiate with an ICE restart: new credentials in a new offer.
	oldUfrag := ufragOf(ev.JSEP.SDP)
	if _, err := c.h.Message(ctx, ianua.Message{Body: mustJSON(map[string]any{"request": "offer", "restart": true, "video_streams": 2}), Transaction: "o2"}); err != nil {
		t.Fatal(err)
	}
	ev2 := c.log.Wait(t, 5*time.Second, "restart offer", func(e ianua.Event) bool {
		return pluginResult("ok", "offer")(e) && e.Transaction == "o2"
	})
	if ufragOf(ev2.JSEP.SDP) == oldUfrag {
		t.Error("ICE restart kept the ufrag")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ev2.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	answer2, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(answer2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.h.Message(ctx, ianua.Message{Body: mustJSON(map[string]any{}), JSEP: &ianua.JSEP{Type: "answer", SDP: answer2.SDP}}); err != nil {
		t.Fatalf("restart answer: %v", err)
	}
	testpeer.WaitFor(t, 10*time.Second, "connected after restart", func() bool {
		return pc.ICEConnectionState() == webrtc.ICEConnectionStateConnected && pc.SignalingState() == webrtc.SignalingStateStable
	})
	// The echo goes on over the new ICE session.
	before := map[string]int{}
	for mid := range c.markers {
		before[mid], _ = c.counts(mid)
	}
	for _, track := range tracks {
		for _, tr := range pc.GetTransceivers() {
			if tr.Sender() != nil && tr.Sender().Track() == track {
				c.send(track, c.markers[tr.Mid()], 50)
			}
		}
	}
	c.wg.Wait()
	testpeer.WaitFor(t, 3*time.Second, "echo after the restart", func() bool {
		for mid := range c.markers {
			if right, _ := c.counts(mid); right < before[mid]+45 {
				return false
			}
		}
		return true
	})
}

// audio:false stops the audio echo and leaves video; video:false the other
// way round.
func TestEchoToggles(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	c := newEchoCall(t, r, newClient(t, clientOptions{}))
	audio := c.addTrack("audio", 1)
	video := c.addTrack("video", 2)
	c.offer(map[string]any{"audio": true, "video": true}, false)
	c.waitConnected()
	ctx := context.Background()

	measure := func() (a, v int) {
		a0, _ := c.counts("0")
		v0, _ := c.counts("1")
		c.send(audio, 1, 30)
		c.send(video, 2, 30)
		c.wg.Wait()
		time.Sleep(200 * time.Millisecond)
		a1, _ := c.counts("0")
		v1, _ := c.counts("1")
		return a1 - a0, v1 - v0
	}
	if a, v := measure(); a < 25 || v < 25 {
		t.Fatalf("before toggles: audio %d video %d of 30", a, v)
	}
	if _, err := c.h.Message(ctx, ianua.Message{Body: mustJSON(map[string]any{"audio": false})}); err != nil {
		t.Fatal(err)
	}
	if a, v := measure(); a != 0 || v < 25 {
		t.Errorf("audio off: audio %d (want 0) video %d (want ~30)", a, v)
	}
	if _, err := c.h.Message(ctx, ianua.Message{Body: mustJSON(map[string]any{"audio": true, "video": false})}); err != nil {
		t.Fatal(err)
	}
	if a, v := measure(); a < 25 || v != 0 {
		t.Errorf("video off: audio %d (want ~30) video %d (want 0)", a, v)
	}
	if st := c.h.Attachment().(*echotest.Echo).Status(); !st.AudioActive || st.VideoActive {
		t.Errorf("status %+v", st)
	}
}

// A keyframe request reaches the client as a PLI, and a bitrate cap as a
// REMB with that bitrate.
func TestKeyframeAndREMB(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	c := newEchoCall(t, r, newClient(t, clientOptions{}))
	video := c.addTrack("video", 2)
	var plis atomic.Int32
	var remb atomic.Uint32
	c.onRTCP.Store(func(p rtcp.Packet) {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication:
			plis.Add(1)
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			remb.Store(uint32(p.Bitrate))
		}
	})
	c.offer(map[string]any{"audio": true, "video": true}, false)
	c.waitConnected()
	c.send(video, 2, 100)
	time.Sleep(300 * time.Millisecond)

	before := plis.Load()
	if _, err := c.h.Message(context.Background(), ianua.Message{Body: mustJSON(map[string]any{"keyframe": true, "bitrate": 256000})}); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 3*time.Second, "PLI after keyframe request", func() bool { return plis.Load() > before })
	testpeer.WaitFor(t, 3*time.Second, "REMB of 256000", func() bool {
		// REMB carries a mantissa and exponent: allow its rounding.
		b := remb.Load()
		return b >= 255000 && b <= 257000
	})
}
