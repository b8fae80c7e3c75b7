package sipgw

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// relayTrack is the local track that carries the SIP peer's packets to the
// browser, one for audio and one for video. Unlike
// webrtc.TrackLocalStaticRTP, which stamps every packet with its one
// codec's payload type, it keeps the codec of each packet: the media codec
// and telephone-event share the audio stream (RFC 4733 section 2.1) and
// each needs its own negotiated payload type.
type relayTrack struct {
	id, streamID string
	kind         webrtc.RTPCodecType
	// want is the codecs the track may carry; Bind takes the first
	// negotiated one of them as the track's codec.
	want []codec

	// bindings is copy-on-write: Bind and Unbind rebuild it under mu,
	// write loads it and sends without a lock.
	mu       sync.Mutex
	bindings atomic.Pointer[[]relayBinding]
}

type relayBinding struct {
	id     string
	ssrc   webrtc.SSRC
	pts    map[codecKey]uint8 // negotiated payload type per codec
	stream webrtc.TrackLocalWriter
}

type codecKey struct {
	name  string
	clock uint32
}

func keyOf(c codec) codecKey { return codecKey{c.Name, c.Clock} }

func newRelayTrack(kind webrtc.RTPCodecType, want []codec, id, streamID string) *relayTrack {
	return &relayTrack{id: id, streamID: streamID, kind: kind, want: want}
}

// Bind implements webrtc.TrackLocal.
func (t *relayTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var chosen *webrtc.RTPCodecParameters
	pts := map[codecKey]uint8{}
	for _, p := range ctx.CodecParameters() {
		c := codecOf(p)
		if _, ok := pts[keyOf(c)]; !ok {
			pts[keyOf(c)] = uint8(p.PayloadType)
		}
		if chosen == nil && !c.isDTMF() {
			if _, ok := findCodec(t.want, c); ok {
				chosen = &p
			}
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	// The chosen format's payload type, should several share its name
	// (H.264 profiles).
	pts[keyOf(codecOf(*chosen))] = uint8(chosen.PayloadType)
	t.mu.Lock()
	next := append(t.current(), relayBinding{id: ctx.ID(), ssrc: ctx.SSRC(), pts: pts, stream: ctx.WriteStream()})
	t.bindings.Store(&next)
	t.mu.Unlock()
	return *chosen, nil
}

// Unbind implements webrtc.TrackLocal.
func (t *relayTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.current()
	for i, b := range cur {
		if b.id == ctx.ID() {
			next := append(cur[:i:i], cur[i+1:]...)
			t.bindings.Store(&next)
			return nil
		}
	}
	return webrtc.ErrUnbindFailed
}

// current returns a copy of the bindings, to be modified and stored.
func (t *relayTrack) current() []relayBinding {
	if p := t.bindings.Load(); p != nil {
		return append([]relayBinding(nil), (*p)...)
	}
	return nil
}

// ID implements webrtc.TrackLocal.
func (t *relayTrack) ID() string { return t.id }

// RID implements webrtc.TrackLocal.
func (t *relayTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (t *relayTrack) StreamID() string { return t.streamID }

// Kind implements webrtc.TrackLocal.
func (t *relayTrack) Kind() webrtc.RTPCodecType { return t.kind }

// write sends pkt, a packet of codec c, with the payload type the browser
// negotiated for c; packets of a codec it did not negotiate are dropped.
// It rewrites pkt's SSRC and payload type.
func (t *relayTrack) write(pkt *rtp.Packet, c codecKey) {
	p := t.bindings.Load()
	if p == nil {
		return
	}
	for _, b := range *p {
		pt, ok := b.pts[c]
		if !ok {
			continue
		}
		pkt.SSRC = uint32(b.ssrc)
		pkt.PayloadType = pt
		_, _ = b.stream.WriteRTP(&pkt.Header, pkt.Payload)
	}
}

// codecOf reads a pion codec as one of ours.
func codecOf(p webrtc.RTPCodecParameters) codec {
	name := strings.ToLower(p.MimeType)
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	ch := p.Channels
	if ch == 0 {
		ch = 1
	}
	return codec{Name: name, PT: uint8(p.PayloadType), Clock: p.ClockRate, Channels: ch, Fmtp: p.SDPFmtpLine}
}
