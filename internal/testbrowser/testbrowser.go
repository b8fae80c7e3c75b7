// Package testbrowser starts the headless Chromium that the browser tests
// drive: a fake camera and microphone, loopback candidates, no network but
// the test's own. It is imported by tests only.
package testbrowser

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium returns the browser binary. It fails rather than skips: a
// skipped browser test would look green while testing nothing.
func Chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run the README's test command (scripts/test.sh), which installs it " +
		"(apt-get install -y chromium chromium-driver)")
	return ""
}

// Start launches a headless Chromium and returns a tab context. The browser
// lives until the test's cleanup closes it; bound each step with a context
// derived from the tab, and open more tabs with chromedp.NewContext(tab).
func Start(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()), // a fresh profile: no state between runs
		chromedp.WindowSize(1280, 1000),
		// A synthetic camera and microphone, granted without a prompt.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		// Gather 127.0.0.1 candidates, with real addresses rather than
		// mDNS names, which a router with mDNS off could not resolve.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		// Several pages play at once and all but one are background tabs:
		// keep their timers, capture, rendering and sound going.
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		// No traffic but the test's own: the machine has no network.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Cancel closes the browser gracefully and waits for it to exit,
		// before t.TempDir removes the profile; cancelAlloc kills one that
		// did not exit in time and waits for it.
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		// The browser may drop the pipe before it answers Browser.close;
		// chromedp reports that as context.Canceled.
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("close browser: %v", err)
		}
		cancelTab()
		cancelAlloc()
	})
	// The first run starts the browser, in a blank first tab: a browser
	// that cannot start fails here, clearly.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return tab
}
