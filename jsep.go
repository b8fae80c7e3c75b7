package ianua

import "github.com/pion/webrtc/v4"

// JSEP is a session description as exchanged with a client (RFC 9429), in
// the JSON shape Janus uses: {"type": "offer", "sdp": "..."}.
type JSEP struct {
	Type string `json:"type"` // "offer" or "answer"
	SDP  string `json:"sdp"`
	// Trickle false means the client will not trickle candidates and
	// wants ours inside the SDP (half trickle). Nil means true.
	Trickle *bool `json:"trickle,omitempty"`
	// E2EE says the media is end-to-end encrypted by the clients
	// (insertable streams, SFrame): the server forwards it but cannot
	// read the payloads. Janus's "e2ee": a plugin takes note of it on an
	// offer and sets it on its answer and on the offers it makes for the
	// same media, so that the other client decrypts.
	E2EE bool `json:"e2ee,omitempty"`
}

func (j *JSEP) sessionDescription() webrtc.SessionDescription {
	return webrtc.SessionDescription{Type: webrtc.NewSDPType(j.Type), SDP: j.SDP}
}

func (j *JSEP) trickle() bool { return j == nil || j.Trickle == nil || *j.Trickle }
