package janusapi

import (
	"encoding/json"
	"testing"
)

// The "e2ee" of a JSEP (janus.js sets it with insertable streams) is read
// as Janus reads it: true only for a JSON true, anything else ignored.
func TestParseJSEPE2EE(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"type":"offer","sdp":"v=0","e2ee":true}`:   true,
		`{"type":"offer","sdp":"v=0","e2ee":false}`:  false,
		`{"type":"offer","sdp":"v=0","e2ee":"true"}`: false,
		`{"type":"offer","sdp":"v=0","e2ee":null}`:   false,
		`{"type":"offer","sdp":"v=0"}`:               false,
	} {
		j, apiErr := parseJSEP(json.RawMessage(raw))
		if apiErr != nil {
			t.Errorf("%s: %v", raw, apiErr)
			continue
		}
		if j.E2EE != want {
			t.Errorf("%s: e2ee %v, want %v", raw, j.E2EE, want)
		}
	}
}
