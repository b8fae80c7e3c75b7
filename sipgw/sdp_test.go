package sipgw

import (
	"strings"
	"testing"
)

const browserOffer = "v=0\r\n" +
	"o=- 1 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 9 0 8 110 126\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtpmap:9 G722/8000\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:110 telephone-event/48000\r\n" +
	"a=rtpmap:126 telephone-event/8000\r\n" +
	"a=sendrecv\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtpmap:96 VP8/90000\r\n"

func TestParseAudio(t *testing.T) {
	d, err := parseAudio([]byte(browserOffer))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Codecs) != 6 || d.Codecs[0].Name != "opus" || d.Codecs[0].Channels != 2 || d.Codecs[0].Fmtp == "" {
		t.Fatalf("codecs %+v", d.Codecs)
	}
	if d.Dir != dirSendRecv || d.Port != 9 || d.RTCPPort != 10 {
		t.Errorf("dir %v port %d rtcp %d", d.Dir, d.Port, d.RTCPPort)
	}

	sip := "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=x\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0 18 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp:4005\r\na=sendonly\r\n"
	d, err = parseAudio([]byte(sip))
	if err != nil {
		t.Fatal(err)
	}
	// 0 is static (PCMU); 18 has no rtpmap and is not one we know.
	if len(d.Codecs) != 2 || d.Codecs[0].Name != "pcmu" || d.Codecs[1].Name != dtmf || d.Codecs[1].Fmtp != "0-15" {
		t.Fatalf("codecs %+v", d.Codecs)
	}
	if d.IP.String() != "10.0.0.1" || d.Port != 4000 || d.RTCPPort != 4005 || d.Dir != dirSend || d.Proto != "RTP/AVP" {
		t.Errorf("%+v", d)
	}

	for _, bad := range []string{"", "garbage", "v=0\r\no=x 1 1 IN IP4 1.1.1.1\r\ns=x\r\nt=0 0\r\nm=video 5 RTP/AVP 96\r\nc=IN IP4 1.1.1.1\r\n",
		"v=0\r\no=x 1 1 IN IP4 1.1.1.1\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\nc=IN IP4 1.1.1.1\r\n"} {
		if _, err := parseAudio([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestOfferCodecs(t *testing.T) {
	d, _ := parseAudio([]byte(browserOffer))
	got, err := offerCodecs(d.Codecs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range got {
		names = append(names, c.Name)
	}
	// Browser order and payload types, telephone-event at both clocks.
	if strings.Join(names, ",") != "opus,g722,pcmu,pcma,telephone-event,telephone-event" || got[4].PT != 110 || got[5].PT != 126 {
		t.Fatalf("offer %+v", got)
	}

	// No telephone-event in the browser offer: one on a free dynamic PT.
	got, err = offerCodecs([]codec{{Name: "pcmu", PT: 0, Clock: 8000}, {Name: "x", PT: 101, Clock: 8000}})
	if err != nil || len(got) != 2 || got[1].Name != dtmf || got[1].PT != 102 || got[1].Clock != 8000 {
		t.Fatalf("offer %+v, %v", got, err)
	}

	if _, err := offerCodecs([]codec{{Name: "vp8", PT: 96, Clock: 90000}, {Name: dtmf, PT: 101, Clock: 8000}}); err == nil {
		t.Error("offer without a usable codec accepted")
	}
}

func TestPickAnswer(t *testing.T) {
	offered := []codec{{Name: "opus", PT: 111, Clock: 48000, Channels: 2}, {Name: "pcmu", PT: 0, Clock: 8000},
		{Name: dtmf, PT: 110, Clock: 48000}, {Name: dtmf, PT: 126, Clock: 8000}}
	testCases := []struct {
		answer  []codec
		want    string
		wantPT  uint8
		dtmfPT  int
		wantErr bool
	}{
		{[]codec{{Name: "pcmu", PT: 0, Clock: 8000}, {Name: dtmf, PT: 101, Clock: 8000}}, "pcmu", 0, 101, false},
		{[]codec{{Name: "opus", PT: 107, Clock: 48000, Channels: 2}}, "opus", 107, -1, false},
		// telephone-event at another clock than the codec's is not ours.
		{[]codec{{Name: "opus", PT: 111, Clock: 48000, Channels: 2}, {Name: dtmf, PT: 101, Clock: 8000}}, "opus", 111, -1, false},
		{[]codec{{Name: "g729", PT: 18, Clock: 8000}}, "", 0, -1, true},
		{[]codec{{Name: "pcma", PT: 8, Clock: 8000}}, "", 0, -1, true}, // not offered
	}
	for i, tc := range testCases {
		n, err := pickAnswer(offered, audioDesc{Codecs: tc.answer})
		if (err != nil) != tc.wantErr {
			t.Fatalf("case %d: err %v", i, err)
		}
		if err != nil {
			continue
		}
		if n.Media.Name != tc.want || n.Media.PT != tc.wantPT {
			t.Errorf("case %d: media %+v", i, n.Media)
		}
		if (n.DTMF == nil) != (tc.dtmfPT < 0) || (n.DTMF != nil && int(n.DTMF.PT) != tc.dtmfPT) {
			t.Errorf("case %d: dtmf %+v", i, n.DTMF)
		}
	}
}

func TestAnswerFor(t *testing.T) {
	offer := audioDesc{Codecs: []codec{{Name: "pcma", PT: 8, Clock: 8000}, {Name: "pcmu", PT: 0, Clock: 8000}, {Name: dtmf, PT: 96, Clock: 8000}}}
	if got := pickOffer(offer); len(got) != 3 || got[0].Name != "pcma" || got[2].Name != dtmf {
		t.Fatalf("pickOffer %+v", got)
	}
	n, err := answerFor(offer, codec{Name: "pcmu", PT: 0, Clock: 8000})
	if err != nil || n.Media.PT != 0 || n.DTMF == nil || n.DTMF.PT != 96 {
		t.Fatalf("%+v %v", n, err)
	}
	if _, err := answerFor(offer, codec{Name: "opus", Clock: 48000}); err == nil {
		t.Error("codec not in the offer accepted")
	}
	if got := pickOffer(audioDesc{Codecs: []codec{{Name: "g729", PT: 18, Clock: 8000}, {Name: dtmf, PT: 101, Clock: 8000}}}); got != nil {
		t.Errorf("pickOffer without a media codec: %+v", got)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	l := localSDP{SessionID: 7, Version: 2, IP: "127.0.0.1", Port: 4000, RTCPPort: 4001, Dir: dirSend,
		Codecs: []codec{{Name: "opus", PT: 111, Clock: 48000, Channels: 2, Fmtp: "useinbandfec=1"}, {Name: dtmf, PT: 110, Clock: 48000, Fmtp: "0-16"}}}
	raw := l.marshal()
	d, err := parseAudio(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if d.Port != 4000 || d.RTCPPort != 4001 || d.Dir != dirSend || len(d.Codecs) != 2 || d.Codecs[0].Fmtp != "useinbandfec=1" {
		t.Errorf("%+v\n%s", d, raw)
	}
	if !strings.Contains(string(raw), "a=rtpmap:111 opus/48000/2\r\n") {
		t.Errorf("%s", raw)
	}
}

func TestDirection(t *testing.T) {
	testCases := []struct{ offer, local, want direction }{
		{dirSendRecv, dirSendRecv, dirSendRecv},
		{dirSend, dirSendRecv, dirRecv}, // held by the peer: we only receive
		{dirRecv, dirSendRecv, dirSend},
		{dirInactive, dirSendRecv, dirInactive},
		{dirSendRecv, dirSend, dirSend}, // we hold
	}
	for _, tc := range testCases {
		if got := tc.local & tc.offer.reverse(); got != tc.want {
			t.Errorf("offer %v local %v: %v, want %v", tc.offer, tc.local, got, tc.want)
		}
	}
}
