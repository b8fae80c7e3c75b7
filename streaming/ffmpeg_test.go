package streaming_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/streaming"
)

// ffmpeg sends VP8 and Opus over plain RTP into a mountpoint: 20 pion
// viewers receive it, recordings of it pass ffprobe with the right codecs
// and duration, and an RTP forwarder of it is decoded by ffmpeg.
func TestFFmpegIngest(t *testing.T) {
	ffmpeg := testpeer.Tool(t, "ffmpeg")
	p := streaming.New(streaming.Params{Logger: testpeer.QuietLogger()})
	r := testpeer.NewRouter(t, nil, p)
	if err := p.Start(r); err != nil {
		t.Fatal(err)
	}
	mp, err := p.CreateMountpoint(streaming.MountpointParams{ID: 5, Media: []streaming.MediaParams{
		{Type: "video", MID: "v", PT: 96, Codec: "vp8"},
		{Type: "audio", MID: "a", PT: 97, Codec: "opus"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	vport, aport := mp.Params().Media[0].Port, mp.Params().Media[1].Port
	dir := t.TempDir()
	srcs := mp.Sources()
	vrec, err := srcs[0].Record(ianua.RecordParams{Path: filepath.Join(dir, "video")})
	if err != nil {
		t.Fatal(err)
	}
	arec, err := srcs[1].Record(ianua.RecordParams{Path: filepath.Join(dir, "audio")})
	if err != nil {
		t.Fatal(err)
	}

	// An RTP forwarder of the video, read back by ffmpeg through an SDP.
	fwdPort := freeUDPPort(t)
	fwd, err := srcs[0].Forward(ianua.RTPForwarderParams{Host: "127.0.0.1", Port: fwdPort, PayloadType: 96})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Stop()
	sdpFile := filepath.Join(dir, "fwd.sdp")
	sdp := fmt.Sprintf("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=ianua\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video %d RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n", fwdPort)
	if err := os.WriteFile(sdpFile, []byte(sdp), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	reader := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-protocol_whitelist", "file,udp,rtp", "-i", sdpFile,
		"-t", "3", "-f", "null", "-")
	var readerOut []byte
	var readerErr error
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		readerOut, readerErr = reader.CombinedOutput()
	}()

	stop := make(chan struct{})
	defer close(stop)
	var viewers []*viewerClient
	for range 20 {
		viewers = append(viewers, watch(t, r, 5, stop))
	}

	const seconds = 5
	sender := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=320x240:rate=30:duration=%d", seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", seconds),
		"-map", "0:v", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "15",
		"-payload_type", "96", "-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d?pkt_size=1200", vport),
		"-map", "1:a", "-c:a", "libopus", "-payload_type", "97", "-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d", aport))
	if out, err := sender.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg sender: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond)
	for i, v := range viewers {
		// ~30 video frames (several packets each) and 50 Opus packets a
		// second.
		if got := v.packets.Load(); got < int64(seconds*50) {
			t.Errorf("viewer %d got %d packets", i, got)
		}
	}
	vrec.Stop()
	arec.Stop()
	if c, d := testpeer.Probe(t, vrec.Path()); c != "vp8" || d < seconds*0.9-1 || d > seconds*1.1 {
		t.Errorf("video recording: codec %q duration %.2f s", c, d)
	}
	if c, d := testpeer.Probe(t, arec.Path()); c != "opus" || d < seconds*0.9-1 || d > seconds*1.1 {
		t.Errorf("audio recording: codec %q duration %.2f s", c, d)
	}
	rwg.Wait()
	if readerErr != nil {
		t.Errorf("ffmpeg reading the forwarder: %v\n%s", readerErr, readerOut)
	}
	if fwd.Packets() < seconds*30 {
		t.Errorf("forwarder sent %d packets", fwd.Packets())
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
