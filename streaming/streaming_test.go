package streaming_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/streaming"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func send(t testing.TB, h *ianua.Handle, body map[string]any, jsep *ianua.JSEP) (ianua.Reply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Message(ctx, ianua.Message{Body: testpeer.JSON(body), JSEP: jsep, Transaction: "tx"})
}

// attach opens a session and a Streaming handle on r.
func attach(t *testing.T, r *ianua.MediaRouter) *ianua.Handle {
	t.Helper()
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	testpeer.Watch(s)
	h, err := s.Attach(streaming.Name)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// rtpSender sends synthetic RTP to a mountpoint port: VP8 keyframes or
// Opus-sized audio, every 10 ms, until stop.
func rtpSender(t *testing.T, port int, pt uint8, video bool, stop <-chan struct{}, wg *sync.WaitGroup) {
	t.Helper()
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer conn.Close()
		payload := make([]byte, 160)
		if video {
			payload[0] = 0x10 // VP8 keyframe: viewers start at once
		}
		for i := 0; ; i++ {
			b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(i), Timestamp: uint32(i) * 960, SSRC: 77}, Payload: payload}).Marshal()
			_, _ = conn.Write(b)
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
}

type viewerClient struct {
	h       *ianua.Handle
	log     *testpeer.EventLog
	pc      *webrtc.PeerConnection
	packets atomic.Int64
	mu      sync.Mutex
	seqs    map[uint16]bool // distinct sequence numbers received
	indices map[uint16]bool // distinct sender indices (payload bytes 1-2) received
	// keyframes counts VP8 packets starting a keyframe; layer is payload
	// byte 3 of the last video packet (synthetic streams mark it there).
	keyframes atomic.Int64
	layer     atomic.Int32
	data      chan string // data channel messages
	// kinds counts packets by kind ("audio", "video"); nals counts the
	// H.264 NAL unit types received (RFC 6184: 1-23 single, 24 STAP-A
	// counted by what it aggregates, 28 FU-A by its start fragments).
	kinds map[string]int
	nals  map[byte]int
}

func (v *viewerClient) count(kind string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.kinds[kind]
}

func (v *viewerClient) nalCount(typ byte) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.nals[typ]
}

// countNALs records the NAL unit types of an H.264 payload; v.mu held.
func (v *viewerClient) countNALs(payload []byte) {
	if len(payload) < 2 {
		return
	}
	if v.nals == nil {
		v.nals = map[byte]int{}
	}
	switch typ := payload[0] & 0x1f; typ {
	case 24: // STAP-A: 16-bit sizes, each followed by a NAL unit
		for b := payload[1:]; len(b) > 2; {
			n := int(binary.BigEndian.Uint16(b))
			if n == 0 || len(b) < 2+n {
				return
			}
			v.nals[b[2]&0x1f]++
			b = b[2+n:]
		}
	case 28: // FU-A: the start fragment names the type
		if payload[1]&0x80 != 0 {
			v.nals[payload[1]&0x1f]++
		}
	default:
		v.nals[typ]++
	}
}

// received tells how many of the sender's indices [0, n) arrived.
// code is a plugin error's Janus code, or -1.
func code(err error) int {
	var pe *ianua.PluginError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return -1
}

func (v *viewerClient) received(n int) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	got := 0
	for i := range n {
		if v.indices[uint16(i)] {
			got++
		}
	}
	return got
}

func (v *viewerClient) distinct() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seqs)
}

// watch makes a pion viewer watch a mountpoint, as janus.js does.
func watch(t *testing.T, r *ianua.MediaRouter, id uint64, stop chan struct{}) *viewerClient {
	t.Helper()
	return watchWith(t, r, id, stop, testpeer.Options{})
}

func watchWith(t *testing.T, r *ianua.MediaRouter, id uint64, stop chan struct{}, opts testpeer.Options) *viewerClient {
	t.Helper()
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	v := &viewerClient{log: testpeer.Watch(s), data: make(chan string, 100)}
	if v.h, err = s.Attach(streaming.Name); err != nil {
		t.Fatal(err)
	}
	v.pc = testpeer.NewClient(t, opts)
	v.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		var p rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			v.packets.Add(1)
			if p.Unmarshal(buf[:n]) == nil {
				v.mu.Lock()
				if v.kinds == nil {
					v.kinds = map[string]int{}
				}
				v.kinds[tr.Kind().String()]++
				if strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeH264) {
					v.countNALs(p.Payload)
				}
				v.mu.Unlock()
				if tr.Kind() == webrtc.RTPCodecTypeVideo && len(p.Payload) >= 4 {
					if p.Payload[0]&0x90 == 0x10 && p.Payload[1]&0x01 == 0 {
						v.keyframes.Add(1)
					}
					v.layer.Store(int32(p.Payload[3]))
				}
				v.mu.Lock()
				if v.seqs == nil {
					v.seqs = map[uint16]bool{}
				}
				v.seqs[p.SequenceNumber] = true
				if len(p.Payload) >= 3 {
					if v.indices == nil {
						v.indices = map[uint16]bool{}
					}
					v.indices[binary.BigEndian.Uint16(p.Payload[1:3])] = true
				}
				v.mu.Unlock()
			}
		}
	})
	v.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			select {
			case v.data <- string(m.Data):
			default:
			}
		})
	})
	testpeer.TrickleTo(t, v.pc, v.h)
	if _, err := send(t, v.h, map[string]any{"request": "watch", "id": id}, nil); err != nil {
		t.Fatal(err)
	}
	ev := v.log.Wait(t, 5*time.Second, "preparing", func(e ianua.Event) bool { return e.JSEP != nil && e.JSEP.Type == "offer" })
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	ans, err := v.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, v.h, map[string]any{"request": "start"}, &ianua.JSEP{Type: "answer", SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	testpeer.TrickleFrom(v.log, v.h.ID(), v.pc, stop)
	v.log.Wait(t, 10*time.Second, "started", status("started"))
	return v
}

func status(want string) func(ianua.Event) bool {
	return func(e ianua.Event) bool {
		var d struct {
			Result struct {
				Status string `json:"status"`
			} `json:"result"`
		}
		_ = json.Unmarshal(e.Data, &d)
		return e.Type == ianua.EventPlugin && d.Result.Status == want
	}
}

// A mountpoint created over the API, fed plain RTP, plays to 20 viewers;
// they hear "no-media" when the input stops and "stopped" when it is
// destroyed.
func TestMountpointToTwentyViewers(t *testing.T) {
	p := streaming.New(streaming.Params{Logger: testpeer.QuietLogger()})
	r := testpeer.NewRouter(t, nil, p)
	admin, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	testpeer.Watch(admin)
	ah, err := admin.Attach(streaming.Name)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := send(t, ah, map[string]any{"request": "create", "type": "rtp", "id": 1, "description": "test", "secret": "x",
		"media": []any{
			map[string]any{"type": "video", "mid": "v", "port": 0, "pt": 96, "codec": "vp8"},
			map[string]any{"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"},
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Stream struct {
			Media []struct {
				Type string `json:"type"`
				Port int    `json:"port"`
			} `json:"media"`
		} `json:"stream"`
	}
	if err := json.Unmarshal(reply.Data, &created); err != nil || len(created.Stream.Media) != 2 {
		t.Fatalf("create reply %s", reply.Data)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	sendStop := make(chan struct{})
	for _, m := range created.Stream.Media {
		pt := uint8(111)
		if m.Type == "video" {
			pt = 96
		}
		rtpSender(t, m.Port, pt, m.Type == "video", sendStop, &wg)
	}

	var viewers []*viewerClient
	for range 20 {
		viewers = append(viewers, watch(t, r, 1, stop))
	}
	testpeer.WaitFor(t, 10*time.Second, "media at every viewer", func() bool {
		for _, v := range viewers {
			if v.packets.Load() < 100 {
				return false
			}
		}
		return true
	})
	mp, _ := p.Mountpoint(1)
	if n := mp.Viewers(); n != 20 {
		t.Errorf("%d viewers, want 20", n)
	}

	close(sendStop)
	viewers[0].log.Wait(t, 6*time.Second, "no-media", status("no-media"))

	if _, err := send(t, ah, map[string]any{"request": "destroy", "id": 1, "secret": "wrong"}, nil); !errors.Is(err, streaming.ErrUnauthorized) {
		t.Errorf("destroy with a wrong secret: %v", err)
	}
	if _, err := send(t, ah, map[string]any{"request": "destroy", "id": 1, "secret": "x"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, v := range viewers {
		v.log.Wait(t, 3*time.Second, "stopped", status("stopped"))
	}
	testpeer.WaitFor(t, 3*time.Second, "viewers hung up", func() bool {
		for _, v := range viewers {
			if v.h.HasPeerConnection() {
				return false
			}
		}
		return true
	})
}

// A viewer switches mountpoints without renegotiation; bad requests get
// Janus Streaming's codes; garbage on an ingest port is counted.
func TestSwitchAndBadInput(t *testing.T) {
	p := streaming.New(streaming.Params{Logger: testpeer.QuietLogger()})
	r := testpeer.NewRouter(t, nil, p)
	if err := p.Start(r); err != nil {
		t.Fatal(err)
	}
	video := func(id uint64) *streaming.Mountpoint {
		m, err := p.CreateMountpoint(streaming.MountpointParams{ID: id, Media: []streaming.MediaParams{{Type: "video", PT: 96, Codec: "vp8"}}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1, m2 := video(11), video(12)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	rtpSender(t, m1.Params().Media[0].Port, 96, true, stop, &wg)
	rtpSender(t, m2.Params().Media[0].Port, 96, true, stop, &wg)
	v := watch(t, r, 11, stop)
	testpeer.WaitFor(t, 5*time.Second, "media from 11", func() bool { return v.packets.Load() > 50 })
	if _, err := send(t, v.h, map[string]any{"request": "switch", "id": 12}, nil); err != nil {
		t.Fatal(err)
	}
	if m1.Viewers() != 0 || m2.Viewers() != 1 {
		t.Errorf("viewers after switch: %d and %d", m1.Viewers(), m2.Viewers())
	}
	before := v.packets.Load()
	testpeer.WaitFor(t, 5*time.Second, "media from 12", func() bool { return v.packets.Load() > before+50 })

	// Garbage on an ingest port is counted and dropped.
	g, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: m1.Params().Media[0].Port})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = g.Write([]byte{0x00, 0x01, 0x02})
	g.Close()
	testpeer.WaitFor(t, 2*time.Second, "garbage counted", func() bool { return m1.Dropped() == 1 })

	_, err = p.CreateMountpoint(streaming.MountpointParams{ID: 13, Media: []streaming.MediaParams{{Type: "video", PT: 96, Codec: "vp8", Port: m1.Params().Media[0].Port}}})
	if code(err) != streaming.ErrorCantCreate {
		t.Errorf("port in use: %v", err)
	}
	if _, err := p.Mountpoint(13); err == nil {
		t.Error("a mountpoint that failed to open is listed")
	}
	other, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	testpeer.Watch(other)
	h, _ := other.Attach(streaming.Name)
	testCases := []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"request": "watch", "id": 999}, streaming.ErrorNoSuchMountpoint},
		{map[string]any{"request": "info", "id": 999}, streaming.ErrorNoSuchMountpoint},
		{map[string]any{"request": "watch"}, streaming.ErrorMissingElement},
		{map[string]any{"request": "dance"}, streaming.ErrorInvalidRequest},
		{map[string]any{"request": "start"}, streaming.ErrorInvalidRequest},
		{map[string]any{"request": "create", "media": []any{map[string]any{"type": "video", "codec": "mpeg2"}}}, streaming.ErrorCantCreate},
		{map[string]any{"id": 1}, streaming.ErrorMissingElement},
	}
	for _, tc := range testCases {
		if _, err := send(t, h, tc.body, nil); code(err) != tc.want {
			t.Errorf("%v: %v, want code %d", tc.body, err, tc.want)
		}
	}
	if h.HasPeerConnection() {
		t.Error("a refused watch left a PeerConnection")
	}
}

// Five percent loss towards a viewer is repaired by retransmissions from
// the source's cache, sent as RTX (RFC 4588) since the viewer negotiated it.
func TestViewerLossRepairedWithRTX(t *testing.T) {
	p := streaming.New(streaming.Params{Logger: testpeer.QuietLogger()})
	r := testpeer.NewRouter(t, nil, p)
	if err := p.Start(r); err != nil {
		t.Fatal(err)
	}
	m, err := p.CreateMountpoint(streaming.MountpointParams{ID: 21, Media: []streaming.MediaParams{{Type: "video", PT: 96, Codec: "vp8"}}})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	conn := testpeer.ListenSwitch(t)
	conn.DropInEvery = 20
	v := watchWith(t, r, 21, stop, testpeer.Options{Conn: conn})
	// A packet sent before DTLS is up is lost for good: the viewer cannot
	// ask for what it never knew existed.
	v.log.Wait(t, 10*time.Second, "viewer webrtcup", testpeer.Type(ianua.EventWebRTCUp, v.h.ID()))
	out, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: m.Params().Media[0].Port})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	payload := make([]byte, 300)
	payload[0] = 0x10
	sendPacket := func(i int) {
		binary.BigEndian.PutUint16(payload[1:3], uint16(i))
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, SSRC: 5}, Payload: payload}).Marshal()
		_, _ = out.Write(b)
	}
	const n = 200
	for i := range n {
		sendPacket(i)
		time.Sleep(10 * time.Millisecond)
	}
	// A loss is only seen when a later packet arrives: keep the stream
	// going (as a live source would) until the first n are all in.
	i := n
	testpeer.WaitFor(t, 5*time.Second, "every packet, repairs included", func() bool {
		sendPacket(i)
		i++
		return v.received(n) == n
	})
	var resent uint64
	for _, src := range m.Sources() {
		for _, sub := range src.Subscribers() {
			resent += sub.Retransmitted()
		}
	}
	t.Logf("%d of %d packets, %d retransmissions", v.received(n), n, resent)
	if resent == 0 {
		t.Fatal("nothing retransmitted")
	}
}
