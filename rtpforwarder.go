package ianua

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ianua/ianua/internal/av1dd"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// RTPForwarderParams describes where a source is forwarded as plain RTP
// (or SRTP with a key given out of band, RFC 4568 style), for tools that do
// not speak WebRTC: ffmpeg, GStreamer, another server, a recorder.
type RTPForwarderParams struct {
	// Host and Port are the destination; Host must be an IP address.
	Host string
	Port int
	// SSRC and PayloadType of the forwarded stream; zero: a random SSRC
	// and the source's payload type.
	SSRC        uint32
	PayloadType uint8
	// Layer picks a simulcast layer (0 lowest .. 2 highest); nil: the
	// highest live one, switching as a viewer would.
	Layer *int
	// SRTPKey, if set, is the base64 master key and salt (30 bytes for
	// AES_CM_128) and SRTPTag the authentication tag length, 80 or 32
	// bits (RFC 3711, RFC 4568): the stream is then SRTP.
	SRTPKey string
	SRTPTag int
	// LocalAddr is the local address to send from; default
	// "127.0.0.1:0" when Host is loopback, ":0" otherwise.
	LocalAddr string
	// OnStop, if set, is called once when the forwarder stops because its
	// source went away.
	OnStop func(*RTPForwarder)
	// HeaderExtensions are the RTP header extensions (URI and id) the
	// receiver takes. Of these the forwarder writes the AV1 dependency
	// descriptor, which a receiver of AV1 SVC needs to choose layers (an
	// SFU) or to decode (a browser); none is written without it, as for a
	// plain RTP receiver.
	HeaderExtensions []webrtc.RTPHeaderExtensionParameter
}

// RTPForwarder sends one source to one UDP destination. Keyframes are
// requested when it starts; it stops by itself when the source closes.
type RTPForwarder struct {
	params RTPForwarderParams
	src    *Source
	sub    *Subscription
	conn   *net.UDPConn
	ssrc   uint32
	pt     uint8

	mu      sync.Mutex
	srtp    *srtp.Context
	buf     [1500]byte
	enc     [1600]byte
	closed  bool
	packets atomic.Uint64
}

// Forward starts forwarding the source as RTP to params.Host:Port.
func (s *Source) Forward(params RTPForwarderParams) (*RTPForwarder, error) {
	ip := net.ParseIP(params.Host)
	if ip == nil || params.Port <= 0 || params.Port > 65535 {
		return nil, fmt.Errorf("%w: forward to %q port %d", ErrInvalidElement, params.Host, params.Port)
	}
	f := &RTPForwarder{params: params, src: s, ssrc: params.SSRC, pt: params.PayloadType}
	for f.ssrc == 0 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		f.ssrc = binary.BigEndian.Uint32(b[:])
	}
	codec := s.sourceCodec()
	if f.pt == 0 {
		f.pt = uint8(codec.PayloadType)
	}
	if params.SRTPKey != "" {
		ctx, err := newSRTPContext(params.SRTPKey, params.SRTPTag)
		if err != nil {
			return nil, err
		}
		f.srtp = ctx
	}
	local := params.LocalAddr
	if local == "" {
		local = ":0"
		if ip.IsLoopback() {
			local = "127.0.0.1:0"
		}
	}
	laddr, err := net.ResolveUDPAddr("udp", local)
	if err != nil {
		return nil, fmt.Errorf("%w: local address %q: %v", ErrInvalidElement, local, err)
	}
	conn, err := net.DialUDP("udp", laddr, &net.UDPAddr{IP: ip, Port: params.Port})
	if err != nil {
		return nil, fmt.Errorf("ianua: forwarder socket: %w", err)
	}
	f.conn = conn

	var ddID uint8
	for _, e := range params.HeaderExtensions {
		if e.URI == av1dd.URI && e.ID > 0 && e.ID < 256 {
			ddID = uint8(e.ID)
		}
	}
	sub, err := s.subscribeWriter(s.id+"/rtp", f, f.ssrc, f.pt, codec, params.Layer, f.sourceGone, ddID)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	f.sub = sub
	s.RequestKeyframe(-1)
	return f, nil
}

func newSRTPContext(key string, tag int) (*srtp.Context, error) {
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return nil, fmt.Errorf("%w: SRTP key is not base64: %v", ErrInvalidElement, err)
	}
	profile := srtp.ProtectionProfileAes128CmHmacSha1_80
	if tag == 32 {
		profile = srtp.ProtectionProfileAes128CmHmacSha1_32
	} else if tag != 0 && tag != 80 {
		return nil, fmt.Errorf("%w: SRTP tag length %d (32 or 80)", ErrInvalidElement, tag)
	}
	keyLen, _ := profile.KeyLen()
	saltLen, _ := profile.SaltLen()
	if len(raw) != keyLen+saltLen {
		return nil, fmt.Errorf("%w: SRTP key and salt are %d bytes, want %d", ErrInvalidElement, len(raw), keyLen+saltLen)
	}
	ctx, err := srtp.CreateContext(raw[:keyLen], raw[keyLen:], profile)
	if err != nil {
		return nil, fmt.Errorf("%w: SRTP: %v", ErrInvalidElement, err)
	}
	return ctx, nil
}

// WriteRTP implements webrtc.TrackLocalWriter: the subscription hands it
// each rewritten packet.
func (f *RTPForwarder) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, ErrSourceClosed
	}
	n, err := h.MarshalTo(f.buf[:])
	if err != nil {
		return 0, err
	}
	if n+len(payload) > len(f.buf) {
		return 0, fmt.Errorf("%w: packet of %d bytes", ErrInvalidElement, n+len(payload))
	}
	n += copy(f.buf[n:], payload)
	out := f.buf[:n]
	if f.srtp != nil {
		if out, err = f.srtp.EncryptRTP(f.enc[:0], out, h); err != nil {
			return 0, err
		}
	}
	// A send on a connected UDP socket does not block on the peer.
	if _, err := f.conn.Write(out); err != nil {
		return 0, err
	}
	f.packets.Add(1)
	return len(payload), nil
}

// Write implements webrtc.TrackLocalWriter for raw packets.
func (f *RTPForwarder) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return f.WriteRTP(&p.Header, p.Payload)
}

// Source is the forwarded source.
func (f *RTPForwarder) Source() *Source { return f.src }

// Params returns the forwarder's settings.
func (f *RTPForwarder) Params() RTPForwarderParams { return f.params }

// SSRC and PayloadType are the forwarded stream's.
func (f *RTPForwarder) SSRC() uint32 { return f.ssrc }

// PayloadType is the forwarded stream's payload type.
func (f *RTPForwarder) PayloadType() uint8 { return f.pt }

// SRTP says whether the stream is encrypted.
func (f *RTPForwarder) SRTP() bool { return f.srtp != nil }

// LocalAddr is the address packets are sent from.
func (f *RTPForwarder) LocalAddr() net.Addr { return f.conn.LocalAddr() }

// Packets is the number of packets sent.
func (f *RTPForwarder) Packets() uint64 { return f.packets.Load() }

// SetLayer picks the simulcast layer to forward.
func (f *RTPForwarder) SetLayer(layer int) error { return f.sub.SetLayer(layer) }

// subscribeWriter attaches a writer that is not a PeerConnection (an RTP
// forwarder, a recorder) to the source, through a subscription that is
// bound from the start; onClosed runs when the source goes away.
// ddID, if not 0, is the receiver's id for the AV1 dependency descriptor.
func (s *Source) subscribeWriter(id string, w webrtc.TrackLocalWriter, ssrc uint32, pt uint8, codec webrtc.RTPCodecParameters, layer *int, onClosed func(), ddID uint8) (*Subscription, error) {
	sub := &Subscription{
		params:   SubscribeParams{OnSourceClosed: func(*Subscription) { onClosed() }},
		id:       id,
		streamID: "ianua",
		kind:     s.kind,
		src:      s,
		target:   maxLayers - 1,
		current:  -1,
		temporal: -1,
		// Every SVC layer, as a Subscribe does: a spatial or temporal
		// layer is chosen only when asked for.
		spatial: -1, spatialWant: -1, svcTemporal: -1, svcTemporalWant: -1,
		waitKey: s.kind == webrtc.RTPCodecTypeVideo,
		bound:   true,
		ssrc:    ssrc,
		pt:      pt,
		clock:   codec.ClockRate,
		mime:    strings.ToLower(codec.MimeType),
		writer:  w,
		ddID:    ddID,
	}
	if layer != nil {
		sub.target = min(max(*layer, 0), maxLayers-1)
	}
	if err := s.addSub(sub); err != nil {
		return nil, err
	}
	s.RequestKeyframe(-1)
	return sub, nil
}

// sourceCodec is the codec that arrived, or else the first the publisher
// negotiated.
func (s *Source) sourceCodec() webrtc.RTPCodecParameters { return s.Codec() }

// Stop stops the forwarder and closes its socket.
func (f *RTPForwarder) Stop() {
	f.sub.Close()
	f.mu.Lock()
	already := f.closed
	f.closed = true
	f.mu.Unlock()
	if !already {
		_ = f.conn.Close()
	}
}

func (f *RTPForwarder) sourceGone() {
	f.Stop()
	if f.params.OnStop != nil {
		f.params.OnStop(f)
	}
}

// Retransmit sends again the forwarded packets with these sequence numbers
// (as the forwarder numbered them), from the source's packet cache; those
// no longer cached are skipped. A forwarder reads no RTCP: the receiving
// end asks over its own channel (a cluster relay, over NATS), as a NACK
// would (RFC 4585 section 6.2.1).
func (f *RTPForwarder) Retransmit(seqs ...uint16) {
	for _, seq := range seqs {
		f.sub.retransmit(seq)
	}
}

// Retransmitted is the number of packets sent again by Retransmit.
func (f *RTPForwarder) Retransmitted() uint64 { return f.sub.Retransmitted() }
