package main

import (
	"context"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testbrowser"
	"github.com/ianua/ianua/internal/testsip"

	"github.com/chromedp/chromedp"
)

// phoneStats is what window.ianuaPhoneStats() of app.js returns.
type phoneStats struct {
	Connected    bool   `json:"connected"`
	Gateway      string `json:"gateway"`
	Registration string `json:"registration"` // unregistered, registering, registered, guest, failed, unregistering
	Failure      *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"failure"`
	Call       string `json:"call"` // idle, calling, ringing, incoming, incall, hangingup
	Peer       string `json:"peer"`
	Held       bool   `json:"held"`
	Calls      int    `json:"calls"`   // calls that were up
	Hangups    int    `json:"hangups"` // calls that ended
	LastHangup *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"lastHangup"`
	DTMFSent        string  `json:"dtmfSent"`
	DTMFReceived    string  `json:"dtmfReceived"`
	ConnectionState string  `json:"connectionState"`
	Codec           string  `json:"codec"`
	PacketsReceived int     `json:"packetsReceived"`
	PacketsSent     int     `json:"packetsSent"`
	AudioEnergy     float64 `json:"audioEnergy"`
	// The call's video, if any.
	VideoCodec           string `json:"videoCodec"`
	VideoPacketsReceived int    `json:"videoPacketsReceived"`
	VideoPacketsSent     int    `json:"videoPacketsSent"`
	FramesDecoded        int    `json:"framesDecoded"`
}

// TestBrowserPhone drives the page in headless Chromium against SIPp
// peers (scenarios in testdata/): a registrar that challenges every
// REGISTER and checks the digest, a callee and callers that echo the
// audio (-rtp_echo).
//
//  1. A wrong secret is refused (403).
//  2. The right one registers, and the page calls the callee at once
//     (autoregister, call=URI): it hears itself (packets and energy),
//     sends a key by SIP INFO and shows the one that comes back, holds
//     (the echo stops) and resumes (it comes back), and hangs up.
//  3. SIPp calls the page: accepted by a click, it hears itself, hangs up.
//  4. SIPp calls again: declined by a click (486).
//  5. With "answer automatically" ticked, SIPp calls and hangs up itself.
//  6. The server's shutdown withdraws the registration.
//
// Every SIPp must end its scenario without a failed call; the test fails,
// not skips, without SIPp or Chromium.
func TestBrowserPhone(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	testsip.Path(t)
	// SIPp first, so that the server's cleanup (which un-REGISTERs) runs
	// before theirs.
	regPort, calleePort, gwPort := testsip.FreePort(t, false), testsip.FreePort(t, false), testsip.FreePort(t, false)
	registrar := startSIPp(t, "registrar", "-sf", testsip.Scenario(t, "registrar.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(regPort), "-m", "2") // the wrong secret, then alice's binding
	callee := startSIPp(t, "callee", "-sf", testsip.Scenario(t, "callee.xml"), "-rtp_echo",
		"-i", "127.0.0.1", "-p", strconv.Itoa(calleePort), "-mi", "127.0.0.1", "-mp", strconv.Itoa(testsip.FreePort(t, true)), "-m", "1")
	gw := net.JoinHostPort("127.0.0.1", strconv.Itoa(gwPort))
	at, stop := startServer(t, func(o *options) { o.SIP = gw })
	browser, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 150*time.Second)
	defer cancel()

	page := func(secret string, more neturl.Values) string {
		q := neturl.Values{"identity": {"sip:alice@127.0.0.1"}, "secret": {secret}, "display": {"Alice"},
			"proxy": {"sip:" + net.JoinHostPort("127.0.0.1", strconv.Itoa(regPort))}, "autoregister": {"1"}}
		for k, v := range more {
			q[k] = v
		}
		return fmt.Sprintf("http://%s/?%s", at.HTTP, q.Encode())
	}
	caller := func(name, scenario string) *testsip.SIPp {
		t.Helper()
		return startSIPp(t, name, "-sf", testsip.Scenario(t, scenario), "-rtp_echo", "-s", "alice",
			"-i", "127.0.0.1", "-p", strconv.Itoa(testsip.FreePort(t, false)), "-mi", "127.0.0.1", "-mp", strconv.Itoa(testsip.FreePort(t, true)), "-m", "1", gw)
	}

	// 1. A wrong secret: the registrar answers the digest with 403.
	bad := newTab(t, browser)
	navigate(t, bad, page("not-the-secret", nil))
	s := waitFor(t, bad, 20*time.Second, "registration refused", func(s phoneStats) bool { return s.Registration == "failed" })
	if s.Failure == nil || s.Failure.Code != 403 {
		t.Fatalf("wrong secret: failure %+v, want 403", s.Failure)
	}
	if s.Gateway != gw {
		t.Errorf("the page shows the gateway at %q, want %q", s.Gateway, gw)
	}

	// 2. The right one, then a call to the callee.
	navigate(t, browser, page("wonderland", neturl.Values{"call": {"sip:echo@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(calleePort))}}))
	waitFor(t, browser, 20*time.Second, "registered", func(s phoneStats) bool { return s.Registration == "registered" })
	s = waitFor(t, browser, 30*time.Second, "outgoing call echoes audio", func(s phoneStats) bool {
		return s.Call == "incall" && s.PacketsReceived > 50 && s.AudioEnergy > 0
	})
	t.Logf("outgoing call: %s, %d packets sent, %d back, energy %.3g", s.Codec, s.PacketsSent, s.PacketsReceived, s.AudioEnergy)
	screenshot(t, browser)

	// DTMF: the callee sends Signal=7 once it has the INFO; whether that
	// said Signal=5 is in its exit status.
	click(t, browser, `#keypad button[data-digit="5"]`)
	waitFor(t, browser, 10*time.Second, "DTMF both ways", func(s phoneStats) bool { return s.DTMFSent == "5" && s.DTMFReceived == "7" })

	// Hold: a re-INVITE with a=sendonly; the gateway stops relaying the
	// callee's audio, so the echo stops. Resume: it comes back.
	click(t, browser, "#hold")
	waitFor(t, browser, 10*time.Second, "held", func(s phoneStats) bool { return s.Held })
	waitStalled(t, browser, 10*time.Second)
	click(t, browser, "#hold")
	resumed := waitFor(t, browser, 10*time.Second, "resumed", func(s phoneStats) bool { return !s.Held })
	s = waitFor(t, browser, 10*time.Second, "echo after resume", func(s phoneStats) bool {
		return s.PacketsReceived > resumed.PacketsReceived+25 && s.AudioEnergy > resumed.AudioEnergy
	})
	t.Logf("resumed: %d packets back (%d when resuming)", s.PacketsReceived, resumed.PacketsReceived)

	click(t, browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "outgoing call hung up", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 1 })
	callee.Check(t, 10*time.Second)

	// 3. A call from SIPp to alice at the gateway, accepted by a click.
	answered := caller("caller", "caller.xml")
	s = waitFor(t, browser, 20*time.Second, "incoming call", func(s phoneStats) bool { return s.Call == "incoming" })
	t.Logf("incoming call from %s", s.Peer)
	click(t, browser, "#accept")
	s = waitFor(t, browser, 30*time.Second, "incoming call echoes audio", func(s phoneStats) bool {
		return s.Call == "incall" && s.Calls == 2 && s.PacketsReceived > 50 && s.AudioEnergy > 0
	})
	t.Logf("incoming call: %s, %d packets back, energy %.3g", s.Codec, s.PacketsReceived, s.AudioEnergy)
	click(t, browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "incoming call hung up", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 2 })
	answered.Check(t, 10*time.Second)

	// 4. Declined by a click: the caller gets 486.
	declined := caller("declined", "caller-declined.xml")
	waitFor(t, browser, 20*time.Second, "second incoming call", func(s phoneStats) bool { return s.Call == "incoming" })
	click(t, browser, "#decline")
	s = waitFor(t, browser, 10*time.Second, "declined", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 3 })
	if s.LastHangup == nil || s.LastHangup.Code != 486 || s.Calls != 2 {
		t.Errorf("declined call: hangup %+v, %d calls; want 486 and still 2 calls", s.LastHangup, s.Calls)
	}
	declined.Check(t, 10*time.Second)

	// 5. Answered by the page itself; the caller hangs up after 4 s.
	click(t, browser, "#autoaccept")
	hangsUp := caller("hangs-up", "caller-hangs-up.xml")
	waitFor(t, browser, 20*time.Second, "call answered automatically", func(s phoneStats) bool {
		return s.Call == "incall" && s.Calls == 3 && s.PacketsReceived > 0
	})
	s = waitFor(t, browser, 20*time.Second, "the caller's BYE", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 4 })
	if s.LastHangup == nil || s.LastHangup.Code != 200 {
		t.Errorf("the caller's BYE: hangup %+v, want 200", s.LastHangup)
	}
	hangsUp.Check(t, 10*time.Second)

	// 6. Shutting down withdraws alice's binding, the registrar's last step.
	if err := stop(); err != nil {
		t.Errorf("server shutdown: %v", err)
	}
	registrar.Check(t, 10*time.Second)
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

// click clicks an enabled element, as a user would.
func click(t *testing.T, tab context.Context, sel string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeEnabled)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// stats reads window.ianuaPhoneStats().
func stats(tab context.Context) (phoneStats, error) {
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[phoneStats](`window.ianuaPhoneStats()`, chromedp.EvalAwaitPromise))
}

// waitFor polls the page's stats until ok holds, and fails with the page's
// log if it does not within timeout.
func waitFor(t *testing.T, tab context.Context, timeout time.Duration, what string, ok func(phoneStats) bool) phoneStats {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		s, err := stats(tab)
		if err == nil && ok(s) {
			t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last stats %+v (err %v)\npage log:\n%s", what, timeout, s, err, pageLog(tab))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitStalled waits until the page's inbound audio stops: at most 2
// packets in 500 ms (25 when flowing), after the packets in flight.
func waitStalled(t *testing.T, tab context.Context, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		a, err1 := stats(tab)
		time.Sleep(500 * time.Millisecond)
		b, err2 := stats(tab)
		if err1 == nil && err2 == nil && b.PacketsReceived-a.PacketsReceived <= 2 && b.Call == "incall" {
			t.Logf("audio stopped after %v, at %d packets", time.Since(start).Round(time.Millisecond), b.PacketsReceived)
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("audio still flowing while held: %d -> %d packets in 500 ms\npage log:\n%s", a.PacketsReceived, b.PacketsReceived, pageLog(tab))
		}
	}
}

func pageLog(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('log').textContent`))
	return s
}

// screenshot saves a picture of the page in a call to /tmp/sipphone.png,
// or $SIPPHONE_SCREENSHOT, to look at.
func screenshot(t *testing.T, tab context.Context) {
	t.Helper()
	path := os.Getenv("SIPPHONE_SCREENSHOT")
	if path == "" {
		path = filepath.Join(os.TempDir(), "sipphone.png")
	}
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
	}
}

// startSIPp runs SIPp, called name in failures, until the test ends (or
// its scenario, 150 s); the scenario's messages go to a file, shown if the
// test fails.
func startSIPp(t *testing.T, name string, args ...string) *testsip.SIPp {
	t.Helper()
	p := testsip.Start(t, testsip.Options{Name: name, Timeout: 150 * time.Second, TraceMessages: true}, args...)
	// SIPp binds its socket at once; a moment for it before the gateway
	// sends it anything.
	time.Sleep(200 * time.Millisecond)
	return p
}
