package testsip

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
)

// BaresipOptions configure a headless baresip (Debian package baresip,
// installed by scripts/test.sh) with one account, User@127.0.0.1: a sine
// wave for a microphone, a file for a speaker.
type BaresipOptions struct {
	User   string
	Codecs string // the account's audio_codecs ("opus/48000/2,PCMU")
	// Video, if set, is the account's video_codecs ("vp8"): a fake
	// camera (fakevideo, a test pattern) and a display that drops frames.
	Video string
	// Mediaenc is the account's mediaenc ("srtp-mand"), if any.
	Mediaenc string
	// Answer makes baresip answer calls by itself.
	Answer bool
	// Menu loads the menu module, which runs the commands given with
	// "-e" in Args ("/dial sip:…").
	Menu bool
	// Ctrl adds the ctrl_tcp control interface (with the menu) on a free
	// port of 127.0.0.1 (Baresip.Ctrl).
	Ctrl bool
	// TLS, if set, is a PEM file with baresip's certificate and key and
	// the CA it trusts: baresip also listens for SIP over TLS, on its
	// port + 1.
	TLS string
	// Args are more command-line arguments.
	Args []string
}

// Baresip is a running baresip.
type Baresip struct {
	User string
	Port int    // SIP over UDP and TCP
	Ctrl string // ctrl_tcp's address, if any
	out  Buffer
}

// URI is the account's SIP URI.
func (b *Baresip) URI() string { return fmt.Sprintf("sip:%s@127.0.0.1:%d", b.User, b.Port) }

// Log is what baresip printed so far.
func (b *Baresip) Log() string { return b.out.String() }

// WaitLog waits up to 10 s for baresip to print s, and fails the test if
// it does not.
func (b *Baresip) WaitLog(t testing.TB, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.Log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s did not print %q:\n%s", b.URI(), s, b.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartBaresip runs baresip until the end of the test (then stops it with
// SIGINT, so that it hangs up and flushes its log), and returns once it
// says it is ready. The test fails, not skips, without baresip.
func StartBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	path, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip not found: run scripts/test.sh, which installs it (apt-get install -y baresip)")
	}
	b := &Baresip{User: opts.User, Port: FreeUDPAndTCPPort(t)}
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
`, b.Port, filepath.Join(dir, "heard.wav"))
	if opts.TLS != "" {
		config += "sip_certificate " + opts.TLS + "\nsip_cafile " + opts.TLS + "\n"
	}
	if opts.Video != "" {
		config += "module vp8.so\nmodule fakevideo.so\nvideo_source fakevideo,nil\nvideo_display fakevideo,nil\n" +
			"video_size 320x240\nvideo_fps 15\nvideo_bitrate 300000\n"
	}
	if opts.Menu || opts.Ctrl {
		config += "module_app menu.so\n"
	}
	if opts.Ctrl {
		b.Ctrl = "127.0.0.1:" + strconv.Itoa(FreeTCPPort(t))
		config += "module_app ctrl_tcp.so\nctrl_tcp_listen " + b.Ctrl + "\n"
	}
	account := fmt.Sprintf("<%s>;regint=0;audio_codecs=%s", b.URI(), opts.Codecs)
	if opts.Answer {
		account += ";answermode=auto"
	}
	if opts.Mediaenc != "" {
		account += ";mediaenc=" + opts.Mediaenc
	}
	if opts.Video != "" {
		account += ";video_codecs=" + opts.Video
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{path, "-f", dir, "-n", "127.0.0.1", "-t", "120"}, opts.Args...)
	if stdbuf, err := exec.LookPath("stdbuf"); err == nil {
		// baresip's stdout is a pipe here: line-buffer it, so that the
		// test reads its log as it goes.
		args = append([]string{stdbuf, "-oL", "-eL"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
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
	b.WaitLog(t, "baresip is ready")
	return b
}

// FreeUDPAndTCPPort returns a port of 127.0.0.1 that was free a moment
// ago for both UDP and TCP (baresip listens on both).
func FreeUDPAndTCPPort(t testing.TB) int {
	t.Helper()
	for range 50 {
		port := FreePort(t, false)
		l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// FreeTCPPort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
