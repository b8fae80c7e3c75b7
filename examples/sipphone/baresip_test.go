package main

import (
	"context"
	"net"
	neturl "net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testbrowser"
	"github.com/ianua/ianua/internal/testsip"
)

// TestBrowserBaresip tries the page with baresip, a real softphone, as
// README.md tells: the page (registered with a registrar) calls bob, a
// baresip that answers by itself, and carol, another baresip, calls the
// page, which answers by itself. Both hear the other's sine wave (Opus to
// bob, who prefers it; G.711 from carol, who offers it first), the page
// holds carol and hangs up. The test fails, not skips, without baresip or
// Chromium.
func TestBrowserBaresip(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	reg := newRegistrar(t, "alice", "wonderland")
	bob := testsip.StartBaresip(t, testsip.BaresipOptions{User: "bob", Codecs: "opus/48000/2,PCMU", Answer: true, Menu: true})
	gw := net.JoinHostPort("127.0.0.1", strconv.Itoa(testsip.FreePort(t, false)))
	at, _ := startServer(t, func(o *options) { o.SIP = gw })
	browser, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 100*time.Second)
	defer cancel()

	q := neturl.Values{"identity": {"alice@127.0.0.1"}, "secret": {"wonderland"}, "proxy": {reg.uri()},
		"autoregister": {"1"}, "autoaccept": {"1"}, "call": {bob.URI()}}
	navigate(t, browser, "http://"+at.HTTP+"/?"+q.Encode())
	s := waitFor(t, browser, 30*time.Second, "bob's sine wave", func(s phoneStats) bool {
		return s.Call == "incall" && s.PacketsReceived > 50 && s.AudioEnergy > 0
	})
	t.Logf("call to bob: %s, %d packets sent, %d received, energy %.3g", s.Codec, s.PacketsSent, s.PacketsReceived, s.AudioEnergy)
	click(t, browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "call to bob hung up", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 1 })
	bob.WaitLog(t, "session closed")

	// carol dials the page's identity at the gateway, as a phone would
	// through the registrar.
	testsip.StartBaresip(t, testsip.BaresipOptions{User: "carol", Codecs: "PCMU,opus/48000/2", Answer: true, Menu: true, Args: []string{"-e", "/dial sip:alice@" + gw}})
	s = waitFor(t, browser, 30*time.Second, "carol's sine wave", func(s phoneStats) bool {
		return s.Call == "incall" && s.Calls == 2 && s.PacketsReceived > 50 && s.AudioEnergy > 0
	})
	t.Logf("call from %s: %s, %d packets received, energy %.3g", s.Peer, s.Codec, s.PacketsReceived, s.AudioEnergy)
	click(t, browser, "#hold")
	waitStalled(t, browser, 10*time.Second)
	click(t, browser, "#hold")
	resumed := waitFor(t, browser, 10*time.Second, "resumed", func(s phoneStats) bool { return !s.Held })
	waitFor(t, browser, 10*time.Second, "carol heard again", func(s phoneStats) bool { return s.PacketsReceived > resumed.PacketsReceived+25 })
	click(t, browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "call from carol hung up", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 2 })
}

// TestBrowserBaresipVideo makes video calls from the page with its fake
// camera ("Video" ticked) to and from baresips with a fake camera of
// their own (a test pattern, VP8): each side's video reaches the other —
// the page decodes baresip's frames, baresip logs the page's first video
// RTP — with the audio beside it.
func TestBrowserBaresipVideo(t *testing.T) {
	chromium := testbrowser.Chromium(t)
	reg := newRegistrar(t, "alice", "wonderland")
	bob := testsip.StartBaresip(t, testsip.BaresipOptions{User: "bob", Codecs: "opus/48000/2", Video: "vp8", Answer: true, Menu: true})
	gw := net.JoinHostPort("127.0.0.1", strconv.Itoa(testsip.FreePort(t, false)))
	at, _ := startServer(t, func(o *options) { o.SIP = gw })
	browser, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 100*time.Second)
	defer cancel()

	q := neturl.Values{"identity": {"alice@127.0.0.1"}, "secret": {"wonderland"}, "proxy": {reg.uri()},
		"autoregister": {"1"}, "autoaccept": {"1"}, "video": {"1"}, "call": {bob.URI()}}
	navigate(t, browser, "http://"+at.HTTP+"/?"+q.Encode())
	s := waitFor(t, browser, 30*time.Second, "bob's picture and sound", func(s phoneStats) bool {
		return s.Call == "incall" && s.FramesDecoded > 10 && s.VideoPacketsSent > 30 && s.PacketsReceived > 50
	})
	t.Logf("video call to bob: %s and %s, %d frames decoded, %d video packets sent, %d received",
		s.Codec, s.VideoCodec, s.FramesDecoded, s.VideoPacketsSent, s.VideoPacketsReceived)
	if !strings.EqualFold(s.VideoCodec, "VP8") {
		t.Errorf("video codec %q, want VP8 (bob's only one)", s.VideoCodec)
	}
	bob.WaitLog(t, "incoming rtp for 'video' established")
	click(t, browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "call to bob hung up", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 1 })

	// carol calls the page with video; the page answers with its camera.
	carol := testsip.StartBaresip(t, testsip.BaresipOptions{User: "carol", Codecs: "opus/48000/2", Video: "vp8", Answer: true, Menu: true, Args: []string{"-e", "/dial sip:alice@" + gw}})
	s = waitFor(t, browser, 30*time.Second, "carol's picture", func(s phoneStats) bool {
		return s.Call == "incall" && s.Calls == 2 && s.FramesDecoded > 10 && s.VideoPacketsSent > 30
	})
	t.Logf("video call from %s: %d frames decoded, %d video packets sent", s.Peer, s.FramesDecoded, s.VideoPacketsSent)
	carol.WaitLog(t, "incoming rtp for 'video' established")
	click(t, browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "call from carol hung up", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 2 })
}
