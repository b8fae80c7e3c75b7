package echotest

import (
	"testing"

	"github.com/pion/rtp"
)

func TestForwarderKeepsSequenceContiguous(t *testing.T) {
	f := forwarder{}
	testCases := []struct {
		in    uint16
		on    bool
		out   uint16
		fwded bool
	}{
		{100, true, 100, true},
		{101, false, 0, false},
		{102, false, 0, false},
		{103, true, 101, true},
		{104, true, 102, true},
		{65535, true, 65533, true},
		{0, false, 0, false},
		{1, true, 65533 + 1, true}, // wraps
	}
	for i, tc := range testCases {
		pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: tc.in}}
		_ = pkt.SetExtension(3, []byte{1, 2, 3})
		got := f.process(pkt, tc.on)
		if got != tc.fwded {
			t.Fatalf("case %d: forwarded=%v, want %v", i, got, tc.fwded)
		}
		if !got {
			continue
		}
		if pkt.SequenceNumber != tc.out {
			t.Errorf("case %d: seq %d, want %d", i, pkt.SequenceNumber, tc.out)
		}
		if pkt.Extension || len(pkt.Extensions) != 0 {
			t.Errorf("case %d: header extensions kept", i)
		}
	}
}

func TestParseRequest(t *testing.T) {
	testCases := []struct {
		body string
		code int
	}{
		{`{"audio":true,"video":false,"bitrate":128000}`, 0},
		{`{"keyframe":true}`, 0},
		{`{"request":"offer","audio_streams":2,"video_streams":3,"videocodec":"vp9"}`, 0},
		{``, ErrorNoMessage},
		{`null`, ErrorNoMessage},
		{`{"audio":`, ErrorInvalidJSON},
		{`"string"`, ErrorInvalidJSON},
		{`{"bitrate":"fast"}`, ErrorInvalidElement},
		{`{"bitrate":-1}`, ErrorInvalidElement},
		{`{"request":"nope"}`, ErrorInvalidElement},
		{`{"request":"offer","video_streams":99}`, ErrorInvalidElement},
		{`{"request":"offer","videocodec":"mpeg2"}`, ErrorInvalidElement},
	}
	for _, tc := range testCases {
		_, err := ParseRequest([]byte(tc.body))
		code := 0
		if err != nil {
			pe, ok := err.(interface{ Unwrap() error })
			if !ok {
				t.Fatalf("%s: untyped error %v", tc.body, err)
			}
			_ = pe
			code = codeOf(err)
		}
		if code != tc.code {
			t.Errorf("%s: code %d (%v), want %d", tc.body, code, err, tc.code)
		}
	}
}
