// Package echotest is the EchoTest plugin: every audio and video stream and
// the data channel a client sends come back to it on the same
// PeerConnection. Its message language is Janus EchoTest's (audio, video,
// bitrate, with the same events and error codes), so existing Janus
// clients work unchanged; see Request for the ianua extras.
package echotest

import (
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// Name is the plugin's package name, the one Janus clients attach to.
const Name = "janus.plugin.echotest"

// Plugin is the EchoTest plugin. It has no shared state: each handle gets
// an *Echo.
type Plugin struct{}

// New returns the EchoTest plugin.
func New() *Plugin { return &Plugin{} }

// Name implements ianua.Plugin.
func (*Plugin) Name() string { return Name }

// Attach implements ianua.Plugin.
func (*Plugin) Attach(h *ianua.Handle) (ianua.Attachment, error) {
	return newEcho(h), nil
}

var audioCodecs = map[string]webrtc.RTPCodecCapability{
	"opus": {MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
	"pcmu": {MimeType: webrtc.MimeTypePCMU, ClockRate: 8000},
	"pcma": {MimeType: webrtc.MimeTypePCMA, ClockRate: 8000},
	"g722": {MimeType: webrtc.MimeTypeG722, ClockRate: 8000},
}

var videoCodecs = map[string]webrtc.RTPCodecCapability{
	"vp8":  {MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
	"vp9":  {MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"},
	"h264": {MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
	"av1":  {MimeType: webrtc.MimeTypeAV1, ClockRate: 90000},
}
