package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// request sends one HTTP request and returns the status, the Location and
// the body. tok "" sends no Authorization.
func request(t *testing.T, method, url, tok, contentType, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// newClient returns a pion PeerConnection playing a WHIP encoder or a WHEP
// player on loopback, where the router offers its candidates. It offers
// the given codecs, or pion's defaults when there are none.
func newClient(t *testing.T, codecs ...webrtc.RTPCodecParameters) *webrtc.PeerConnection {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if len(codecs) == 0 {
		if err := m.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range codecs {
		kind := webrtc.RTPCodecTypeVideo
		if strings.HasPrefix(c.MimeType, "audio/") {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := m.RegisterCodec(c, kind); err != nil {
			t.Fatal(err)
		}
	}
	var s webrtc.SettingEngine
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	return pc
}

// offerOf makes a non-trickle offer, as WHIP and WHEP clients do.
func offerOf(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// waitFor polls cond until it holds, or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getFeeds reads /feeds of the default room.
func getFeeds(t *testing.T, base string) feedsReply {
	t.Helper()
	status, _, body := request(t, http.MethodGet, base+"/feeds", testToken, "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /feeds: %d %s", status, body)
	}
	var r feedsReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET /feeds: %v in %s", err, body)
	}
	return r
}

// TestHTTPErrors checks the answers to requests that must fail, with a
// token configured, and that none of them leaves a session behind.
func TestHTTPErrors(t *testing.T) {
	a := startServer(t)
	base := "http://" + a.addr
	pc := newClient(t)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	valid := offerOf(t, pc)
	const sdpType = "application/sdp"
	const fragType = "application/trickle-ice-sdpfrag"
	frag := "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"

	testCases := []struct {
		name, method, path, tok, contentType, body string
		want                                       int
	}{
		{"WHIP wrong token", http.MethodPost, "/whip/1234", "nope", sdpType, valid, http.StatusUnauthorized},
		{"WHIP no token", http.MethodPost, "/whip/1234", "", sdpType, valid, http.StatusUnauthorized},
		{"WHEP wrong token", http.MethodPost, "/whep/1234/1", "nope", sdpType, valid, http.StatusUnauthorized},
		{"DELETE wrong token", http.MethodDelete, "/whip/1234/0123abcd", "nope", "", "", http.StatusUnauthorized},
		{"feeds wrong token", http.MethodGet, "/feeds", "nope", "", "", http.StatusUnauthorized},
		{"mountpoints wrong token", http.MethodGet, "/mountpoints", "nope", "", "", http.StatusUnauthorized},
		{"WHEP mountpoint wrong token", http.MethodPost, "/whep/mountpoint/1", "nope", sdpType, valid, http.StatusUnauthorized},
		{"WHEP unknown mountpoint", http.MethodPost, "/whep/mountpoint/1", testToken, sdpType, valid, http.StatusNotFound},
		{"DELETE unknown mountpoint resource", http.MethodDelete, "/whep/mountpoint/1/0123abcd", testToken, "", "", http.StatusNotFound},
		{"malformed SDP", http.MethodPost, "/whip/1234", testToken, sdpType, "not an sdp", http.StatusBadRequest},
		{"WHEP malformed SDP", http.MethodPost, "/whep/1234/1", testToken, sdpType, "v=0\r\nbogus", http.StatusBadRequest},
		{"not SDP", http.MethodPost, "/whip/1234", testToken, "text/plain", valid, http.StatusUnsupportedMediaType},
		{"unknown room", http.MethodPost, "/whip/999", testToken, sdpType, valid, http.StatusNotFound},
		{"unknown feed", http.MethodPost, "/whep/1234/12345", testToken, sdpType, valid, http.StatusNotFound},
		{"unknown path", http.MethodPost, "/whop/1234", testToken, sdpType, valid, http.StatusNotFound},
		{"DELETE unknown resource", http.MethodDelete, "/whip/1234/0123abcd", testToken, "", "", http.StatusNotFound},
		{"PATCH unknown resource", http.MethodPatch, "/whip/1234/0123abcd", testToken, fragType, frag, http.StatusNotFound},
		{"DELETE unknown WHEP resource", http.MethodDelete, "/whep/1234/1/0123abcd", testToken, "", "", http.StatusNotFound},
		{"feeds unknown room", http.MethodGet, "/feeds?room=999", testToken, "", "", http.StatusNotFound},
		{"feeds bad room", http.MethodGet, "/feeds?room=abc", testToken, "", "", http.StatusBadRequest},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, body := request(t, tc.method, base+tc.path, tc.tok, tc.contentType, tc.body)
			if got != tc.want {
				t.Errorf("%s %s: status %d (%s), want %d", tc.method, tc.path, got, strings.TrimSpace(body), tc.want)
			}
			if n := a.liveSessions(); n != 0 {
				t.Errorf("%d sessions left behind", n)
			}
		})
	}
}

// TestPages checks that the pages are served, without a token: only the
// API asks for one.
func TestPages(t *testing.T) {
	a := startServer(t)
	testCases := []struct{ path, contains string }{
		{"/", "publish.html"},
		{"/publish.html", `src="publish.js"`},
		{"/publish.js", "ianuaPublisherStats"},
		{"/watch.html", `src="watch.js"`},
		{"/watch.js", "ianuaPlayerStats"},
		{"/style.css", "video"},
	}
	for _, tc := range testCases {
		status, _, body := request(t, http.MethodGet, "http://"+a.addr+tc.path, "", "", "")
		if status != http.StatusOK || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: %d, body without %q", tc.path, status, tc.contains)
		}
	}
}

// TestEncoderToPlayer publishes H.264 and Opus with a pion WHIP client, as
// OBS and ffmpeg do, sees the publisher in /feeds, plays it with a pion WHEP
// client, and checks that the publisher's DELETE frees both sessions.
func TestEncoderToPlayer(t *testing.T) {
	a := startServer(t)
	base := "http://" + a.addr
	if r := getFeeds(t, base); r.Room != 1234 || len(r.Feeds) != 0 {
		t.Fatalf("before publishing: %+v", r)
	}

	// What OBS offers: H.264 constrained baseline and Opus, nothing else.
	h264 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	pub := newClient(t, webrtc.RTPCodecParameters{RTPCodecCapability: h264, PayloadType: 96}, webrtc.RTPCodecParameters{RTPCodecCapability: opus, PayloadType: 111})
	for _, c := range []webrtc.RTPCodecCapability{h264, opus} {
		track, err := webrtc.NewTrackLocalStaticSample(c, "obs-"+c.MimeType, "obs")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	status, pubLoc, answer := request(t, http.MethodPost, base+"/whip/1234?display=obs", testToken, "application/sdp", offerOf(t, pub))
	if status != http.StatusCreated || pubLoc == "" {
		t.Fatalf("WHIP POST: %d %q %s", status, pubLoc, answer)
	}
	if !strings.Contains(answer, "H264/90000") {
		t.Errorf("the answer does not accept H.264:\n%s", answer)
	}
	if err := pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	var r feedsReply
	waitFor(t, 10*time.Second, "the publisher in /feeds", func() bool {
		r = getFeeds(t, base)
		return len(r.Feeds) == 1 && r.Feeds[0].Publishing
	})
	f := r.Feeds[0]
	if f.Display != "obs" || f.ID == 0 {
		t.Errorf("feed %+v, want display obs and an id", f)
	}

	view := newClient(t)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := view.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	status, viewLoc, answer := request(t, http.MethodPost, fmt.Sprintf("%s/whep/1234/%d", base, f.ID), testToken, "application/sdp", offerOf(t, view))
	if status != http.StatusCreated || viewLoc == "" {
		t.Fatalf("WHEP POST: %d %q %s", status, viewLoc, answer)
	}
	if strings.Count(answer, "a=sendonly") != 2 || !strings.Contains(answer, "H264/90000") || !strings.Contains(answer, "opus/48000") {
		t.Errorf("the WHEP answer does not send H.264 and Opus:\n%s", answer)
	}
	if n := a.liveSessions(); n != 2 {
		t.Errorf("%d sessions, want 2 (publisher and player)", n)
	}

	// The publisher leaves: its viewer goes with it.
	if status, _, body := request(t, http.MethodDelete, base+pubLoc, testToken, "", ""); status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	waitFor(t, 5*time.Second, "every session freed", func() bool {
		return len(getFeeds(t, base).Feeds) == 0 && a.liveSessions() == 0
	})
	if status, _, _ := request(t, http.MethodDelete, base+viewLoc, testToken, "", ""); status != http.StatusNotFound {
		t.Errorf("DELETE of the ended player: %d, want 404", status)
	}
}
