package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/srtpin"
	"github.com/ianua/ianua/internal/testpeer"
)

// countWriter counts what a subscription hands it, and drops it.
type countWriter struct{ n atomic.Int64 }

func (w *countWriter) WriteRTP(*rtp.Header, []byte) (int, error) { w.n.Add(1); return 0, nil }
func (w *countWriter) Write(b []byte) (int, error)               { w.n.Add(1); return len(b), nil }

// BenchmarkRelayHop measures one relay hop as the cluster runs it, both
// ends in this process: the publisher's node's source sends through an
// ianua.RTPForwarder (SRTP, AES_CM_128_HMAC_SHA1_80, one UDP send), the
// other node's relay socket reads it, decrypts it and feeds a source of its
// own (packet cache, keyframe detection, fan-out) with one subscriber. One
// op is one 1100-byte VP8 packet across. "source-only" is the publisher's
// node's source with one subscriber and no relay: what the hop adds is the
// difference. cpu-µs/pkt is the process's user+system CPU per packet; the
// wall time includes waits that keep the socket buffer from overflowing.
func BenchmarkRelayHop(b *testing.B) {
	b.Run("source-only", func(b *testing.B) { benchHop(b, false) })
	b.Run("hop", func(b *testing.B) { benchHop(b, true) })
}

func benchHop(b *testing.B, hop bool) {
	r := testpeer.NewRouter(b, nil)
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	origin, err := r.NewSource(ianua.SourceParams{ID: "origin", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8})
	if err != nil {
		b.Fatal(err)
	}
	defer origin.Close()
	// The publisher's packets, handed to the origin's reader one by one.
	feed := make(chan []byte, 64)
	go func() {
		_, _ = origin.ReadPackets(0, func(buf []byte) (int, error) {
			p, ok := <-feed
			if !ok {
				return 0, net.ErrClosed
			}
			return copy(buf, p), nil
		})
	}()
	defer close(feed)

	local := &countWriter{}
	if _, err := origin.SubscribeWriter(ianua.SubscribeWriterParams{Writer: local}); err != nil {
		b.Fatal(err)
	}
	delivered := &local.n
	if hop {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadBuffer(4 << 20)
		key := make([]byte, 30)
		_, _ = rand.Read(key)
		keyB64 := base64.StdEncoding.EncodeToString(key)
		dec, err := srtpin.New(srtpSuite, keyB64)
		if err != nil {
			b.Fatal(err)
		}
		relay, err := r.NewSource(ianua.SourceParams{ID: "relay", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8})
		if err != nil {
			b.Fatal(err)
		}
		defer relay.Close()
		buf := make([]byte, 1500)
		go func() {
			_, _ = relay.ReadPackets(0, func(out []byte) (int, error) {
				n, err := conn.Read(buf)
				if err != nil {
					return 0, err
				}
				k, err := dec.Decrypt(out, buf[:n])
				if err != nil {
					return 0, nil
				}
				return k, nil
			})
		}()
		remote := &countWriter{}
		if _, err := relay.SubscribeWriter(ianua.SubscribeWriterParams{Writer: remote}); err != nil {
			b.Fatal(err)
		}
		port := conn.LocalAddr().(*net.UDPAddr).Port
		fwd, err := origin.Forward(ianua.RTPForwarderParams{Host: "127.0.0.1", Port: port, SSRC: 0x1234, SRTPKey: keyB64, SRTPTag: srtpSuite})
		if err != nil {
			b.Fatal(err)
		}
		defer fwd.Stop()
		delivered = &remote.n
	}

	payload := make([]byte, 1100)
	payload[0] = 0x10 // VP8, start of a partition; byte 1 bit 0 clear: a keyframe
	seq := 0
	send := func(n int) {
		for range n {
			p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 99, SequenceNumber: uint16(seq), Timestamp: uint32(seq/5) * 3000, Marker: seq%5 == 4}, Payload: payload}
			raw, _ := p.Marshal()
			feed <- raw
			seq++
			if seq%32 == 0 {
				// Let the hop catch up: cost per packet, not buffer sizes.
				deadline := time.Now().Add(2 * time.Second)
				for delivered.Load() < int64(seq-64) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Microsecond)
				}
			}
		}
	}
	send(500)
	deadline := time.Now().Add(2 * time.Second)
	for delivered.Load() < 400 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if delivered.Load() < 400 {
		b.Fatalf("warm-up: %d of 500 packets delivered", delivered.Load())
	}
	start := delivered.Load()
	cpu0 := cpuTime()
	b.ResetTimer()
	send(b.N)
	deadline = time.Now().Add(5 * time.Second)
	for delivered.Load()-start < int64(b.N)*99/100 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1000/float64(b.N), "cpu-µs/pkt")
	b.ReportMetric(float64(delivered.Load()-start)/float64(b.N)*100, "%delivered")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
