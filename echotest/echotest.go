// Package echotest is the EchoTest plugin: every audio and video stream and
// the data channel a client sends come back to it on the same
// PeerConnection. Its message language is Janus EchoTest's (audio, video,
// bitrate, codec choice, simulcast substream and SVC layers, recording,
// with the same events and error codes), so existing Janus clients work
// unchanged; see Request for the ianua extras.
//
// A plain stream is echoed packet by packet, its sequence numbers kept
// contiguous across what a toggle drops. A simulcast stream (RFC 8853) and
// a VP9 or AV1 stream, which may carry SVC, go through the router's
// forwarding engine instead (a Source of the client's stream and a
// Subscription of the same handle), which picks the layer to echo and
// rewrites SSRC, sequence numbers, timestamps and VP8 picture ids across
// switches, as the SFU does for its subscribers.
package echotest

import (
	"os"
	"path/filepath"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// Name is the plugin's package name, the one Janus clients attach to.
const Name = "janus.plugin.echotest"

// Params configure the plugin.
type Params struct {
	// RecordDir is where "record" writes when its filename is not an
	// absolute path (default: "ianua-recordings" in the system temp
	// dir), as for the sfu plugin.
	RecordDir string
}

// Plugin is the EchoTest plugin. It has no shared state: each handle gets
// an *Echo.
type Plugin struct {
	params Params
}

// New returns the EchoTest plugin with default settings.
func New() *Plugin { return NewWithParams(Params{}) }

// NewWithParams returns the EchoTest plugin.
func NewWithParams(p Params) *Plugin {
	if p.RecordDir == "" {
		p.RecordDir = filepath.Join(os.TempDir(), "ianua-recordings")
	}
	return &Plugin{params: p}
}

// Name implements ianua.Plugin.
func (*Plugin) Name() string { return Name }

// Attach implements ianua.Plugin.
func (p *Plugin) Attach(h *ianua.Handle) (ianua.Attachment, error) {
	return newEcho(p, h), nil
}

// audioCodec returns the capability of an audio codec a plugin offer may use.
func audioCodec(name string) (webrtc.RTPCodecCapability, bool) {
	switch name {
	case "opus":
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, true
	case "pcmu":
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, true
	case "pcma":
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, true
	case "g722":
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeG722, ClockRate: 8000}, true
	}
	return webrtc.RTPCodecCapability{}, false
}

// videoCodec returns the capability of a video codec a plugin offer may use.
func videoCodec(name string) (webrtc.RTPCodecCapability, bool) {
	switch name {
	case "vp8":
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, true
	case "vp9":
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}, true
	case "h264":
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, true
	case "av1":
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000}, true
	}
	return webrtc.RTPCodecCapability{}, false
}
