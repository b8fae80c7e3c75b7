package whip_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
	"github.com/ianua/ianua/streaming"
	"github.com/ianua/ianua/whip"
)

// newMountpoint creates a VP8 + Opus mountpoint on loopback ports.
func newMountpoint(t *testing.T, sp *streaming.Plugin, id uint64, pin string) *streaming.Mountpoint {
	t.Helper()
	mp, err := sp.CreateMountpoint(streaming.MountpointParams{ID: id, PIN: pin, Media: []streaming.MediaParams{
		{Type: "video", MID: "v", PT: 96, Codec: "vp8"},
		{Type: "audio", MID: "a", PT: 111, Codec: "opus"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return mp
}

// feed sends synthetic RTP to every stream of the mountpoint, as ffmpeg
// would: VP8 keyframes (so that a viewer starts at once) and Opus-sized
// audio, every 10 ms. The returned func stops it and waits.
func feed(t *testing.T, mp *streaming.Mountpoint) func() {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, m := range mp.Params().Media {
		conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: m.Port})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			payload := make([]byte, 160)
			step := uint32(480) // 10 ms at 48 kHz
			if m.Type == "video" {
				payload[0] = 0x10 // VP8: start of a keyframe
				step = 900        // 10 ms at 90 kHz
			}
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: m.PT, SSRC: uint32(m.Port), Marker: true}, Payload: payload}
			buf := make([]byte, 1500)
			for i := 0; ; i++ {
				pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i)*step
				if n, err := pkt.MarshalTo(buf); err == nil {
					_, _ = conn.Write(buf[:n])
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}
	return sync.OnceFunc(func() { close(stop); wg.Wait() })
}

// player is a pion WHEP client offering recvonly audio and video.
type player struct {
	pc           *webrtc.PeerConnection
	kinds        []webrtc.RTPCodecType
	audio, video atomic.Int64 // packets received
}

func newPlayer(t *testing.T, kinds ...webrtc.RTPCodecType) *player {
	t.Helper()
	p := &player{pc: testpeer.NewClient(t, testpeer.Options{}), kinds: kinds}
	for _, k := range kinds {
		if _, err := p.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	p.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := &p.audio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			n = &p.video
		}
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			n.Add(1)
		}
	})
	return p
}

// play POSTs the player's offer and applies the answer; it returns the
// resource's Location and ETag.
func (p *player) play(t *testing.T, url string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(offerOf(t, p.pc)))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	answer := string(b)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP POST %s: %d %s", url, resp.StatusCode, answer)
	}
	for _, k := range p.kinds {
		want := map[webrtc.RTPCodecType]string{webrtc.RTPCodecTypeAudio: "opus/48000", webrtc.RTPCodecTypeVideo: "VP8/90000"}[k]
		if !strings.Contains(answer, want) {
			t.Errorf("the answer has no %s:\n%s", want, answer)
		}
	}
	if n := strings.Count(answer, "a=sendonly"); n != len(p.kinds) {
		t.Errorf("the answer sends %d streams, want %d:\n%s", n, len(p.kinds), answer)
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("Location"), resp.Header.Get("ETag")
}

// patchFrag sends a trickle PATCH with an If-Match.
func patchFrag(t *testing.T, url, ifMatch, frag string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(frag))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	req.Header.Set("If-Match", ifMatch)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// subscribers is the number of subscriptions to the mountpoint's streams.
func subscribers(mp *streaming.Mountpoint) int {
	n := 0
	for _, s := range mp.Sources() {
		n += len(s.Subscribers())
	}
	return n
}

// A pion WHEP client plays a mountpoint fed with RTP: audio and video
// arrive; PATCH follows the ETag rules; DELETE frees the session and the
// subscriptions.
func TestWHEPMountpoint(t *testing.T) {
	e := newEnv(t)
	mp := newMountpoint(t, e.streaming, 42, "")
	defer feed(t, mp)()

	p := newPlayer(t, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
	loc, etag := p.play(t, e.url+"/whep/mountpoint/42")
	if !strings.HasPrefix(loc, "/whep/mountpoint/42/") || etag == "" {
		t.Errorf("Location %q, ETag %q", loc, etag)
	}
	testpeer.WaitFor(t, 10*time.Second, "audio and video from the mountpoint", func() bool {
		return p.audio.Load() > 50 && p.video.Load() > 50
	})
	if n := subscribers(mp); n != 2 {
		t.Errorf("%d subscriptions while playing, want 2", n)
	}

	frag := "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
	if s := patchFrag(t, e.url+loc, `"stale"`, frag); s != http.StatusPreconditionFailed {
		t.Errorf("PATCH with a stale ETag: %d, want 412", s)
	}
	if s := patchFrag(t, e.url+loc, etag, frag); s != http.StatusNoContent {
		t.Errorf("PATCH: %d, want 204", s)
	}
	// The resource is only at its own path.
	other := strings.Replace(loc, "/whep/mountpoint/42/", "/whep/7/42/", 1)
	if s := do(t, http.MethodDelete, e.url+other); s != http.StatusNotFound {
		t.Errorf("DELETE under another path: %d, want 404", s)
	}

	if s := do(t, http.MethodDelete, e.url+loc); s != http.StatusOK {
		t.Errorf("DELETE: %d", s)
	}
	testpeer.WaitFor(t, 5*time.Second, "the session and subscriptions freed", func() bool {
		return len(e.router.Sessions()) == 0 && subscribers(mp) == 0
	})
	if s := do(t, http.MethodDelete, e.url+loc); s != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", s)
	}
	if n := mp.Viewers(); n != 0 {
		t.Errorf("the mountpoint counts %d Janus viewers, want 0", n)
	}
}

// Destroying the mountpoint ends its WHEP sessions.
func TestWHEPMountpointDestroyed(t *testing.T) {
	e := newEnv(t)
	mp := newMountpoint(t, e.streaming, 43, "")
	stopFeed := feed(t, mp)
	defer stopFeed()

	players := []*player{newPlayer(t, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo), newPlayer(t, webrtc.RTPCodecTypeVideo)}
	var locs []string
	for _, p := range players {
		loc, _ := p.play(t, e.url+"/whep/mountpoint/43")
		locs = append(locs, loc)
	}
	testpeer.WaitFor(t, 10*time.Second, "both players playing", func() bool {
		return players[0].video.Load() > 10 && players[0].audio.Load() > 10 && players[1].video.Load() > 10
	})
	if players[1].audio.Load() != 0 {
		t.Error("a video-only player got audio")
	}
	stopFeed()
	if err := e.streaming.DestroyMountpoint(43); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 5*time.Second, "every WHEP session ended", func() bool { return len(e.router.Sessions()) == 0 })
	for _, loc := range locs {
		if s := do(t, http.MethodDelete, e.url+loc); s != http.StatusNotFound {
			t.Errorf("DELETE after the mountpoint's end: %d, want 404", s)
		}
	}
	// The players see the server close their PeerConnection.
	for i, p := range players {
		testpeer.WaitFor(t, 10*time.Second, fmt.Sprintf("player %d closed", i), func() bool {
			s := p.pc.ConnectionState()
			return s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateDisconnected
		})
	}
}

func TestWHEPMountpointErrors(t *testing.T) {
	e := newEnv(t)
	newMountpoint(t, e.streaming, 44, "")
	newMountpoint(t, e.streaming, 45, "1234")
	if _, err := e.streaming.CreateMountpoint(streaming.MountpointParams{ID: 46, Media: []streaming.MediaParams{{Type: "audio", Codec: "opus", PT: 111}}}); err != nil {
		t.Fatal(err)
	}
	both := offerOf(t, newPlayer(t, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo).pc)
	videoOnly := offerOf(t, newPlayer(t, webrtc.RTPCodecTypeVideo).pc)

	// The same server without the streaming plugin.
	p, err := sfu.New(sfu.Params{Rooms: []sfu.RoomParams{{ID: 7}}, Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	viewer := whip.NewViewerPlugin(p)
	r := testpeer.NewRouter(t, nil, p, viewer)
	srv, err := whip.New(whip.Params{Router: r, SFU: p, Viewer: viewer, Token: token, Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	noStreaming := httptest.NewServer(srv.Handler())
	defer func() { noStreaming.Close(); srv.Close() }()

	testCases := []struct {
		name, base, path, tok, sdp string
		want                       int
	}{
		{"wrong token", e.url, "/whep/mountpoint/44", "nope", both, http.StatusUnauthorized},
		{"unknown mountpoint", e.url, "/whep/mountpoint/99", token, both, http.StatusNotFound},
		{"id not a number", e.url, "/whep/mountpoint/abc", token, both, http.StatusNotFound},
		{"no id", e.url, "/whep/mountpoint", token, both, http.StatusNotFound},
		{"no streaming plugin", noStreaming.URL, "/whep/mountpoint/44", token, both, http.StatusNotFound},
		{"malformed SDP", e.url, "/whep/mountpoint/44", token, "v=0\r\nbogus", http.StatusBadRequest},
		{"not an SDP", e.url, "/whep/mountpoint/44", token, "not an sdp", http.StatusBadRequest},
		{"no pin", e.url, "/whep/mountpoint/45", token, both, http.StatusForbidden},
		{"wrong pin", e.url, "/whep/mountpoint/45?pin=4321", token, both, http.StatusForbidden},
		{"no m-line for the streams", e.url, "/whep/mountpoint/46", token, videoOnly, http.StatusNotAcceptable},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _, body := post(t, tc.base+tc.path, tc.tok, tc.sdp); got != tc.want {
				t.Errorf("status %d (%s), want %d", got, strings.TrimSpace(body), tc.want)
			}
			if n := len(e.router.Sessions()) + len(r.Sessions()); n != 0 {
				t.Errorf("%d sessions left behind", n)
			}
		})
	}

	// The right pin plays.
	pl := newPlayer(t, webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo)
	loc, _ := pl.play(t, e.url+"/whep/mountpoint/45?pin=1234")
	if s := do(t, http.MethodDelete, e.url+loc); s != http.StatusOK {
		t.Errorf("DELETE: %d", s)
	}

	// CORS preflight, as a browser player on another origin sends it.
	req, _ := http.NewRequest(http.MethodOptions, e.url+"/whep/mountpoint/44", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
}

// New refuses a viewer plugin that plays from other plugins than the
// server's, and a server with nothing to serve.
func TestNewChecksPlugins(t *testing.T) {
	p, err := sfu.New(sfu.Params{Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	sp := streaming.New(streaming.Params{Logger: testpeer.QuietLogger()})
	r := testpeer.NewRouter(t, nil, p, sp)
	testCases := []struct {
		name string
		p    whip.Params
	}{
		{"no plugin", whip.Params{Router: r}},
		{"no router", whip.Params{SFU: p}},
		{"viewer without streaming", whip.Params{Router: r, SFU: p, Streaming: sp, Viewer: whip.NewViewerPlugin(p)}},
		{"viewer of another sfu", whip.Params{Router: r, Streaming: sp, Viewer: whip.NewViewer(whip.ViewerParams{SFU: p, Streaming: sp})}},
	}
	for _, tc := range testCases {
		if srv, err := whip.New(tc.p); err == nil {
			srv.Close()
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	// A WHEP-only server of mountpoints has no rooms.
	srv, err := whip.New(whip.Params{Router: r, Streaming: sp, Viewer: whip.NewViewer(whip.ViewerParams{Streaming: sp}), Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatalf("a WHEP-only mountpoint server: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer func() { hs.Close(); srv.Close() }()
	if got, _, body := post(t, hs.URL+"/whip/7", "", "v=0\r\n"); got != http.StatusNotFound {
		t.Errorf("WHIP without the sfu plugin: %d %s, want 404", got, body)
	}
}
