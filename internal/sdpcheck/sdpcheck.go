// Package sdpcheck validates a remote session description before it reaches
// a PeerConnection, so that bad input is refused without changing any state.
//
// It imports nothing of ianua's.
package sdpcheck

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

var (
	// ErrSyntax means the description does not parse (RFC 8866).
	ErrSyntax = errors.New("sdp: does not parse")
	// ErrNoMedia means the description has no m= section.
	ErrNoMedia = errors.New("sdp: no media section")
	// ErrNoCodec means no media section offers a codec we support.
	ErrNoCodec = errors.New("sdp: no usable codec")
)

// Summary is what the core needs to know of a valid description.
type Summary struct {
	Audio, Video, Data int // number of m= sections of each kind, rejected ones excluded
}

// Check parses raw and, when supported is not nil, verifies that at least
// one media section is usable: a data channel section, or an audio/video
// section with at least one codec whose lower-case MIME subtype (for
// example "opus" or "vp8") is in supported.
func Check(raw string, supported map[string]bool) (Summary, error) {
	var sum Summary
	if strings.TrimSpace(raw) == "" {
		return sum, fmt.Errorf("%w: empty", ErrSyntax)
	}
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(raw); err != nil {
		return sum, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if len(desc.MediaDescriptions) == 0 {
		return sum, ErrNoMedia
	}
	usable := false
	for _, m := range desc.MediaDescriptions {
		// Port 0 means the section is rejected or stopped (RFC 8866 5.14).
		if m.MediaName.Port.Value == 0 {
			continue
		}
		switch m.MediaName.Media {
		case "application":
			sum.Data++
			usable = true
		case "audio", "video":
			if m.MediaName.Media == "audio" {
				sum.Audio++
			} else {
				sum.Video++
			}
			if supported == nil || hasCodec(m, supported) {
				usable = true
			}
		}
	}
	if !usable {
		return sum, ErrNoCodec
	}
	return sum, nil
}

func hasCodec(m *sdp.MediaDescription, supported map[string]bool) bool {
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		// a=rtpmap:<pt> <name>/<clock>[/<channels>]
		_, rest, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		name = strings.ToLower(name)
		if name == "rtx" || name == "red" || name == "ulpfec" || name == "flexfec-03" {
			continue
		}
		if supported[name] {
			return true
		}
	}
	// Static payload types may come without rtpmap (RFC 3551).
	for _, f := range m.MediaName.Formats {
		switch f {
		case "0":
			if supported["pcmu"] {
				return true
			}
		case "8":
			if supported["pcma"] {
				return true
			}
		case "9":
			if supported["g722"] {
				return true
			}
		}
	}
	return false
}
