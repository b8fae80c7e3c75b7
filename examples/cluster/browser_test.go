package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ianua/ianua/internal/testbrowser"
	"github.com/ianua/ianua/internal/testpeer"
)

// roomStats is what window.ianuaRoomStats() in app.js returns.
type roomStats struct {
	Node             string         `json:"node"`
	Joined           bool           `json:"joined"`
	MyID             uint64         `json:"myId"`
	Publishers       int            `json:"publishers"`
	RemoteFeeds      []uint64       `json:"remoteFeeds"`
	InboundVideo     []inboundVideo `json:"inboundVideo"`
	InboundAudio     []inboundAudio `json:"inboundAudio"`
	ConnectionStates struct {
		Pub string `json:"pub"`
		Sub string `json:"sub"`
	} `json:"connectionStates"`
}

type inboundVideo struct {
	MID           string `json:"mid"`
	FeedID        uint64 `json:"feedId"`
	FramesDecoded int    `json:"framesDecoded"`
	FrameWidth    int    `json:"frameWidth"`
	FrameHeight   int    `json:"frameHeight"`
}

type inboundAudio struct {
	MID             string `json:"mid"`
	FeedID          uint64 `json:"feedId"`
	PacketsReceived int    `json:"packetsReceived"`
}

// from returns the video and audio of a feed, if they decode and arrive.
func (s roomStats) from(feed uint64) (video inboundVideo, audio inboundAudio, ok bool) {
	vi := slices.IndexFunc(s.InboundVideo, func(v inboundVideo) bool { return v.FeedID == feed && v.FramesDecoded > 0 })
	ai := slices.IndexFunc(s.InboundAudio, func(a inboundAudio) bool { return a.FeedID == feed && a.PacketsReceived > 0 })
	if vi < 0 || ai < 0 {
		return inboundVideo{}, inboundAudio{}, false
	}
	return s.InboundVideo[vi], s.InboundAudio[ai], true
}

// page is one participant: a tab of the shared browser.
type page struct {
	t     *testing.T
	name  string
	tab   context.Context
	close context.CancelFunc
}

// openPage opens a node's page in a new tab, as display name; the page
// joins at once (autojoin).
func openPage(t *testing.T, browser context.Context, n *node, name string) *page {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	p := &page{t: t, name: name, tab: tab, close: cancel}
	t.Cleanup(cancel) // closes the tab, before the browser closes
	u := fmt.Sprintf("http://%s/?%s", n.addr, url.Values{"display": {name}, "autojoin": {"1"}}.Encode())
	if err := chromedp.Do(tab, chromedp.Navigate(u)); err != nil {
		t.Fatalf("%s: navigate to %s: %v", name, u, err)
	}
	return p
}

func (p *page) stats() roomStats {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.tab, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[roomStats](`window.ianuaRoomStats()`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: ianuaRoomStats: %v", p.name, err)
	}
	return s
}

// wait polls the page until ok holds, and fails with the page's signaling
// log if it does not within timeout.
func (p *page) wait(timeout time.Duration, what string, ok func(roomStats) bool) roomStats {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := p.stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(p.tab, 10*time.Second)
			logText, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('log').textContent`))
			cancel()
			p.t.Fatalf("%s: %s: not within %v; last stats %+v\npage log:\n%s", p.name, what, timeout, s, logText)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestBrowserAcrossNodes drives the page in headless Chromium: Alice on
// node 1 and Carol on node 3 publish Chromium's fake camera and
// microphone, and each decodes the other's video and receives the other's
// audio, relayed between the nodes; when Carol leaves, Alice drops her
// feed and the relays stop.
func TestBrowserAcrossNodes(t *testing.T) {
	chromium := testbrowser.Chromium(t) // fail before starting anything
	nodes, _ := startCluster(t, "")
	node1, node3 := nodes["node1"], nodes["node3"]
	waitNodes(t, nodes)
	browser := testbrowser.Start(t, chromium)

	alice := openPage(t, browser, node1, "Alice")
	carol := openPage(t, browser, node3, "Carol")
	ids := map[*page]uint64{}
	for _, p := range []*page{alice, carol} {
		ids[p] = p.wait(30*time.Second, "joined and publishing", func(s roomStats) bool {
			return s.Joined && s.ConnectionStates.Pub == "connected"
		}).MyID
	}
	// Each decodes the other, whom its node lists as a remote publisher.
	pairs := []struct {
		p, other *page
		node     string
	}{{alice, carol, "node1"}, {carol, alice, "node3"}}
	for _, x := range pairs {
		s := x.p.wait(40*time.Second, "video and audio of "+x.other.name, func(s roomStats) bool {
			_, _, ok := s.from(ids[x.other])
			return ok && s.ConnectionStates.Sub == "connected" && s.Publishers == 1
		})
		if s.Node != x.node {
			t.Errorf("%s's page says it is on %q, want %q", x.p.name, s.Node, x.node)
		}
		x.p.wait(10*time.Second, x.other.name+" shown as remote", func(s roomStats) bool {
			return slices.Contains(s.RemoteFeeds, ids[x.other])
		})
	}
	// ... and keeps decoding.
	for _, x := range pairs {
		before, _, _ := x.p.stats().from(ids[x.other])
		s := x.p.wait(10*time.Second, "frames of "+x.other.name+" still decoding", func(s roomStats) bool {
			v, _, ok := s.from(ids[x.other])
			return ok && v.FramesDecoded > before.FramesDecoded+10
		})
		v, _, _ := s.from(ids[x.other])
		t.Logf("%s on %s decodes %s at %dx%d (%d frames)", x.p.name, s.Node, x.other.name, v.FrameWidth, v.FrameHeight, v.FramesDecoded)
	}
	// One relay per stream and direction: audio and video each way.
	if out1, out3 := node1.member.RelaysOut(), node3.member.RelaysOut(); out1["node3"] != 2 || out3["node1"] != 2 {
		t.Errorf("relays out of node1 %v, of node3 %v; want 2 to each other", out1, out3)
	}
	screenshot(t, alice)

	// Carol leaves: her feed goes from Alice's page, and with no
	// subscriber left on node3 the relays of Alice's streams stop after
	// the grace period.
	carol.close()
	alice.wait(15*time.Second, "Carol gone", func(s roomStats) bool {
		_, _, ok := s.from(ids[carol])
		return s.Publishers == 0 && !ok
	})
	testpeer.WaitFor(t, 15*time.Second, "relays between the nodes stopped", func() bool {
		return node1.member.RelaysOut()["node3"] == 0 && node3.member.RelaysOut()["node1"] == 0
	})
}

// screenshot saves a picture of the page to /tmp/cluster.png, or
// $CLUSTER_SCREENSHOT.
func screenshot(t *testing.T, p *page) {
	t.Helper()
	path := os.Getenv("CLUSTER_SCREENSHOT")
	if path == "" {
		path = "/tmp/cluster.png"
	}
	ctx, cancel := context.WithTimeout(p.tab, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
	}
}
