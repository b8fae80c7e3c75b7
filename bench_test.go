package ianua_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkEchoLoopback measures the whole echo path over loopback: a pion
// client sends ~1100-byte VP8 packets, the echotest plugin reads, rewrites
// and writes them back through SRTP, the client receives them. One op is one
// packet echoed. Client and server share the process, so ns/op and
// allocs/op cover both sides (client send and receive included).
func BenchmarkEchoLoopback(b *testing.B) {
	r := newRouter(b, nil)
	c := newEchoCall(b, r, newClient(b, clientOptions{}))
	track := c.addTrack("video", 9)
	c.offer(map[string]any{"audio": true, "video": true}, false)
	c.waitConnected()

	payload := make([]byte, 1100)
	payload[0], payload[1] = 0x10, 9
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: payload}
	seq := 0
	send := func(n int) {
		for i := 0; i < n; i++ {
			pkt.SequenceNumber = uint16(seq)
			pkt.Timestamp = uint32(seq) * 3000
			seq++
			if err := track.WriteRTP(pkt); err != nil {
				b.Fatal(err)
			}
			// Pace in bursts of 32 so loopback socket buffers do not
			// overflow: we measure cost per packet, not buffer sizes.
			if seq%32 == 0 {
				target := seq
				deadline := time.Now().Add(2 * time.Second)
				for {
					got, _ := c.counts("0")
					if got >= target-64 || time.Now().After(deadline) {
						break
					}
					time.Sleep(50 * time.Microsecond)
				}
			}
		}
	}
	send(200) // warm up: the echo path starts on the first packets
	time.Sleep(200 * time.Millisecond)
	start, _ := c.counts("0")
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	send(b.N)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := c.counts("0")
		if got-start >= b.N*99/100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	// CPU time (user+system, both sides) per packet: the wall time above
	// includes pacing waits.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/pkt")
	got, _ := c.counts("0")
	b.ReportMetric(float64(got-start)/float64(b.N)*100, "%echoed")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
