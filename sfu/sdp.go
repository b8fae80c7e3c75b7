package sfu

import (
	"strings"

	"github.com/pion/sdp/v3"
)

// codecName turns "video/VP8" into "vp8".
func codecName(mime string) string {
	_, name, _ := strings.Cut(mime, "/")
	return strings.ToLower(name)
}

func parseSDP(raw string) *sdp.SessionDescription {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		return nil
	}
	return &d
}

// mindexByMID maps each mid of a description to its m-line index.
func mindexByMID(raw string) map[string]int {
	out := map[string]int{}
	d := parseSDP(raw)
	if d == nil {
		return out
	}
	for i, m := range d.MediaDescriptions {
		if mid, ok := m.Attribute("mid"); ok {
			out[mid] = i
		}
	}
	return out
}

// hasSimulcast says whether the m-line with this mid carries a=simulcast
// (RFC 8853).
func hasSimulcast(raw, mid string) bool {
	d := parseSDP(raw)
	if d == nil {
		return false
	}
	for _, m := range d.MediaDescriptions {
		if v, _ := m.Attribute("mid"); v == mid {
			_, ok := m.Attribute("simulcast")
			return ok
		}
	}
	return false
}

func applicationSection(raw string) (idx int, mid string, ok bool) {
	d := parseSDP(raw)
	if d == nil {
		return 0, "", false
	}
	for i, m := range d.MediaDescriptions {
		if m.MediaName.Media == "application" && m.MediaName.Port.Value != 0 {
			mid, _ := m.Attribute("mid")
			return i, mid, true
		}
	}
	return 0, "", false
}
