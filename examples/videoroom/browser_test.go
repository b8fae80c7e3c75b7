package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testbrowser"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// roomStats is what window.ianuaRoomStats() in app.js returns.
type roomStats struct {
	Joined           bool           `json:"joined"`
	MyID             uint64         `json:"myId"`
	Publishers       int            `json:"publishers"`
	InboundVideo     []inboundVideo `json:"inboundVideo"`
	InboundAudio     []inboundAudio `json:"inboundAudio"`
	ConnectionStates struct {
		Pub string `json:"pub"`
		Sub string `json:"sub"`
	} `json:"connectionStates"`
	DataChannels struct {
		Pub string `json:"pub"`
		Sub string `json:"sub"`
	} `json:"dataChannels"`
	OutboundVideo []outboundVideo `json:"outboundVideo"`
	Sharing       bool            `json:"sharing"`
	Chat          []chatMsg       `json:"chat"`
}

type chatMsg struct {
	From string `json:"from"`
	Text string `json:"text"`
}

type inboundVideo struct {
	MID           string `json:"mid"`
	FeedID        uint64 `json:"feedId"`
	FeedMID       string `json:"feedMid"`
	FramesDecoded int    `json:"framesDecoded"`
	BytesReceived int    `json:"bytesReceived"`
	FrameWidth    int    `json:"frameWidth"`
	FrameHeight   int    `json:"frameHeight"`
	Codec         string `json:"codec"` // mime type
}

type outboundVideo struct {
	MID                     string `json:"mid"`
	RID                     string `json:"rid"`
	Active                  bool   `json:"active"`
	FrameWidth              int    `json:"frameWidth"`
	FrameHeight             int    `json:"frameHeight"`
	FramesEncoded           int    `json:"framesEncoded"`
	BytesSent               int    `json:"bytesSent"`
	QualityLimitationReason string `json:"qualityLimitationReason"`
}

type inboundAudio struct {
	MID             string `json:"mid"`
	FeedID          uint64 `json:"feedId"`
	PacketsReceived int    `json:"packetsReceived"`
}

// decodingFeeds returns the feeds whose video decodes and whose audio
// arrives, each once.
func (s roomStats) decodingFeeds() (video, audio []uint64) {
	for _, v := range s.InboundVideo {
		if v.FramesDecoded > 0 && !slices.Contains(video, v.FeedID) {
			video = append(video, v.FeedID)
		}
	}
	for _, a := range s.InboundAudio {
		if a.PacketsReceived > 0 && !slices.Contains(audio, a.FeedID) {
			audio = append(audio, a.FeedID)
		}
	}
	return video, audio
}

func (s roomStats) video(mid string) (inboundVideo, bool) {
	for _, v := range s.InboundVideo {
		if v.MID == mid {
			return v, true
		}
	}
	return inboundVideo{}, false
}

// page is one participant: a tab of the shared browser.
type page struct {
	t     *testing.T
	name  string
	tab   context.Context
	close context.CancelFunc
}

// openPage opens the demo in a new tab, as display name, with extra query
// parameters (room, simulcast); the page joins at once (autojoin).
func openPage(t *testing.T, browser context.Context, addr, name string, extra url.Values) *page {
	t.Helper()
	q := url.Values{"display": {name}, "autojoin": {"1"}}
	for k, v := range extra {
		q[k] = v
	}
	tab, cancel := chromedp.NewContext(browser)
	p := &page{t: t, name: name, tab: tab, close: cancel}
	t.Cleanup(cancel) // closes the tab, before the browser closes
	u := fmt.Sprintf("http://%s/?%s", addr, q.Encode())
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

// eval runs JavaScript in the page as if the user did it (a click that
// may open the screen picker needs that).
func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.tab, 10*time.Second)
	defer cancel()
	gesture := func(e *runtime.EvaluateParams) { e.UserGesture = new(true) }
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, gesture))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, js, err)
	}
	return v
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
			logText := eval[string](p, `document.getElementById('log').textContent`)
			p.t.Fatalf("%s: %s: not within %v; last stats %+v\npage log:\n%s", p.name, what, timeout, s, logText)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// click clicks the element with this id, as a user would.
func (p *page) click(id string) {
	p.t.Helper()
	js := fmt.Sprintf(`(() => { const el = document.getElementById(%q); if (!el || el.disabled) return false; el.click(); return true })()`, id)
	if !eval[bool](p, js) {
		p.t.Fatalf("%s: #%s is missing or disabled", p.name, id)
	}
}

// TestBrowserRoom drives the page in headless Chromium: three participants
// in room 1234 see and hear each other, share a screen and chat; then a
// simulcast publisher in a new room and a subscriber who switches its
// layers.
func TestBrowserRoom(t *testing.T) {
	chromium := testbrowser.Chromium(t) // fail before starting anything
	addr, _ := startServer(t)
	browser := testbrowser.Start(t, chromium)

	// --- three participants, one room --------------------------------
	var pages []*page
	for _, name := range []string{"Alice", "Bob", "Carol"} {
		pages = append(pages, openPage(t, browser, addr, name, nil))
	}
	alice, bob, carol := pages[0], pages[1], pages[2]

	// Each page decodes the video and receives the audio of the two
	// others, on one subscriber PeerConnection.
	ids := map[*page]uint64{}
	for _, p := range pages {
		s := p.wait(40*time.Second, "video and audio from the two others", func(s roomStats) bool {
			video, audio := s.decodingFeeds()
			return s.Joined && s.ConnectionStates.Pub == "connected" && s.ConnectionStates.Sub == "connected" &&
				s.Publishers == 2 && len(video) == 2 && len(audio) == 2
		})
		ids[p] = s.MyID
	}
	for _, p := range pages {
		s := p.stats()
		video, audio := s.decodingFeeds()
		for _, other := range pages {
			if other != p && (!slices.Contains(video, ids[other]) || !slices.Contains(audio, ids[other])) {
				t.Errorf("%s: nothing from %s (%d): video from %v, audio from %v", p.name, other.name, ids[other], video, audio)
			}
		}
	}

	// ... and keeps flowing.
	for _, p := range pages {
		before := p.stats()
		p.wait(10*time.Second, "every stream still flowing", func(s roomStats) bool { return flowing(before, s) })
	}

	// Alice shares her screen (Chromium's fake capture; the page would
	// fall back to a second camera track if getDisplayMedia failed): a
	// renegotiation with "configure", a new stream announced to the room,
	// and Bob and Carol subscribe to it.
	alice.click("screen")
	alice.wait(15*time.Second, "sharing", func(s roomStats) bool { return s.Sharing })
	for _, p := range []*page{bob, carol} {
		p.wait(20*time.Second, "Alice's second video", func(s roomStats) bool {
			n := 0
			for _, v := range s.InboundVideo {
				if v.FeedID == ids[alice] && v.FramesDecoded > 0 {
					n++
				}
			}
			return n == 2
		})
	}

	t.Logf("Alice: %s", eval[string](alice, `document.getElementById('log').textContent.split('\n').filter((l) => /sharing|getDisplayMedia/.test(l)).join('; ')`))

	// Chat: what Alice writes on her data channel reaches the others
	// through their subscriber data channels.
	for _, p := range pages {
		p.wait(10*time.Second, "data channels open", func(s roomStats) bool {
			return s.DataChannels.Pub == "open" && s.DataChannels.Sub == "open"
		})
	}
	if !eval[bool](alice, `window.ianuaChat("hello from Alice")`) {
		t.Fatal("Alice could not send her chat message")
	}
	for _, p := range []*page{bob, carol} {
		p.wait(10*time.Second, "Alice's chat message", func(s roomStats) bool {
			return slices.Contains(s.Chat, chatMsg{From: "Alice", Text: "hello from Alice"})
		})
	}

	// A picture of Bob's page, to look at: Alice's camera and screen,
	// Carol, the participants and the chat.
	screenshot(t, bob)

	// Carol leaves (her tab closes, her socket too): the others drop her
	// feed and keep each other's.
	carol.close()
	for _, p := range []*page{alice, bob} {
		p.wait(15*time.Second, "Carol gone", func(s roomStats) bool {
			video, audio := s.decodingFeeds()
			return s.Publishers == 1 && !slices.Contains(video, ids[carol]) && !slices.Contains(audio, ids[carol]) && len(video) == 1
		})
	}
	alice.close()
	bob.close()

	// --- simulcast, in a room of its own --------------------------------
	const room = "5678" // made by Dave's page, which finds it missing
	dave := openPage(t, browser, addr, "Dave", url.Values{"room": {room}, "simulcast": {"1"}})
	// Chromium sends the three encodings once its bandwidth estimate
	// allows; on a busy machine it may also scale them all down (CPU).
	d := dave.wait(30*time.Second, "publishing at least two simulcast layers", func(s roomStats) bool {
		return s.Joined && s.ConnectionStates.Pub == "connected" && len(sentLayers(s)) >= 2
	})
	t.Logf("Dave sends %+v", d.OutboundVideo)
	erin := openPage(t, browser, addr, "Erin", url.Values{"room": {room}})
	s := erin.wait(30*time.Second, "Dave's video", func(s roomStats) bool {
		video, _ := s.decodingFeeds()
		return len(video) == 1
	})
	mid := s.InboundVideo[0].MID
	t.Logf("Erin receives Dave's video on mid %s at %dx%d", mid, s.InboundVideo[0].FrameWidth, s.InboundVideo[0].FrameHeight)

	// The picker asks for substream 0 (q: 160x120 from a 640x480
	// camera), then 2 (f, or the best layer Dave sends): the picture
	// changes size and keeps decoding. A switch shows only while Dave
	// sends two layers or more, which a starved machine may stop doing
	// for a while: wait for it.
	twoLayers := func() {
		t.Helper()
		dave.wait(30*time.Second, "sending two simulcast layers", func(s roomStats) bool { return len(sentLayers(s)) >= 2 })
	}
	twoLayers()
	erin.click(fmt.Sprintf("layer-%s-0", mid))
	low := waitLayer(t, erin, dave, mid, func(v inboundVideo) bool {
		layers := sentLayers(dave.stats())
		return len(layers) > 0 && v.FrameWidth > 0 && v.FrameWidth <= layers[0].FrameWidth
	})
	twoLayers()
	erin.click(fmt.Sprintf("layer-%s-2", mid))
	high := waitLayer(t, erin, dave, mid, func(v inboundVideo) bool { return v.FrameWidth > low.FrameWidth })
	t.Logf("substream 0: %dx%d, substream 2: %dx%d; Dave sends %+v",
		low.FrameWidth, low.FrameHeight, high.FrameWidth, high.FrameHeight, dave.stats().OutboundVideo)
}

// sentLayers returns the simulcast encodings a page sends, lowest first:
// those with a rid that encode frames (Chromium gives a paused encoding
// no frame size).
func sentLayers(s roomStats) []outboundVideo {
	var out []outboundVideo
	for _, o := range s.OutboundVideo {
		if o.RID != "" && o.FramesEncoded > 0 && o.FrameWidth > 0 {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b outboundVideo) int { return a.FrameWidth - b.FrameWidth })
	return out
}

// waitLayer waits until the video on mid is as ok wants and still decodes
// (frames decoded grow between two readings). It logs what the publisher
// sends now and then, for a failure.
func waitLayer(t *testing.T, p, publisher *page, mid string, ok func(inboundVideo) bool) inboundVideo {
	t.Helper()
	var last inboundVideo
	polls := 0
	p.wait(30*time.Second, "substream switch on mid "+mid, func(s roomStats) bool {
		if polls++; polls%8 == 0 {
			t.Logf("%s receives %+v; %s sends %+v", p.name, s.InboundVideo, publisher.name, publisher.stats().OutboundVideo)
		}
		v, found := s.video(mid)
		if !found || !ok(v) {
			return false
		}
		grew := v.FramesDecoded > last.FramesDecoded && last.FramesDecoded > 0 && ok(last)
		last = v
		return grew
	})
	return last
}

// flowing says whether every video stream of before decoded new frames,
// and every audio stream got new packets, by the time of after.
func flowing(before, after roomStats) bool {
	for _, v := range before.InboundVideo {
		if a, ok := after.video(v.MID); !ok || a.FramesDecoded <= v.FramesDecoded {
			return false
		}
	}
	for _, b := range before.InboundAudio {
		i := slices.IndexFunc(after.InboundAudio, func(a inboundAudio) bool { return a.MID == b.MID })
		if i < 0 || after.InboundAudio[i].PacketsReceived <= b.PacketsReceived {
			return false
		}
	}
	return true
}

// screenshot saves a picture of the page to /tmp/videoroom.png, or
// $VIDEOROOM_SCREENSHOT.
func screenshot(t *testing.T, p *page) {
	t.Helper()
	path := os.Getenv("VIDEOROOM_SCREENSHOT")
	if path == "" {
		path = "/tmp/videoroom.png"
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

// TestBrowserVP9SVC: a Chromium page publishes VP9 with three spatial
// layers in one stream (scalability mode L3T3_KEY) and another page
// subscribes; asking for spatial layer 0 makes the picture smaller, layer
// 2 big again, and it keeps decoding.
func TestBrowserVP9SVC(t *testing.T) {
	browserSVC(t, "VP9", "L3T3_KEY", "7890")
}

// TestBrowserAV1SVC is TestBrowserVP9SVC with AV1 in scalability mode
// L3T3: the layers come from the dependency descriptor, which the
// subscriber gets along.
func TestBrowserAV1SVC(t *testing.T) {
	browserSVC(t, "AV1", "L3T3", "7891")
}

// browserSVC publishes codec in scalability mode from one page, in a room
// the page makes, and checks spatial_layer from another.
func browserSVC(t *testing.T, codec, mode, room string) {
	chromium := testbrowser.Chromium(t)
	addr, _ := startServer(t)
	browser := testbrowser.Start(t, chromium)

	frank := openPage(t, browser, addr, "Frank", url.Values{"room": {room}, "svc": {mode}, "svccodec": {codec}})
	frank.wait(30*time.Second, "publishing", func(s roomStats) bool {
		return s.Joined && s.ConnectionStates.Pub == "connected" && len(s.OutboundVideo) == 1 && s.OutboundVideo[0].FramesEncoded > 0
	})
	grace := openPage(t, browser, addr, "Grace", url.Values{"room": {room}})
	s := grace.wait(30*time.Second, "Frank's video at full size", func(s roomStats) bool {
		video, _ := s.decodingFeeds()
		return len(video) == 1 && s.InboundVideo[0].FrameWidth >= 320
	})
	mid := s.InboundVideo[0].MID
	full := s.InboundVideo[0]
	if !strings.EqualFold(full.Codec, "video/"+codec) {
		t.Fatalf("Grace receives %q, want video/%s", full.Codec, codec)
	}
	t.Logf("Grace receives Frank's %s on mid %s at %dx%d; Frank sends %+v", codec, mid, full.FrameWidth, full.FrameHeight, frank.stats().OutboundVideo)

	setLayer := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(grace.tab, 10*time.Second)
		defer cancel()
		js := fmt.Sprintf(`window.ianuaSpatialLayer(%q, %d).then(() => true)`, mid, n)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("spatial_layer %d: %v", n, err)
		}
	}
	setLayer(0)
	low := waitLayer(t, grace, frank, mid, func(v inboundVideo) bool { return v.FrameWidth > 0 && v.FrameWidth < full.FrameWidth })
	setLayer(2)
	high := waitLayer(t, grace, frank, mid, func(v inboundVideo) bool { return v.FrameWidth > low.FrameWidth })
	t.Logf("spatial layer 0: %dx%d, layer 2: %dx%d", low.FrameWidth, low.FrameHeight, high.FrameWidth, high.FrameHeight)
}
