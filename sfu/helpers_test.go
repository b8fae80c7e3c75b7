package sfu_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/playoutdelay"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func checkLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// newRoomRouter returns a router with the sfu plugin and a room.
func newRoomRouter(t testing.TB, room sfu.RoomParams) (*ianua.MediaRouter, *sfu.Plugin) {
	t.Helper()
	p, err := sfu.New(sfu.Params{Rooms: []sfu.RoomParams{room}, Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return testpeer.NewRouter(t, nil, p), p
}

// participant is a pion client in a room: a publisher handle and,
// optionally, a subscriber handle, on one session.
type participant struct {
	t      testing.TB
	r      *ianua.MediaRouter
	room   uint64
	marker byte
	s      *ianua.Session
	log    *testpeer.EventLog
	stop   chan struct{}
	// stopOnce closes stop.
	stopOnce sync.Once
	wg       sync.WaitGroup
	// sending counts the send goroutines, to wait for a burst's end.
	sending sync.WaitGroup

	pubH      *ianua.Handle
	pubPC     *webrtc.PeerConnection
	pubAnswer *ianua.JSEP // the last answer to a publish
	subOffer  *ianua.JSEP // the subscriber's first offer
	id        uint64
	privateID uint64
	audio     *webrtc.TrackLocalStaticRTP
	video     *webrtc.TrackLocalStaticRTP
	layers    []*webrtc.TrackLocalStaticRTP // simulcast q, h, f
	sent      map[*webrtc.TrackLocalStaticRTP]int

	// simTr is the simulcast transceiver; pion does not add the mid and
	// rid header extensions (RFC 8852) to simulcast packets, browsers do,
	// so send does.
	simTr *webrtc.RTPTransceiver
	// svc: the video is VP9 with three spatial layers.
	svc bool

	subH  *ianua.Handle
	subPC *webrtc.PeerConnection
	dc    *webrtc.DataChannel // the publisher's
	// chat collects data channel messages received by the subscriber.
	chat []string

	mu sync.Mutex
	// got counts received packets per sender marker and kind byte.
	got map[[2]byte]int
	// layerGot counts received video packets per simulcast layer byte.
	layerGot map[byte]int
	plis     int
	// playout is the playout-delay extension of the last video packet
	// the subscriber got.
	playout []byte
}

const testPIN = "1234"

const (
	kindAudio byte = 1
	kindVideo byte = 2
)

func message(t testing.TB, h *ianua.Handle, body any, jsep *ianua.JSEP) ianua.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := h.Message(ctx, ianua.Message{Body: testpeer.JSON(body), JSEP: jsep, Transaction: "tx"})
	if err != nil {
		t.Fatalf("message %v: %v", body, err)
	}
	return reply
}

func data(e ianua.Event) map[string]any {
	var d map[string]any
	_ = json.Unmarshal(e.Data, &d)
	return d
}

func num(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

// join makes a participant join the room as a publisher (not yet
// publishing).
func join(t testing.TB, r *ianua.MediaRouter, room uint64, marker byte) *participant {
	t.Helper()
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	p := &participant{t: t, r: r, room: room, marker: marker, s: s, log: testpeer.Watch(s), stop: make(chan struct{}),
		sent: map[*webrtc.TrackLocalStaticRTP]int{}, got: map[[2]byte]int{}, layerGot: map[byte]int{}}
	t.Cleanup(p.close)
	if p.pubH, err = s.Attach(sfu.Name); err != nil {
		t.Fatal(err)
	}
	// Rooms with a PIN use testPIN; the others ignore it.
	message(t, p.pubH, map[string]any{"request": "join", "ptype": "publisher", "room": room, "display": string('A' + marker), "pin": testPIN}, nil)
	ev := p.log.Wait(t, 5*time.Second, "joined", testpeer.Plugin(p.pubH.ID(), "videoroom", "joined", ""))
	d := data(ev)
	p.id, p.privateID = num(d["id"]), num(d["private_id"])
	return p
}

func (p *participant) close() {
	p.signalStop()
	p.wg.Wait()
}

// signalStop tells the participant's goroutines that the test is ending.
// It is also registered right after each client PeerConnection is made,
// so that it runs before that PeerConnection's cleanup closes it (cleanups
// run last-in first-out): a goroutine answering an offer at that moment
// then knows the close is the test's. pion marks a PeerConnection closed
// before its ConnectionState says so, so the state alone cannot tell.
func (p *participant) signalStop() {
	p.stopOnce.Do(func() { close(p.stop) })
}

type publishOptions struct {
	audio, video, simulcast, data bool
	// svc: VP9 video in three spatial layers (RFC 9628), one packet of
	// each per picture, the fifth payload byte saying which.
	svc        bool
	conn       *testpeer.SwitchConn
	audioLevel bool
	// e2ee: the offer says the media is end-to-end encrypted.
	e2ee bool
}

// publish sends an offer with the tracks asked for and waits until the
// publisher is up.
func (p *participant) publish(o publishOptions) {
	t := p.t
	t.Helper()
	opts := testpeer.Options{AudioLevel: o.audioLevel}
	if o.conn != nil {
		opts.Conn = o.conn
	}
	p.pubPC = testpeer.NewClient(t, opts)
	t.Cleanup(p.signalStop)
	var err error
	if o.audio {
		p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
		if err != nil {
			t.Fatal(err)
		}
		p.addSender(p.audio)
	}
	if o.video {
		vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
		if o.svc {
			vp8 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}
			p.svc = true
		}
		if o.simulcast {
			for _, rid := range []string{"q", "h", "f"} {
				tr, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "pub", webrtc.WithRTPStreamID(rid))
				if err != nil {
					t.Fatal(err)
				}
				p.layers = append(p.layers, tr)
			}
			tr, err := p.pubPC.AddTransceiverFromTrack(p.layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range p.layers[1:] {
				if err := tr.Sender().AddEncoding(l); err != nil {
					t.Fatal(err)
				}
			}
			p.simTr = tr
			for _, rid := range []string{"q", "h", "f"} {
				p.readSimulcastRTCP(tr.Sender(), rid)
			}
		} else {
			p.video, err = webrtc.NewTrackLocalStaticRTP(vp8, "video", "pub")
			if err != nil {
				t.Fatal(err)
			}
			p.addSender(p.video)
		}
	}
	if o.data {
		if p.dc, err = p.pubPC.CreateDataChannel("JanusDataChannel", nil); err != nil {
			t.Fatal(err)
		}
	}
	testpeer.TrickleTo(t, p.pubPC, p.pubH)
	offer, err := p.pubPC.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.pubPC.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	mark := p.log.Len()
	message(t, p.pubH, map[string]any{"request": "publish"}, &ianua.JSEP{Type: "offer", SDP: offer.SDP, E2EE: o.e2ee})
	ev := p.log.WaitFrom(t, mark, 5*time.Second, "configured", testpeer.Plugin(p.pubH.ID(), "configured", "ok", "answer"))
	p.pubAnswer = ev.JSEP
	if err := p.pubPC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	testpeer.TrickleFrom(p.log, p.pubH.ID(), p.pubPC, p.stop)
	p.log.Wait(t, 10*time.Second, "publisher webrtcup", testpeer.Type(ianua.EventWebRTCUp, p.pubH.ID()))
}

func (p *participant) addSender(track *webrtc.TrackLocalStaticRTP) {
	tr, err := p.pubPC.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		p.t.Fatal(err)
	}
	p.readRTCP(tr.Sender())
}

// readRTCP reads a sender's RTCP as a browser does (pion's NACK responder
// needs it) and counts PLIs.
func (p *participant) readRTCP(sender *webrtc.RTPSender) {
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				if _, ok := pk.(*rtcp.PictureLossIndication); ok {
					p.mu.Lock()
					p.plis++
					p.mu.Unlock()
				}
			}
		}
	}()
}

func (p *participant) readSimulcastRTCP(sender *webrtc.RTPSender, rid string) {
	go func() {
		for {
			if _, _, err := sender.ReadSimulcastRTCP(rid); err != nil {
				return
			}
		}
	}()
}

// simulcastExtensions returns the negotiated ids of the mid and rid
// header extensions and the mid.
func (p *participant) simulcastExtensions() (midID, ridID uint8, mid string) {
	for _, e := range p.simTr.Sender().GetParameters().HeaderExtensions {
		switch e.URI {
		case "urn:ietf:params:rtp-hdrext:sdes:mid":
			midID = uint8(e.ID)
		case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
			ridID = uint8(e.ID)
		}
	}
	return midID, ridID, p.simTr.Mid()
}

// subscribe opens the subscriber handle on the streams of feeds and waits
// until media can flow. Later offers from the plugin are answered.
func (p *participant) subscribe(streams []map[string]any, conn *testpeer.SwitchConn) {
	t := p.t
	t.Helper()
	var err error
	if p.subH, err = p.s.Attach(sfu.Name); err != nil {
		t.Fatal(err)
	}
	// Browsers offer playout-delay; so does this subscriber.
	opts := testpeer.Options{VideoExtensions: []string{playoutdelay.URI}}
	if conn != nil {
		opts.Conn = conn
	}
	p.subPC = testpeer.NewClient(t, opts)
	t.Cleanup(p.signalStop)
	p.subPC.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			p.mu.Lock()
			p.chat = append(p.chat, string(m.Data))
			p.mu.Unlock()
		})
	})
	p.subPC.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		var playoutID uint8
		for _, x := range rcv.GetParameters().HeaderExtensions {
			if x.URI == playoutdelay.URI {
				playoutID = uint8(x.ID)
			}
		}
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) < 5 {
				continue
			}
			p.mu.Lock()
			p.got[[2]byte{pkt.Payload[2], pkt.Payload[3]}]++
			if pkt.Payload[3] == kindVideo {
				p.layerGot[pkt.Payload[4]]++
				if playoutID != 0 {
					p.playout = append(p.playout[:0], pkt.GetExtension(playoutID)...)
				}
			}
			p.mu.Unlock()
		}
	})
	testpeer.TrickleTo(t, p.subPC, p.subH)
	mark := p.log.Len()
	body := map[string]any{"request": "join", "ptype": "subscriber", "room": p.room, "private_id": p.privateID, "streams": streams, "pin": testPIN}
	message(t, p.subH, body, nil)
	ev := p.log.WaitFrom(t, mark, 5*time.Second, "attached", testpeer.Plugin(p.subH.ID(), "videoroom", "attached", "offer"))
	p.subOffer = ev.JSEP
	p.answer(ev)
	testpeer.TrickleFrom(p.log, p.subH.ID(), p.subPC, p.stop)
	p.log.Wait(t, 10*time.Second, "subscriber webrtcup", testpeer.Type(ianua.EventWebRTCUp, p.subH.ID()))
	p.wg.Add(1)
	go p.autoAnswer(p.log.Len())
}

// waitSent waits until the packets given to send are all written.
func (p *participant) waitSent() { p.sending.Wait() }

// answer answers a plugin offer with "start". Errors after the test
// began to stop (the client closing) are not failures.
func (p *participant) answer(ev ianua.Event) {
	t := p.t
	select {
	case <-p.stop:
		return
	default:
	}
	if p.subPC.ConnectionState() == webrtc.PeerConnectionStateClosed {
		return
	}
	hangups := p.log.Count(testpeer.Type(ianua.EventHangup, p.subH.ID()))
	// An error is the test's failure unless this client's PeerConnection
	// is being closed meanwhile, by the test ending (p.stop) or by the
	// server hanging it up (a destroyed room, a session destroyed while
	// its subscriber renegotiates): pion then fails the description it is
	// applying ("InvalidStateError: connection closed", or "ICEAgent does
	// not exist" once the ICE gatherer is closed), and the server has no
	// offer pending for the answer.
	fail := func(what string, err error) {
		select {
		case <-p.stop:
			return
		default:
		}
		if p.serverHungUp(hangups) {
			return
		}
		t.Errorf("%s: %v", what, err)
	}
	if err := p.subPC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ev.JSEP.SDP}); err != nil {
		fail("subscriber SRD", err)
		return
	}
	ans, err := p.subPC.CreateAnswer(nil)
	if err != nil {
		fail("subscriber answer", err)
		return
	}
	if err := p.subPC.SetLocalDescription(ans); err != nil {
		fail("subscriber SLD", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.subH.Message(ctx, ianua.Message{Body: testpeer.JSON(map[string]any{"request": "start", "room": p.room}), JSEP: &ianua.JSEP{Type: "answer", SDP: ans.SDP}}); err != nil {
		fail("start", err)
	}
}

// serverHungUp says whether the server ends the subscriber's
// PeerConnection: it hangs it up (a destroyed room, a kick) at the moment
// a client answers, and then has no offer pending for the answer. The
// hangup may still be on its way: wait a little for it. before is the
// number of the handle's hangups when the answer began.
func (p *participant) serverHungUp(before int) bool {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if !p.subH.HasPeerConnection() || p.log.Count(testpeer.Type(ianua.EventHangup, p.subH.ID())) > before {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// autoAnswer answers every later offer on the subscriber handle.
func (p *participant) autoAnswer(from int) {
	defer p.wg.Done()
	next := from
	for {
		evs := p.log.All(func(e ianua.Event) bool { return true })
		for ; next < len(evs); next++ {
			e := evs[next]
			if e.HandleID == p.subH.ID() && e.Type == ianua.EventPlugin && e.JSEP != nil && e.JSEP.Type == "offer" {
				p.answer(e)
			}
		}
		select {
		case <-p.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// send writes n packets on each of the participant's tracks, one every
// 10 ms. Video packets are VP8 keyframes (P bit clear) so that any of them
// can start a subscription; payload[2] is the marker, [3] the kind, [4]
// the simulcast layer.
func (p *participant) send(n int) {
	send := func(track *webrtc.TrackLocalStaticRTP, kind, layer byte, ts uint32) {
		defer p.wg.Done()
		defer p.sending.Done()
		// Simulcast layers differ in size as real ones do: about 160,
		// 400 and 880 kbit/s at 100 packets a second.
		size := 200
		if track.RID() != "" {
			size = []int{200, 500, 1100}[layer]
		}
		payload := make([]byte, size)
		payload[0], payload[1], payload[2], payload[3], payload[4] = 0x10, 0x00, p.marker, kind, layer
		p.mu.Lock()
		first := p.sent[track]
		p.sent[track] += n
		p.mu.Unlock()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1, Marker: true}, Payload: payload}
		if track.RID() != "" {
			midID, ridID, mid := p.simulcastExtensions()
			_ = pkt.SetExtension(midID, []byte(mid))
			_ = pkt.SetExtension(ridID, []byte(track.RID()))
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := first; i < first+n; i++ {
			pkt.SequenceNumber = uint16(i)
			pkt.Timestamp = uint32(i) * ts
			if err := track.WriteRTP(pkt); err != nil {
				return
			}
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}
	if p.audio != nil {
		p.wg.Add(1)
		p.sending.Add(1)
		go send(p.audio, kindAudio, 0, 960)
	}
	if p.video != nil && p.svc {
		p.wg.Add(1)
		p.sending.Add(1)
		go p.sendSVC(n)
	} else if p.video != nil {
		p.wg.Add(1)
		p.sending.Add(1)
		go send(p.video, kindVideo, 0, 3000)
	}
	for i, l := range p.layers {
		p.wg.Add(1)
		p.sending.Add(1)
		go send(l, kindVideo, byte(i), 3000)
	}
}

func (p *participant) received(marker, kind byte) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.got[[2]byte{marker, kind}]
}

func (p *participant) receivedLayer(layer byte) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.layerGot[layer]
}

func (p *participant) pliCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.plis
}

// feeds lists the other participants as subscription streams.
func feeds(ps ...*participant) []map[string]any {
	var out []map[string]any
	for _, p := range ps {
		out = append(out, map[string]any{"feed": p.id})
	}
	return out
}

func pli(ssrc uint32) []rtcp.Packet {
	return []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}
}

// sendAudioLevel sends n audio packets carrying an RFC 6464 level (0 loud,
// 127 silent), one every 5 ms, and waits for them to be sent.
func (p *participant) sendAudioLevel(level byte, n int) {
	var id uint8
	for _, tr := range p.pubPC.GetTransceivers() {
		if tr.Sender() == nil || tr.Sender().Track() != p.audio {
			continue
		}
		for _, e := range tr.Sender().GetParameters().HeaderExtensions {
			if e.URI == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" {
				id = uint8(e.ID)
			}
		}
	}
	if id == 0 {
		p.t.Fatal("audio-level extension not negotiated")
	}
	payload := make([]byte, 50)
	payload[2], payload[3] = p.marker, kindAudio
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: payload}
	_ = pkt.SetExtension(id, []byte{0x80 | level})
	p.mu.Lock()
	first := p.sent[p.audio]
	p.sent[p.audio] += n
	p.mu.Unlock()
	for i := first; i < first+n; i++ {
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i) * 960
		if err := p.audio.WriteRTP(pkt); err != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *participant) chatLog() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.chat...)
}

func data2(raw []byte) map[string]any {
	var d map[string]any
	_ = json.Unmarshal(raw, &d)
	return d
}

// sendSVC sends n VP9 pictures of three spatial layers, one packet each
// (about 160, 400 and 880 kbit/s at 100 pictures a second), every picture
// a keyframe so that layer switches need not wait. The descriptor (RFC
// 9628) has the L bit, SID in the layer byte and TL0PICIDX, which carries
// the marker; then the kind and the SID.
func (p *participant) sendSVC(n int) {
	defer p.wg.Done()
	defer p.sending.Done()
	p.mu.Lock()
	first := p.sent[p.video]
	p.sent[p.video] += n
	p.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	seq := uint16(first * 3)
	for i := first; i < first+n; i++ {
		for sid := range 3 {
			payload := make([]byte, []int{200, 500, 1100}[sid])
			payload[0] = 0x20 | 0x08 | 0x04 // L, B, E
			if sid > 0 {
				payload[0] |= 0x40 // P: the upper layers refer to the lower
			}
			payload[1] = byte(sid) << 1
			payload[2], payload[3], payload[4] = p.marker, kindVideo, byte(sid)
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1, SequenceNumber: seq, Timestamp: uint32(i) * 3000, Marker: sid == 2}, Payload: payload}
			seq++
			if err := p.video.WriteRTP(pkt); err != nil {
				return
			}
		}
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
	}
}
