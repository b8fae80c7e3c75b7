package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testbrowser"
	"github.com/ianua/ianua/internal/testsip"
	"github.com/ianua/ianua/streaming"

	"github.com/chromedp/chromedp"
)

// The browser tests load the demo pages, which run janus.js (from npm,
// unchanged) in headless Chromium against the in-process server.

// echoStats is what window.ianuaStats() of echotest.js returns.
type echoStats struct {
	State           string  `json:"state"`
	FramesDecoded   int     `json:"framesDecoded"`
	PacketsReceived int     `json:"packetsReceived"`
	FrameWidth      int     `json:"frameWidth"` // of the echoed video
	FrameHeight     int     `json:"frameHeight"`
	FPS             float64 `json:"framesPerSecond"` // of the echoed video
	VideoCodec      string  `json:"videoCodec"`      // mime of the echoed video ("video/VP8")
	AudioCodec      string  `json:"audioCodec"`      // mime of the echoed audio
	AudioPackets    int     `json:"audioPackets"`
	// EncodingsSending counts the outbound video encodings that sent
	// something: how many simulcast layers the browser really sends.
	EncodingsSending int `json:"encodingsSending"`
	Encodings        []struct {
		RID         string  `json:"rid"`
		BytesSent   int64   `json:"bytesSent"`
		FrameWidth  int     `json:"frameWidth"`
		FrameHeight int     `json:"frameHeight"`
		Limitation  string  `json:"qualityLimitationReason"`
		Mode        string  `json:"scalabilityMode"`
		FPS         float64 `json:"framesPerSecond"`
	} `json:"encodings"`
	// The plugin's layer events, the last values they carried.
	LayerEvents     int    `json:"layerEvents"`
	EventVideoCodec string `json:"eventVideoCodec"`
	Substream       *int   `json:"substream"`
	Temporal        *int   `json:"temporal"`
	SpatialLayer    *int   `json:"spatialLayer"`
	TemporalLayer   *int   `json:"temporalLayer"`
	// What the page's insertable-stream transforms did (?e2ee=1), and
	// whether the plugin's answer said e2ee (nil: no answer yet).
	E2EEEncrypted int   `json:"e2eeEncrypted"`
	E2EEDecrypted int   `json:"e2eeDecrypted"`
	E2EEAnswer    *bool `json:"e2eeAnswer"`
	Error         *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// substreamIs says whether the last substream event said n.
func (s echoStats) substreamIs(n int) bool { return s.Substream != nil && *s.Substream == n }

// roomStats is what window.ianuaStats() of videoroom.js returns.
type roomStats struct {
	State         string    `json:"state"`
	MyID          float64   `json:"myId"`
	Feeds         []float64 `json:"feeds"`
	RemoteVideos  int       `json:"remoteVideos"`
	FramesDecoded int       `json:"framesDecoded"`
	VideoStreams  int       `json:"videoStreams"`
}

// sipStats is what window.ianuaStats() of sip.js returns.
type sipStats struct {
	Registration string `json:"registration"` // unregistered, registering, registered, failed
	Call         string `json:"call"`         // idle, calling, ringing, incoming, incall
	Peer         string `json:"peer"`
	Failure      *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"failure"`
	Calls           int     `json:"calls"`   // calls that were up
	Hangups         int     `json:"hangups"` // calls that ended
	DTMF            string  `json:"dtmf"`    // keys received from the SIP peer
	PacketsReceived int     `json:"packetsReceived"`
	AudioEnergy     float64 `json:"audioEnergy"`
}

// streamStats is what window.ianuaStats() of streaming.js returns.
type streamStats struct {
	State           string   `json:"state"`
	Watching        *uint64  `json:"watching"`
	Mountpoints     []uint64 `json:"mountpoints"`
	PC              bool     `json:"pc"`              // janus.js has a PeerConnection
	PeerConnections int      `json:"peerConnections"` // how many it made
	Offers          int      `json:"offers"`          // plugin offers answered
	MIDs            []string `json:"mids"`            // of the remote tracks
	Info            *struct {
		ID      uint64 `json:"id"`
		Viewers int    `json:"viewers"`
	} `json:"info"`
	Error *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
	FramesDecoded int    `json:"framesDecoded"`
	FrameWidth    int    `json:"frameWidth"`
	FrameHeight   int    `json:"frameHeight"`
	VideoSSRC     uint32 `json:"videoSSRC"`
	AudioPackets  int    `json:"audioPackets"`
	// Video has more inbound-rtp counters, to tell why video stalled.
	Video map[string]any `json:"video"`
}

// watchingID says whether the page watches mountpoint id.
func (s streamStats) watchingID(id uint64) bool { return s.Watching != nil && *s.Watching == id }

// needJanusJS fails the test when npm ci has not been run.
func needJanusJS(t *testing.T) {
	t.Helper()
	if _, err := findWebDir(""); err != nil {
		t.Fatal(err)
	}
}

// newTab opens another tab in the browser of tab.
func newTab(t *testing.T, tab context.Context) context.Context {
	t.Helper()
	nt, cancel := chromedp.NewContext(tab)
	t.Cleanup(cancel)
	if err := chromedp.Do(nt); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	return nt
}

func navigate(t *testing.T, tab context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
}

// waitFor polls the page's ianuaStats until ok holds, and fails with the
// page's log if it does not within timeout.
func waitFor[S any](t *testing.T, tab context.Context, timeout time.Duration, what string, ok func(S) bool) S {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		s, err := chromedp.Run(tab, chromedp.Evaluate[S](`window.ianuaStats()`, chromedp.EvalAwaitPromise))
		if err == nil && ok(s) {
			t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
			return s
		}
		if time.Now().After(deadline) {
			logText, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('log').textContent`))
			t.Fatalf("%s: not within %v; last stats %+v (err %v)\npage log:\n%s", what, timeout, s, err, logText)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// screenshot saves a picture of the page under $JANUS_SERVER_SCREENSHOTS
// (default /tmp), to look at.
func screenshot(t *testing.T, tab context.Context, name string) {
	dir := os.Getenv("JANUS_SERVER_SCREENSHOTS")
	if dir == "" {
		dir = os.TempDir()
	}
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(fmt.Sprintf("%s/janus-server-%s.png", dir, name), png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
	}
}

// TestBrowserEchoTest runs the janus.js EchoTest page over each transport:
// the echoed video is decoded, and keeps being decoded.
func TestBrowserEchoTest(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	needJanusJS(t)
	at, _ := startServer(t, nil)
	tab := testbrowser.Start(t, chromium)
	for _, transport := range []string{"ws", "http"} {
		t.Run(transport, func(t *testing.T) {
			page := newTab(t, tab)
			page, cancel := context.WithTimeout(page, 60*time.Second)
			defer cancel()
			navigate(t, page, fmt.Sprintf("http://%s/echotest.html?autostart=1&transport=%s", at.Web, transport))
			s := waitFor(t, page, 30*time.Second, "echoed video decoded", func(s echoStats) bool { return s.State == "up" && s.FramesDecoded > 0 })
			time.Sleep(2 * time.Second)
			later := waitFor(t, page, 5*time.Second, "stats", func(echoStats) bool { return true })
			if later.FramesDecoded <= s.FramesDecoded {
				t.Errorf("echo stalled: %d frames decoded, %d two seconds before", later.FramesDecoded, s.FramesDecoded)
			}
			t.Logf("%s: %d echoed frames decoded", transport, later.FramesDecoded)
			screenshot(t, page, "echotest-"+transport)
		})
	}
}

// echoSend sends {message: msg} on the EchoTest page's handle.
func echoSend(t *testing.T, tab context.Context, msg string) {
	t.Helper()
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.ianuaSend(`+msg+`)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("send %s: %v", msg, err)
	}
}

// TestBrowserEchoTestSimulcast runs the EchoTest page with simulcast, as
// Janus's demo does (janus.js's simulcast: true): the plugin echoes one
// layer, the highest by default, and tells which with an event;
// {"substream":0} switches the echo to the lowest, whose picture is
// smaller, and {"substream":2} back to the highest. Chromium sends as many
// layers as the camera's size allows (two for 640x480, three from
// 960x540); janus.js asks for 1280x720, which the fake camera may or may
// not give, so the test needs two layers only.
func TestBrowserEchoTestSimulcast(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	needJanusJS(t)
	at, _ := startServer(t, nil)
	page, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 90*time.Second)
	defer cancel()
	navigate(t, page, fmt.Sprintf("http://%s/echotest.html?autostart=1&transport=ws&simulcast=1", at.Web))
	s := waitFor(t, page, 30*time.Second, "simulcast echo decoded, layer told", func(s echoStats) bool {
		return s.State == "up" && s.FramesDecoded > 0 && s.Substream != nil && s.EncodingsSending >= 2
	})
	if s.EventVideoCodec != "vp8" {
		t.Errorf("layer event's videocodec %q, want vp8", s.EventVideoCodec)
	}
	// The browser starts with the low layers and adds the high one as its
	// bandwidth estimate grows; the echo follows up to the highest.
	high := waitFor(t, page, 20*time.Second, "highest layer echoed", func(n echoStats) bool {
		return n.FramesDecoded > s.FramesDecoded && n.FrameWidth > 0 && n.FrameWidth >= sentWidth(n, true)
	})
	t.Logf("echo of %dx%d (substream event %d, temporal %v), %d encodings sending: %+v",
		high.FrameWidth, high.FrameHeight, *high.Substream, deref(high.Temporal), high.EncodingsSending, high.Encodings)

	echoSend(t, page, `{substream: 0}`)
	low := waitFor(t, page, 15*time.Second, "substream 0 echoed", func(n echoStats) bool {
		return n.substreamIs(0) && n.FrameWidth > 0 && n.FrameWidth < high.FrameWidth &&
			n.FrameWidth == sentWidth(n, false) && n.FramesDecoded > high.FramesDecoded
	})
	time.Sleep(1500 * time.Millisecond)
	still := waitFor(t, page, 5*time.Second, "stats", func(echoStats) bool { return true })
	if still.FramesDecoded <= low.FramesDecoded || still.FrameWidth >= high.FrameWidth || !still.substreamIs(0) {
		t.Errorf("substream 0: %d frames of %dx%d (substream %v), %d frames before; want more, narrower than %d",
			still.FramesDecoded, still.FrameWidth, still.FrameHeight, deref(still.Substream), low.FramesDecoded, high.FrameWidth)
	}
	t.Logf("substream 0: echo of %dx%d", still.FrameWidth, still.FrameHeight)
	screenshot(t, page, "echotest-simulcast-low")

	echoSend(t, page, `{substream: 2}`)
	// The highest layer sent now: the browser may have dropped one since.
	back := waitFor(t, page, 15*time.Second, "highest substream echoed again", func(n echoStats) bool {
		return n.Substream != nil && *n.Substream > 0 && n.FrameWidth > still.FrameWidth &&
			n.FrameWidth >= sentWidth(n, true) && n.FramesDecoded > still.FramesDecoded
	})
	// Substream indexes count the layers the client offers, lowest first:
	// with all three sending, the highest is 2.
	if back.EncodingsSending == 3 && !back.substreamIs(2) {
		t.Errorf("substream 2 asked, three layers sent: event says substream %d", *back.Substream)
	}
	t.Logf("substream 2: echo of %dx%d (substream event %d)", back.FrameWidth, back.FrameHeight, *back.Substream)

	// {"temporal":0}: only the base temporal layer comes back. Chromium's
	// VP8 layers are L1T2 or L1T3, whose base has half the frame rate or
	// less; with the dependency descriptor negotiated their temporal ids
	// are in the descriptor alone, which the plugin reads.
	rate := func() float64 {
		a := waitFor(t, page, 5*time.Second, "stats", func(echoStats) bool { return true })
		time.Sleep(2 * time.Second)
		b := waitFor(t, page, 5*time.Second, "stats", func(echoStats) bool { return true })
		return float64(b.FramesDecoded-a.FramesDecoded) / 2
	}
	all := rate()
	echoSend(t, page, `{temporal: 0}`)
	time.Sleep(500 * time.Millisecond)
	base := rate()
	t.Logf("echo frame rate: %.1f/s with every temporal layer, %.1f/s with temporal 0", all, base)
	if base == 0 || base > all*0.7 {
		t.Errorf("temporal 0: %.1f frames/s against %.1f with every layer, want about half and still decoding", base, all)
	}
	echoSend(t, page, `{temporal: 2}`)
	time.Sleep(500 * time.Millisecond)
	if again := rate(); again < base*1.4 {
		t.Errorf("temporal 2: %.1f frames/s, no more than the %.1f of temporal 0", again, base)
	}
	screenshot(t, page, "echotest-simulcast")
}

// sentWidth is the width of the widest (or the narrowest) encoding the
// page sends now.
func sentWidth(s echoStats, widest bool) int {
	w := -1
	for _, e := range s.Encodings {
		if e.FPS > 0 && e.FrameWidth > 0 && (w < 0 || (e.FrameWidth > w) == widest) {
			w = e.FrameWidth
		}
	}
	return w
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestBrowserEchoTestCodecs runs the EchoTest page with the codecs chosen
// as Janus's demo does (?vcodec=, ?acodec=, sent as videocodec and
// audiocodec with the offer): the echo is decoded, in those codecs.
func TestBrowserEchoTestCodecs(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	needJanusJS(t)
	at, _ := startServer(t, nil)
	tab := testbrowser.Start(t, chromium)
	for _, c := range []struct {
		name, query  string
		video, audio string // mimes of the echo
	}{
		{"vp9+pcmu", "vcodec=vp9&acodec=pcmu", "video/VP9", "audio/PCMU"},
		{"h264", "vcodec=h264", "video/H264", "audio/opus"},
	} {
		t.Run(c.name, func(t *testing.T) {
			page := newTab(t, tab)
			page, cancel := context.WithTimeout(page, 60*time.Second)
			defer cancel()
			navigate(t, page, fmt.Sprintf("http://%s/echotest.html?autostart=1&transport=ws&%s", at.Web, c.query))
			s := waitFor(t, page, 30*time.Second, "echo decoded", func(s echoStats) bool {
				return s.State == "up" && s.FramesDecoded > 0 && s.AudioPackets > 0
			})
			if s.VideoCodec != c.video || s.AudioCodec != c.audio {
				t.Errorf("echo in %s and %s, want %s and %s", s.VideoCodec, s.AudioCodec, c.video, c.audio)
			}
			time.Sleep(1500 * time.Millisecond)
			later := waitFor(t, page, 5*time.Second, "stats", func(echoStats) bool { return true })
			if later.FramesDecoded <= s.FramesDecoded {
				t.Errorf("echo stalled: %d frames decoded, %d before", later.FramesDecoded, s.FramesDecoded)
			}
			t.Logf("%s: %d frames of %dx%d in %s, audio in %s", c.name, later.FramesDecoded, later.FrameWidth, later.FrameHeight, later.VideoCodec, later.AudioCodec)
			screenshot(t, page, "echotest-"+c.name)
		})
	}
}

// TestBrowserEchoTestE2EE runs the EchoTest page with its media end-to-end
// encrypted through insertable streams (?e2ee=1: janus.js's track
// transforms, a toy cipher that leaves the codec's first bytes clear, as
// Janus's e2etest demo does). janus.js says "e2ee" in the offer; the
// plugin says it back in the answer; the frames it echoes unread are
// decrypted and decoded by the page. With simulcast too, where the server
// picks layers from what it can read of the packets.
func TestBrowserEchoTestE2EE(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	needJanusJS(t)
	at, _ := startServer(t, nil)
	tab := testbrowser.Start(t, chromium)
	for _, c := range []struct{ name, query string }{{"plain", ""}, {"simulcast", "&simulcast=1"}} {
		t.Run(c.name, func(t *testing.T) {
			page := newTab(t, tab)
			page, cancel := context.WithTimeout(page, 60*time.Second)
			defer cancel()
			navigate(t, page, fmt.Sprintf("http://%s/echotest.html?autostart=1&transport=ws&e2ee=1%s", at.Web, c.query))
			s := waitFor(t, page, 30*time.Second, "encrypted echo decrypted and decoded", func(s echoStats) bool {
				return s.State == "up" && s.FramesDecoded > 0 && s.AudioPackets > 0 && s.E2EEDecrypted > 0
			})
			if s.E2EEAnswer == nil || !*s.E2EEAnswer {
				t.Errorf("the plugin's answer did not say e2ee (%v)", s.E2EEAnswer)
			}
			// Half a second of video more, and frames encrypted and
			// decrypted all along. On a loaded machine Chrome may start
			// simulcast on its lowest layer only; the echo then moves up
			// at the next keyframe of a higher one, which can take a
			// keyframe request's round trip: hence the margin.
			later := waitFor(t, page, 15*time.Second, "the encrypted echo keeps being decoded", func(n echoStats) bool {
				return n.FramesDecoded >= s.FramesDecoded+15 && n.E2EEDecrypted > s.E2EEDecrypted && n.E2EEEncrypted > s.E2EEEncrypted
			})
			t.Logf("%s: %d frames of %dx%d decoded, %d frames encrypted, %d decrypted", c.name, later.FramesDecoded, later.FrameWidth, later.FrameHeight, later.E2EEEncrypted, later.E2EEDecrypted)
			screenshot(t, page, "echotest-e2ee-"+c.name)
		})
	}
}

// TestBrowserVideoRoom opens two janus.js VideoRoom pages in room 1234,
// one over WebSocket and one over HTTP: each decodes the other's video.
func TestBrowserVideoRoom(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	needJanusJS(t)
	at, _ := startServer(t, nil)
	// One browser each, so that both pages are in front: Chromium decodes
	// little video in a background tab.
	alice, cancelA := context.WithTimeout(testbrowser.Start(t, chromium), 90*time.Second)
	defer cancelA()
	bob, cancelB := context.WithTimeout(testbrowser.Start(t, chromium), 90*time.Second)
	defer cancelB()
	navigate(t, alice, fmt.Sprintf("http://%s/videoroom.html?autojoin=1&display=Alice&transport=ws", at.Web))
	a := waitFor(t, alice, 20*time.Second, "Alice publishing", func(s roomStats) bool { return s.MyID != 0 && s.State == "publishing" })
	navigate(t, bob, fmt.Sprintf("http://%s/videoroom.html?autojoin=1&display=Bob&transport=http", at.Web))
	b := waitFor(t, bob, 20*time.Second, "Bob joined", func(s roomStats) bool { return s.MyID != 0 })

	defer func() {
		if t.Failed() {
			for name, tab := range map[string]context.Context{"Alice": alice, "Bob": bob} {
				logText, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('log').textContent`))
				t.Logf("%s's page log:\n%s", name, logText)
			}
		}
	}()
	// Each subscribes to the other and decodes the other's video.
	for _, p := range []struct {
		name  string
		tab   context.Context
		other float64
	}{{"Alice", alice, b.MyID}, {"Bob", bob, a.MyID}} {
		s := waitFor(t, p.tab, 30*time.Second, p.name+" decodes the other's video", func(s roomStats) bool {
			return len(s.Feeds) == 1 && s.Feeds[0] == p.other && s.FramesDecoded > 0
		})
		time.Sleep(1500 * time.Millisecond)
		later := waitFor(t, p.tab, 5*time.Second, "stats", func(roomStats) bool { return true })
		if later.FramesDecoded <= s.FramesDecoded {
			t.Errorf("%s: remote video stalled: %d frames, %d before", p.name, later.FramesDecoded, s.FramesDecoded)
		}
		t.Logf("%s: %d frames decoded of feed %v", p.name, later.FramesDecoded, s.Feeds)
	}
	screenshot(t, alice, "videoroom-alice")
	screenshot(t, bob, "videoroom-bob")
}

// TestBrowserSIP runs the janus.js SIP page against SIPp peers (scenarios
// in testdata/): a registrar that challenges every REGISTER and checks
// the digest, a callee and a caller that echo the audio (-rtp_echo). A
// wrong secret is refused; the right one registers; the page calls the
// callee, hears itself, sends a DTMF key by SIP INFO and gets one back,
// and hangs up; then it is called, answers, hears itself and hangs up;
// the server's shutdown withdraws the registration. Every SIPp must end
// its scenario without a failed call.
func TestBrowserSIP(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	needJanusJS(t)
	// SIPp first, so that the server's cleanup (which un-REGISTERs) runs
	// before theirs.
	regPort, calleePort, gwPort := testsip.FreePort(t, false), testsip.FreePort(t, false), testsip.FreePort(t, false)
	registrar := startSIPp(t, "registrar", "-sf", testsip.Scenario(t, "sipp-registrar.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(regPort), "-m", "2") // the wrong secret, then alice's binding
	callee := startSIPp(t, "callee", "-sf", testsip.Scenario(t, "sipp-callee.xml"), "-rtp_echo",
		"-i", "127.0.0.1", "-p", strconv.Itoa(calleePort), "-mi", "127.0.0.1", "-mp", strconv.Itoa(testsip.FreePort(t, true)), "-m", "1")
	gw := net.JoinHostPort("127.0.0.1", strconv.Itoa(gwPort))
	at, stop := startServer(t, func(o *options) { o.SIP = gw })
	browser, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 150*time.Second)
	defer cancel()

	page := func(transport, secret string, more neturl.Values) string {
		q := neturl.Values{"transport": {transport}, "user": {"sip:alice@127.0.0.1"}, "secret": {secret},
			"proxy": {"sip:" + net.JoinHostPort("127.0.0.1", strconv.Itoa(regPort))}, "autoregister": {"1"}}
		for k, v := range more {
			q[k] = v
		}
		return fmt.Sprintf("http://%s/sip.html?%s", at.Web, q.Encode())
	}
	click := func(tab context.Context, sel string) {
		t.Helper()
		if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}

	// A wrong secret: the registrar answers the digest with 403.
	bad := newTab(t, browser)
	navigate(t, bad, page("http", "not-the-secret", nil))
	s := waitFor(t, bad, 20*time.Second, "registration refused", func(s sipStats) bool { return s.Registration != "registering" && s.Registration != "unregistered" })
	if s.Registration != "failed" || s.Failure == nil || s.Failure.Code != 403 {
		t.Fatalf("wrong secret: registration %q, failure %+v; want failed with 403", s.Registration, s.Failure)
	}

	// The right one, then a call to the callee.
	navigate(t, browser, page("ws", "wonderland", neturl.Values{
		"call":       {"sip:echo@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(calleePort))},
		"autoaccept": {"1"},
	}))
	waitFor(t, browser, 20*time.Second, "registered", func(s sipStats) bool { return s.Registration == "registered" })
	s = waitFor(t, browser, 30*time.Second, "outgoing call echoes audio", func(s sipStats) bool {
		return s.Call == "incall" && s.PacketsReceived > 50 && s.AudioEnergy > 0
	})
	t.Logf("outgoing call: %d audio packets back, energy %.3g", s.PacketsReceived, s.AudioEnergy)
	click(browser, `#keypad button[data-digit="5"]`)
	// The callee sends Signal=7 once it has the INFO; whether that said
	// Signal=5 is in its exit status.
	waitFor(t, browser, 10*time.Second, "DTMF both ways", func(s sipStats) bool { return s.DTMF == "7" })
	click(browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "outgoing call hung up", func(s sipStats) bool { return s.Call == "idle" && s.Hangups == 1 })
	callee.Check(t, 10*time.Second)

	// A call from SIPp to alice at the gateway, answered by the page.
	caller := startSIPp(t, "caller", "-sf", testsip.Scenario(t, "sipp-caller.xml"), "-rtp_echo", "-s", "alice",
		"-i", "127.0.0.1", "-p", strconv.Itoa(testsip.FreePort(t, false)), "-mi", "127.0.0.1", "-mp", strconv.Itoa(testsip.FreePort(t, true)), "-m", "1", gw)
	s = waitFor(t, browser, 30*time.Second, "incoming call echoes audio", func(s sipStats) bool {
		return s.Call == "incall" && s.Calls == 2 && s.PacketsReceived > 50 && s.AudioEnergy > 0
	})
	t.Logf("incoming call from %s: %d audio packets back, energy %.3g", s.Peer, s.PacketsReceived, s.AudioEnergy)
	click(browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "incoming call hung up", func(s sipStats) bool { return s.Call == "idle" && s.Hangups == 2 })
	caller.Check(t, 10*time.Second)
	screenshot(t, browser, "sip")

	// Shutting down withdraws alice's binding, the registrar's last step.
	if err := stop(); err != nil {
		t.Errorf("server shutdown: %v", err)
	}
	registrar.Check(t, 10*time.Second)
}

// startSIPp runs SIPp, called name in failures, until the test ends (or
// its scenario, 150 s); the scenario's messages go to a file, shown if the
// test fails.
func startSIPp(t *testing.T, name string, args ...string) *testsip.SIPp {
	t.Helper()
	return testsip.Start(t, testsip.Options{Name: name, Timeout: 150 * time.Second, TraceMessages: true}, args...)
}

// TestBrowserStreamingRTSP plays an IP camera in the janus.js Streaming
// page: an "rtsp" mountpoint pulls H.264 and Opus from GStreamer's RTSP
// server (streaming/testdata/rtsp-server.py) with Digest credentials, and
// Chromium decodes the H.264 pictures (320x240) and gets the audio.
func TestBrowserStreamingRTSP(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	needJanusJS(t)
	cam := startRTSPCamera(t, "h264", "admin", "s3cret")
	at, _ := startServer(t, func(o *options) {
		o.Streaming.Mountpoints = []streaming.MountpointParams{{ID: 7, Description: "IP camera", Type: "rtsp",
			URL: cam, RTSPUser: "admin", RTSPPassword: "s3cret"}}
	})
	page, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 60*time.Second)
	defer cancel()
	navigate(t, page, fmt.Sprintf("http://%s/streaming.html?autowatch=7", at.Web))
	s := waitFor(t, page, 30*time.Second, "the camera plays", func(s streamStats) bool {
		return s.State == "started" && s.watchingID(7) && s.FramesDecoded > 0 && s.AudioPackets > 0
	})
	if s.FrameWidth != 320 || s.FrameHeight != 240 {
		t.Errorf("picture %dx%d, want the camera's 320x240", s.FrameWidth, s.FrameHeight)
	}
	later := waitFor(t, page, 10*time.Second, "the camera keeps playing", func(n streamStats) bool {
		return n.FramesDecoded >= s.FramesDecoded+15 && n.AudioPackets >= s.AudioPackets+25
	})
	t.Logf("RTSP camera: %d H.264 frames of %dx%d decoded, %d audio packets", later.FramesDecoded, later.FrameWidth, later.FrameHeight, later.AudioPackets)
	screenshot(t, page, "streaming-rtsp")
}

// startRTSPCamera runs GStreamer's RTSP server of the streaming tests
// (Debian's python3-gi and gir1.2-gst-rtsp-server-1.0, which scripts/test.sh
// installs) on a free port until the end of the test, and returns its
// URL.
func startRTSPCamera(t *testing.T, video, user, pass string) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	script, err := filepath.Abs(filepath.Join("..", "..", "streaming", "testdata", "rtsp-server.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", script, strconv.Itoa(port), "/cam", video, user, pass)
	var out testsip.Buffer // written by exec's copying goroutines
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("the RTSP server (scripts/test.sh installs python3-gi and GStreamer's RTSP server): %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp4", l.Addr().String()); err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("the RTSP server exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the RTSP server did not listen:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("rtsp://127.0.0.1:%d/cam", port)
}

// TestBrowserStreaming feeds two mountpoints with ffmpeg (VP8 and Opus over
// plain RTP, as the README's command does; 320x240 into mountpoint 1,
// 160x120 into mountpoint 2) and drives the janus.js Streaming page: it
// watches mountpoint 1 (video decoded, audio received); "info" counts the
// viewer; "switch" moves the same PeerConnection, with no new offer, to
// mountpoint 2, whose picture size shows it is the other stream; "pause"
// holds the media and "start" resumes it; "stop" ends the watching, the
// PeerConnection goes and the viewer count drops; a new "watch" on the
// same handle plays again, on a new PeerConnection.
func TestBrowserStreaming(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	needJanusJS(t)
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg not found: apt-get install ffmpeg (scripts/test.sh does)")
	}
	ports := rtpPorts(t, 4)
	at, _ := startServer(t, func(o *options) {
		o.Streaming.Mountpoints = []streaming.MountpointParams{
			rtpMountpoint(1, "test pattern 320x240, 440 Hz", ports[0], ports[1]),
			rtpMountpoint(2, "test pattern 160x120, 660 Hz", ports[2], ports[3]),
		}
	})
	feedMountpoint(t, ffmpeg, "320x240", 440, ports[0], ports[1])
	feedMountpoint(t, ffmpeg, "160x120", 660, ports[2], ports[3])
	page, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 120*time.Second)
	defer cancel()
	click := func(sel string) {
		t.Helper()
		if err := chromedp.Do(page, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	choose := func(id uint64) {
		t.Helper()
		if err := chromedp.Do(page, chromedp.SetValue(chromedp.CSS("#mountpoints"), strconv.FormatUint(id, 10))); err != nil {
			t.Fatalf("choose mountpoint %d: %v", id, err)
		}
	}
	// flowing checks that video frames and audio packets keep coming: half
	// a second's worth more than in s. A new viewer decodes the kept
	// keyframe at once, then waits for the next one (a second at most
	// from ffmpeg, longer on a loaded machine).
	flowing := func(what string, s streamStats) streamStats {
		t.Helper()
		return waitFor(t, page, 10*time.Second, what+" flowing", func(n streamStats) bool {
			return n.FramesDecoded >= s.FramesDecoded+15 && n.AudioPackets >= s.AudioPackets+25
		})
	}

	navigate(t, page, fmt.Sprintf("http://%s/streaming.html?autowatch=1", at.Web))
	s := waitFor(t, page, 30*time.Second, "mountpoint 1 plays", func(s streamStats) bool {
		return s.State == "started" && s.watchingID(1) && s.FramesDecoded > 0 && s.FrameWidth == 320 && s.AudioPackets > 0
	})
	if len(s.Mountpoints) != 2 {
		t.Errorf("list: mountpoints %v, want [1 2]", s.Mountpoints)
	}
	// The SDP's mids are the mountpoint's, as in Janus.
	if !slices.Equal(s.MIDs, []string{"a", "v"}) {
		t.Errorf("remote tracks' mids %q, want the mountpoint's [a v]", s.MIDs)
	}
	s = flowing("mountpoint 1", s)
	t.Logf("mountpoint 1: %d frames of %dx%d, %d audio packets", s.FramesDecoded, s.FrameWidth, s.FrameHeight, s.AudioPackets)
	choose(1)
	click("#info")
	waitFor(t, page, 5*time.Second, "info: one viewer of 1", func(s streamStats) bool { return s.Info != nil && s.Info.ID == 1 && s.Info.Viewers == 1 })

	// Switch: the same PeerConnection, the same SSRC, another picture.
	choose(2)
	click("#switch")
	sw := waitFor(t, page, 15*time.Second, "mountpoint 2 plays after the switch", func(n streamStats) bool {
		return n.watchingID(2) && n.FrameWidth == 160 && n.FramesDecoded > s.FramesDecoded
	})
	if sw.PeerConnections != 1 || sw.Offers != 1 || !sw.PC {
		t.Errorf("switch: %d PeerConnections, %d offers (PeerConnection open: %v); want the first one only", sw.PeerConnections, sw.Offers, sw.PC)
	}
	if sw.VideoSSRC != s.VideoSSRC {
		t.Errorf("switch: video SSRC %d, was %d", sw.VideoSSRC, s.VideoSSRC)
	}
	sw = flowing("mountpoint 2", sw)
	t.Logf("mountpoint 2: %d frames (%dx%d), %d audio packets", sw.FramesDecoded, sw.FrameWidth, sw.FrameHeight, sw.AudioPackets)

	// Pause holds the media; start resumes it.
	click("#pause")
	waitFor(t, page, 5*time.Second, "paused", func(s streamStats) bool { return s.State == "paused" })
	time.Sleep(time.Second) // what was on its way arrives
	held := waitFor(t, page, 5*time.Second, "stats", func(streamStats) bool { return true })
	time.Sleep(1500 * time.Millisecond)
	still := waitFor(t, page, 5*time.Second, "stats", func(streamStats) bool { return true })
	if still.FramesDecoded > held.FramesDecoded+1 || still.AudioPackets > held.AudioPackets+1 {
		t.Errorf("paused, yet %d frames and %d audio packets came in 1.5 s",
			still.FramesDecoded-held.FramesDecoded, still.AudioPackets-held.AudioPackets)
	}
	click("#pause") // now "Resume": a "start" without JSEP
	resumed := waitFor(t, page, 10*time.Second, "resumed", func(s streamStats) bool {
		return s.State == "started" && s.FramesDecoded > still.FramesDecoded && s.AudioPackets > still.AudioPackets
	})
	flowing("mountpoint 2 after the pause", resumed)

	// Stop: the server hangs up, the viewer is gone.
	click("#watch") // now "Stop"
	waitFor(t, page, 10*time.Second, "stopped", func(s streamStats) bool { return s.State == "stopped" && !s.PC && s.Watching == nil })
	click("#info")
	waitFor(t, page, 5*time.Second, "info: no viewer of 2", func(s streamStats) bool { return s.Info != nil && s.Info.ID == 2 && s.Info.Viewers == 0 })

	// Watch again on the same handle.
	choose(1)
	click("#watch")
	again := waitFor(t, page, 30*time.Second, "mountpoint 1 plays again", func(s streamStats) bool {
		return s.State == "started" && s.watchingID(1) && s.FramesDecoded > 0 && s.FrameWidth == 320 && s.AudioPackets > 0
	})
	if again.PeerConnections != 2 || again.Offers != 2 {
		t.Errorf("watch after stop: %d PeerConnections, %d offers; want 2 and 2", again.PeerConnections, again.Offers)
	}
	flowing("mountpoint 1 watched again", again)
	screenshot(t, page, "streaming")
}

// rtpPorts returns n distinct even UDP ports of 127.0.0.1, each with the
// next one free too: ffmpeg sends its RTCP to port+1, which must not be
// another stream's port.
func rtpPorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for len(out) < n {
		p := testsip.FreePort(t, true)
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// feedMountpoint runs ffmpeg until the test ends: a test pattern of size
// (VP8, a keyframe a second) and a tone (Opus) over plain RTP to a
// mountpoint's ports, the README's command. It fails the test if ffmpeg
// ends before that.
func feedMountpoint(t *testing.T, ffmpeg, size string, tone, audioPort, videoPort int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// The inputs end after 5 minutes, so that an ffmpeg outliving a killed
	// test stops by itself.
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%s:rate=30:duration=300", size),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000:duration=300", tone),
		"-map", "0:v", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "30",
		"-payload_type", "100", "-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d?pkt_size=1200", videoPort),
		"-map", "1:a", "-c:a", "libopus", "-payload_type", "111", "-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d", audioPort))
	var out bytes.Buffer // read once ffmpeg has exited
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("ffmpeg: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-done:
			t.Errorf("ffmpeg (%s) ended before the test: %v\n%s", size, err, out.Bytes())
		default:
			cancel()
			<-done
		}
	})
}
