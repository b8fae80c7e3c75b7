package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testbrowser"

	"github.com/chromedp/chromedp"
)

// The browser tests load the demo pages, which run janus.js (from npm,
// unchanged) in headless Chromium against the in-process server.

// echoStats is what window.ianuaStats() of echotest.js returns.
type echoStats struct {
	State           string `json:"state"`
	FramesDecoded   int    `json:"framesDecoded"`
	PacketsReceived int    `json:"packetsReceived"`
}

// roomStats is what window.ianuaStats() of videoroom.js returns.
type roomStats struct {
	State         string    `json:"state"`
	MyID          float64   `json:"myId"`
	Feeds         []float64 `json:"feeds"`
	RemoteVideos  int       `json:"remoteVideos"`
	FramesDecoded int       `json:"framesDecoded"`
	VideoStreams  int       `json:"videoStreams"`
}

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
