package whip_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
	"github.com/ianua/ianua/streaming"
	"github.com/ianua/ianua/whip"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "s3cret"

type env struct {
	url       string
	router    *ianua.MediaRouter
	sfu       *sfu.Plugin
	streaming *streaming.Plugin
}

// newEnv serves WHIP/WHEP for room 7 and for the mountpoints of a
// started streaming plugin (none yet).
func newEnv(t *testing.T) env {
	t.Helper()
	p, err := sfu.New(sfu.Params{Rooms: []sfu.RoomParams{{ID: 7}}, Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	sp := streaming.New(streaming.Params{Logger: testpeer.QuietLogger()})
	viewer := whip.NewViewer(whip.ViewerParams{SFU: p, Streaming: sp})
	r := testpeer.NewRouter(t, nil, p, sp, viewer)
	if err := sp.Start(r); err != nil {
		t.Fatal(err)
	}
	srv, err := whip.New(whip.Params{Router: r, SFU: p, Streaming: sp, Viewer: viewer, Token: token, Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return env{url: hs.URL, router: r, sfu: p, streaming: sp}
}

// post sends an SDP offer and returns the status, Location and body.
func post(t *testing.T, url, tok, sdp string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(sdp))
	req.Header.Set("Content-Type", "application/sdp")
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

func do(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// offerOf makes a non-trickle offer (WHIP and WHEP clients put their
// candidates in the SDP).
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

// A pion WHIP client publishes VP8 into a room; a pion WHEP client plays
// it; DELETE frees both.
func TestWHIPToWHEP(t *testing.T) {
	e := newEnv(t)
	pub := testpeer.NewClient(t, testpeer.Options{})
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "whip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	status, pubLoc, answer := post(t, e.url+"/whip/7?display=obs", token, offerOf(t, pub))
	if status != http.StatusCreated || pubLoc == "" {
		t.Fatalf("WHIP POST: %d %q %s", status, pubLoc, answer)
	}
	if err := pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	room, _ := e.sfu.Room(7)
	testpeer.WaitFor(t, 10*time.Second, "the WHIP publisher up", func() bool {
		ps := room.Participants()
		return len(ps) == 1 && ps[0].Publishing()
	})
	feed := room.Participants()[0].ID()

	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		payload := make([]byte, 300)
		payload[0] = 0x10 // VP8 keyframes, so the viewer starts at once
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1, Marker: true}, Payload: payload}
		for i := 0; ; i++ {
			pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i)*3000
			_ = track.WriteRTP(pkt)
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); <-sent }()

	view := testpeer.NewClient(t, testpeer.Options{})
	if _, err := view.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	view.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			got.Add(1)
		}
	})
	status, viewLoc, answer := post(t, e.url+"/whep/7/"+itoa(feed), token, offerOf(t, view))
	if status != http.StatusCreated {
		t.Fatalf("WHEP POST: %d %s", status, answer)
	}
	if err := view.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 10*time.Second, "WHEP playback", func() bool { return got.Load() > 50 })

	if s := do(t, http.MethodDelete, e.url+viewLoc); s != http.StatusOK {
		t.Errorf("WHEP DELETE: %d", s)
	}
	if s := do(t, http.MethodDelete, e.url+pubLoc); s != http.StatusOK {
		t.Errorf("WHIP DELETE: %d", s)
	}
	if s := do(t, http.MethodDelete, e.url+pubLoc); s != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", s)
	}
	testpeer.WaitFor(t, 5*time.Second, "every session freed", func() bool {
		return len(e.router.Sessions()) == 0 && len(room.Participants()) == 0
	})
}

func TestWHIPErrors(t *testing.T) {
	e := newEnv(t)
	pc := testpeer.NewClient(t, testpeer.Options{})
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	valid := offerOf(t, pc)
	// An encoder offering only VP9 to a VP8 room: nothing can be
	// published, so no 201.
	vp9pc := testpeer.NewClient(t, testpeer.Options{})
	tr, err := vp9pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	var vp9 []webrtc.RTPCodecParameters
	for _, c := range tr.Sender().GetParameters().Codecs {
		if c.MimeType == webrtc.MimeTypeVP9 {
			vp9 = append(vp9, c)
		}
	}
	if err := tr.SetCodecPreferences(vp9); err != nil {
		t.Fatal(err)
	}
	vp9Only := offerOf(t, vp9pc)
	testCases := []struct {
		name, url, tok, sdp string
		want                int
	}{
		{"wrong token", "/whip/7", "nope", valid, http.StatusUnauthorized},
		{"no token", "/whip/7", "", valid, http.StatusUnauthorized},
		{"malformed SDP", "/whip/7", token, "not an sdp", http.StatusBadRequest},
		{"unknown room", "/whip/99", token, valid, http.StatusNotFound},
		{"unknown feed", "/whep/7/12345", token, valid, http.StatusNotFound},
		{"unknown path", "/whop/7", token, valid, http.StatusNotFound},
		{"no allowed codec", "/whip/7", token, vp9Only, http.StatusNotAcceptable},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _, body := post(t, e.url+tc.url, tc.tok, tc.sdp); got != tc.want {
				t.Errorf("status %d (%s), want %d", got, body, tc.want)
			}
			if n := len(e.router.Sessions()); n != 0 {
				t.Errorf("%d sessions left behind", n)
			}
		})
	}
	if s := do(t, http.MethodDelete, e.url+"/whip/7/doesnotexist"); s != http.StatusNotFound {
		t.Errorf("DELETE of an unknown resource: %d", s)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
