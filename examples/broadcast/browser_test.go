package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testbrowser"

	"github.com/chromedp/chromedp"
)

// publisherStats is what window.ianuaPublisherStats() in publish.js returns.
type publisherStats struct {
	State           string `json:"state"`
	ConnectionState string `json:"connectionState"`
	Resource        string `json:"resource"`
	DeleteStatus    int    `json:"deleteStatus"`
	PacketsSent     int    `json:"packetsSent"`
}

// playerStats is what window.ianuaPlayerStats() in watch.js returns.
type playerStats struct {
	State                string `json:"state"`
	ConnectionState      string `json:"connectionState"`
	FramesDecoded        int    `json:"framesDecoded"`
	AudioPacketsReceived int    `json:"audioPacketsReceived"`
}

// page is one tab of the shared browser.
type page struct {
	t    *testing.T
	name string
	tab  context.Context
}

// openPage opens path?query in a new tab.
func openPage(t *testing.T, browser context.Context, addr, name, path string, q url.Values) *page {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel) // closes the tab, before the browser closes
	u := fmt.Sprintf("http://%s/%s?%s", addr, path, q.Encode())
	if err := chromedp.Do(tab, chromedp.Navigate(u)); err != nil {
		t.Fatalf("%s: navigate to %s: %v", name, u, err)
	}
	return &page{t: t, name: name, tab: tab}
}

// eval evaluates js in the page, awaiting a promise it returns.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, js, err)
	}
	return v
}

// waitPage polls read until ok holds, and fails with the page's log if it
// does not within timeout.
func waitPage[T any](p *page, timeout time.Duration, what, read string, ok func(T) bool) T {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := eval[T](p, read)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			logText := eval[string](p, `document.getElementById('log').textContent`)
			p.t.Fatalf("%s: %s: not within %v; last %+v\npage log:\n%s", p.name, what, timeout, s, logText)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestBrowserBroadcast publishes the fake camera and microphone from one
// tab over WHIP and plays them in another over WHEP; then the publisher's
// Stop (DELETE) ends both sessions.
func TestBrowserBroadcast(t *testing.T) {
	chromium := testbrowser.Chromium(t) // fail before starting anything
	a := startServer(t)
	browser := testbrowser.Start(t, chromium)

	pub := openPage(t, browser, a.addr, "publisher", "publish.html",
		url.Values{"autostart": {"1"}, "token": {testToken}, "display": {"chromium"}})
	const pubStats = `window.ianuaPublisherStats()`
	waitPage(pub, 20*time.Second, "publishing", pubStats, func(s publisherStats) bool {
		return s.State == "live" && s.PacketsSent > 0
	})
	ps := a.room.Participants()
	if len(ps) != 1 || !ps[0].Publishing() || ps[0].Display() != "chromium" {
		t.Fatalf("room participants after WHIP: %d, want one publishing \"chromium\"", len(ps))
	}

	view := openPage(t, browser, a.addr, "player", "watch.html",
		url.Values{"autostart": {"1"}, "token": {testToken}})
	const playStats = `window.ianuaPlayerStats()`
	s := waitPage(view, 20*time.Second, "playing audio and video", playStats, func(s playerStats) bool {
		return s.ConnectionState == "connected" && s.FramesDecoded > 0 && s.AudioPacketsReceived > 0
	})
	t.Logf("playing: %+v", s)
	if n := a.liveSessions(); n != 2 {
		t.Errorf("%d sessions while playing, want 2 (publisher and player)", n)
	}

	// ... and keeps playing.
	time.Sleep(2 * time.Second)
	later := eval[playerStats](view, playStats)
	if later.FramesDecoded <= s.FramesDecoded {
		t.Errorf("video stalled: %d frames decoded, %d two seconds before", later.FramesDecoded, s.FramesDecoded)
	}
	if later.AudioPacketsReceived <= s.AudioPacketsReceived {
		t.Errorf("audio stalled: %d packets received, %d two seconds before", later.AudioPacketsReceived, s.AudioPacketsReceived)
	}

	// A picture of the player, to look at.
	if png, err := chromedp.Run(view.tab, chromedp.FullScreenshot(100)); err != nil {
		t.Errorf("screenshot: %v", err)
	} else if err := os.WriteFile(screenshotPath(), png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
	}

	// Stop sends DELETE: the publisher's session ends, and with it the
	// player's, whose source is gone.
	if !eval[bool](pub, `(() => { const b = document.getElementById('stop'); if (b.disabled) return false; b.click(); return true })()`) {
		t.Fatal("publisher: the Stop button is disabled")
	}
	waitPage(pub, 10*time.Second, "stopped", pubStats, func(s publisherStats) bool {
		return s.State == "stopped" && s.DeleteStatus == 200
	})
	deadline := time.Now().Add(10 * time.Second)
	for a.liveSessions() != 0 || len(a.room.Participants()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after DELETE: %d sessions and %d participants left", a.liveSessions(), len(a.room.Participants()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitPage(view, 5*time.Second, "the player sees the end", playStats, func(s playerStats) bool {
		return s.State == "ended"
	})
}

// screenshotPath is where the player's picture goes: /tmp/broadcast.png, or
// $BROADCAST_SCREENSHOT.
func screenshotPath() string {
	if p := os.Getenv("BROADCAST_SCREENSHOT"); p != "" {
		return p
	}
	return "/tmp/broadcast.png"
}
