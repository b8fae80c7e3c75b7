package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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
	Stream               string `json:"stream"`
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

	screenshot(view, "")

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

// screenshot saves a picture of the page, to look at: /tmp/broadcast.png
// (or $BROADCAST_SCREENSHOT), with the suffix before ".png".
func screenshot(p *page, suffix string) {
	p.t.Helper()
	path := "/tmp/broadcast.png"
	if env := os.Getenv("BROADCAST_SCREENSHOT"); env != "" {
		path = env
	}
	path = strings.TrimSuffix(path, ".png") + suffix + ".png"
	if png, err := chromedp.Run(p.tab, chromedp.FullScreenshot(100)); err != nil {
		p.t.Errorf("screenshot: %v", err)
	} else if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Errorf("screenshot: %v", err)
	}
}

// ffmpegSeconds is how long ffmpeg feeds the mountpoint: long enough for
// the browser to start, connect, and be seen decoding for a while.
const ffmpegSeconds = 10

// startFFmpeg sends a test pattern as VP8 and a tone as Opus over plain RTP
// to the mountpoint's ports, in real time, for ffmpegSeconds. The test's
// cleanup stops it; done is closed when it exits by itself, and out then
// holds what it wrote.
func startFFmpeg(t *testing.T, ffmpeg string, vport, aport int) (done <-chan struct{}, out func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=320x240:rate=30:duration=%d", ffmpegSeconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", ffmpegSeconds),
		"-map", "0:v", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k", "-g", "30",
		"-payload_type", strconv.Itoa(videoPT), "-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d?pkt_size=1200", vport),
		"-map", "1:a", "-c:a", "libopus", "-ac", "2", "-payload_type", strconv.Itoa(audioPT), "-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d", aport))
	var mu sync.Mutex
	var buf bytes.Buffer
	cmd.Stdout = &lockedWriter{mu: &mu, w: &buf}
	cmd.Stderr = cmd.Stdout
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start ffmpeg: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	return exited, func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

// lockedWriter lets the test read ffmpeg's output while ffmpeg writes it.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestBrowserMountpoint feeds the mountpoint with ffmpeg (VP8 and Opus over
// plain RTP) and plays it in watch.html?mountpoint=1 over WHEP: the player
// decodes video and receives audio, and keeps doing so; then the
// mountpoint is destroyed, which ends the player's session, and the page
// shows the end.
func TestBrowserMountpoint(t *testing.T) {
	chromium := testbrowser.Chromium(t) // fail before starting anything
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg not found: run the README's test command, which installs it (apt-get install -y ffmpeg)")
	}
	a := startServerWith(t, withMountpoint)
	browser := testbrowser.Start(t, chromium)
	// ffmpeg starts once the browser is up: its 10 s are for playing.
	media := a.mountpoint.Params().Media
	exited, ffmpegOut := startFFmpeg(t, ffmpeg, media[0].Port, media[1].Port)

	view := openPage(t, browser, a.addr, "player", "watch.html",
		url.Values{"autostart": {"1"}, "token": {testToken}, "mountpoint": {strconv.FormatUint(a.mountpoint.ID(), 10)}})
	const playStats = `window.ianuaPlayerStats()`
	ffmpegAlive := func() {
		select {
		case <-exited:
			t.Fatalf("ffmpeg ended before the test was done:\n%s", ffmpegOut())
		default:
		}
	}
	s := waitPage(view, 20*time.Second, "playing the mountpoint's audio and video", playStats, func(s playerStats) bool {
		ffmpegAlive()
		return s.ConnectionState == "connected" && s.FramesDecoded > 0 && s.AudioPacketsReceived > 0
	})
	t.Logf("playing: %+v", s)
	if s.Stream != "mountpoint:1" {
		t.Errorf("the player plays %q, want mountpoint:1", s.Stream)
	}
	if n := a.liveSessions(); n != 1 {
		t.Errorf("%d sessions while playing, want 1 (the player)", n)
	}

	// ... and keeps playing.
	time.Sleep(2 * time.Second)
	ffmpegAlive()
	later := eval[playerStats](view, playStats)
	if later.FramesDecoded <= s.FramesDecoded {
		t.Errorf("video stalled: %d frames decoded, %d two seconds before", later.FramesDecoded, s.FramesDecoded)
	}
	if later.AudioPacketsReceived <= s.AudioPacketsReceived {
		t.Errorf("audio stalled: %d packets received, %d two seconds before", later.AudioPacketsReceived, s.AudioPacketsReceived)
	}
	t.Logf("two seconds later: %+v", later)
	screenshot(view, "-mountpoint")

	// The mountpoint goes away: the server hangs up the player.
	if err := a.streaming.DestroyMountpoint(a.mountpoint.ID()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.liveSessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the mountpoint's end: %d sessions left", a.liveSessions())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitPage(view, 5*time.Second, "the player sees the end", playStats, func(s playerStats) bool {
		return s.State == "ended"
	})
}
