package janusapi

import (
	"encoding/json"
	"testing"

	"github.com/ianua/ianua"
)

// The core's media and slow-link events come out as Janus's "media" and
// "slowlink" messages, with the fields janus.js reads (ice.c of Janus).
// Janus's "uplink" is seen from the server: losses on the way to the
// client (ianua's Uplink false) are uplink=true, and the other way round.
func TestEncodeMediaEvents(t *testing.T) {
	ss := &session{id: 7}
	for _, c := range []struct {
		name string
		ev   ianua.Event
		want string
	}{
		{"slowlink to the client", ianua.Event{Type: ianua.EventSlowLink, HandleID: 9, SlowLink: &ianua.SlowLink{MID: "1", Kind: "video", Uplink: false, Lost: 12}},
			`{"janus":"slowlink","session_id":7,"sender":9,"mid":"1","media":"video","uplink":true,"lost":12}`},
		{"slowlink from the client", ianua.Event{Type: ianua.EventSlowLink, HandleID: 9, SlowLink: &ianua.SlowLink{MID: "0", Kind: "audio", Uplink: true, Lost: 5}},
			`{"janus":"slowlink","session_id":7,"sender":9,"mid":"0","media":"audio","uplink":false,"lost":5}`},
		{"media", ianua.Event{Type: ianua.EventMedia, HandleID: 9, Media: &ianua.MediaState{MID: "0", Kind: "audio", Receiving: true}},
			`{"janus":"media","session_id":7,"sender":9,"mid":"0","type":"audio","receiving":true}`},
	} {
		m, ok := ss.encode(c.ev)
		if !ok {
			t.Errorf("%s: not encoded", c.name)
			continue
		}
		got, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		_ = json.Unmarshal(got, &a)
		_ = json.Unmarshal([]byte(c.want), &b)
		if ga, gb := mustJSON(a), mustJSON(b); ga != gb {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if _, ok := ss.encode(ianua.Event{Type: ianua.EventSlowLink, HandleID: 9}); ok {
		t.Error("a slowlink event without its description was encoded")
	}
}

// mustJSON is v marshalled, with map keys in order.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
