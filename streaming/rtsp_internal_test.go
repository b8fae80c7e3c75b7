package streaming

import (
	"strings"
	"testing"
)

// A camera's SDP: H.264 with sprop-parameter-sets and no
// profile-level-id, G.711 by static payload type, and a metadata stream.
const cameraSDP = "v=0\r\n" +
	"o=- 1 1 IN IP4 192.0.2.20\r\n" +
	"s=camera\r\n" +
	"t=0 0\r\n" +
	"a=control:*\r\n" +
	"m=video 0 RTP/AVP 96\r\n" +
	"a=rtpmap:96 H264/90000\r\n" +
	"a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LADIyNQKD5APCIRqA=,aM48gA==\r\n" +
	"a=control:trackID=1\r\n" +
	"m=audio 0 RTP/AVP 0\r\n" +
	"a=control:trackID=2\r\n" +
	"m=application 0 RTP/AVP 107\r\n" +
	"a=rtpmap:107 vnd.onvif.metadata/90000\r\n" +
	"a=control:trackID=3\r\n"

// The streams of an RTSP server's SDP: the codec, payload type and control
// come from the SDP, whatever the request said; the kinds asked for limit
// them; H.264 is offered as the profile its SPS names.
func TestRTSPStreams(t *testing.T) {
	got, err := rtspStreams([]byte(cameraSDP), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d streams, want video and audio: %+v", len(got), got)
	}
	v, a := got[0], got[1]
	if v.params.Type != "video" || v.params.PT != 96 || v.params.Rtpmap != "H264/90000" || v.control != "trackID=1" ||
		!strings.Contains(v.params.Fmtp, "profile-level-id=42e01f") || !strings.Contains(v.params.Fmtp, "packetization-mode=1") {
		t.Errorf("video %+v", v)
	}
	if a.params.Type != "audio" || a.params.PT != 0 || a.params.Rtpmap != "PCMU/8000" || a.control != "trackID=2" {
		t.Errorf("audio %+v", a)
	}
	// The request's codec and port do not override the SDP's.
	only, err := rtspStreams([]byte(cameraSDP), []MediaParams{{Type: "audio", MID: "mic", Codec: "opus", Port: 5000}})
	if err != nil || len(only) != 1 || only[0].params.Rtpmap != "PCMU/8000" || only[0].params.Codec != "" || only[0].params.Port != 0 || only[0].params.MID != "mic" {
		t.Errorf("audio only: %+v %v", only, err)
	}
	if _, err := rtspStreams([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 0 RTP/AVP 97\r\na=rtpmap:97 MP4V-ES/90000\r\n"), nil); err == nil {
		t.Error("an SDP without a browser codec was taken")
	}
	for fmtp, want := range map[string]string{
		"packetization-mode=1;profile-level-id=4d0029": "profile-level-id=4d001f",
		"profile-level-id=640028":                      "profile-level-id=64001f",
		"profile-level-id=42001e":                      "profile-level-id=42001f",
		"":                                             "profile-level-id=42e01f",
	} {
		if got := h264Fmtp(fmtp); !strings.Contains(got, want) {
			t.Errorf("h264Fmtp(%q) = %q, want %s", fmtp, got, want)
		}
	}
}
