package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// publisher is the one VideoRoom publisher: a Janus API session, a pion
// PeerConnection sending the synthetic VP8 and Opus.
type publisher struct {
	*synthetic
	room     uint64
	jc       *janusConn
	sid, hid uint64
	id       uint64 // participant id, the feed subscribers ask for
	pc       *webrtc.PeerConnection

	audio  *webrtc.TrackLocalStaticRTP
	layers []*webrtc.TrackLocalStaticRTP
	simTr  *webrtc.RTPTransceiver
	midID  uint8 // simulcast: the mid and rid header extension ids
	ridID  uint8
}

// newPublisher joins room as a publisher, publishes audio and video and
// waits until the server receives media.
func newPublisher(ctx context.Context, api *webrtc.API, url string, room uint64, simulcast bool) (*publisher, error) {
	jc, err := dialJanus(ctx, url, janusProtocol)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	specs := simulcastLayers[2:]
	if simulcast {
		specs = simulcastLayers
	}
	p := &publisher{synthetic: newSynthetic(specs), room: room, jc: jc}
	if err := p.publish(ctx, api, room, simulcast); err != nil {
		p.close()
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p.writeAudio = p.audio.WriteRTP
	p.writeVideo = func(i int, pkt *rtp.Packet) error { return p.layers[i].WriteRTP(pkt) }
	if simulcast {
		p.initVideo = func(i int, pkt *rtp.Packet) {
			_ = pkt.SetExtension(p.midID, []byte(p.simTr.Mid()))
			_ = pkt.SetExtension(p.ridID, []byte(p.specs[i].rid))
		}
	}
	p.start()
	return p, nil
}

// watch implements source: a VideoRoom subscriber joins with the feed and
// starts with the answer.
func (p *publisher) watch() watchSpec {
	return watchSpec{
		plugin: "janus.plugin.videoroom",
		join:   map[string]any{"request": "join", "ptype": "subscriber", "room": p.room, "streams": []map[string]any{{"feed": p.id}}},
		start:  map[string]any{"request": "start", "room": p.room},
	}
}

func (p *publisher) publish(ctx context.Context, api *webrtc.API, room uint64, simulcast bool) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var err error
	if p.sid, err = p.jc.create(ctx); err != nil {
		return err
	}
	hid, events, err := p.jc.attach(ctx, p.sid, "janus.plugin.videoroom")
	if err != nil {
		return err
	}
	p.hid = hid
	if _, err := p.jc.message(ctx, p.sid, hid, map[string]any{"request": "join", "ptype": "publisher", "room": room, "display": "bench"}, nil); err != nil {
		return err
	}
	joined, err := waitEvent(ctx, events, nil, "joined", func(m *jmsg) bool { return m.plugin()["videoroom"] == "joined" })
	if err != nil {
		return err
	}
	id, _ := joined.plugin()["id"].(float64)
	p.id = uint64(id)

	if p.pc, err = api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle}); err != nil {
		return err
	}
	if err := p.addTracks(simulcast); err != nil {
		return err
	}
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	// Simulcast encodings are declared low to high (q, h, f); Janus
	// assumes high to low unless told (its JSEP "rid_order"; ianua orders
	// by the names and ignores it).
	var extra []string
	if simulcast {
		extra = []string{"rid_order", "lmh"}
	}
	if _, err := p.jc.message(ctx, p.sid, hid, map[string]any{"request": "publish", "audio": true, "video": true}, p.pc.LocalDescription(), extra...); err != nil {
		return err
	}
	var early []*jcandidate
	answer, err := waitEvent(ctx, events, func(c *jcandidate) { early = append(early, c) }, "publish answer",
		func(m *jmsg) bool { return m.JSEP != nil && m.JSEP.Type == webrtc.SDPTypeAnswer })
	if err != nil {
		return err
	}
	if err := p.pc.SetRemoteDescription(*answer.JSEP); err != nil {
		return err
	}
	for _, c := range early {
		applyCandidate(p.pc, c)
	}
	_ = p.jc.trickleCompleted(ctx, p.sid, hid)
	if _, err := waitEvent(ctx, events, func(c *jcandidate) { applyCandidate(p.pc, c) }, "publisher webrtcup",
		func(m *jmsg) bool { return m.Janus == "webrtcup" }); err != nil {
		return err
	}
	if simulcast {
		for _, e := range p.simTr.Sender().GetParameters().HeaderExtensions {
			switch e.URI {
			case "urn:ietf:params:rtp-hdrext:sdes:mid":
				p.midID = uint8(e.ID)
			case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
				p.ridID = uint8(e.ID)
			}
		}
	}
	return nil
}

func (p *publisher) addTracks(simulcast bool) error {
	var err error
	p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "bench")
	if err != nil {
		return err
	}
	atr, err := p.pc.AddTransceiverFromTrack(p.audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	go p.readRTCP(func() ([]rtcp.Packet, error) { pkts, _, err := atr.Sender().ReadRTCP(); return pkts, err })

	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	if !simulcast {
		track, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "bench")
		if err != nil {
			return err
		}
		p.layers = []*webrtc.TrackLocalStaticRTP{track}
		vtr, err := p.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		go p.readRTCP(func() ([]rtcp.Packet, error) { pkts, _, err := vtr.Sender().ReadRTCP(); return pkts, err })
		return nil
	}
	// Simulcast (RFC 8853): one transceiver, three encodings by rid.
	for _, l := range p.specs {
		track, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "bench", webrtc.WithRTPStreamID(l.rid))
		if err != nil {
			return err
		}
		p.layers = append(p.layers, track)
	}
	p.simTr, err = p.pc.AddTransceiverFromTrack(p.layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	for _, l := range p.layers[1:] {
		if err := p.simTr.Sender().AddEncoding(l); err != nil {
			return err
		}
	}
	for _, l := range p.specs {
		sender := p.simTr.Sender()
		go p.readRTCP(func() ([]rtcp.Packet, error) { pkts, _, err := sender.ReadSimulcastRTCP(l.rid); return pkts, err })
	}
	return nil
}

// readRTCP reads a sender's RTCP (pion's NACK responder and reports need
// it read) and turns keyframe requests into a keyframe.
func (p *publisher) readRTCP(read func() ([]rtcp.Packet, error)) {
	for {
		pkts, err := read()
		if err != nil {
			return
		}
		for _, pk := range pkts {
			switch pk.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.requestKeyframe()
			}
		}
	}
}

// close stops the media and leaves (the session is destroyed).
func (p *publisher) close() {
	p.stopMedia()
	if p.pc != nil {
		_ = p.pc.Close()
	}
	p.jc.close()
}

func (p *publisher) String() string { return fmt.Sprintf("publisher %d in room %d", p.id, p.room) }
