package main

import (
	"context"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
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
	bob := startBaresip(t, "bob", "opus/48000/2,PCMU")
	gw := net.JoinHostPort("127.0.0.1", strconv.Itoa(testsip.FreePort(t, false)))
	at, _ := startServer(t, func(o *options) { o.SIP = gw })
	browser, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 100*time.Second)
	defer cancel()

	q := neturl.Values{"identity": {"alice@127.0.0.1"}, "secret": {"wonderland"}, "proxy": {reg.uri()},
		"autoregister": {"1"}, "autoaccept": {"1"}, "call": {bob.uri}}
	navigate(t, browser, "http://"+at.HTTP+"/?"+q.Encode())
	s := waitFor(t, browser, 30*time.Second, "bob's sine wave", func(s phoneStats) bool {
		return s.Call == "incall" && s.PacketsReceived > 50 && s.AudioEnergy > 0
	})
	t.Logf("call to bob: %s, %d packets sent, %d received, energy %.3g", s.Codec, s.PacketsSent, s.PacketsReceived, s.AudioEnergy)
	click(t, browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "call to bob hung up", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 1 })
	bob.waitLog(t, "session closed")

	// carol dials the page's identity at the gateway, as a phone would
	// through the registrar.
	startBaresip(t, "carol", "PCMU,opus/48000/2", "-e", "/dial sip:alice@"+gw)
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
	bob := startBaresipVideo(t, "bob", "opus/48000/2", "vp8")
	gw := net.JoinHostPort("127.0.0.1", strconv.Itoa(testsip.FreePort(t, false)))
	at, _ := startServer(t, func(o *options) { o.SIP = gw })
	browser, cancel := context.WithTimeout(testbrowser.Start(t, chromium), 100*time.Second)
	defer cancel()

	q := neturl.Values{"identity": {"alice@127.0.0.1"}, "secret": {"wonderland"}, "proxy": {reg.uri()},
		"autoregister": {"1"}, "autoaccept": {"1"}, "video": {"1"}, "call": {bob.uri}}
	navigate(t, browser, "http://"+at.HTTP+"/?"+q.Encode())
	s := waitFor(t, browser, 30*time.Second, "bob's picture and sound", func(s phoneStats) bool {
		return s.Call == "incall" && s.FramesDecoded > 10 && s.VideoPacketsSent > 30 && s.PacketsReceived > 50
	})
	t.Logf("video call to bob: %s and %s, %d frames decoded, %d video packets sent, %d received",
		s.Codec, s.VideoCodec, s.FramesDecoded, s.VideoPacketsSent, s.VideoPacketsReceived)
	if !strings.EqualFold(s.VideoCodec, "VP8") {
		t.Errorf("video codec %q, want VP8 (bob's only one)", s.VideoCodec)
	}
	bob.waitLog(t, "incoming rtp for 'video' established")
	click(t, browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "call to bob hung up", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 1 })

	// carol calls the page with video; the page answers with its camera.
	carol := startBaresipVideo(t, "carol", "opus/48000/2", "vp8", "-e", "/dial sip:alice@"+gw)
	s = waitFor(t, browser, 30*time.Second, "carol's picture", func(s phoneStats) bool {
		return s.Call == "incall" && s.Calls == 2 && s.FramesDecoded > 10 && s.VideoPacketsSent > 30
	})
	t.Logf("video call from %s: %d frames decoded, %d video packets sent", s.Peer, s.FramesDecoded, s.VideoPacketsSent)
	carol.waitLog(t, "incoming rtp for 'video' established")
	click(t, browser, "#hangup")
	waitFor(t, browser, 10*time.Second, "call from carol hung up", func(s phoneStats) bool { return s.Call == "idle" && s.Hangups == 2 })
}

// baresipUA is a headless baresip: a sine wave for a microphone, a file
// for a speaker, answering calls by itself.
type baresipUA struct {
	uri string
	out testsip.Buffer
}

func (b *baresipUA) log() string { return b.out.String() }

// waitLog waits for baresip to print s.
func (b *baresipUA) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s did not print %q:\n%s", b.uri, s, b.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startBaresip runs baresip as user on a loopback port until the end of
// the test, with the configuration of README.md but for the audio
// devices; args are more command-line arguments (-e commands).
func startBaresip(t *testing.T, user, codecs string, args ...string) *baresipUA {
	t.Helper()
	return startBaresipVideo(t, user, codecs, "", args...)
}

// startBaresipVideo is startBaresip with video_codecs (e.g. "vp8") and a
// fake camera (a test pattern) whose frames baresip encodes; "" for none.
func startBaresipVideo(t *testing.T, user, codecs, video string, args ...string) *baresipUA {
	t.Helper()
	path, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip not found: run the README's test command (scripts/test.sh), which installs it (apt-get install -y baresip)")
	}
	port := testsip.FreePort(t, false)
	b := &baresipUA{uri: fmt.Sprintf("sip:%s@127.0.0.1:%d", user, port)}
	dir := t.TempDir()
	// ausine makes 48 kHz stereo only: baresip resamples for G.711.
	config := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
audio_player aufile,%s
audio_source ausine,440
audio_alert aufile,/dev/null
ausrc_srate 48000
ausrc_channels 2
module_path /usr/lib/baresip/modules
module g711.so
module opus.so
module ausine.so
module aufile.so
module_app account.so
module_app menu.so
`, port, filepath.Join(dir, "heard.wav"))
	account := fmt.Sprintf("<%s>;regint=0;answermode=auto;audio_codecs=%s", b.uri, codecs)
	if video != "" {
		config += "module vp8.so\nmodule fakevideo.so\nvideo_source fakevideo,nil\nvideo_display fakevideo,nil\n" +
			"video_size 320x240\nvideo_fps 15\nvideo_bitrate 300000\n"
		account += ";video_codecs=" + video
	}
	account += "\n"
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, append([]string{"-f", dir, "-n", "127.0.0.1", "-t", "90"}, args...)...)
	// Stopped with SIGINT, baresip hangs up and exits.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &b.out, &b.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
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
	b.waitLog(t, "baresip is ready")
	return b
}
