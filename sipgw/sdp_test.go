package sipgw

import (
	"fmt"
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
		n, err := pickAnswer(offered, mediaDesc{Codecs: tc.answer})
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
	offer := mediaDesc{Codecs: []codec{{Name: "pcma", PT: 8, Clock: 8000}, {Name: "pcmu", PT: 0, Clock: 8000}, {Name: dtmf, PT: 96, Clock: 8000}}}
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
	if got := pickOffer(mediaDesc{Codecs: []codec{{Name: "g729", PT: 18, Clock: 8000}, {Name: dtmf, PT: 101, Clock: 8000}}}); got != nil {
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

const browserVideoOffer = "v=0\r\n" +
	"o=- 1 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=rtcp-fb:111 transport-cc\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 125 45\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=rtcp-fb:96 goog-remb\r\n" +
	"a=rtcp-fb:96 transport-cc\r\n" +
	"a=rtcp-fb:96 ccm fir\r\n" +
	"a=rtcp-fb:96 nack\r\n" +
	"a=rtcp-fb:96 nack pli\r\n" +
	"a=rtpmap:97 rtx/90000\r\n" +
	"a=fmtp:97 apt=96\r\n" +
	"a=rtpmap:102 H264/90000\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n" +
	"a=rtcp-fb:102 nack pli\r\n" +
	"a=rtpmap:103 H264/90000\r\n" +
	"a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n" +
	"a=rtpmap:125 H264/90000\r\n" +
	"a=fmtp:125 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=rtpmap:45 AV1/90000\r\n" +
	"a=sendrecv\r\n"

func TestParseVideo(t *testing.T) {
	d, err := parseVideo([]byte(browserVideoOffer))
	if err != nil {
		t.Fatal(err)
	}
	if d.Index != 1 || d.Port != 9 || len(d.Codecs) != 6 {
		t.Fatalf("%+v", d)
	}
	if got := strings.Join(d.Codecs[0].FB, ","); got != "goog-remb,transport-cc,ccm fir,nack,nack pli" {
		t.Errorf("VP8 rtcp-fb %q", got)
	}
	// Audio keeps no rtcp-fb: the SIP side's audio has none.
	if a, _ := parseAudio([]byte(browserVideoOffer)); len(a.Codecs[0].FB) != 0 {
		t.Errorf("audio rtcp-fb %v", a.Codecs[0].FB)
	}
	if _, err := parseVideo([]byte(browserOffer[:strings.Index(browserOffer, "m=video")])); err == nil {
		t.Error("video found in an audio-only SDP")
	}
	// A rejected stream is reported, with port 0.
	rej := "v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=x\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0\r\n"
	if d, err := parseVideo([]byte(rej)); err != nil || d.Port != 0 || d.Index != 0 {
		t.Errorf("rejected: %+v %v", d, err)
	}
}

func TestOfferVideoCodecs(t *testing.T) {
	d, _ := parseVideo([]byte(browserVideoOffer))
	got := offerVideoCodecs(d.Codecs)
	var pts []string
	for _, c := range got {
		pts = append(pts, fmt.Sprint(c.PT))
	}
	// VP8 and the H.264 formats with packetization-mode 1 (maxH264),
	// browser order and numbers; no RTX, no AV1; feedback cut to what
	// the gateway relays.
	if strings.Join(pts, ",") != "96,102,125" {
		t.Fatalf("offer %+v", got)
	}
	if fb := strings.Join(got[0].FB, ","); fb != "ccm fir,nack,nack pli" {
		t.Errorf("VP8 rtcp-fb %q", fb)
	}
	if got[1].Fmtp != "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f" {
		t.Errorf("H.264 fmtp %q", got[1].Fmtp)
	}
	// Only mode 0 offered: that one.
	got = offerVideoCodecs([]codec{{Name: "h264", PT: 103, Clock: 90000, Fmtp: "packetization-mode=0"}})
	if len(got) != 1 || got[0].PT != 103 {
		t.Errorf("mode 0 only: %+v", got)
	}
	// Feedback common to all formats is written once, for "*".
	fb := []string{"ccm fir", "nack", "nack pli"}
	l := localSDP{IP: "127.0.0.1", Port: 4000, Codecs: []codec{{Name: "pcmu", Clock: 8000}},
		Video: &localVideo{Port: 4002, Codecs: []codec{{Name: "vp8", PT: 96, Clock: 90000, FB: fb},
			{Name: "h264", PT: 102, Clock: 90000, FB: fb}, {Name: "h264", PT: 125, Clock: 90000, FB: fb}}}}
	raw := string(l.marshal())
	if strings.Count(raw, "a=rtcp-fb:") != 3 || !strings.Contains(raw, "a=rtcp-fb:* nack pli\r\n") {
		t.Errorf("rtcp-fb:\n%s", raw)
	}
	v, _ := parseVideo([]byte(raw))
	if len(v.Codecs) != 3 || strings.Join(v.Codecs[2].FB, ",") != "ccm fir,nack,nack pli" {
		t.Errorf("parsed back: %+v", v.Codecs)
	}
}

func TestH264Same(t *testing.T) {
	h := func(fmtp string) codec { return codec{Name: "h264", Clock: 90000, Fmtp: fmtp} }
	testCases := []struct {
		a, b codec
		same bool
	}{
		{h("packetization-mode=1;profile-level-id=42e01f"), h("profile-level-id=42e01f;packetization-mode=1"), true},
		// The level may differ (RFC 6184 section 8.2.2).
		{h("packetization-mode=1;profile-level-id=42e01f"), h("packetization-mode=1;profile-level-id=42e028"), true},
		{h("packetization-mode=1;profile-level-id=42e01f"), h("packetization-mode=0;profile-level-id=42e01f"), false},
		{h("packetization-mode=1;profile-level-id=42e01f"), h("packetization-mode=1;profile-level-id=640032"), false},
		// Absent: mode 0, Baseline.
		{h(""), h("packetization-mode=0;profile-level-id=42001f"), true},
		{codec{Name: "vp8", Clock: 90000}, codec{Name: "vp8", Clock: 90000, Fmtp: "max-fs=12288"}, true},
	}
	for i, tc := range testCases {
		if got := tc.a.same(tc.b); got != tc.same {
			t.Errorf("%d: %q vs %q: %v", i, tc.a.Fmtp, tc.b.Fmtp, got)
		}
	}
}

func TestPickVideoAnswer(t *testing.T) {
	d, _ := parseVideo([]byte(browserVideoOffer))
	offered := offerVideoCodecs(d.Codecs)
	answer := func(m string) mediaDesc {
		a, err := parseVideo([]byte("v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=x\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
			"m=audio 4000 RTP/AVP 0\r\n" + m))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	testCases := []struct {
		name           string
		m              string
		peerPT, browPT uint8
		err            bool
	}{
		{"vp8", "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n", 96, 96, false},
		// Its own number for VP8: matched by name.
		{"vp8 renumbered", "m=video 4002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n", 100, 96, false},
		// Same number, another level: matched by number.
		{"h264 level", "m=video 4002 RTP/AVP 125\r\na=rtpmap:125 H264/90000\r\na=fmtp:125 profile-level-id=42e028;packetization-mode=1\r\n", 125, 125, false},
		{"h264 renumbered", "m=video 4002 RTP/AVP 99\r\na=rtpmap:99 H264/90000\r\na=fmtp:99 profile-level-id=42e01f;packetization-mode=1\r\n", 99, 125, false},
		// Mode 0 was not offered (offerVideoCodecs keeps mode 1).
		{"h264 mode 0", "m=video 4002 RTP/AVP 98\r\na=rtpmap:98 H264/90000\r\na=fmtp:98 profile-level-id=42001f\r\n", 0, 0, true},
		{"rejected", "m=video 0 RTP/AVP 96\r\n", 0, 0, true},
		{"h263 only", "m=video 4002 RTP/AVP 34\r\na=rtpmap:34 H263/90000\r\n", 0, 0, true},
	}
	for _, tc := range testCases {
		peer, browser, err := pickVideoAnswer(offered, answer(tc.m))
		if (err != nil) != tc.err || (err == nil && (peer.PT != tc.peerPT || browser.PT != tc.browPT)) {
			t.Errorf("%s: peer %d browser %d, %v", tc.name, peer.PT, browser.PT, err)
		}
	}
}

func TestPickVideoOffer(t *testing.T) {
	sdpOf := func(m string) mediaDesc {
		d, err := parseVideo([]byte("v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=x\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" + m))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	got := pickVideoOffer(sdpOf("m=video 4002 RTP/AVP 34 100 99\r\na=rtpmap:34 H263/90000\r\na=rtpmap:100 VP8/90000\r\n" +
		"a=rtcp-fb:* nack pli\r\na=rtcp-fb:100 goog-remb\r\na=rtpmap:99 H264/90000\r\na=fmtp:99 packetization-mode=1\r\n"))
	if len(got) != 2 || got[0].Name != "vp8" || got[1].Name != "h264" || strings.Join(got[0].FB, ",") != "nack pli" {
		t.Errorf("offer %+v", got)
	}
	if c, err := answerVideoFor(sdpOf("m=video 4002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n"), codec{Name: "vp8", PT: 96, Clock: 90000}); err != nil || c.PT != 100 {
		t.Errorf("answer %+v %v", c, err)
	}
	const key = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
	testCases := []struct {
		m    string
		want bool
	}{
		{"m=video 0 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n", false},
		{"m=video 4002 RTP/SAVP 100\r\na=rtpmap:100 VP8/90000\r\n", false}, // no key
		{"m=video 4002 RTP/SAVP 100\r\na=rtpmap:100 VP8/90000\r\na=crypto:1 F8_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n", false},
		{"m=video 4002 RTP/SAVPF 100\r\na=rtpmap:100 VP8/90000\r\n" + key, false},
		{"m=video 4002 RTP/SAVP 100\r\na=rtpmap:100 VP8/90000\r\n" + key, true},
		{"m=video 4002 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\n" + key, true},
	}
	for _, tc := range testCases {
		if got := pickVideoOffer(sdpOf(tc.m)); (len(got) != 0) != tc.want {
			t.Errorf("%q: %+v, want some: %v", tc.m, got, tc.want)
		}
	}
}

func TestMarshalVideo(t *testing.T) {
	vp8 := codec{Name: "vp8", PT: 96, Clock: 90000, FB: []string{"nack", "nack pli", "ccm fir"}}
	l := localSDP{SessionID: 1, Version: 1, IP: "127.0.0.1", Port: 4000, RTCPPort: 4001, Dir: dirSendRecv,
		Codecs: []codec{{Name: "pcmu", PT: 0, Clock: 8000}},
		Video:  &localVideo{Port: 4002, RTCPPort: 4003, Codecs: []codec{vp8}, Dir: dirSendRecv}}
	l.setDir(dirSend)
	raw := string(l.marshal())
	a, err := parseAudio([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	v, err := parseVideo([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if a.Index != 0 || v.Index != 1 || v.Port != 4002 || v.RTCPPort != 4003 || v.Dir != dirSend || a.Dir != dirSend {
		t.Errorf("audio %+v video %+v", a, v)
	}
	if len(v.Codecs) != 1 || v.Codecs[0].Name != "vp8" || strings.Join(v.Codecs[0].FB, ",") != "nack,nack pli,ccm fir" {
		t.Errorf("video codecs %+v", v.Codecs)
	}
	if !strings.Contains(raw, "a=rtpmap:96 VP8/90000\r\n") {
		t.Errorf("VP8 spelling:\n%s", raw)
	}
	// Rejected, first as in the offer.
	l.Video = rejectedVideo(mediaDesc{Index: 0, Proto: "RTP/AVP", Codecs: []codec{vp8}}, 1)
	raw = string(l.marshal())
	if !strings.Contains(raw, "t=0 0\r\nm=video 0 RTP/AVP 96\r\nm=audio 4000") || strings.Contains(raw, "VP8") {
		t.Errorf("rejected video:\n%s", raw)
	}
}
