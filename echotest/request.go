package echotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ianua/ianua"
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
	// AudioCodec and VideoCodec pick the codecs of a plugin offer
	// ("opus", "pcmu", "pcma", "g722"; "vp8", "vp9", "h264", "av1").
	AudioCodec string `json:"audiocodec,omitempty"`
	VideoCodec string `json:"videocodec,omitempty"`
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
