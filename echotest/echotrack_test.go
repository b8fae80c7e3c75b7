package echotest

import (
	"errors"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// bindCtx is a TrackLocalContext with Opus, RED and telephone-event
// negotiated, recording what is written.
type bindCtx struct {
	written []rtp.Header
}

func (*bindCtx) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}, PayloadType: 63},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 48000, SDPFmtpLine: "0-16"}, PayloadType: 110},
	}
}
func (*bindCtx) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (*bindCtx) SSRC() webrtc.SSRC                                      { return 4242 }
func (*bindCtx) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (*bindCtx) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c *bindCtx) WriteStream() webrtc.TrackLocalWriter                 { return c }
func (*bindCtx) ID() string                                             { return "b1" }
func (*bindCtx) RTCPReader() interceptor.RTCPReader                     { return nil }
func (c *bindCtx) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	c.written = append(c.written, *h)
	return 1, nil
}
func (*bindCtx) Write([]byte) (int, error) { return 0, nil }

// The echo keeps each packet's payload type when the m-line has it (RED,
// DTMF, the codec itself), relabels any other with the bound codec's, and
// always sends on its own SSRC; before Bind and after Unbind it sends
// nothing.
func TestEchoTrackPayloadTypes(t *testing.T) {
	tr := newEchoTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "echo-0", "s")
	ctx := &bindCtx{}
	if err := tr.WriteRTP(&rtp.Packet{Header: rtp.Header{PayloadType: 111}}); err != nil || len(ctx.written) != 0 {
		t.Fatalf("write before bind: %v", err)
	}
	codec, err := tr.Bind(ctx)
	if err != nil || codec.PayloadType != 111 {
		t.Fatalf("bind: %v, %+v; want Opus 111", err, codec)
	}
	for _, in := range []uint8{111, 63, 110, 99} {
		if err := tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: in, SSRC: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	want := []uint8{111, 63, 110, 111}
	if len(ctx.written) != len(want) {
		t.Fatalf("%d packets written, want %d", len(ctx.written), len(want))
	}
	for i, h := range ctx.written {
		if h.PayloadType != want[i] || h.SSRC != 4242 {
			t.Errorf("packet %d: pt %d ssrc %d, want pt %d ssrc 4242", i, h.PayloadType, h.SSRC, want[i])
		}
	}
	if err := tr.Unbind(ctx); err != nil {
		t.Fatal(err)
	}
	_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{PayloadType: 111}})
	if len(ctx.written) != len(want) {
		t.Error("written after unbind")
	}
	if err := tr.Unbind(ctx); !errors.Is(err, webrtc.ErrUnbindFailed) {
		t.Errorf("second unbind: %v", err)
	}
	vp9 := newEchoTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}, "v", "s")
	if _, err := vp9.Bind(ctx); !errors.Is(err, webrtc.ErrUnsupportedCodec) {
		t.Errorf("bind of a codec not negotiated: %v", err)
	}
}
