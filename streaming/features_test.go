package streaming_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/streaming"
)

// frameSender sends synthetic one-packet VP8 frames to an ingest port:
// payload byte 1 has the P bit (RFC 7741 section 4.3), byte 3 a mark the
// viewer reads back.
type frameSender struct {
	conn *net.UDPConn
	seq  uint16
	ts   uint32
	ssrc uint32
	mark byte
}

func newFrameSender(t *testing.T, port int, ssrc uint32, mark byte) *frameSender {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &frameSender{conn: c, ssrc: ssrc, mark: mark}
}

func (s *frameSender) frame(key bool) {
	payload := make([]byte, 200)
	payload[0] = 0x10
	if !key {
		payload[1] = 0x01
	}
	payload[3] = s.mark
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc, Marker: true}, Payload: payload}).Marshal()
	s.seq++
	s.ts += 3000
	_, _ = s.conn.Write(b)
}

// frames sends n interframes, 10 ms apart.
func (s *frameSender) frames(n int) {
	for range n {
		s.frame(false)
		time.Sleep(10 * time.Millisecond)
	}
}

func newPlugin(t *testing.T) (*streaming.Plugin, *ianua.MediaRouter) {
	t.Helper()
	p := streaming.New(streaming.Params{Logger: testpeer.QuietLogger()})
	r := testpeer.NewRouter(t, nil, p)
	if err := p.Start(r); err != nil {
		t.Fatal(err)
	}
	return p, r
}

func webrtcUp(t *testing.T, v *viewerClient) {
	t.Helper()
	v.log.Wait(t, 10*time.Second, "viewer webrtcup", testpeer.Type(ianua.EventWebRTCUp, v.h.ID()))
}

// A viewer that starts between keyframes of an RTP sender (which cannot be
// asked for one) gets the kept keyframe at once, and no interframe before
// the next keyframe; with videobufferkf off it gets nothing until then.
func TestKeyframeKeptForNewViewers(t *testing.T) {
	p, r := newPlugin(t)
	off := false
	stop := make(chan struct{})
	defer close(stop)
	for _, tc := range []struct {
		id   uint64
		keep *bool
	}{{31, nil}, {32, &off}} {
		m, err := p.CreateMountpoint(streaming.MountpointParams{ID: tc.id, Media: []streaming.MediaParams{{Type: "video", PT: 96, Codec: "vp8", BufferKeyframe: tc.keep}}})
		if err != nil {
			t.Fatal(err)
		}
		s := newFrameSender(t, m.Params().Media[0].Port, 7, 1)
		s.frame(true)
		s.frames(10)
		v := watch(t, r, tc.id, stop)
		webrtcUp(t, v)
		s.frames(50)
		if tc.keep == nil {
			testpeer.WaitFor(t, 3*time.Second, "the kept keyframe", func() bool { return v.keyframes.Load() == 1 })
			s.frames(20)
			if got := v.packets.Load(); got != 1 {
				t.Errorf("mountpoint %d: %d packets before the next keyframe, want the kept keyframe only", tc.id, got)
			}
		} else if got := v.packets.Load(); got != 0 {
			t.Errorf("mountpoint %d (videobufferkf off): %d packets before a keyframe", tc.id, got)
		}
		s.frame(true)
		s.frames(10)
		testpeer.WaitFor(t, 3*time.Second, "the stream after the next keyframe", func() bool { return v.packets.Load() >= 8 })
	}
}

// Data on a mountpoint's data port reaches every viewer's data channel; a
// viewer that comes later gets the buffered last message.
func TestDataMountpoint(t *testing.T) {
	p, r := newPlugin(t)
	h := attach(t, r)
	rep, err := send(t, h, map[string]any{"request": "create", "id": 41, "type": "rtp",
		"media": []any{
			map[string]any{"type": "video", "mid": "v", "codec": "vp8", "pt": 96},
			map[string]any{"type": "data", "mid": "d", "datatype": "text", "buffermsg": true},
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created: %s", rep.Data)
	m, err := p.Mountpoint(41)
	if err != nil {
		t.Fatal(err)
	}
	dport := m.Params().Media[1].Port
	out, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: dport})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	stop := make(chan struct{})
	defer close(stop)
	first := watch(t, r, 41, stop)
	webrtcUp(t, first)
	recv := func(v *viewerClient, want string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			// Resent until it arrives: the channel may open after
			// webrtcup.
			_, _ = out.Write([]byte(want))
			select {
			case got := <-v.data:
				if got == want {
					return
				}
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatalf("no %q on the data channel", want)
			}
		}
	}
	recv(first, "hello")
	if _, err := out.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-first.data:
		if got != "last words" {
			t.Fatalf("got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second message lost")
	}
	late := watch(t, r, 41, stop)
	select {
	case got := <-late.data:
		if got != "last words" {
			t.Errorf("late viewer got %q first, want the buffered message", got)
		}
	case <-time.After(5 * time.Second):
		t.Error("late viewer did not get the buffered message")
	}
}

// Simulcast over three ports: a viewer gets the highest layer, and the
// one it asks for with configure (substream), from the next keyframe.
func TestSimulcastPorts(t *testing.T) {
	p, r := newPlugin(t)
	m, err := p.CreateMountpoint(streaming.MountpointParams{ID: 51, Media: []streaming.MediaParams{{Type: "video", PT: 96, Codec: "vp8", Simulcast: true}}})
	if err != nil {
		t.Fatal(err)
	}
	mp := m.Params().Media[0]
	if mp.Port == 0 || mp.Port2 == 0 || mp.Port3 == 0 {
		t.Fatalf("ports %d %d %d", mp.Port, mp.Port2, mp.Port3)
	}
	layers := []*frameSender{newFrameSender(t, mp.Port, 10, 0), newFrameSender(t, mp.Port2, 11, 1), newFrameSender(t, mp.Port3, 12, 2)}
	stop := make(chan struct{})
	defer close(stop)
	v := watch(t, r, 51, stop)
	webrtcUp(t, v)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			for _, l := range layers {
				l.frame(i%10 == 0)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	defer func() { cancel(); <-done }()
	testpeer.WaitFor(t, 5*time.Second, "the highest layer", func() bool { return v.packets.Load() > 10 && v.layer.Load() == 2 })
	if _, err := send(t, v.h, map[string]any{"request": "configure", "substream": 0}, nil); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 5*time.Second, "layer 0", func() bool { return v.layer.Load() == 0 })
	if _, err := send(t, v.h, map[string]any{"request": "configure", "substream": 7}, nil); code(err) != streaming.ErrorInvalidElement {
		t.Errorf("substream 7: %v", err)
	}
	if _, err := p.CreateMountpoint(streaming.MountpointParams{Media: []streaming.MediaParams{{Type: "audio", Codec: "opus", PT: 111, Simulcast: true}}}); err == nil {
		t.Error("simulcast audio accepted")
	}
}

// ffmpeg sends VP8 over SRTP (AES_CM_128_HMAC_SHA1_80) into a mountpoint
// set with the same key: viewers receive it; a mountpoint with another key
// drops every packet.
func TestFFmpegSRTPIngest(t *testing.T) {
	ffmpeg := testpeer.Tool(t, "ffmpeg")
	p, r := newPlugin(t)
	key := make([]byte, 30)
	for i := range key {
		key[i] = byte(i * 7)
	}
	crypto := base64.StdEncoding.EncodeToString(key)
	good, err := p.CreateMountpoint(streaming.MountpointParams{ID: 61, SRTPSuite: 80, SRTPCrypto: crypto, Media: []streaming.MediaParams{{Type: "video", PT: 96, Codec: "vp8"}}})
	if err != nil {
		t.Fatal(err)
	}
	key[0] ^= 0xff
	bad, err := p.CreateMountpoint(streaming.MountpointParams{ID: 62, SRTPSuite: 80, SRTPCrypto: base64.StdEncoding.EncodeToString(key), Media: []streaming.MediaParams{{Type: "video", PT: 96, Codec: "vp8"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []streaming.MountpointParams{
		{SRTPSuite: 80, SRTPCrypto: "not base64!"},
		{SRTPSuite: 80, SRTPCrypto: base64.StdEncoding.EncodeToString(key[:16])},
		{SRTPSuite: 64, SRTPCrypto: crypto},
	} {
		bad.Media = []streaming.MediaParams{{Type: "video", PT: 96, Codec: "vp8"}}
		if _, err := p.CreateMountpoint(bad); err == nil {
			t.Errorf("suite %d crypto %q accepted", bad.SRTPSuite, bad.SRTPCrypto)
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	v := watch(t, r, 61, stop)
	webrtcUp(t, v)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range []*streaming.Mountpoint{good, bad} {
		sender := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-re",
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30:duration=2",
			"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", "-g", "15",
			"-payload_type", "96", "-f", "rtp", "-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80", "-srtp_out_params", crypto,
			fmt.Sprintf("srtp://127.0.0.1:%d?pkt_size=1200", m.Params().Media[0].Port))
		if out, err := sender.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	testpeer.WaitFor(t, 3*time.Second, "decrypted video", func() bool { return v.packets.Load() >= 30 })
	if good.Dropped() != 0 {
		t.Errorf("%d packets dropped with the right key", good.Dropped())
	}
	if bad.Dropped() < 30 || bad.Sources()[0].Receiving(time.Minute) {
		t.Errorf("wrong key: %d dropped, receiving %v", bad.Dropped(), bad.Sources()[0].Receiving(time.Minute))
	}
}

// "create" with Janus 1.x's legacy fields (audiocodec, videocodec).
func TestCreateLegacyCodecNames(t *testing.T) {
	p, r := newPlugin(t)
	h := attach(t, r)
	if _, err := send(t, h, map[string]any{"request": "create", "id": 71, "type": "rtp",
		"audio": true, "audiopt": 111, "audiocodec": "opus", "video": true, "videopt": 100, "videocodec": "vp8"}, nil); err != nil {
		t.Fatal(err)
	}
	m, err := p.Mountpoint(71)
	if err != nil {
		t.Fatal(err)
	}
	srcs := m.Sources()
	if len(srcs) != 2 || srcs[0].Codec().MimeType != "audio/opus" || srcs[1].Codec().MimeType != "video/VP8" {
		t.Errorf("sources: %d, %v", len(srcs), srcs)
	}
}

// The Admin API's message_plugin (ianua.AdminHandler): mountpoints are
// created, listed and destroyed without a handle, with the same errors as
// on one; viewer requests are refused there.
func TestAdminMessages(t *testing.T) {
	p, _ := newPlugin(t)
	ctx := context.Background()
	admin := func(body map[string]any) (map[string]any, error) {
		b, err := p.HandleAdminMessage(ctx, testpeer.JSON(body))
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m, nil
	}
	r, err := admin(map[string]any{"request": "create", "id": 81, "type": "rtp", "media": []map[string]any{{"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"}}})
	if err != nil || r["streaming"] != "created" {
		t.Fatalf("create: %v %v", r, err)
	}
	if _, err := p.Mountpoint(81); err != nil {
		t.Errorf("mountpoint 81: %v", err)
	}
	r, err = admin(map[string]any{"request": "list"})
	if l, _ := r["list"].([]any); err != nil || len(l) != 1 {
		t.Errorf("list: %v %v", r, err)
	}
	var pe *ianua.PluginError
	if _, err := admin(map[string]any{"request": "create", "id": 81, "type": "rtp", "media": []map[string]any{{"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"}}}); !errors.As(err, &pe) {
		t.Errorf("create again: %v, want a plugin error", err)
	}
	if _, err := admin(map[string]any{"request": "watch", "id": 81}); !errors.As(err, &pe) || pe.Code != streaming.ErrorInvalidRequest {
		t.Errorf("watch through the Admin API: %v", err)
	}
	if _, err := admin(map[string]any{"request": "destroy", "id": 81}); err != nil {
		t.Errorf("destroy: %v", err)
	}
	if _, err := p.Mountpoint(81); err == nil {
		t.Error("mountpoint 81 still there")
	}
}
