package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
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

// synthetic generates the media and hands every packet to its writers: a
// VideoRoom publisher's tracks, or a mountpoint's UDP ports. One goroutine
// (run) owns the packets and calls the writers; the counters and the
// keyframe request are safe from any goroutine.
type synthetic struct {
	specs []layerSpec
	// initVideo, if set, prepares a layer's header once (simulcast: the
	// mid and rid header extensions).
	initVideo  func(layer int, h *rtp.Packet)
	writeVideo func(layer int, p *rtp.Packet) error
	writeAudio func(p *rtp.Packet) error

	wantKey   atomic.Bool
	videoSent atomic.Uint64
	topSent   atomic.Uint64 // video packets of the top layer (the only one without simulcast)
	audioSent atomic.Uint64

	started    bool // run was started (by start, from the owner's goroutine)
	stopOnce   sync.Once
	stop, done chan struct{}
}

func newSynthetic(specs []layerSpec) *synthetic {
	return &synthetic{specs: specs, stop: make(chan struct{}), done: make(chan struct{})}
}

// start sends until stopMedia; the writers must be set.
func (g *synthetic) start() {
	g.started = true
	go g.run()
}

// requestKeyframe makes the next frame a keyframe (if keyframeMinGap has
// passed since the last one).
func (g *synthetic) requestKeyframe() { g.wantKey.Store(true) }

// sent is the packets sent so far: all, and those every subscriber is
// meant to get (audio and the top video layer).
func (g *synthetic) sent() (all, wanted uint64) {
	audio := g.audioSent.Load()
	return g.videoSent.Load() + audio, g.topSent.Load() + audio
}

// run writes the media until stop: a video frame every 1/30 s on each
// layer, an audio packet every 20 ms.
func (g *synthetic) run() {
	defer close(g.done)
	type layerState struct {
		pkt rtp.Packet
		buf []byte
	}
	ls := make([]layerState, len(g.specs))
	for i, spec := range g.specs {
		ls[i].buf = make([]byte, spec.size)
		for j := range ls[i].buf {
			ls[i].buf[j] = byte(j * 7)
		}
		ls[i].pkt.Header = rtp.Header{Version: 2, PayloadType: vp8PT}
		if g.initVideo != nil {
			g.initVideo(i, &ls[i].pkt)
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
		case <-g.stop:
			return
		case <-timer.C:
		}
		now := time.Now()
		for !now.Before(nextAudio) {
			audio.SequenceNumber++
			audio.Timestamp += 960
			if g.writeAudio(&audio) == nil {
				g.audioSent.Add(1)
			}
			nextAudio = nextAudio.Add(audioInterval)
		}
		for !now.Before(nextFrame) {
			key := now.Sub(lastKey) >= keyframeEvery || (g.wantKey.Load() && now.Sub(lastKey) >= keyframeMinGap)
			if key {
				lastKey = now
				g.wantKey.Store(false)
			}
			for i, spec := range g.specs {
				l := &ls[i]
				for k := range spec.packets {
					vp8Descriptor(l.buf, k == 0, key, uint16(frame))
					l.pkt.Payload = l.buf
					l.pkt.SequenceNumber++
					l.pkt.Timestamp = frame * (90000 / frameRate)
					l.pkt.Marker = k == spec.packets-1
					if g.writeVideo(i, &l.pkt) == nil {
						g.videoSent.Add(1)
						if i == len(g.specs)-1 {
							g.topSent.Add(1)
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

// stopMedia stops sending and waits for the last write.
func (g *synthetic) stopMedia() {
	if !g.started {
		return
	}
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.done
}
