package echotest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// echoTrack is the local track of a plain echo. It is pion's
// TrackLocalStaticRTP but for one thing: a packet keeps its payload type
// when the m-line negotiated it. The echo goes back on the m-line it came
// on, whose payload types are the client's own (an answer keeps the
// offer's numbers), so a client that sends RED around Opus (RFC 2198),
// DTMF (RFC 4733), comfort noise or a second codec gets each back as it
// sent it, as from Janus; only a payload type the m-line does not have is
// relabelled with the bound codec's.
type echoTrack struct {
	codec        webrtc.RTPCodecCapability
	id, streamID string

	mu sync.RWMutex
	// One binding: the track is on one transceiver of one PeerConnection.
	bound  bool
	bindID string
	ssrc   uint32
	pt     uint8
	pts    [128]bool // the payload types the m-line negotiated
	w      webrtc.TrackLocalWriter
}

func newEchoTrack(codec webrtc.RTPCodecCapability, id, streamID string) *echoTrack {
	return &echoTrack{codec: codec, id: id, streamID: streamID}
}

// Bind implements webrtc.TrackLocal: the negotiated codec of the track's
// kind with the same name (and fmtp, when one has it too).
func (t *echoTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	params := ctx.CodecParameters()
	match := -1
	for i, c := range params {
		if !strings.EqualFold(c.MimeType, t.codec.MimeType) || c.ClockRate != t.codec.ClockRate {
			continue
		}
		if strings.EqualFold(c.SDPFmtpLine, t.codec.SDPFmtpLine) {
			match = i
			break
		}
		if match < 0 {
			match = i
		}
	}
	if match < 0 {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("echotest: %s not negotiated: %w", t.codec.MimeType, webrtc.ErrUnsupportedCodec)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bound, t.bindID = true, ctx.ID()
	t.ssrc = uint32(ctx.SSRC())
	t.pt = uint8(params[match].PayloadType)
	t.pts = [128]bool{}
	for _, c := range params {
		t.pts[uint8(c.PayloadType)&0x7f] = true
	}
	t.w = ctx.WriteStream()
	return params[match], nil
}

// Unbind implements webrtc.TrackLocal.
func (t *echoTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.bound || t.bindID != ctx.ID() {
		return webrtc.ErrUnbindFailed
	}
	t.bound, t.w = false, nil
	return nil
}

// WriteRTP sends p on the track's SSRC; nothing before the track is
// bound, as pion's tracks do. The lock is not held across the write.
func (t *echoTrack) WriteRTP(p *rtp.Packet) error {
	h := p.Header
	t.mu.RLock()
	bound, w := t.bound, t.w
	h.SSRC = t.ssrc
	if !t.pts[h.PayloadType&0x7f] {
		h.PayloadType = t.pt
	}
	t.mu.RUnlock()
	if !bound {
		return nil
	}
	_, err := w.WriteRTP(&h, p.Payload)
	return err
}

// Codec is the codec the track was made for.
func (t *echoTrack) Codec() webrtc.RTPCodecCapability { return t.codec }

// ID implements webrtc.TrackLocal.
func (t *echoTrack) ID() string { return t.id }

// RID implements webrtc.TrackLocal: the echo is never simulcast.
func (t *echoTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (t *echoTrack) StreamID() string { return t.streamID }

// Kind implements webrtc.TrackLocal.
func (t *echoTrack) Kind() webrtc.RTPCodecType {
	if strings.HasPrefix(strings.ToLower(t.codec.MimeType), "audio/") {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}
