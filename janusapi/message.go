package janusapi

import (
	"encoding/json"

	"github.com/ianua/ianua"
)

// message is one JSON message to a client: a response or an event. Only the
// fields of its kind are set; the names are Janus's.
type message struct {
	Janus       string `json:"janus"`
	SessionID   uint64 `json:"session_id,omitempty"`
	Transaction string `json:"transaction,omitempty"`
	Sender      uint64 `json:"sender,omitempty"`
	// HandleID is in Admin API answers only.
	HandleID uint64 `json:"handle_id,omitempty"`

	Data       any         `json:"data,omitempty"`
	PluginData *pluginData `json:"plugindata,omitempty"`
	JSEP       *ianua.JSEP `json:"jsep,omitempty"`
	Error      *apiError   `json:"error,omitempty"`

	// trickle
	Candidate any `json:"candidate,omitempty"`
	// media, slowlink
	MID       string  `json:"mid,omitempty"`
	Type      string  `json:"type,omitempty"`
	Receiving *bool   `json:"receiving,omitempty"`
	Media     string  `json:"media,omitempty"` // slowlink: "audio" or "video"
	Uplink    *bool   `json:"uplink,omitempty"`
	Lost      *uint64 `json:"lost,omitempty"`
	// hangup
	Reason string `json:"reason,omitempty"`

	// Admin API answers.
	Sessions []uint64 `json:"sessions,omitempty"`
	Handles  []uint64 `json:"handles,omitempty"`
	Info     any      `json:"info,omitempty"`

	// raw, if set, is sent instead of the fields (server_info).
	raw json.RawMessage
}

type pluginData struct {
	Plugin string          `json:"plugin"`
	Data   json.RawMessage `json:"data"`
}

// candidate is a trickled candidate as Janus sends it.
type candidate struct {
	Candidate     string  `json:"candidate,omitempty"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
	Completed     bool    `json:"completed,omitempty"`
}

func (m *message) marshal() []byte {
	if m.raw != nil {
		return m.raw
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Every field marshals; plugin data is checked JSON. Should it
		// ever fail, the client still gets an answer to its transaction.
		b, _ = json.Marshal(&message{Janus: "error", SessionID: m.SessionID, Transaction: m.Transaction,
			Error: &apiError{Code: ErrorUnknown, Reason: "cannot encode the answer: " + err.Error()}})
	}
	return b
}

func errorMessage(session uint64, tx string, e *apiError) *message {
	return &message{Janus: "error", SessionID: session, Transaction: tx, Error: e}
}
