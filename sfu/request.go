package sfu

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/ianua/ianua"
)

// request is the union of the fields of the Janus VideoRoom requests the
// plugin supports; each handler reads the ones it needs.
type request struct {
	Request string `json:"request"`

	Room        *uint64 `json:"room,omitempty"`
	ID          *uint64 `json:"id,omitempty"`
	PType       string  `json:"ptype,omitempty"`
	Display     *string `json:"display,omitempty"`
	PIN         string  `json:"pin,omitempty"`
	Secret      string  `json:"secret,omitempty"`
	Token       string  `json:"token,omitempty"`
	PrivateID   *uint64 `json:"private_id,omitempty"`
	Permanent   bool    `json:"permanent,omitempty"`
	AdminKey    string  `json:"admin_key,omitempty"`
	Description string  `json:"description,omitempty"`

	// create / edit
	RoomParams
	NewDescription *string `json:"new_description,omitempty"`
	NewSecret      *string `json:"new_secret,omitempty"`
	NewPIN         *string `json:"new_pin,omitempty"`
	NewIsPrivate   *bool   `json:"new_is_private,omitempty"`
	NewRequirePvt  *bool   `json:"new_require_pvtid,omitempty"`
	NewBitrate     *uint32 `json:"new_bitrate,omitempty"`
	NewPublishers  *int    `json:"new_publishers,omitempty"`

	// publish / configure
	BitrateReq   *uint32       `json:"-"`
	Keyframe     bool          `json:"keyframe,omitempty"`
	RecordReq    *bool         `json:"-"`
	Filename     string        `json:"filename,omitempty"`
	MID          string        `json:"mid,omitempty"`
	Send         *bool         `json:"send,omitempty"`
	Mute         *bool         `json:"mute,omitempty"`
	Descriptions []description `json:"descriptions,omitempty"`
	Restart      bool          `json:"restart,omitempty"`
	Update       bool          `json:"update,omitempty"`
	Audio        *bool         `json:"audio,omitempty"`
	Video        *bool         `json:"video,omitempty"`
	Data         *bool         `json:"data,omitempty"`

	// subscriber
	Streams     []streamRef `json:"streams,omitempty"`
	Feed        *uint64     `json:"feed,omitempty"`
	Subscribe   []streamRef `json:"subscribe,omitempty"`
	Unsubscribe []streamRef `json:"unsubscribe,omitempty"`
	Substream   *int        `json:"substream,omitempty"`
	Temporal    *int        `json:"temporal,omitempty"`
	// VP9 and AV1 SVC (Janus: spatial_layer, temporal_layer).
	Spatial       *int `json:"spatial_layer,omitempty"`
	TemporalLayer *int `json:"temporal_layer,omitempty"`
	// Playout delay asked of the subscriber's receiver, 10 ms units.
	MinDelay *int `json:"min_delay,omitempty"`
	MaxDelay *int `json:"max_delay,omitempty"`

	// rtp_forward
	PublisherID *uint64 `json:"publisher_id,omitempty"`
	Host        string  `json:"host,omitempty"`
	StreamID    *uint64 `json:"stream_id,omitempty"`
	SRTPSuite   int     `json:"srtp_suite,omitempty"`
	SRTPCrypto  string  `json:"srtp_crypto,omitempty"`
}

// description names a published stream ("My front webcam").
type description struct {
	MID         string `json:"mid"`
	Description string `json:"description"`
}

// streamRef addresses a stream: a publisher's (feed + mid) or a
// subscription's own (sub_mid).
type streamRef struct {
	Feed      *uint64 `json:"feed,omitempty"`
	MID       string  `json:"mid,omitempty"`
	SubMID    string  `json:"sub_mid,omitempty"`
	Substream *int    `json:"substream,omitempty"`
	Temporal  *int    `json:"temporal,omitempty"`
	// A subscriber's configure: per stream, as its top-level fields.
	Send          *bool `json:"send,omitempty"`
	Spatial       *int  `json:"spatial_layer,omitempty"`
	TemporalLayer *int  `json:"temporal_layer,omitempty"`
	// MinDelay and MaxDelay set the playout-delay extension on a video
	// stream (units of 10 ms, 0..4095; a negative value stops it), as in
	// Janus.
	MinDelay *int `json:"min_delay,omitempty"`
	MaxDelay *int `json:"max_delay,omitempty"`
	// rtp_forward stream fields
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	SSRC uint32 `json:"ssrc,omitempty"`
	PT   uint8  `json:"pt,omitempty"`
}

// parseRequest decodes a message body; errors carry Janus VideoRoom codes.
func parseRequest(body json.RawMessage) (request, error) {
	var req request
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return req, perr(ErrorNoMessage, ianua.ErrMalformedBody, "No message??")
	}
	if trimmed[0] != '{' {
		return req, perr(ErrorInvalidJSON, ianua.ErrMalformedBody, "JSON error: not an object")
	}
	if err := json.Unmarshal(trimmed, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return req, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element type (%s should be %s)", typeErr.Field, typeErr.Type)
		}
		return req, perr(ErrorInvalidJSON, ianua.ErrMalformedBody, "JSON error: %v", err)
	}
	if req.Request == "" {
		return req, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (request)")
	}
	// "record" too is a room setting and a publisher request.
	if bytes.Contains(trimmed, []byte(`"record"`)) {
		r := req.RoomParams.Record
		req.RecordReq = &r
	}
	// "bitrate" is both a room setting (create) and a publisher cap
	// (configure): keep both readings.
	if req.RoomParams.Bitrate != 0 {
		b := req.RoomParams.Bitrate
		req.BitrateReq = &b
	}
	return req, nil
}

func (r *request) room() (uint64, error) {
	if r.Room == nil {
		return 0, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (room)")
	}
	return *r.Room, nil
}
