package echotest_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/echotest"
	"github.com/ianua/ianua/internal/playoutdelay"
	"github.com/ianua/ianua/internal/testpeer"
)

// layerCall is a pion client talking to the EchoTest plugin.
type layerCall struct {
	t    *testing.T
	h    *ianua.Handle
	log  *testpeer.EventLog
	pc   *webrtc.PeerConnection
	stop chan struct{}
	wg   sync.WaitGroup

	mu sync.Mutex
	// echoed counts the echoed video packets per marker byte (the layer
	// they were sent on), and ssrcs the SSRCs they came with.
	echoed map[byte]int
	ssrcs  map[uint32]bool
	// markerAt is where in the payload the marker byte is (default 2).
	markerAt int
	// playout is the last playout-delay extension seen on the echo, if
	// playoutID is set.
	playoutID uint8
	playout   []byte
}

func newLayerCall(t *testing.T, opts ...testpeer.Options) *layerCall {
	o := testpeer.Options{}
	if len(opts) > 0 {
		o = opts[0]
	}
	r := testpeer.NewRouter(t, nil, echotest.New())
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Attach(echotest.Name)
	if err != nil {
		t.Fatal(err)
	}
	c := &layerCall{t: t, h: h, log: testpeer.Watch(s), pc: testpeer.NewClient(t, o),
		stop: make(chan struct{}), echoed: map[byte]int{}, ssrcs: map[uint32]bool{}, markerAt: 2}
	t.Cleanup(func() {
		close(c.stop)
		_ = c.pc.Close() // ends the RTCP readers
		c.wg.Wait()
	})
	c.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.mu.Lock()
			if tr.Kind() != webrtc.RTPCodecTypeVideo || len(p.Payload) <= c.markerAt {
				c.mu.Unlock()
				continue
			}
			c.echoed[p.Payload[c.markerAt]]++
			if c.playoutID != 0 {
				c.playout = append(c.playout[:0], p.GetExtension(c.playoutID)...)
			}
			c.ssrcs[p.SSRC] = true
			c.mu.Unlock()
		}
	})
	return c
}

// every calls send with 0, 1, 2… once per interval until the test ends or
// send fails (the client closed).
func (c *layerCall) every(interval time.Duration, send func(n int) error) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for n := 0; ; n++ {
			if send(n) != nil {
				return
			}
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// addTrack gives the client a video track of codec on a sendrecv m-line.
func (c *layerCall) addTrack(codec webrtc.RTPCodecCapability) (*webrtc.TrackLocalStaticRTP, *webrtc.RTPTransceiver) {
	c.t.Helper()
	track, err := webrtc.NewTrackLocalStaticRTP(codec, "video", "client")
	if err != nil {
		c.t.Fatal(err)
	}
	tr, err := c.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		c.t.Fatal(err)
	}
	return track, tr
}

func (c *layerCall) count(marker byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.echoed[marker]
}

// message sends a request and returns the error of a refused one.
func (c *layerCall) message(body map[string]any, jsep *ianua.JSEP) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.h.Message(ctx, ianua.Message{Body: testpeer.JSON(body), JSEP: jsep, Transaction: "tx"})
	return err
}

// negotiate offers what the client has, with body, and applies the answer.
func (c *layerCall) negotiate(body map[string]any) string {
	c.t.Helper()
	testpeer.TrickleTo(c.t, c.pc, c.h)
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		c.t.Fatal(err)
	}
	mark := c.log.Len()
	if err := c.message(body, &ianua.JSEP{Type: "offer", SDP: offer.SDP}); err != nil {
		c.t.Fatalf("offer: %v", err)
	}
	ev := c.log.WaitFrom(c.t, mark, 5*time.Second, "answer", func(e ianua.Event) bool { return e.JSEP != nil && e.JSEP.Type == "answer" })
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: withoutRecvRIDs(ev.JSEP.SDP)}); err != nil {
		c.t.Fatalf("answer: %v\n%s", err, ev.JSEP.SDP)
	}
	testpeer.TrickleFrom(c.log, c.h.ID(), c.pc, c.stop)
	testpeer.WaitFor(c.t, 10*time.Second, "client connected", func() bool {
		return c.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})
	return ev.JSEP.SDP
}

// withoutRecvRIDs drops an answer's "a=rid:… recv" and "a=simulcast:recv"
// lines for the pion client: pion takes any a=rid in a remote description
// for rids it will receive, and then ignores the a=ssrc lines that
// announce the echo, which it would never see. Browsers read both. The
// client sends its layers from its own offer all the same.
func withoutRecvRIDs(sdp string) string {
	var out []string
	for _, line := range strings.SplitAfter(sdp, "\n") {
		l := strings.TrimSpace(line)
		if (strings.HasPrefix(l, "a=rid:") && strings.HasSuffix(l, " recv")) || strings.HasPrefix(l, "a=simulcast:recv") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "")
}

// layerEvent matches the plugin's report of the layer being echoed.
func layerEvent(key string, value int) func(ianua.Event) bool {
	return func(e ianua.Event) bool {
		if e.Type != ianua.EventPlugin {
			return false
		}
		var d map[string]any
		if json.Unmarshal(e.Data, &d) != nil {
			return false
		}
		v, ok := d[key].(float64)
		return ok && int(v) == value && d["videocodec"] != nil
	}
}

// A simulcast client (three VP8 layers, as janus.js sends with
// simulcast: true) gets one layer back, the highest by default, on one
// SSRC; "substream" switches it, with Janus's events.
func TestSimulcastEcho(t *testing.T) {
	c := newLayerCall(t)
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	var layers []*webrtc.TrackLocalStaticRTP
	for _, rid := range []string{"l", "m", "h"} {
		tr, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "client", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, tr)
	}
	tr, err := c.pc.AddTransceiverFromTrack(layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers[1:] {
		if err := tr.Sender().AddEncoding(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, rid := range []string{"l", "m", "h"} {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				if _, _, err := tr.Sender().ReadSimulcastRTCP(rid); err != nil {
					return
				}
			}
		}()
	}
	answer := c.negotiate(map[string]any{"audio": true, "video": true})
	if !strings.Contains(answer, "a=simulcast:recv") {
		t.Fatalf("the answer does not take simulcast:\n%s", answer)
	}
	var midID, ridID uint8
	for _, e := range tr.Sender().GetParameters().HeaderExtensions {
		switch e.URI {
		case "urn:ietf:params:rtp-hdrext:sdes:mid":
			midID = uint8(e.ID)
		case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
			ridID = uint8(e.ID)
		}
	}
	// Every packet is a VP8 keyframe whose third byte says its layer.
	for i, track := range layers {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true}, Payload: []byte{0x10, 0x00, byte(i), 0, 0, 0, 0, 0}}
		_ = pkt.SetExtension(midID, []byte(tr.Mid()))
		_ = pkt.SetExtension(ridID, []byte(track.RID()))
		c.every(10*time.Millisecond, func(n int) error {
			pkt.SequenceNumber = uint16(n)
			pkt.Timestamp = uint32(n) * 3000
			return track.WriteRTP(pkt)
		})
	}

	// The echo may start on whichever layer comes first, then goes to
	// the highest.
	c.log.Wait(t, 5*time.Second, "substream 2 reported", layerEvent("substream", 2))
	low0, low1 := c.count(0), c.count(1)
	testpeer.WaitFor(t, 5*time.Second, "layer 2 echoed", func() bool { return c.count(2) > 30 })
	if n0, n1 := c.count(0)-low0, c.count(1)-low1; n0+n1 > 0 {
		t.Errorf("layers 0 and 1 echoed too once on layer 2 (%d, %d packets)", n0, n1)
	}

	// Bad values change nothing.
	for _, bad := range []map[string]any{{"substream": 3}, {"temporal": -1}, {"spatial_layer": 7}} {
		err := c.message(bad, nil)
		var pe *ianua.PluginError
		if !errors.As(err, &pe) || pe.Code != echotest.ErrorInvalidElement || !errors.Is(err, ianua.ErrInvalidElement) {
			t.Errorf("%v: got %v, want error %d", bad, err, echotest.ErrorInvalidElement)
		}
	}

	mark := c.log.Len()
	if err := c.message(map[string]any{"substream": 0}, nil); err != nil {
		t.Fatal(err)
	}
	c.log.WaitFrom(t, mark, 5*time.Second, "substream 0 reported", layerEvent("substream", 0))
	before := c.count(0)
	testpeer.WaitFor(t, 5*time.Second, "layer 0 echoed", func() bool { return c.count(0) > before+30 })
	top := c.count(2)
	time.Sleep(300 * time.Millisecond)
	if got := c.count(2); got > top {
		t.Errorf("layer 2 still echoed after substream 0 (%d more packets)", got-top)
	}
	c.mu.Lock()
	nSSRC := len(c.ssrcs)
	c.mu.Unlock()
	if nSSRC != 1 {
		t.Errorf("the echo came on %d SSRCs, want 1 across the switch", nSSRC)
	}
	// The admin view says the same (Janus: query_session).
	st, ok := c.h.Info().PluginSpecific.(echotest.Status)
	if !ok || !st.Simulcast || st.Substream == nil || *st.Substream != 0 || st.SubstreamTarget == nil || *st.SubstreamTarget != 0 || st.Streams != 1 {
		t.Errorf("plugin_specific %+v, want simulcast on substream 0 of 1 stream", c.h.Info().PluginSpecific)
	}

	// "temporal" is told with the layer in force (Janus's event has both).
	mark = c.log.Len()
	if err := c.message(map[string]any{"temporal": 0}, nil); err != nil {
		t.Fatal(err)
	}
	c.log.WaitFrom(t, mark, 5*time.Second, "temporal 0 reported", layerEvent("temporal", 0))

	// "video": false stops the echo of the layered stream too.
	if err := c.message(map[string]any{"video": false}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	off := c.count(0)
	time.Sleep(400 * time.Millisecond)
	if got := c.count(0); got > off {
		t.Errorf("video off, yet %d packets echoed", got-off)
	}
	if err := c.message(map[string]any{"video": true}, nil); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 5*time.Second, "echo back on", func() bool { return c.count(0) > off+20 })
}

// "audiocodec" and "videocodec" (and "videoprofile") with the client's
// offer pick the codecs of the answer, as in Janus.
func TestCodecChoice(t *testing.T) {
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	pcmu := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	vp9 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}
	vp92 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=2"}
	h264 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	for _, tc := range []struct {
		name             string
		body             map[string]any
		audio, video     webrtc.RTPCodecCapability // what the client's tracks send
		wantAudio, wantV string                    // rtpmap names first in the answer
	}{
		{"default", map[string]any{"audio": true, "video": true}, opus, vp8, "opus", "VP8"},
		{"pcmu and vp9", map[string]any{"audiocodec": "pcmu", "videocodec": "vp9"}, pcmu, vp9, "PCMU", "VP9"},
		{"h264 profile", map[string]any{"videocodec": "h264", "videoprofile": "42e01f"}, opus, h264, "opus", "H264"},
		{"vp9 profile 2", map[string]any{"videocodec": "vp9", "videoprofile": "2"}, opus, vp92, "opus", "VP9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newLayerCall(t)
			for _, capability := range []webrtc.RTPCodecCapability{tc.audio, tc.video} {
				track, err := webrtc.NewTrackLocalStaticRTP(capability, "t", "client")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
					t.Fatal(err)
				}
			}
			answer := c.negotiate(tc.body)
			if got := firstCodec(answer, "audio"); got != tc.wantAudio {
				t.Errorf("audio codec %q, want %q", got, tc.wantAudio)
			}
			if got := firstCodec(answer, "video"); got != tc.wantV {
				t.Errorf("video codec %q, want %q", got, tc.wantV)
			}
			if p, ok := tc.body["videoprofile"].(string); ok && !strings.Contains(fmtpOfFirst(answer, "video"), p) {
				t.Errorf("video fmtp %q, want profile %s", fmtpOfFirst(answer, "video"), p)
			}
			if strings.Count(mediaSection(answer, "video"), "a=rtpmap:") > 2 && tc.body["videocodec"] != nil {
				t.Errorf("the answer keeps more than the chosen codec and its RTX:\n%s", mediaSection(answer, "video"))
			}
		})
	}
}

// mediaSection returns the m-line of this kind of an SDP, to the next one.
func mediaSection(sdp, kind string) string {
	i := strings.Index(sdp, "m="+kind)
	if i < 0 {
		return ""
	}
	rest := sdp[i:]
	if j := strings.Index(rest[2:], "\nm="); j >= 0 {
		return rest[:j+2]
	}
	return rest
}

// firstCodec is the name of the first payload type of an m-line.
func firstCodec(sdp, kind string) string {
	m := mediaSection(sdp, kind)
	fields := strings.Fields(strings.SplitN(m, "\n", 2)[0])
	if len(fields) < 4 {
		return ""
	}
	prefix := "a=rtpmap:" + fields[3] + " "
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			name, _, _ := strings.Cut(v, "/")
			return name
		}
	}
	return ""
}

func fmtpOfFirst(sdp, kind string) string {
	m := mediaSection(sdp, kind)
	fields := strings.Fields(strings.SplitN(m, "\n", 2)[0])
	if len(fields) < 4 {
		return ""
	}
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=fmtp:"+fields[3]+" "); ok {
			return v
		}
	}
	return ""
}

// A message that asks for nothing and carries no SDP is refused, as in
// Janus ("no supported attributes found").
func TestNoAttributes(t *testing.T) {
	c := newLayerCall(t)
	err := c.message(map[string]any{}, nil)
	var pe *ianua.PluginError
	if !errors.As(err, &pe) || pe.Code != echotest.ErrorInvalidElement {
		t.Fatalf("empty request: %v, want error %d", err, echotest.ErrorInvalidElement)
	}
	// Janus's demo sends its settings before its offer: that is fine.
	if err := c.message(map[string]any{"audio": true, "video": true, "videocodec": "vp8"}, nil); err != nil {
		t.Fatalf("settings without SDP: %v", err)
	}
	if c.h.HasPeerConnection() {
		t.Error("a message without SDP made a PeerConnection")
	}
}

// VP9 goes through the forwarding engine as well (it may carry SVC): the
// echo starts on a keyframe and comes back on one SSRC with the right
// payload.
func TestVP9Echo(t *testing.T) {
	c := newLayerCall(t)
	vp9 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}
	track, _ := c.addTrack(vp9)
	answer := c.negotiate(map[string]any{"videocodec": "vp9"})
	if got := firstCodec(answer, "video"); got != "VP9" {
		t.Fatalf("video codec %q, want VP9", got)
	}
	// One packet per picture: start and end of frame (RFC 9628 B and E),
	// not inter-picture predicted (P unset) for every 10th, the third
	// byte a marker.
	c.every(10*time.Millisecond, func(n int) error {
		desc := byte(0x0C)
		if n%10 != 0 {
			desc |= 0x40 // P: predicted from the previous picture
		}
		return track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(n), Timestamp: uint32(n) * 3000}, Payload: []byte{desc, 0x00, 9, 0, 0, 0}})
	})
	testpeer.WaitFor(t, 5*time.Second, "VP9 echoed", func() bool { return c.count(9) > 50 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.echoed) != 1 || len(c.ssrcs) != 1 {
		t.Errorf("echo: %v on SSRCs %v, want one marker on one SSRC", c.echoed, c.ssrcs)
	}
}

// VP9 SVC (RFC 9628, three spatial layers): every layer comes back by
// default; "spatial_layer" drops the ones above, with Janus's event.
func TestVP9SVCEcho(t *testing.T) {
	c := newLayerCall(t)
	c.mu.Lock()
	c.markerAt = 3 // after the layer index and TL0PICIDX bytes
	c.mu.Unlock()
	vp9 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}
	track, _ := c.addTrack(vp9)
	c.negotiate(map[string]any{"videocodec": "vp9"})
	seq := uint16(0)
	c.every(20*time.Millisecond, func(n int) error {
		// One picture: three packets, spatial layers 0..2 (L bit, SID in
		// the layer byte), B and E on each, the marker bit on the last;
		// a keyframe every 10 pictures.
		for sid := range 3 {
			b0 := byte(0x20 | 0x08 | 0x04)
			if n%10 != 0 || sid > 0 {
				b0 |= 0x40
			}
			payload := []byte{b0, byte(sid) << 1, 0, byte(sid), 0, 0, 0, 0}
			payload = append(payload, make([]byte, 100*(sid+1))...)
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: sid == 2, SequenceNumber: seq, Timestamp: uint32(n) * 3000}, Payload: payload}
			seq++
			if err := track.WriteRTP(pkt); err != nil {
				return err
			}
		}
		return nil
	})
	c.log.Wait(t, 5*time.Second, "spatial layer 2 of 3 reported", func(e ianua.Event) bool {
		var d map[string]any
		_ = json.Unmarshal(e.Data, &d)
		return layerEvent("spatial_layer", 2)(e) && d["tot_spatial_layers"] == float64(3)
	})
	testpeer.WaitFor(t, 5*time.Second, "every spatial layer echoed", func() bool {
		return c.count(0) > 20 && c.count(1) > 20 && c.count(2) > 20
	})
	mark := c.log.Len()
	if err := c.message(map[string]any{"spatial_layer": 0}, nil); err != nil {
		t.Fatal(err)
	}
	c.log.WaitFrom(t, mark, 5*time.Second, "spatial layer 0 reported", layerEvent("spatial_layer", 0))
	time.Sleep(100 * time.Millisecond)
	l0, l1, l2 := c.count(0), c.count(1), c.count(2)
	testpeer.WaitFor(t, 5*time.Second, "layer 0 echoed", func() bool { return c.count(0) > l0+20 })
	if d1, d2 := c.count(1)-l1, c.count(2)-l2; d1+d2 > 0 {
		t.Errorf("spatial layers 1 and 2 still echoed (%d, %d packets) after spatial_layer 0", d1, d2)
	}
}

// min_delay and max_delay put the playout-delay extension on the echoed
// video, on the plain path (VP8) and through the forwarding engine (VP9),
// and a negative value takes it off.
func TestPlayoutDelay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec webrtc.RTPCodecCapability
		body  map[string]any
		desc  byte // first payload byte: a keyframe start in this codec
	}{
		{"vp8", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, map[string]any{"audio": true}, 0x10},
		{"vp9", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}, map[string]any{"videocodec": "vp9"}, 0x0C},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newLayerCall(t, testpeer.Options{VideoExtensions: []string{playoutdelay.URI}})
			track, tr := c.addTrack(tc.codec)
			answer := c.negotiate(tc.body)
			if !strings.Contains(answer, playoutdelay.URI) {
				t.Fatalf("the answer does not negotiate playout-delay:\n%s", answer)
			}
			c.mu.Lock()
			for _, x := range tr.Receiver().GetParameters().HeaderExtensions {
				if x.URI == playoutdelay.URI {
					c.playoutID = uint8(x.ID)
				}
			}
			c.mu.Unlock()
			c.every(10*time.Millisecond, func(n int) error {
				return track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(n), Timestamp: uint32(n) * 3000}, Payload: []byte{tc.desc, 0x00, 7, 0, 0, 0}})
			})
			playout := func() []byte {
				c.mu.Lock()
				defer c.mu.Unlock()
				return append([]byte(nil), c.playout...)
			}
			testpeer.WaitFor(t, 5*time.Second, "echo", func() bool { return c.count(7) > 10 })
			if got := playout(); len(got) != 0 {
				t.Fatalf("playout delay % x before any was asked for", got)
			}
			if err := c.message(map[string]any{"min_delay": 10, "max_delay": 50}, nil); err != nil {
				t.Fatal(err)
			}
			want := []byte{0x00, 0xA0, 0x32} // 10 and 50, 12 bits each
			testpeer.WaitFor(t, 3*time.Second, "playout delay 10..50 on the echo", func() bool { return string(playout()) == string(want) })
			if err := c.message(map[string]any{"min_delay": 60}, nil); err != nil {
				t.Fatal(err)
			}
			want = []byte{0x03, 0xC0, 0x3C} // 60 raises the maximum to 60
			testpeer.WaitFor(t, 3*time.Second, "playout delay 60..60", func() bool { return string(playout()) == string(want) })
			if err := c.message(map[string]any{"max_delay": -1}, nil); err != nil {
				t.Fatal(err)
			}
			before := c.count(7)
			testpeer.WaitFor(t, 3*time.Second, "no playout delay", func() bool { return c.count(7) > before+10 && len(playout()) == 0 })
			err := c.message(map[string]any{"min_delay": 5000}, nil)
			if code := codeOf(err); code != echotest.ErrorInvalidElement {
				t.Errorf("min_delay 5000: %v, want error %d", err, echotest.ErrorInvalidElement)
			}
		})
	}
}

func codeOf(err error) int {
	var pe *ianua.PluginError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return -1
}

// A client that says its media is end-to-end encrypted (Janus's "e2ee" in
// the offer's JSEP, as janus.js sets it with insertable streams) gets it
// back in the answer and in the admin view, and its media is echoed
// unread; a client that does not say so gets neither.
func TestE2EE(t *testing.T) {
	for _, e2ee := range []bool{true, false} {
		c := newLayerCall(t)
		track, _ := c.addTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000})
		offer, err := c.pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		testpeer.TrickleTo(t, c.pc, c.h)
		mark := c.log.Len()
		if err := c.message(map[string]any{"audio": true, "video": true}, &ianua.JSEP{Type: "offer", SDP: offer.SDP, E2EE: e2ee}); err != nil {
			t.Fatal(err)
		}
		ev := c.log.WaitFrom(t, mark, 5*time.Second, "answer", func(e ianua.Event) bool { return e.JSEP != nil && e.JSEP.Type == "answer" })
		if ev.JSEP.E2EE != e2ee {
			t.Errorf("e2ee %v: answer says e2ee %v", e2ee, ev.JSEP.E2EE)
		}
		if st := c.h.Info().PluginSpecific.(echotest.Status); st.E2EE != e2ee {
			t.Errorf("e2ee %v: status says e2ee %v", e2ee, st.E2EE)
		}
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
			t.Fatal(err)
		}
		testpeer.TrickleFrom(c.log, c.h.ID(), c.pc, c.stop)
		// Payloads the server cannot read (random after the VP8
		// descriptor, as an encrypted frame is) come back all the same.
		c.every(10*time.Millisecond, func(n int) error {
			payload := make([]byte, 120)
			payload[0] = 0x10
			for i := 1; i < len(payload); i++ {
				payload[i] = byte(n*31 + i*7)
			}
			payload[c.markerAt] = 0xE2
			return track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(n), Timestamp: uint32(n) * 3000, Marker: true}, Payload: payload})
		})
		testpeer.WaitFor(t, 10*time.Second, "echo of the encrypted media", func() bool { return c.count(0xE2) > 20 })
	}
}
