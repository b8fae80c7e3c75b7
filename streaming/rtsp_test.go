package streaming_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/rtsp"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/streaming"
)

// rtspServer is GStreamer's RTSP server (testdata/rtsp-server.py, through
// Debian's python3-gi and gir1.2-gst-rtsp-server-1.0, which scripts/test.sh
// installs) serving a test pattern and a sine wave, as a camera would.
type rtspServer struct {
	url  string
	port int
	stop func()
}

// startRTSPServer runs the server on a free port of 127.0.0.1 (or port,
// when not 0) until the end of the test or stop. video is "vp8" or
// "h264"; with user, clients must authenticate with Digest.
func startRTSPServer(t *testing.T, port int, video, user, pass string) *rtspServer {
	t.Helper()
	return startRTSPServerOver(t, "udp", port, video, user, pass)
}

// startRTSPServerOver is startRTSPServer with the only RTP transport the
// server takes: "udp" or "tcp" (interleaved).
func startRTSPServerOver(t *testing.T, transport string, port int, video, user, pass string) *rtspServer {
	t.Helper()
	python := "/usr/bin/python3" // Debian's, which has the gi module
	if _, err := os.Stat(python); err != nil {
		t.Fatal("python3 not found: run scripts/test.sh, which installs python3-gi and gir1.2-gst-rtsp-server-1.0")
	}
	if port == 0 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	script, err := filepath.Abs(filepath.Join("testdata", "rtsp-server.py"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{script, fmt.Sprint(port), "/cam", video}
	if user != "" {
		args = append(args, user, pass)
	}
	cmd := exec.Command(python, args...)
	cmd.Env = append(os.Environ(), "RTSP_LOWER_TRANSPORT="+transport)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		said := false
		for sc.Scan() {
			if !said && sc.Text() == "ready" {
				said = true
				ready <- true
			}
		}
		if !said {
			ready <- false
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(stop)
	select {
	case ok := <-ready:
		if !ok {
			<-exited
			t.Fatalf("the RTSP server did not start (needs python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good/-bad; scripts/test.sh installs them):\n%s", stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the RTSP server did not say ready:\n%s", stderr.String())
	}
	return &rtspServer{url: fmt.Sprintf("rtsp://127.0.0.1:%d/cam", port), port: port, stop: stop}
}

// A Janus "rtsp" mountpoint pulls a camera's VP8 and Opus over RTSP
// (GStreamer's server: DESCRIBE, SETUP of both streams to our UDP ports,
// PLAY, keep-alives), and viewers get both; destroying the mountpoint
// tears the session down.
func TestRTSPMountpoint(t *testing.T) {
	cam := startRTSPServer(t, 0, "vp8", "", "")
	p, r := newPlugin(t)
	h := attach(t, r)
	reply, err := send(t, h, map[string]any{"request": "create", "type": "rtsp", "id": 90, "description": "camera",
		"url": cam.url, "audio": true, "video": true}, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.Contains(string(reply.Data), `"codec":"vp8"`) || !strings.Contains(string(reply.Data), `"codec":"opus"`) {
		t.Errorf("created: %s, want vp8 and opus", reply.Data)
	}
	stop := make(chan struct{})
	defer close(stop)
	v := watch(t, r, 90, stop)
	testpeer.WaitFor(t, 10*time.Second, "camera video and audio at the viewer", func() bool {
		return v.count("video") > 30 && v.count("audio") > 30
	})
	if v.keyframes.Load() == 0 {
		t.Error("no VP8 keyframe reached the viewer")
	}
	m, _ := p.Mountpoint(90)
	for _, src := range m.Sources() {
		if src.Packets() == 0 {
			t.Errorf("source %s got nothing", src.ID())
		}
	}
	t.Logf("viewer: %d video and %d audio packets, %d keyframe packets", v.count("video"), v.count("audio"), v.keyframes.Load())
	if _, err := send(t, h, map[string]any{"request": "destroy", "id": 90}, nil); err != nil {
		t.Fatalf("destroy: %v", err)
	}
}

// H.264 from a camera that wants Digest credentials (RFC 2617): wrong
// ones are refused and leave nothing behind; right ones bring SPS, PPS
// and IDR pictures to the viewer, offered as constrained baseline.
func TestRTSPMountpointH264Digest(t *testing.T) {
	cam := startRTSPServer(t, 0, "h264", "admin", "s3cret")
	p, r := newPlugin(t)
	h := attach(t, r)
	create := map[string]any{"request": "create", "type": "rtsp", "id": 91, "url": cam.url, "rtsp_user": "admin", "rtsp_pwd": "wrong"}
	if _, err := send(t, h, create, nil); code(err) != streaming.ErrorCantCreate || !errors.Is(err, streaming.ErrCantCreate) {
		t.Errorf("wrong password: %v, want error %d", err, streaming.ErrorCantCreate)
	}
	if _, err := p.Mountpoint(91); err == nil {
		t.Error("a refused RTSP mountpoint is listed")
	}
	create["rtsp_pwd"] = "s3cret"
	reply, err := send(t, h, create, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.Contains(string(reply.Data), `"codec":"h264"`) {
		t.Errorf("created: %s", reply.Data)
	}
	m, _ := p.Mountpoint(91)
	for _, src := range m.Sources() {
		if src.Kind().String() == "video" && !strings.Contains(src.Codec().SDPFmtpLine, "profile-level-id=42e01f") {
			t.Errorf("video fmtp %q, want constrained baseline", src.Codec().SDPFmtpLine)
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	v := watch(t, r, 91, stop)
	testpeer.WaitFor(t, 10*time.Second, "H.264 SPS, PPS and IDR at the viewer", func() bool {
		return v.nalCount(7) > 0 && v.nalCount(8) > 0 && v.nalCount(5) > 0 && v.nalCount(1) > 10 && v.count("audio") > 20
	})
	t.Logf("viewer: %d video packets (SPS %d, PPS %d, IDR %d, non-IDR %d), %d audio", v.count("video"),
		v.nalCount(7), v.nalCount(8), v.nalCount(5), v.nalCount(1), v.count("audio"))
}

// The camera goes away and comes back (a reboot): the mountpoint sees no
// RTP, pulls again on the same ports, and its viewers get media again
// without doing anything.
func TestRTSPReconnect(t *testing.T) {
	cam := startRTSPServer(t, 0, "vp8", "", "")
	p, r := newPlugin(t)
	if _, err := p.CreateMountpoint(streaming.MountpointParams{ID: 92, Type: "rtsp", URL: cam.url,
		Media: []streaming.MediaParams{{Type: "video"}}, RTSPReconnectDelay: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	v := watch(t, r, 92, stop)
	testpeer.WaitFor(t, 10*time.Second, "video", func() bool { return v.count("video") > 20 })
	if v.count("audio") != 0 {
		t.Errorf("%d audio packets from a video-only mountpoint", v.count("audio"))
	}
	cam.stop()
	time.Sleep(time.Second)
	before := v.count("video")
	startRTSPServer(t, cam.port, "vp8", "", "")
	testpeer.WaitFor(t, 30*time.Second, "video after the camera came back", func() bool { return v.count("video") > before+20 })
}

// A server that sends RTP only interleaved on the RTSP connection
// (RFC 2326 section 10.12), as cameras reached through NAT do: the
// mountpoint asks for UDP, is refused, and takes the media over TCP; with
// rtsp_transport "udp" it is refused; with "tcp" it asks for TCP at once.
// Keep-alives go on beside the interleaved media.
func TestRTSPOverTCP(t *testing.T) {
	cam := startRTSPServerOver(t, "tcp", 0, "vp8", "", "")
	p, r := newPlugin(t)
	h := attach(t, r)
	for _, c := range []struct {
		id        uint64
		transport string
	}{{94, ""}, {95, "tcp"}} {
		reply, err := send(t, h, map[string]any{"request": "create", "type": "rtsp", "id": c.id, "url": cam.url, "rtsp_transport": c.transport}, nil)
		if err != nil {
			t.Fatalf("create with rtsp_transport %q: %v", c.transport, err)
		}
		if !strings.Contains(string(reply.Data), `"port":0`) {
			t.Errorf("created %s: want no UDP port", reply.Data)
		}
		stop := make(chan struct{})
		v := watch(t, r, c.id, stop)
		testpeer.WaitFor(t, 10*time.Second, "interleaved video and audio at the viewer", func() bool {
			return v.count("video") > 30 && v.count("audio") > 30 && v.keyframes.Load() > 0
		})
		t.Logf("rtsp_transport %q: %d video and %d audio packets over TCP", c.transport, v.count("video"), v.count("audio"))
		close(stop)
	}
	// Last: GStreamer's server answers 503 for a while after a client
	// it refused.
	if _, err := send(t, h, map[string]any{"request": "create", "type": "rtsp", "id": 93, "url": cam.url, "rtsp_transport": "udp"}, nil); code(err) != streaming.ErrorCantCreate {
		t.Errorf("UDP only from a TCP-only server: %v, want error %d", err, streaming.ErrorCantCreate)
	}
	if n := len(p.Mountpoints()); n != 2 {
		t.Errorf("%d mountpoints, want 2", n)
	}
}

// Bad RTSP mountpoints are refused with Janus's codes and leave nothing
// behind: no URL, not rtsp://, nothing listening, a media kind RTSP does
// not carry.
func TestRTSPBadInput(t *testing.T) {
	p, r := newPlugin(t)
	h := attach(t, r)
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := fmt.Sprintf("rtsp://%s/cam", closed.Addr())
	_ = closed.Close()
	for _, c := range []struct {
		body map[string]any
		code int
	}{
		{map[string]any{"request": "create", "type": "rtsp"}, streaming.ErrorMissingElement},
		{map[string]any{"request": "create", "type": "rtsp", "url": "http://127.0.0.1/cam"}, streaming.ErrorCantCreate},
		{map[string]any{"request": "create", "type": "rtsp", "url": nobody}, streaming.ErrorCantCreate},
		{map[string]any{"request": "create", "type": "rtsp", "url": nobody, "data": true}, streaming.ErrorInvalidElement},
		{map[string]any{"request": "create", "type": "rtmp", "url": nobody}, streaming.ErrorInvalidElement},
		{map[string]any{"request": "create", "type": "rtsp", "url": nobody, "rtsp_transport": "sctp"}, streaming.ErrorInvalidElement},
	} {
		if _, err := send(t, h, c.body, nil); code(err) != c.code {
			t.Errorf("%v: %v, want error %d", c.body, err, c.code)
		}
	}
	if n := len(p.Mountpoints()); n != 0 {
		t.Errorf("%d mountpoints after refused creations", n)
	}
}

// The RTSP client answers a Digest challenge (RFC 2617) with the response
// the server computes, and refuses wrong credentials; against the real
// server.
func TestRTSPClientDigest(t *testing.T) {
	cam := startRTSPServer(t, 0, "vp8", "admin", "s3cret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		pass string
		want error
	}{{"nope", rtsp.ErrUnauthorized}, {"s3cret", nil}} {
		cl, err := rtsp.Dial(ctx, cam.url, "admin", c.pass, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		sdp, err := cl.Describe(ctx)
		if !errors.Is(err, c.want) {
			t.Errorf("password %q: %v, want %v", c.pass, err, c.want)
		}
		if err == nil && !strings.Contains(string(sdp), "m=video") {
			t.Errorf("SDP without video:\n%s", sdp)
		}
		_ = cl.Close()
	}
}

// The RTSP client over TCP against the real server: while
// ReadInterleaved takes the media off the connection, keep-alives and
// TEARDOWN get their answers through it.
func TestRTSPClientInterleaved(t *testing.T) {
	cam := startRTSPServerOver(t, "tcp", 0, "vp8", "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := rtsp.Dial(ctx, cam.url, "", "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sdp, err := cl.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, control := range []string{"stream=0", "stream=1"} {
		if !strings.Contains(string(sdp), "a=control:"+control) {
			t.Fatalf("SDP without %s:\n%s", control, sdp)
		}
		if _, err := cl.SetupTCP(ctx, cl.Control(control), 2*i); err != nil {
			t.Fatalf("SETUP %s: %v", control, err)
		}
	}
	if err := cl.Play(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	channels := map[byte]int{}
	done := make(chan error, 1)
	go func() {
		done <- cl.ReadInterleaved(func(ch byte, p []byte) {
			mu.Lock()
			channels[ch]++
			mu.Unlock()
		})
	}()
	count := func(ch byte) int {
		mu.Lock()
		defer mu.Unlock()
		return channels[ch]
	}
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		if err := cl.KeepAlive(ctx); err != nil {
			t.Fatalf("keep-alive while interleaving: %v", err)
		}
	}
	if count(0) == 0 || count(2) == 0 {
		t.Errorf("interleaved packets by channel: %v, want video on 0 and audio on 2", channels)
	}
	if err := cl.Teardown(ctx); err != nil {
		t.Errorf("TEARDOWN while interleaving: %v", err)
	}
	_ = cl.Close()
	if err := <-done; err == nil {
		t.Error("ReadInterleaved returned no error after Close")
	}
	t.Logf("interleaved packets by channel: %v", channels)
}
