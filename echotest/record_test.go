package echotest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"go.uber.org/goleak"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/echotest"
	"github.com/ianua/ianua/internal/testpeer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// "record": true writes what the client sends — here real VP8 and Opus
// made by ffmpeg — to files ffprobe reads with the right codec and
// duration; "record": false closes them.
func TestRecord(t *testing.T) {
	const seconds = 3
	ffmpeg := testpeer.Tool(t, "ffmpeg")
	dir := t.TempDir()
	ivfPath, oggPath := filepath.Join(dir, "in.ivf"), filepath.Join(dir, "in.ogg")
	gen := exec.Command(ffmpeg, "-v", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30:duration="+strconv.Itoa(seconds),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+strconv.Itoa(seconds),
		"-map", "0:v", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "30", ivfPath,
		"-map", "1:a", "-c:a", "libopus", "-page_duration", "20000", oggPath)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}

	recDir := filepath.Join(dir, "recordings")
	r := testpeer.NewRouter(t, nil, echotest.NewWithParams(echotest.Params{RecordDir: recDir}))
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	log := testpeer.Watch(s)
	h, err := s.Attach(echotest.Name)
	if err != nil {
		t.Fatal(err)
	}
	pc := testpeer.NewClient(t, testpeer.Options{})
	video, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "client")
	audio, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "client")
	for _, tr := range []webrtc.TrackLocal{video, audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})
	stop := make(chan struct{})
	defer close(stop)
	testpeer.TrickleTo(t, pc, h)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	msg := func(body map[string]any, jsep *ianua.JSEP) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := h.Message(ctx, ianua.Message{Body: testpeer.JSON(body), JSEP: jsep, Transaction: "tx"}); err != nil {
			t.Fatal(err)
		}
	}
	msg(map[string]any{"audio": true, "video": true, "record": true, "filename": "call"}, &ianua.JSEP{Type: "offer", SDP: offer.SDP})
	ev := log.Wait(t, 5*time.Second, "answer", func(e ianua.Event) bool { return e.JSEP != nil && e.JSEP.Type == "answer" })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	testpeer.TrickleFrom(log, h.ID(), pc, stop)
	log.Wait(t, 10*time.Second, "webrtcup", testpeer.Type(ianua.EventWebRTCUp, 0))
	// pion drops what a track writes before its own DTLS is up.
	testpeer.WaitFor(t, 10*time.Second, "client connected", func() bool {
		return pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	})

	// Both files in real time, as a browser sends them.
	done := make(chan error, 2)
	go func() { done <- sendIVF(ivfPath, video) }()
	go func() { done <- sendOgg(oggPath, audio) }()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	msg(map[string]any{"record": false}, nil)
	h.Hangup("done") // the stream loops end, and close their files

	for _, want := range []struct{ glob, codec string }{{"call-video-*.ivf", "vp8"}, {"call-audio-*.ogg", "opus"}} {
		files, _ := filepath.Glob(filepath.Join(recDir, want.glob))
		if len(files) != 1 {
			t.Fatalf("%s: %v", want.glob, files)
		}
		var codec string
		var d float64
		deadline := time.Now().Add(5 * time.Second)
		for codec, d = testpeer.Probe(t, files[0]); d < seconds*0.9 && time.Now().Before(deadline); codec, d = testpeer.Probe(t, files[0]) {
			time.Sleep(100 * time.Millisecond) // until the file is closed
		}
		t.Logf("%s: %s, %.2f s", filepath.Base(files[0]), codec, d)
		if codec != want.codec || d < seconds*0.9 || d > seconds*1.1 {
			t.Errorf("%s: codec %q, %.2f s; want %s, %d s ± 10 %%", files[0], codec, d, want.codec, seconds)
		}
	}
}

// sendIVF plays an IVF file's frames on track at their frame rate.
func sendIVF(path string, track *webrtc.TrackLocalStaticSample) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, hdr, err := ivfreader.NewWith(f)
	if err != nil {
		return err
	}
	frame := time.Second * time.Duration(hdr.TimebaseNumerator) / time.Duration(hdr.TimebaseDenominator)
	next := time.Now()
	for {
		data, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := track.WriteSample(media.Sample{Data: data, Duration: frame}); err != nil {
			return err
		}
		next = next.Add(frame)
		time.Sleep(time.Until(next))
	}
}

// sendOgg plays an Ogg Opus file's pages (one 20 ms packet each) on track.
func sendOgg(path string, track *webrtc.TrackLocalStaticSample) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return err
	}
	const packet = 20 * time.Millisecond
	next := time.Now()
	for {
		data, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.HasPrefix(data, []byte("OpusTags")) {
			continue // a header page (RFC 7845 section 5.2), not audio
		}
		if err := track.WriteSample(media.Sample{Data: data, Duration: packet}); err != nil {
			return err
		}
		next = next.Add(packet)
		time.Sleep(time.Until(next))
	}
}
