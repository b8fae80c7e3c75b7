package echotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/playoutdelay"
)

// Error codes of Janus EchoTest, so existing clients read them unchanged.
const (
	ErrorNoMessage      = 411
	ErrorInvalidJSON    = 412
	ErrorInvalidElement = 413
	ErrorInvalidSDP     = 414
)

// Request is the EchoTest message language. Every field is optional.
// Audio, Video and Bitrate are Janus EchoTest's; the rest are ianua extras.
type Request struct {
	// Audio and Video switch the echo of that kind on or off.
	Audio *bool `json:"audio,omitempty"`
	Video *bool `json:"video,omitempty"`
	// Bitrate caps the client's video send rate, in bits per second, with
	// REMB (0: no cap).
	Bitrate *uint32 `json:"bitrate,omitempty"`

	// Record starts (true) or stops (false) recording what the client
	// sends, one file per stream: Filename + "-audio-<mid>.ogg", or
	// "-video-<mid>.ivf" / ".h264". Filename is a base path, relative to
	// the plugin's RecordDir unless absolute (default
	// "echotest-<handle id>-<unix time>"). Janus writes .mjr files
	// instead.
	Record   *bool  `json:"record,omitempty"`
	Filename string `json:"filename,omitempty"`

	// Keyframe asks the client for a keyframe now (PLI).
	Keyframe bool `json:"keyframe,omitempty"`

	// Request "offer" makes the plugin offer (the client answers): with
	// AudioStreams audio and VideoStreams video sendrecv streams in all
	// (default 1 and 1) and a data channel unless Data is false. Sent
	// again it renegotiates (adding streams); Restart asks for an ICE
	// restart. Request "configure" (or none) is the Janus behaviour.
	Request      string `json:"request,omitempty"`
	AudioStreams *int   `json:"audio_streams,omitempty"`
	VideoStreams *int   `json:"video_streams,omitempty"`
	Data         *bool  `json:"data,omitempty"`
	Restart      bool   `json:"restart,omitempty"`
	// AudioCodec and VideoCodec pick the codec of each new m-line ("opus",
	// "pcmu", "pcma", "g722"; "vp8", "vp9", "h264", "av1"): the one the
	// answer keeps when the client offers (an m-line that does not offer
	// it gets no echo, as Janus rejects it), or the one a plugin offer
	// uses. VideoProfile narrows the video codec to a VP9 profile-id
	// ("0", "2") or an H.264 profile-level-id ("42e01f").
	AudioCodec   string `json:"audiocodec,omitempty"`
	VideoCodec   string `json:"videocodec,omitempty"`
	VideoProfile string `json:"videoprofile,omitempty"`

	// Substream (0 lowest .. 2 highest) and Temporal (0..2) choose the
	// simulcast layer echoed back, as in Janus; the default is the
	// highest. SpatialLayer and TemporalLayer do the same for VP9 and AV1
	// SVC. Fallback is Janus's time in microseconds before a substream
	// that stopped is given up; ianua falls back to the next live layer
	// by itself and only reports the value.
	Substream     *int `json:"substream,omitempty"`
	Temporal      *int `json:"temporal,omitempty"`
	SpatialLayer  *int `json:"spatial_layer,omitempty"`
	TemporalLayer *int `json:"temporal_layer,omitempty"`
	Fallback      *int `json:"fallback,omitempty"`

	// MinDelay and MaxDelay ask the client to hold the echoed video
	// that long before rendering, in units of 10 ms, with the
	// playout-delay header extension (0..4095; a negative value stops
	// it), as in Janus.
	MinDelay *int `json:"min_delay,omitempty"`
	MaxDelay *int `json:"max_delay,omitempty"`
	// OpusRED with the client's offer prefers RED around Opus (RFC 2198)
	// in the answer when the client offered it, so that the audio goes
	// both ways with redundancy, as Janus does.
	OpusRED *bool `json:"opusred,omitempty"`
}

// hasAttributes says whether req asks for anything: Janus answers a
// message that asks for nothing, and carries no SDP, with an error.
func (req Request) hasAttributes() bool {
	return req.Audio != nil || req.Video != nil || req.Bitrate != nil || req.Record != nil ||
		req.Keyframe || req.Request != "" || req.VideoCodec != "" || req.VideoProfile != "" ||
		req.AudioCodec != "" || req.Substream != nil || req.Temporal != nil ||
		req.SpatialLayer != nil || req.TemporalLayer != nil || req.Fallback != nil ||
		req.OpusRED != nil || req.MinDelay != nil || req.MaxDelay != nil
}

// maxStreams bounds the streams of a plugin offer.
const maxStreams = 16

func pluginError(code int, sentinel error, format string, args ...any) error {
	return &ianua.PluginError{Code: code, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// ParseRequest decodes and validates a message body. It returns a
// *ianua.PluginError with a Janus EchoTest code on bad input.
func ParseRequest(body json.RawMessage) (Request, error) {
	var req Request
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return req, pluginError(ErrorNoMessage, ianua.ErrMalformedBody, "No message")
	}
	if trimmed[0] != '{' {
		return req, pluginError(ErrorInvalidJSON, ianua.ErrMalformedBody, "JSON error: not an object")
	}
	if err := json.Unmarshal(trimmed, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return req, pluginError(ErrorInvalidElement, ianua.ErrInvalidElement,
				"Invalid element type (%s should be %s)", typeErr.Field, typeErr.Type)
		}
		return req, pluginError(ErrorInvalidJSON, ianua.ErrMalformedBody, "JSON error: %v", err)
	}
	switch req.Request {
	case "", "configure", "offer":
	default:
		return req, pluginError(ErrorInvalidElement, ianua.ErrUnknownRequest, "Unknown request '%s'", req.Request)
	}
	for name, n := range map[string]*int{"audio_streams": req.AudioStreams, "video_streams": req.VideoStreams} {
		if n != nil && (*n < 0 || *n > maxStreams) {
			return req, pluginError(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (%s should be 0..%d)", name, maxStreams)
		}
	}
	for _, l := range []struct {
		name string
		n    *int
	}{{"substream", req.Substream}, {"temporal", req.Temporal}, {"spatial_layer", req.SpatialLayer}, {"temporal_layer", req.TemporalLayer}} {
		if l.n != nil && (*l.n < 0 || *l.n > 2) {
			return req, pluginError(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid value (%s should be 0, 1 or 2)", l.name)
		}
	}
	for _, d := range []*int{req.MinDelay, req.MaxDelay} {
		if d != nil && *d > playoutdelay.Max {
			return req, pluginError(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (min_delay and max_delay should be at most %d)", playoutdelay.Max)
		}
	}
	if req.Fallback != nil && *req.Fallback < 0 {
		return req, pluginError(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (fallback should be a positive integer)")
	}
	if req.AudioCodec != "" {
		if _, ok := audioCodec(req.AudioCodec); !ok {
			return req, pluginError(ErrorInvalidElement, ianua.ErrInvalidElement, "Unsupported audio codec '%s'", req.AudioCodec)
		}
	}
	if req.VideoCodec != "" {
		if _, ok := videoCodec(req.VideoCodec); !ok {
			return req, pluginError(ErrorInvalidElement, ianua.ErrInvalidElement, "Unsupported video codec '%s'", req.VideoCodec)
		}
	}
	return req, nil
}
