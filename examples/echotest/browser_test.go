package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testbrowser"

	"github.com/chromedp/chromedp"
)

// pageStats is what window.ianuaStats() in app.js returns.
type pageStats struct {
	ConnectionState      string   `json:"connectionState"`
	DataChannelState     string   `json:"dataChannelState"`
	VideoFramesDecoded   int      `json:"videoFramesDecoded"`
	AudioPacketsReceived int      `json:"audioPacketsReceived"`
	AudioBytesReceived   int      `json:"audioBytesReceived"`
	VideoBytesReceived   int      `json:"videoBytesReceived"`
	DataEchoes           int      `json:"dataEchoes"`
	SelectedLocal        string   `json:"selectedLocal"`
	SelectedRemote       string   `json:"selectedRemote"`
	RemoteAddresses      []string `json:"remoteAddresses"`
	LocalAddresses       []string `json:"localAddresses"`
	AnswerAudioCodec     string   `json:"answerAudioCodec"`
	AudioSamples         int      `json:"audioSamples"`
	AudioConcealed       int      `json:"audioConcealed"`
	FrameWidth           int      `json:"frameWidth"`
	VideoCodec           string   `json:"videoCodec"`
	LayersSent           int      `json:"layersSent"`
	Substream            *int     `json:"substream"`
}

// TestBrowserEcho drives the page in headless Chromium: camera, microphone
// and data channel go to the EchoTest plugin and come back, over loopback.
func TestBrowserEcho(t *testing.T) {
	chromium := testbrowser.Chromium(t) // fail before starting anything

	addr, _ := startServer(t)
	// Every step below runs within this bound; cancelling it at the end
	// leaves the tab open for the cleanup to close.
	tab, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 90*time.Second)
	defer cancel()

	url := fmt.Sprintf("http://%s/?autostart=1", addr)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}

	// Media flows both ways: connected, and the echo decoded.
	s := waitStats(t, tab, 40*time.Second, "connected with audio and video echoed", func(s pageStats) bool {
		return s.ConnectionState == "connected" && s.VideoFramesDecoded > 0 && s.AudioPacketsReceived > 0
	})
	t.Logf("connected: %+v", s)

	// ... and keeps flowing.
	time.Sleep(2 * time.Second)
	later := readStats(t, tab)
	if later.VideoFramesDecoded <= s.VideoFramesDecoded {
		t.Errorf("video stalled: %d frames decoded, %d two seconds before", later.VideoFramesDecoded, s.VideoFramesDecoded)
	}
	if later.AudioPacketsReceived <= s.AudioPacketsReceived {
		t.Errorf("audio stalled: %d packets received, %d two seconds before", later.AudioPacketsReceived, s.AudioPacketsReceived)
	}

	// Loopback only, in practice and not just in the SDP: the pair in use
	// and every candidate of the server are 127.0.0.1.
	if later.SelectedLocal != "127.0.0.1" || later.SelectedRemote != "127.0.0.1" {
		t.Errorf("selected candidate pair %s <-> %s, want 127.0.0.1 <-> 127.0.0.1", later.SelectedLocal, later.SelectedRemote)
	}
	if len(later.RemoteAddresses) == 0 {
		t.Error("the browser knows no server candidate")
	}
	for _, a := range later.RemoteAddresses {
		if a != "127.0.0.1" {
			t.Errorf("server candidate %q is not 127.0.0.1 (all: %v)", a, later.RemoteAddresses)
		}
	}

	// The data channel echoes.
	waitStats(t, tab, 10*time.Second, "data channel open", func(s pageStats) bool { return s.DataChannelState == "open" })
	sent, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.ianuaSendData("hello from the browser test")`))
	if err != nil || !sent {
		t.Fatalf("send on the data channel: sent=%v err=%v", sent, err)
	}
	waitStats(t, tab, 10*time.Second, "data channel echo", func(s pageStats) bool { return s.DataEchoes > 0 })

	// The page's controls reach the plugin: video off stops the echoed
	// frames, video on brings them back (on a keyframe the plugin asks for).
	click(t, tab, "video")
	waitText(t, tab, "video", "Video echo: off")
	time.Sleep(time.Second) // frames already on their way
	off := readStats(t, tab)
	time.Sleep(1500 * time.Millisecond)
	if s := readStats(t, tab); s.VideoFramesDecoded > off.VideoFramesDecoded+1 {
		t.Errorf("video off, yet %d frames decoded in 1.5 s", s.VideoFramesDecoded-off.VideoFramesDecoded)
	}
	click(t, tab, "video")
	waitText(t, tab, "video", "Video echo: on")
	waitStats(t, tab, 10*time.Second, "video back on", func(s pageStats) bool {
		return s.VideoFramesDecoded > off.VideoFramesDecoded+10
	})

	// A picture of the page, to look at: local and echoed video, stats.
	if png, err := chromedp.Run(tab, chromedp.FullScreenshot(100)); err != nil {
		t.Errorf("screenshot: %v", err)
	} else if err := os.WriteFile(screenshotPath(), png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
	}
}

// screenshotPath is where the page's picture goes: /tmp/echotest.png, or
// $ECHOTEST_SCREENSHOT.
func screenshotPath() string {
	if p := os.Getenv("ECHOTEST_SCREENSHOT"); p != "" {
		return p
	}
	return "/tmp/echotest.png"
}

func readStats(t *testing.T, tab context.Context) pageStats {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Evaluate[pageStats](`window.ianuaStats()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("ianuaStats: %v", err)
	}
	return s
}

// waitStats polls the page until ok holds, and fails with the page's
// signaling log if it does not within timeout.
func waitStats(t *testing.T, tab context.Context, timeout time.Duration, what string, ok func(pageStats) bool) pageStats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := readStats(t, tab)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			logText, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('log').textContent`))
			t.Fatalf("%s: not within %v; last stats %+v\npage log:\n%s", what, timeout, s, logText)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// click clicks the element with this id.
func click(t *testing.T, tab context.Context, id string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const el = document.getElementById(%q); if (!el || el.disabled) return false; el.click(); return true })()`, id)
	if ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](js)); err != nil || !ok {
		t.Fatalf("click #%s: clicked=%v err=%v", id, ok, err)
	}
}

// waitText waits until the element with this id shows text, which for the
// toggles means that the server acknowledged the request.
func waitText(t *testing.T, tab context.Context, id, text string) {
	t.Helper()
	js := fmt.Sprintf(`document.getElementById(%q).textContent`, id)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("read #%s: %v", id, err)
		}
		if got == text {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("#%s shows %q, want %q", id, got, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserEchoLayers runs the page's options in Chromium: simulcast,
// where the plugin echoes one layer and the page switches it, and a
// chosen codec (VP9), which the echo comes back in.
func TestBrowserEchoLayers(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	addr, _ := startServer(t)
	browser := testbrowser.Start(t, chromium)

	t.Run("simulcast", func(t *testing.T) {
		tab, cancel := context.WithTimeout(browser, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(tab, chromedp.Navigate(fmt.Sprintf("http://%s/?autostart=1&simulcast=1", addr))); err != nil {
			t.Fatal(err)
		}
		s := waitStats(t, tab, 40*time.Second, "simulcast sent and one layer echoed", func(s pageStats) bool {
			return s.LayersSent >= 2 && s.VideoFramesDecoded > 0 && s.Substream != nil && s.FrameWidth > 0
		})
		t.Logf("sending %d layers; echo of substream %d at width %d", s.LayersSent, *s.Substream, s.FrameWidth)
		high := s.FrameWidth
		if _, err := chromedp.Run(tab, chromedp.Evaluate[any](`window.ianuaSubstream(0)`)); err != nil {
			t.Fatal(err)
		}
		low := waitStats(t, tab, 20*time.Second, "the low layer echoed", func(s pageStats) bool {
			return s.Substream != nil && *s.Substream == 0 && s.FrameWidth > 0 && s.FrameWidth < high
		})
		time.Sleep(time.Second)
		if later := readStats(t, tab); later.VideoFramesDecoded <= low.VideoFramesDecoded {
			t.Errorf("echo stalled on the low layer: %d frames, %d a second before", later.VideoFramesDecoded, low.VideoFramesDecoded)
		}
		if _, err := chromedp.Run(tab, chromedp.Evaluate[any](`window.ianuaSubstream(2)`)); err != nil {
			t.Fatal(err)
		}
		waitStats(t, tab, 20*time.Second, "the high layer back", func(s pageStats) bool {
			return s.Substream != nil && *s.Substream >= 1 && s.FrameWidth > low.FrameWidth
		})

		// "temporal": 0 keeps the base temporal layer only: Chromium's
		// VP8 layers are L1T2 (or L1T3), the base at half the frame rate
		// or less. Its temporal ids are in the dependency descriptor.
		rate := func() float64 {
			a := readStats(t, tab)
			time.Sleep(2 * time.Second)
			b := readStats(t, tab)
			return float64(b.VideoFramesDecoded-a.VideoFramesDecoded) / 2
		}
		all := rate()
		if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.ianuaRequest({temporal: 0})`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		base := rate()
		t.Logf("echo frame rate: %.1f/s with every temporal layer, %.1f/s with temporal 0", all, base)
		if base == 0 || base > all*0.7 {
			t.Errorf("temporal 0: %.1f frames/s against %.1f with every layer, want about half and still decoding", base, all)
		}
		if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.ianuaRequest({temporal: 2})`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if back := rate(); back < base*1.4 {
			t.Errorf("temporal 2: %.1f frames/s, no more than the %.1f of temporal 0", back, base)
		}
	})

	// ?opusred=1: the answer prefers RED around Opus, which Chromium
	// offers; Chromium then sends RED and decodes the echo: few of the
	// samples it plays are concealment. (Its packetsDiscarded counts the
	// redundant copies, so it is no measure here.)
	t.Run("opusred", func(t *testing.T) {
		tab, cancel := context.WithTimeout(browser, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(tab, chromedp.Navigate(fmt.Sprintf("http://%s/?autostart=1&opusred=1", addr))); err != nil {
			t.Fatal(err)
		}
		s := waitStats(t, tab, 40*time.Second, "audio echoed", func(s pageStats) bool {
			return s.AudioPacketsReceived > 50
		})
		if s.AnswerAudioCodec != "red" {
			t.Errorf("the answer prefers %q for audio, want red", s.AnswerAudioCodec)
		}
		time.Sleep(time.Second)
		later := readStats(t, tab)
		if later.AudioPacketsReceived <= s.AudioPacketsReceived {
			t.Errorf("audio echo stalled at %d packets", s.AudioPacketsReceived)
		}
		t.Logf("RED echo: %d samples played, %d concealed", later.AudioSamples, later.AudioConcealed)
		if later.AudioSamples == 0 || later.AudioConcealed > later.AudioSamples/5 {
			t.Errorf("%d of %d echoed audio samples concealed", later.AudioConcealed, later.AudioSamples)
		}
	})

	// VP9 and AV1 go through the forwarding engine, which reads their
	// layers (AV1's from the dependency descriptor, forwarded with it).
	for _, codec := range []string{"VP9", "AV1"} {
		t.Run(codec, func(t *testing.T) {
			tab, cancel := context.WithTimeout(browser, 60*time.Second)
			defer cancel()
			if err := chromedp.Do(tab, chromedp.Navigate(fmt.Sprintf("http://%s/?autostart=1&vcodec=%s", addr, strings.ToLower(codec)))); err != nil {
				t.Fatal(err)
			}
			s := waitStats(t, tab, 40*time.Second, codec+" echo decoded", func(s pageStats) bool {
				return s.VideoFramesDecoded > 10 && s.VideoCodec != ""
			})
			if s.VideoCodec != "video/"+codec {
				t.Errorf("echo in %s, want video/%s", s.VideoCodec, codec)
			}
			time.Sleep(time.Second)
			if later := readStats(t, tab); later.VideoFramesDecoded <= s.VideoFramesDecoded {
				t.Errorf("%s echo stalled at %d frames", codec, s.VideoFramesDecoded)
			}
		})
	}
}
