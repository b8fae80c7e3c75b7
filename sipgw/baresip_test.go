package sipgw

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/internal/testsip"
)

// baresip is a real SIP phone (Debian package baresip), installed by
// scripts/test.sh: it answers our calls by itself and sends a sine wave.

// baresipOptions configure a baresip: one account, user@127.0.0.1.
type baresipOptions struct {
	user     string
	codecs   string // the account's audio_codecs
	mediaenc string // the account's mediaenc ("srtp-mand"), if any
	answer   bool   // answer calls by itself
	ctrl     bool   // the ctrl_tcp control interface
	// video, if set, is the account's video_codecs ("vp8"): a fake
	// camera (fakevideo, a test pattern) and a display that drops frames.
	video string
	// tls, if set, is a PEM file with baresip's certificate and key
	// and the CA it trusts: baresip also listens for SIP over TLS, on
	// its port + 1.
	tls string
}

// baresip is a running baresip.
type baresip struct {
	user string
	port int // SIP, UDP
	out  *testsip.Buffer
	ctrl string // ctrl_tcp's address, if any
}

func (b *baresip) uri() string { return fmt.Sprintf("sip:%s@127.0.0.1:%d", b.user, b.port) }

// freeSIPPort returns a port of 127.0.0.1 that was free a moment ago
// for both UDP and TCP (baresip listens on both).
func freeSIPPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		port := testsip.FreePort(t, false)
		l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// freeTCPPort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// startBaresip runs baresip headless until the end of the test; it sends
// a sine wave and writes what it hears to a file.
func startBaresip(t *testing.T, opts baresipOptions) *baresip {
	t.Helper()
	path, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip not found: apt-get install baresip (scripts/test.sh does)")
	}
	b := &baresip{user: opts.user, port: freeSIPPort(t), out: &testsip.Buffer{}}
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
module srtp.so
module ausine.so
module aufile.so
module_app account.so
`, b.port, filepath.Join(dir, "heard.wav"))
	if opts.tls != "" {
		config += "sip_certificate " + opts.tls + "\nsip_cafile " + opts.tls + "\n"
	}
	if opts.video != "" {
		config += "module vp8.so\nmodule fakevideo.so\nvideo_source fakevideo,nil\nvideo_display fakevideo,nil\n" +
			"video_size 320x240\nvideo_fps 15\nvideo_bitrate 300000\n"
	}
	if opts.ctrl {
		b.ctrl = "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
		config += "module_app menu.so\nmodule_app ctrl_tcp.so\nctrl_tcp_listen " + b.ctrl + "\n"
	}
	account := fmt.Sprintf("<sip:%s@127.0.0.1:%d>;regint=0;audio_codecs=%s", opts.user, b.port, opts.codecs)
	if opts.answer {
		account += ";answermode=auto"
	}
	if opts.mediaenc != "" {
		account += ";mediaenc=" + opts.mediaenc
	}
	if opts.video != "" {
		account += ";video_codecs=" + opts.video
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{path, "-f", dir, "-n", "127.0.0.1", "-t", "60"}
	if stdbuf, err := exec.LookPath("stdbuf"); err == nil {
		// baresip's stdout is a pipe here: line-buffer it, so that the
		// test reads its log as it goes.
		args = append([]string{stdbuf, "-oL", "-eL"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	// Stopped with SIGINT, baresip hangs up and flushes its log.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = b.out, b.out
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
	waitPackets(t, "baresip ready", func() bool { return strings.Contains(b.out.String(), "baresip is ready") })
	return b
}

// TestBaresipUAS calls baresip answering by itself, with Opus, plain and
// with SDES-SRTP mandatory; holds (sendonly: baresip stops sending) and
// unholds, and hangs up from the browser's side.
func TestBaresipUAS(t *testing.T) {
	for _, tc := range []struct{ name, srtp, mediaenc string }{
		{"plain", "", ""},
		{"sdes-srtp", "sdes_mandatory", "srtp-mand"},
	} {
		t.Run(tc.name, func(t *testing.T) { testBaresip(t, tc.srtp, tc.mediaenc) })
	}
}

func testBaresip(t *testing.T, srtp, mediaenc string) {
	e := newEnv(t)
	peer := startBaresip(t, baresipOptions{user: "bob", codecs: "opus/48000/2", mediaenc: mediaenc, answer: true})

	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "opus")
	e.must(e.h, map[string]any{"request": "call", "uri": peer.uri(), "srtp": srtp}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	b.sendAudio()
	a := e.h.Attachment().(*Agent)
	waitPackets(t, "baresip's sine at the browser", func() bool { return b.received.Load() > 25 })
	waitPackets(t, "browser audio to baresip", func() bool { return a.Status().PacketsToPeer > 25 })
	st := a.Status()
	t.Logf("gateway: %d packets to baresip, %d from it; browser got %d", st.PacketsToPeer, st.PacketsFromPeer, b.received.Load())
	if m := a.media.Load(); m == nil || (m.srtp.Load() != nil) != (srtp != "") {
		t.Errorf("SRTP in use: want %v", srtp != "")
	}
	// baresip logs the first RTP it could use (decrypted, with SRTP).
	waitPackets(t, "RTP at baresip", func() bool { return strings.Contains(peer.out.String(), "incoming rtp for 'audio' established") })

	holdAndResume(t, e, b)

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	// baresip reports a BYE as "session closed: Connection reset by peer".
	waitPackets(t, "baresip sees the BYE", func() bool { return strings.Contains(peer.out.String(), "session closed") })
	legsEnded(t, e, b, 0)
}

// holdAndResume holds a call with baresip (sendonly, the default: baresip
// answers recvonly and stops sending, so the browser hears nothing while
// its audio still goes out) and unholds it (both ways again).
func holdAndResume(t *testing.T, e *env, b *browser) {
	t.Helper()
	a := e.h.Attachment().(*Agent)
	toPeer := func() int64 { return int64(a.Status().PacketsToPeer) }
	fromPeer := func() int64 { return int64(a.Status().PacketsFromPeer) }
	e.must(e.h, map[string]any{"request": "hold"}, nil)
	e.wait(e.log, e.h, "holding")
	testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return a.currentCall().reinvitingDone() })
	if !stalled(fromPeer) {
		t.Error("baresip still sends while held")
	}
	if !stalled(b.received.Load) {
		t.Error("browser still receiving while held")
	}
	if stalled(toPeer) {
		t.Error("browser audio stopped going to baresip while held (sendonly)")
	}
	from, got := fromPeer(), b.received.Load()
	e.must(e.h, map[string]any{"request": "unhold"}, nil)
	e.wait(e.log, e.h, "resuming")
	waitPackets(t, "baresip sends again", func() bool { return fromPeer() > from+25 })
	waitPackets(t, "browser hears again", func() bool { return b.received.Load() > got+25 })
}

// TestBaresipVideo calls baresip answering by itself with audio and VP8
// video from its fake camera, plain and with SDES-SRTP mandatory (each
// stream with its own key): its video reaches the browser and the
// browser's reaches it (baresip logs the first video RTP it takes, once
// decrypted with SRTP), both m-lines go on hold and come back.
func TestBaresipVideo(t *testing.T) {
	for _, tc := range []struct{ name, srtp, mediaenc string }{
		{"plain", "", ""},
		{"sdes-srtp", "sdes_mandatory", "srtp-mand"},
	} {
		t.Run(tc.name, func(t *testing.T) { testBaresipVideo(t, tc.srtp, tc.mediaenc) })
	}
}

func testBaresipVideo(t *testing.T, srtp, mediaenc string) {
	e := newEnv(t)
	peer := startBaresip(t, baresipOptions{user: "bob", codecs: "opus/48000/2", video: "vp8", mediaenc: mediaenc, answer: true})

	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "opus").withVideo("vp8")
	e.must(e.h, map[string]any{"request": "call", "uri": peer.uri(), "srtp": srtp}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	if vs := videoSection(acc.JSEP.SDP); !strings.Contains(vs, "VP8/90000") || strings.Contains(vs, "a=inactive") {
		t.Fatalf("browser's answer video (baresip took no VP8?):\n%s\nbaresip:\n%s", vs, peer.out)
	}
	b.sendAudio()
	b.sendVideo()
	a := e.h.Attachment().(*Agent)
	waitPackets(t, "baresip's video at the browser", func() bool { return b.videoReceived.Load() > 30 })
	waitPackets(t, "browser video to baresip", func() bool { return a.Status().VideoPacketsToPeer > 30 })
	waitPackets(t, "video RTP at baresip", func() bool { return strings.Contains(peer.out.String(), "incoming rtp for 'video' established") })
	waitPackets(t, "baresip's audio at the browser", func() bool { return b.received.Load() > 25 })
	st := a.Status()
	m := a.vmedia.Load()
	if (m.srtp.Load() != nil) != (srtp != "") {
		t.Errorf("video SRTP in use: want %v", srtp != "")
	}
	t.Logf("gateway: %d video packets to baresip, %d from it; browser got %d; keyframe requests: %d from baresip, %d PLIs to it; browser got %d",
		st.VideoPacketsToPeer, st.VideoPacketsFromPeer, b.videoReceived.Load(), m.keyframesAsked.Load(), m.plisSent.Load(), b.plis.Load())

	// A PLI of the browser goes to baresip.
	sent := m.plisSent.Load()
	b.askKeyframe()
	waitPackets(t, "the browser's PLI relayed to baresip", func() bool { return m.plisSent.Load() > sent })

	e.must(e.h, map[string]any{"request": "hold"}, nil)
	e.wait(e.log, e.h, "holding")
	testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return a.currentCall().reinvitingDone() })
	if !stalled(b.videoReceived.Load) {
		t.Error("browser still receives baresip's video while held")
	}
	got := b.videoReceived.Load()
	e.must(e.h, map[string]any{"request": "unhold"}, nil)
	e.wait(e.log, e.h, "resuming")
	waitPackets(t, "baresip's video again", func() bool { return b.videoReceived.Load() > got+30 })

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	legsEnded(t, e, b, 0)
}
