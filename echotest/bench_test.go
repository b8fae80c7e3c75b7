package echotest

import (
	"testing"

	"github.com/pion/rtp"
)

// The per-packet work of the echo loop that is ours: parse into a reused
// packet and rewrite it. It must not allocate.
func BenchmarkEchoProcess(b *testing.B) {
	src := &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 3000, SSRC: 42},
		Payload: make([]byte, 1100),
	}
	_ = src.SetExtension(3, []byte{1, 2, 3})
	_ = src.SetExtension(5, []byte{9, 9})
	raw, err := src.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	var pkt rtp.Packet
	f := forwarder{}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; b.Loop(); i++ {
		if err := pkt.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
		f.process(&pkt, i%50 != 0)
	}
}

func TestEchoProcessAllocs(t *testing.T) {
	src := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 42}, Payload: make([]byte, 1100)}
	_ = src.SetExtension(3, []byte{1, 2, 3})
	raw, _ := src.Marshal()
	var pkt rtp.Packet
	f := forwarder{}
	_ = pkt.Unmarshal(raw) // first parse grows the extension slice
	allocs := testing.AllocsPerRun(1000, func() {
		_ = pkt.Unmarshal(raw)
		f.process(&pkt, true)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per echoed packet, want 0", allocs)
	}
}
