package ianua

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A source fed from a UDP socket (an RTP ingest port) reaches its
// subscribers; garbage on the port is counted and dropped.
func TestExternalSourceFromUDP(t *testing.T) {
	r, err := NewMediaRouter(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	if _, err := r.NewSource(SourceParams{ID: "x"}); err == nil {
		t.Error("a source without kind and codec was accepted")
	}
	src, err := r.NewSource(SourceParams{ID: "ingest", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8})
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	h := newHandle(s, 1, nopPlugin{})
	sub, err := src.Subscribe(SubscribeParams{Handle: h})
	if err != nil {
		t.Fatal(err)
	}
	w := &nullWriter{}
	if _, err := sub.Bind(&fakeBinding{w: w, ssrc: 7}); err != nil {
		t.Fatal(err)
	}

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		dropped uint64
		err     error
	}
	done := make(chan result, 1)
	go func() {
		d, err := src.ReadPackets(0, conn.Read)
		done <- result{d, err}
	}()
	out, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	_, _ = out.Write([]byte("garbage, not RTP"))
	payload := make([]byte, 100)
	payload[0] = 0x10 // VP8 keyframe
	for i := range 50 {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, SSRC: 99}, Payload: payload}).Marshal()
		_, _ = out.Write(b)
		time.Sleep(time.Millisecond)
	}
	deadline := time.Now().Add(3 * time.Second)
	for w.n.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := w.n.Load(); got != 50 {
		t.Errorf("subscriber got %d of 50 packets", got)
	}
	_ = conn.Close() // ends ReadPackets
	res := <-done
	if res.err != nil || res.dropped != 1 {
		t.Errorf("ReadPackets: dropped %d, err %v; want 1 dropped", res.dropped, res.err)
	}
	if got := src.Packets(); got != 50 {
		t.Errorf("Packets() = %d, want 50 (the garbage is not a packet)", got)
	}
	src.Close()
	if _, err := src.ReadPackets(1, conn.Read); err == nil {
		t.Error("a closed source accepted a reader")
	}
}
