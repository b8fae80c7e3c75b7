package ianua

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/packetcache"
)

// nullWriter stands for a subscriber's SRTP stream: it counts and
// discards, so the benchmark measures the engine, not the crypto.
type nullWriter struct{ n atomic.Uint64 }

func (w *nullWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.n.Add(1)
	return len(payload), nil
}
func (w *nullWriter) Write(b []byte) (int, error) { return len(b), nil }

// fakeBinding is the TrackLocalContext pion hands to a track at Bind.
type fakeBinding struct {
	w    *nullWriter
	ssrc webrtc.SSRC
}

func (f *fakeBinding) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}}
}
func (f *fakeBinding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (f *fakeBinding) SSRC() webrtc.SSRC                                      { return f.ssrc }
func (f *fakeBinding) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (f *fakeBinding) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (f *fakeBinding) WriteStream() webrtc.TrackLocalWriter                   { return f.w }
func (f *fakeBinding) ID() string                                             { return "fake" }
func (f *fakeBinding) RTCPReader() interceptor.RTCPReader                     { return nil }

// benchSource builds a video source with n bound subscriptions and no
// network: enough to drive forward directly.
func benchSource(tb testing.TB, n int) (*Source, *nullWriter, func()) {
	tb.Helper()
	r, err := NewMediaRouter(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := r.NewSession()
	if err != nil {
		tb.Fatal(err)
	}
	h := newHandle(s, 1, nopPlugin{})
	src := &Source{id: "bench", r: r, pub: h, kind: webrtc.RTPCodecTypeVideo, done: make(chan struct{}),
		codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}}
	empty := []*Subscription{}
	src.subs.Store(&empty)
	cache, _ := packetcache.New(cacheSize)
	src.layers[0] = &layer{cache: cache}
	src.layers[0].lastPacket.Store(time.Now().UnixNano())
	w := &nullWriter{}
	for i := range n {
		sub, err := src.Subscribe(SubscribeParams{Handle: h})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := sub.Bind(&fakeBinding{w: w, ssrc: webrtc.SSRC(1000 + i)}); err != nil {
			tb.Fatal(err)
		}
	}
	return src, w, func() { _ = r.Close(tb.Context()) }
}

type nopPlugin struct{}

func (nopPlugin) Name() string                       { return "nop" }
func (nopPlugin) Attach(*Handle) (Attachment, error) { return nil, nil }

// vp8Packet is a 1100-byte VP8 keyframe packet.
func vp8Packet() outPacket {
	payload := make([]byte, 1100)
	payload[0], payload[1] = 0x90, 0x80 // X, S; I: 15-bit picture id follows
	payload[2], payload[3] = 0x80, 0x01
	payload[4] = 0x00 // VP8 payload header: keyframe
	return outPacket{
		header:   rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, SequenceNumber: 1, Timestamp: 3000},
		payload:  payload,
		keyframe: true,
	}
}

// BenchmarkForward measures fanning one video packet out to N subscribers
// (rewriting SSRC, payload type, sequence number, timestamp and VP8
// picture id for each) with a writer that discards: the cost the engine
// adds per forwarded packet on top of SRTP and the socket. ns/op is per
// source packet; "ns/fwd" per forwarded copy.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 100, 500} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			src, w, done := benchSource(b, n)
			defer done()
			var fan fanout
			defer fan.close()
			p := vp8Packet()
			p.src = src
			src.forward(&fan, &p) // the first packet starts every stream
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				p.header.SequenceNumber++
				p.header.Timestamp += 3000
				p.now = time.Now()
				src.forward(&fan, &p)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(w.n.Load()), "ns/fwd")
		})
	}
}

// Steady-state forwarding allocates nothing, sequential or spread over
// workers.
func TestForwardAllocs(t *testing.T) {
	for _, n := range []int{3, parallelFanout * 4} {
		src, w, done := benchSource(t, n)
		var fan fanout
		p := vp8Packet()
		p.src = src
		src.forward(&fan, &p)
		allocs := testing.AllocsPerRun(500, func() {
			p.header.SequenceNumber++
			p.header.Timestamp += 3000
			src.forward(&fan, &p)
		})
		fan.close()
		done()
		if allocs != 0 {
			t.Errorf("%d subscribers: %.1f allocations per source packet, want 0", n, allocs)
		}
		if got := w.n.Load(); got < uint64(n*500) {
			t.Errorf("%d subscribers: %d packets written, want %d", n, got, n*501)
		}
	}
}
