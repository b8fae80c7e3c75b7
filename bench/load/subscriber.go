package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// streamCount counts one received RTP stream: packets, and the extended
// highest sequence number (RFC 3550 appendix A.1) to tell how many were
// expected. Readers of the stream write under mu (one goroutine but for
// a moment of two candidate sockets in raw mode); snapshots read the
// atomics.
type streamCount struct {
	mu       sync.Mutex
	received atomic.Uint64
	highest  atomic.Int64 // extended highest sequence number, -1 before the first
	ext      int64        // highest, under mu
}

func (c *streamCount) init() { c.highest.Store(-1); c.ext = -1 }

// packet records one packet's sequence number.
func (c *streamCount) packet(seq uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received.Add(1)
	if c.ext < 0 {
		c.ext = int64(seq)
		c.highest.Store(c.ext)
		return
	}
	if d := int16(seq - uint16(c.ext)); d > 0 {
		c.ext += int64(d)
		c.highest.Store(c.ext)
	}
}

// counts is a snapshot of a stream's counters.
type counts struct{ received, highest int64 }

func (c *streamCount) snapshot() counts {
	return counts{received: int64(c.received.Load()), highest: c.highest.Load()}
}

// subscriber is one lean VideoRoom subscriber or Streaming viewer: its own
// WebSocket and session, as a browser page has, and a receive-only pion
// PeerConnection that counts packets and gaps and does nothing else with
// them.
//
// In raw mode (see rawnet.go) the packets are counted from their clear-text
// RTP header as they leave the socket and never reach pion: no SRTP
// decryption, no interceptors, no track reads.
type subscriber struct {
	jc       *janusConn
	sid, hid uint64
	pc       *webrtc.PeerConnection
	raw      bool
	kinds    atomic.Pointer[[128]webrtc.RTPCodecType] // raw mode: payload type → kind, from the offer

	audio, video streamCount

	joinAt     time.Time
	firstMedia atomic.Int64 // unix ns of the first RTP packet, 0 before
	firstVideo atomic.Int64
	gotMedia   chan struct{}
	mediaOnce  sync.Once
	readers    sync.WaitGroup
}

func newSubscriber(raw bool) *subscriber {
	s := &subscriber{gotMedia: make(chan struct{}), raw: raw}
	s.audio.init()
	s.video.init()
	return s
}

// join attaches to w's plugin, sends w's join request (VideoRoom "join",
// Streaming "watch"), answers the server's offer with w's start request,
// and waits for the first media packet. The setup time runs from the join
// request to that packet. In raw mode the subscriber builds its own API,
// whose sockets count RTP.
func (s *subscriber) join(ctx context.Context, c *clients, url string, w watchSpec, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var err error
	if s.jc, err = dialJanus(ctx, url, janusProtocol); err != nil {
		return err
	}
	if s.sid, err = s.jc.create(ctx); err != nil {
		return err
	}
	hid, events, err := s.jc.attach(ctx, s.sid, w.plugin)
	if err != nil {
		return err
	}
	s.hid = hid
	api := c.sub
	if s.raw {
		if api, err = rawSubscriberAPI(c.ip, s.countRaw); err != nil {
			return err
		}
	}
	if s.pc, err = api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle}); err != nil {
		return err
	}
	s.pc.OnTrack(s.onTrack)

	s.joinAt = time.Now()
	if _, err := s.jc.message(ctx, s.sid, hid, w.join, nil); err != nil {
		return err
	}
	var early []*jcandidate
	offer, err := waitEvent(ctx, events, func(c *jcandidate) { early = append(early, c) }, "the offer",
		func(m *jmsg) bool { return m.JSEP != nil && m.JSEP.Type == webrtc.SDPTypeOffer })
	if err != nil {
		return err
	}
	if s.raw {
		s.kinds.Store(payloadKinds(offer.JSEP.SDP))
	}
	if err := s.pc.SetRemoteDescription(*offer.JSEP); err != nil {
		return err
	}
	for _, c := range early {
		applyCandidate(s.pc, c)
	}
	answer, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	// Loopback host candidates gather at once: send them in the answer.
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(answer); err != nil {
		return err
	}
	<-gathered
	if _, err := s.jc.message(ctx, s.sid, hid, w.start, s.pc.LocalDescription()); err != nil {
		return err
	}
	_ = s.jc.trickleCompleted(ctx, s.sid, hid)
	// Candidates the server trickles from now on (ianua does; Janus puts
	// them in its offer) are applied until the subscriber closes.
	go func() {
		for {
			select {
			case <-s.jc.done:
				return
			case m := <-events:
				if m.Janus == "trickle" && m.Candidate != nil {
					applyCandidate(s.pc, m.Candidate)
				}
			}
		}
	}()
	select {
	case <-s.gotMedia:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no media within %v (ICE %s)", timeout, s.pc.ICEConnectionState())
	}
}

// onTrack reads a track into one reused buffer and counts its packets.
// The RTP header is not parsed beyond the sequence number.
func (s *subscriber) onTrack(track *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	s.readers.Add(1)
	defer s.readers.Done()
	c := &s.audio
	if track.Kind() == webrtc.RTPCodecTypeVideo {
		c = &s.video
	}
	// The receiver's RTCP (sender reports) is read too, as a browser
	// does, so that receiver reports carry LSR/DLSR.
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := rcv.Read(buf); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1500)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		s.count(c, uint16(buf[2])<<8|uint16(buf[3]))
	}
}

// countRaw counts an SRTP packet read from the socket, in raw mode: the
// RTP header (RFC 3711 section 3.1: not encrypted) tells the payload type
// and sequence number.
func (s *subscriber) countRaw(b []byte) {
	kinds := s.kinds.Load()
	if kinds == nil || len(b) < 12 {
		return
	}
	c := &s.audio
	switch kinds[b[1]&0x7f] {
	case webrtc.RTPCodecTypeVideo:
		c = &s.video
	case webrtc.RTPCodecTypeAudio:
	default:
		return
	}
	s.count(c, uint16(b[2])<<8|uint16(b[3]))
}

func (s *subscriber) count(c *streamCount, seq uint16) {
	if s.firstMedia.Load() == 0 && s.firstMedia.CompareAndSwap(0, time.Now().UnixNano()) {
		s.mediaOnce.Do(func() { close(s.gotMedia) })
	}
	if c == &s.video && s.firstVideo.Load() == 0 {
		s.firstVideo.CompareAndSwap(0, time.Now().UnixNano())
	}
	c.packet(seq)
}

// setup returns the times from join to the first packet and to the first
// video packet (0 if none came).
func (s *subscriber) setup() (media, video time.Duration) {
	if t := s.firstMedia.Load(); t != 0 {
		media = time.Unix(0, t).Sub(s.joinAt)
	}
	if t := s.firstVideo.Load(); t != 0 {
		video = time.Unix(0, t).Sub(s.joinAt)
	}
	return media, video
}

// srtpCipher is the negotiated SRTP protection profile.
func (s *subscriber) srtpCipher() string {
	if s.pc == nil {
		return ""
	}
	for _, st := range s.pc.GetStats() {
		if t, ok := st.(webrtc.TransportStats); ok && t.SRTPCipher != "" {
			return t.SRTPCipher
		}
	}
	return ""
}

// close destroys the session (the server closes its side) and then the
// PeerConnection.
func (s *subscriber) close() {
	if s.jc != nil {
		s.jc.close()
	}
	if s.pc != nil {
		_ = s.pc.Close()
	}
	s.readers.Wait()
}
