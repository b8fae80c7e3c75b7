package sdpcheck

import (
	"errors"
	"testing"
)

const base = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

func TestCheck(t *testing.T) {
	supported := map[string]bool{"opus": true, "vp8": true, "pcmu": true}
	testCases := []struct {
		name string
		sdp  string
		want error
		sum  Summary
	}{
		{"empty", "", ErrSyntax, Summary{}},
		{"garbage", "hello", ErrSyntax, Summary{}},
		{"no media", base, ErrNoMedia, Summary{}},
		{"opus", base + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n", nil, Summary{Audio: 1}},
		{"static pcmu without rtpmap", base + "m=audio 9 RTP/AVP 0\r\n", nil, Summary{Audio: 1}},
		{"only rtx and speex", base + "m=audio 9 UDP/TLS/RTP/SAVPF 99 97\r\na=rtpmap:99 speex/16000\r\na=rtpmap:97 rtx/90000\r\n", ErrNoCodec, Summary{Audio: 1}},
		{"data only", base + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", nil, Summary{Data: 1}},
		{"rejected section ignored", base + "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", ErrNoCodec, Summary{}},
		{"mixed", base + "m=audio 9 UDP/TLS/RTP/SAVPF 99\r\na=rtpmap:99 speex/16000\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", nil, Summary{Audio: 1, Video: 1}},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			sum, err := Check(tc.sdp, supported)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want == nil && sum != tc.sum {
				t.Errorf("summary %+v, want %+v", sum, tc.sum)
			}
		})
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(base + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")
	f.Add("v=0\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = Check(s, map[string]bool{"opus": true})
	})
}
