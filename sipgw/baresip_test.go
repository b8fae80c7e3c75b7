package sipgw

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// baresip is a real SIP phone (Debian package baresip), installed by
// scripts/test.sh: it answers our calls by itself and sends a sine wave.

// lockedBuffer is a bytes.Buffer safe for a process writing while the test
// reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBaresipUAS(t *testing.T) {
	for _, tc := range []struct{ name, srtp, mediaenc string }{
		{"plain", "", ""},
		{"sdes-srtp", "sdes_mandatory", ";mediaenc=srtp-mand"},
	} {
		t.Run(tc.name, func(t *testing.T) { testBaresip(t, tc.srtp, tc.mediaenc) })
	}
}

func testBaresip(t *testing.T, srtp, mediaenc string) {
	path, err := exec.LookPath("baresip")
	if err != nil {
		t.Fatal("baresip not found: apt-get install baresip (scripts/test.sh does)")
	}
	e := newEnv(t)
	port := freePort(t, false)
	dir := t.TempDir()
	config := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
audio_player aufile,%s
audio_source ausine,440
audio_alert aufile,/dev/null
module_path /usr/lib/baresip/modules
module opus.so
module srtp.so
module ausine.so
module aufile.so
module_app account.so
`, port, filepath.Join(dir, "heard.wav"))
	account := fmt.Sprintf("<sip:bob@127.0.0.1:%d>;regint=0;answermode=auto;audio_codecs=opus/48000/2%s\n", port, mediaenc)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{path, "-f", dir, "-n", "127.0.0.1", "-t", "30"}
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
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
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
	waitPackets(t, "baresip ready", func() bool { return strings.Contains(out.String(), "baresip is ready") })

	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "opus")
	e.must(e.h, map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1:" + strconv.Itoa(port), "srtp": srtp}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	b.sendAudio()
	waitPackets(t, "baresip's sine at the browser", func() bool { return b.received.Load() > 25 })
	waitPackets(t, "browser audio to baresip", func() bool { return e.h.Attachment().(*Agent).Status().PacketsToPeer > 25 })
	a := e.h.Attachment().(*Agent)
	st := a.Status()
	t.Logf("gateway: %d packets to baresip, %d from it; browser got %d", st.PacketsToPeer, st.PacketsFromPeer, b.received.Load())
	if m := a.media.Load(); m == nil || (m.srtp.Load() != nil) != (srtp != "") {
		t.Errorf("SRTP in use: want %v", srtp != "")
	}

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	// baresip reports a BYE as "session closed: Connection reset by peer".
	waitPackets(t, "baresip sees the BYE", func() bool { return strings.Contains(out.String(), "session closed") })
	// baresip logs the first RTP it could use (decrypted, with SRTP).
	if !strings.Contains(out.String(), "incoming rtp for 'audio' established") {
		t.Errorf("baresip got no usable RTP:\n%s", out.String())
	}
}
