package ianua

import (
	"context"
	"encoding/json"

	"github.com/pion/webrtc/v4"
)

// Plugin decides what happens to the media and data of the handles attached
// to it. Like net/http's Handler it is small: a name, and Attach, which
// returns the plugin's state for one handle. What else a plugin may care
// about is expressed by the optional interfaces below, which the core
// checks on the Attachment at run time.
type Plugin interface {
	// Name is the plugin's package name, for example "janus.plugin.echotest".
	Name() string
	// Attach is called once per handle. The returned Attachment receives
	// the handle's messages until the handle is detached.
	Attach(h *Handle) (Attachment, error)
}

// Attachment is a plugin's state for one handle (Janus: the plugin session).
type Attachment interface {
	// HandleMessage handles one message from the client. A remote JSEP in
	// msg has already been applied to the handle's PeerConnection; an
	// offer must be answered with Handle.Answer and the answer pushed with
	// Handle.PushEvent. Messages of one handle are never concurrent.
	//
	// Return a Reply with Data for a synchronous result, or Reply{Async:
	// true} to acknowledge and push the outcome later as an event. An
	// error is returned to the host as it is (wrap the sentinel errors of
	// this package) and, when the message carried a JSEP, the core undoes
	// that JSEP.
	HandleMessage(ctx context.Context, msg Message) (Reply, error)
}

// TrackHandler is implemented by attachments that want remote tracks.
// HandleTrack runs on its own goroutine, owned by the handle, and should
// read the track until it returns an error; the handle waits for it to
// return before it is fully closed.
type TrackHandler interface {
	HandleTrack(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver)
}

// DataHandler is implemented by attachments that want data channel messages.
type DataHandler interface {
	HandleData(msg DataMessage)
}

// DataReadyHandler is told when a data channel opens, ours or the
// client's, so that a plugin can send on it at once (Janus: data_ready).
// It is called from pion's goroutine and must not block.
type DataReadyHandler interface {
	DataReady(label string)
}

// WebRTCUpHandler is told when the PeerConnection is connected: ICE and
// DTLS are up and media may flow (Janus: setup_media).
type WebRTCUpHandler interface {
	WebRTCUp()
}

// MediaHandler is told when a remote stream starts or stops arriving.
type MediaHandler interface {
	MediaState(state MediaState)
}

// SlowLinkHandler is told when many packets are lost on the PeerConnection.
type SlowLinkHandler interface {
	SlowLink(link SlowLink)
}

// HangupHandler is told when the PeerConnection goes away (Janus:
// hangup_media). The handle stays attached and may negotiate again.
type HangupHandler interface {
	HangupMedia(reason string)
}

// DetachHandler is told once, last, when the handle is detached (Janus:
// destroy_session). It must release everything the attachment holds.
type DetachHandler interface {
	Detached()
}

// Querier is implemented by attachments that describe their own state for
// an admin view (Janus: query_session, the "plugin_specific" part of the
// Admin API's handle_info). Query is called from Handle.Info without any
// of the handle's locks and must return quickly; the value is marshalled
// to JSON.
type Querier interface {
	Query() any
}

// DataMessage is one data channel message.
type DataMessage struct {
	Label    string
	Data     []byte
	IsString bool
}

// MediaState says whether a remote stream is arriving.
type MediaState struct {
	MID       string `json:"mid"`
	Kind      string `json:"type"` // "audio" or "video"
	Receiving bool   `json:"receiving"`
}

// SlowLink describes packet loss seen on one stream (m-line) of a
// PeerConnection, in one direction.
type SlowLink struct {
	// MID is the m-line's mid, Kind "audio" or "video" (Janus "media").
	MID  string `json:"mid"`
	Kind string `json:"media"`
	// Uplink is true when the client's packets to us are lost (we NACK
	// them), false when ours to the client are (the client NACKs them).
	// It is seen from the client; Janus's "uplink" is seen from the
	// server, the opposite (package janusapi turns it round).
	Uplink bool `json:"uplink"`
	// Lost is the number of packets asked for retransmission in the last
	// second.
	Lost uint64 `json:"lost"`
}

// AdminHandler is implemented by plugins that take requests outside any
// handle, from an administrator: creating, listing or destroying rooms and
// mountpoints (Janus: a plugin's handle_admin_message, reached with the
// Admin API's message_plugin). body is in the plugin's own message
// language; the reply is synchronous, and an error is a *PluginError
// where the plugin has a code for it.
type AdminHandler interface {
	HandleAdminMessage(ctx context.Context, body json.RawMessage) (json.RawMessage, error)
}

// Closer is implemented by plugins that hold resources of their own
// (sockets, goroutines): MediaRouter.Close calls it after every session is
// gone, so a host closes one thing.
type Closer interface {
	Close(ctx context.Context) error
}

// PeerConfigurer is implemented by attachments that tune the
// PeerConnections the core creates for their handle.
type PeerConfigurer interface {
	PeerConfig() PeerConfig
}

// PeerConfig tunes one handle's PeerConnections.
type PeerConfig struct {
	// NoNACKResponder leaves out pion's NACK responder, which keeps a
	// copy of every packet sent on each stream: set it when the plugin
	// answers NACKs itself, as the forwarding engine does from each
	// source's shared packet cache.
	NoNACKResponder bool
	// BandwidthEstimation runs a send-side bandwidth estimator (Google
	// congestion control over transport-wide-cc feedback,
	// draft-ietf-rmcat-gcc) on the PeerConnection; read it with
	// Handle.BandwidthEstimate. Its pacer sends at once: the forwarding
	// engine adapts by choosing simulcast layers, not by delaying.
	BandwidthEstimation bool
	// InitialBitrate is the estimator's starting point, bits per second
	// (default 1 Mbit/s).
	InitialBitrate int
	// SendOnly says that the PeerConnection sends media and receives
	// none (a subscriber, a viewer): the receive side's interceptors —
	// NACK generator, receiver reports, transport-wide-cc feedback — are
	// left out, and with them a few goroutines and buffers per
	// PeerConnection. Media the client sends anyway is still read, but
	// nothing asks for its losses.
	SendOnly bool
}
