package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The synthetic media, as a browser sends a 30 fps VP8 camera at about
// 1.2 Mbit/s and Opus: 5 packets of 1100 bytes per frame (150 packets/s),
// a keyframe every 2 s or when a receiver asks (PLI/FIR, at most every
// keyframeMinGap), and a 160-byte Opus packet every 20 ms.
const (
	frameRate      = 30
	videoPayload   = 1100
	audioPayload   = 160
	audioInterval  = 20 * time.Millisecond
	keyframeEvery  = 2 * time.Second
	keyframeMinGap = 300 * time.Millisecond
)

// layerSpec is one simulcast layer (or the only video stream): packets per
// frame and payload bytes. Without simulcast only the top one is sent.
type layerSpec struct {
	rid     string
	packets int
	size    int
}

var simulcastLayers = []layerSpec{{"q", 1, 600}, {"h", 2, 900}, {"f", 5, videoPayload}}

// publisher is the one VideoRoom publisher: a Janus API session, a pion
// PeerConnection sending synthetic VP8 and Opus.
type publisher struct {
	jc       *janusConn
	sid, hid uint64
	id       uint64 // participant id, the feed subscribers ask for
	pc       *webrtc.PeerConnection

	audio  *webrtc.TrackLocalStaticRTP
	layers []*webrtc.TrackLocalStaticRTP
	specs  []layerSpec
	simTr  *webrtc.RTPTransceiver
	midID  uint8 // simulcast: the mid and rid header extension ids
	ridID  uint8

	sending    bool // send runs (until stop)
	wantKey    atomic.Bool
	videoSent  atomic.Uint64
	topSent    atomic.Uint64 // video packets of the top layer (the only one without simulcast)
	audioSent  atomic.Uint64
	stopOnce   sync.Once
	stop, done chan struct{}
}

// newPublisher joins room as a publisher, publishes audio and video and
// waits until the server receives media.
func newPublisher(ctx context.Context, api *webrtc.API, url string, room uint64, simulcast bool) (*publisher, error) {
	jc, err := dialJanus(ctx, url, janusProtocol)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p := &publisher{jc: jc, stop: make(chan struct{}), done: make(chan struct{})}
	if err := p.publish(ctx, api, room, simulcast); err != nil {
		p.close()
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p.sending = true
	go p.send()
	return p, nil
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
		p.specs = simulcastLayers[2:]
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
	p.specs = simulcastLayers
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
				p.wantKey.Store(true)
			}
		}
	}
}

// send writes the media until stop: a video frame every 1/30 s on each
// layer, an audio packet every 20 ms.
func (p *publisher) send() {
	defer close(p.done)
	type layerState struct {
		pkt rtp.Packet
		buf []byte
	}
	ls := make([]layerState, len(p.layers))
	for i, spec := range p.specs {
		ls[i].buf = make([]byte, spec.size)
		for j := range ls[i].buf {
			ls[i].buf[j] = byte(j * 7)
		}
		ls[i].pkt.Header = rtp.Header{Version: 2, PayloadType: vp8PT}
		if p.simTr != nil {
			_ = ls[i].pkt.SetExtension(p.midID, []byte(p.simTr.Mid()))
			_ = ls[i].pkt.SetExtension(p.ridID, []byte(spec.rid))
		}
	}
	audio := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: opusPT}, Payload: make([]byte, audioPayload)}
	audio.Payload[0] = 0x78 // Opus TOC: SILK+CELT hybrid, 20 ms; the rest is filler

	frameInterval := time.Second / frameRate
	start := time.Now()
	nextFrame, nextAudio := start, start
	var lastKey time.Time
	var frame uint32
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-timer.C:
		}
		now := time.Now()
		for !now.Before(nextAudio) {
			audio.SequenceNumber++
			audio.Timestamp += 960
			if p.audio.WriteRTP(&audio) == nil {
				p.audioSent.Add(1)
			}
			nextAudio = nextAudio.Add(audioInterval)
		}
		for !now.Before(nextFrame) {
			key := now.Sub(lastKey) >= keyframeEvery || (p.wantKey.Load() && now.Sub(lastKey) >= keyframeMinGap)
			if key {
				lastKey = now
				p.wantKey.Store(false)
			}
			for i, spec := range p.specs {
				l := &ls[i]
				for k := range spec.packets {
					vp8Descriptor(l.buf, k == 0, key, uint16(frame))
					l.pkt.Payload = l.buf
					l.pkt.SequenceNumber++
					l.pkt.Timestamp = frame * (90000 / frameRate)
					l.pkt.Marker = k == spec.packets-1
					if p.layers[i].WriteRTP(&l.pkt) == nil {
						p.videoSent.Add(1)
						if i == len(p.specs)-1 {
							p.topSent.Add(1)
						}
					}
				}
			}
			frame++
			nextFrame = nextFrame.Add(frameInterval)
		}
		next := nextAudio
		if nextFrame.Before(next) {
			next = nextFrame
		}
		timer.Reset(time.Until(next))
	}
}

// vp8Descriptor writes the VP8 payload descriptor (RFC 7741 section 4.2)
// with a 15-bit picture id and, at the start of a frame, the first bytes
// of the VP8 frame header (RFC 6386 section 9.1): the P bit clear for a
// keyframe, then the start code and a 640x360 size.
func vp8Descriptor(b []byte, start, key bool, pictureID uint16) {
	b[0] = 0x80 // X
	if start {
		b[0] |= 0x10 // S, partition 0
	}
	b[1] = 0x80 // I
	b[2] = 0x80 | byte(pictureID>>8)&0x7f
	b[3] = byte(pictureID)
	if !start {
		return
	}
	h := b[4:]
	if key {
		h[0] = 0x10 // show_frame, version 0, P=0
		h[3], h[4], h[5] = 0x9d, 0x01, 0x2a
		h[6], h[7], h[8], h[9] = 0x80, 0x02, 0x68, 0x01
	} else {
		h[0] = 0x11 // P=1: interframe
	}
	h[1], h[2] = 0x40, 0x02
}

// stopMedia stops sending; the session stays up.
func (p *publisher) stopMedia() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

func (p *publisher) close() {
	if p.sending {
		p.stopMedia()
	}
	if p.pc != nil {
		_ = p.pc.Close()
	}
	p.jc.close()
}
