package ianua

import (
	"encoding/json"
	"time"

	"github.com/pion/webrtc/v4"
)

// EventType says what an Event is about.
type EventType int

// Event types. The first group is what a session delivers to its host, to
// be relayed to the client (Janus: event, trickle, webrtcup, media,
// slowlink, hangup, detached, timeout). The second group is only seen by an
// Observer.
const (
	// EventPlugin is an event pushed by the plugin: Data, maybe JSEP.
	EventPlugin EventType = iota + 1
	// EventTrickle carries a local ICE candidate, or Completed.
	EventTrickle
	// EventWebRTCUp: the PeerConnection is connected (ICE + DTLS).
	EventWebRTCUp
	// EventMedia: a remote stream started or stopped arriving (Media).
	EventMedia
	// EventSlowLink: many packets lost (SlowLink).
	EventSlowLink
	// EventHangup: the PeerConnection went away (Reason).
	EventHangup
	// EventDetached: the handle was detached.
	EventDetached
	// EventTimeout: the session timed out and was destroyed. It is the
	// last event of that session.
	EventTimeout
	// EventDestroyed: the session was destroyed. It is the last event of
	// that session.
	EventDestroyed

	// EventSessionCreated and EventAttached: lifecycle, for observers.
	EventSessionCreated
	EventAttached
	// EventLocalJSEP and EventRemoteJSEP: a description was applied.
	EventLocalJSEP
	EventRemoteJSEP
	// EventICEState: the ICE connection state changed (State).
	EventICEState
	// EventDTLSState: the DTLS transport state changed (State).
	EventDTLSState
	// EventConnectionState: the PeerConnection state changed (State).
	EventConnectionState
)

// String returns the Janus name of the event ("event", "trickle", ...).
func (t EventType) String() string {
	switch t {
	case EventPlugin:
		return "event"
	case EventTrickle:
		return "trickle"
	case EventWebRTCUp:
		return "webrtcup"
	case EventMedia:
		return "media"
	case EventSlowLink:
		return "slowlink"
	case EventHangup:
		return "hangup"
	case EventDetached:
		return "detached"
	case EventTimeout:
		return "timeout"
	case EventDestroyed:
		return "destroyed"
	case EventSessionCreated:
		return "created"
	case EventAttached:
		return "attached"
	case EventLocalJSEP:
		return "local-jsep"
	case EventRemoteJSEP:
		return "remote-jsep"
	case EventICEState:
		return "ice-state"
	case EventDTLSState:
		return "dtls-state"
	case EventConnectionState:
		return "connection-state"
	}
	return "unknown"
}

// MarshalText makes event types readable in JSON.
func (t EventType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Event is one thing a session tells its host. Only the fields its Type
// names are set. It is plain data: a host can marshal it as it is or map it
// to its own protocol.
type Event struct {
	Type      EventType `json:"type"`
	Time      time.Time `json:"time"`
	SessionID uint64    `json:"session_id"`
	HandleID  uint64    `json:"handle_id,omitempty"`
	Plugin    string    `json:"plugin,omitempty"`
	// Transaction is the one of the message that caused a plugin event.
	Transaction string `json:"transaction,omitempty"`

	Data json.RawMessage `json:"data,omitempty"`
	JSEP *JSEP           `json:"jsep,omitempty"`

	// Candidate is a local ICE candidate; nil with Completed set at the
	// end of gathering.
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Completed bool                     `json:"completed,omitempty"`

	Media    *MediaState `json:"media,omitempty"`
	SlowLink *SlowLink   `json:"slowlink,omitempty"`

	// Reason explains a hangup or a detach.
	Reason string `json:"reason,omitempty"`
	// State is the new ICE, DTLS or PeerConnection state.
	State string `json:"state,omitempty"`
}
