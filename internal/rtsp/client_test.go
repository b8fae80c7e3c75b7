package rtsp

import (
	"strings"
	"testing"
)

// The Digest response for the inputs of RFC 2069's example (section 2.4:
// without qop, MD5(HA1:nonce:HA2); the response printed there is a known
// erratum, this is what the inputs give), Basic, and a challenge's
// parameters.
func TestDigest(t *testing.T) {
	p := parseParams(`realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`)
	if p["realm"] != "testrealm@host.com" || p["nonce"] != "dcd98b7102dd2f0e8b11d0f600bfb0c093" || p["opaque"] != "5ccc069c403ebaf9f0171e9517f40e41" {
		t.Fatalf("params %v", p)
	}
	c := &Client{user: "Mufasa", pass: "CircleOfLife",
		auth: `Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`}
	got := c.authorization("GET", "/dir/index.html")
	if !strings.Contains(got, `response="1949323746fe6a43ef61f9606e7febea"`) || !strings.Contains(got, `opaque="5ccc069c403ebaf9f0171e9517f40e41"`) {
		t.Errorf("authorization %s", got)
	}
	c.auth = "Basic realm=\"x\""
	if got := c.authorization("GET", "/"); got != "Basic TXVmYXNhOkNpcmNsZU9mTGlmZQ==" {
		t.Errorf("basic %s", got)
	}
}

// Media control URLs resolve against the presentation's base (RFC 2326
// appendix C.1.1), as servers mean them.
func TestControl(t *testing.T) {
	c := &Client{base: "rtsp://10.0.0.5:554/cam/"}
	for control, want := range map[string]string{
		"stream=0":                   "rtsp://10.0.0.5:554/cam/stream=0",
		"*":                          "rtsp://10.0.0.5:554/cam/",
		"":                           "rtsp://10.0.0.5:554/cam/",
		"rtsp://10.0.0.5/cam/track1": "rtsp://10.0.0.5/cam/track1",
	} {
		if got := c.Control(control); got != want {
			t.Errorf("control %q: %q, want %q", control, got, want)
		}
	}
	c.base = "rtsp://10.0.0.5/live.sdp"
	if got := c.Control("trackID=1"); got != "rtsp://10.0.0.5/live.sdp/trackID=1" {
		t.Errorf("control under a base without a slash: %q", got)
	}
}
