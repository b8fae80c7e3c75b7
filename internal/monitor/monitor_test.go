package monitor

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func TestCounters(t *testing.T) {
	m := New()
	// A remote stream: every successful read counts.
	r := m.BindRemoteStream(&interceptor.StreamInfo{SSRC: 7}, interceptor.RTPReaderFunc(
		func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) { return 100, a, nil }))
	for range 3 {
		if _, _, err := r.Read(make([]byte, 1500), nil); err != nil {
			t.Fatal(err)
		}
	}
	s, ok := m.Stream(7)
	if !ok || s.Packets() != 3 || s.Bytes() != 300 || time.Since(s.LastPacket()) > time.Second {
		t.Fatalf("remote stream counters %+v", s)
	}

	// A local stream, and what the peer reports about it.
	w := m.BindLocalStream(&interceptor.StreamInfo{SSRC: 9}, interceptor.RTPWriterFunc(
		func(h *rtp.Header, p []byte, a interceptor.Attributes) (int, error) { return len(p), nil }))
	if _, err := w.Write(&rtp.Header{}, make([]byte, 50), nil); err != nil {
		t.Fatal(err)
	}
	lsr := ntpMiddle(time.Now().Add(-40 * time.Millisecond))
	in := []rtcp.Packet{
		&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: 9, TotalLost: 4, Jitter: 90, LastSenderReport: lsr, Delay: 65536 / 100}}},
		&rtcp.TransportLayerNack{MediaSSRC: 9, Nacks: []rtcp.NackPair{{PacketID: 10, LostPackets: 0b101}}},
		&rtcp.PictureLossIndication{MediaSSRC: 9},
	}
	raw, err := rtcp.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	rr := m.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, raw), a, nil
	}))
	if _, _, err := rr.Read(make([]byte, 1500), nil); err != nil {
		t.Fatal(err)
	}
	l, ok := m.Local(9)
	if !ok {
		t.Fatal("no local stream")
	}
	if l.Packets() != 1 || l.Bytes() != 50 || l.Lost() != 4 || l.Jitter() != 90 || l.NACKs() != 1 || l.PLIs() != 1 {
		t.Errorf("local counters: packets %d bytes %d lost %d jitter %d nacks %d plis %d",
			l.Packets(), l.Bytes(), l.Lost(), l.Jitter(), l.NACKs(), l.PLIs())
	}
	// 40 ms since the SR, 10 ms of it held by the peer: RTT about 30 ms.
	if rtt := l.RTT(); rtt < 25*time.Millisecond || rtt > 40*time.Millisecond {
		t.Errorf("RTT %v, want about 30ms", rtt)
	}
	// One NACK for packet 10 plus two in its bitmask.
	if got := l.NACKed(); got != 3 {
		t.Errorf("local stream NACKed %d, want 3", got)
	}
	wr := m.BindRTCPWriter(interceptor.RTCPWriterFunc(func(p []rtcp.Packet, a interceptor.Attributes) (int, error) { return 0, nil }))
	// One NACK for the remote stream (1 + 1 packets), one for an SSRC we
	// do not receive, which counts nowhere.
	out := []rtcp.Packet{
		&rtcp.TransportLayerNack{MediaSSRC: 7, Nacks: []rtcp.NackPair{{PacketID: 1, LostPackets: 0b1000}}},
		&rtcp.TransportLayerNack{MediaSSRC: 8, Nacks: []rtcp.NackPair{{PacketID: 1}}},
	}
	if _, err := wr.Write(out, nil); err != nil {
		t.Fatal(err)
	}
	if s.NACKs() != 1 || s.NACKed() != 2 {
		t.Errorf("remote stream: %d NACKs for %d packets, want 1 for 2", s.NACKs(), s.NACKed())
	}
	m.UnbindRemoteStream(&interceptor.StreamInfo{SSRC: 7})
	m.UnbindLocalStream(&interceptor.StreamInfo{SSRC: 9})
	if _, ok := m.Stream(7); ok {
		t.Error("remote stream kept after unbind")
	}
	if _, ok := m.Local(9); ok {
		t.Error("local stream kept after unbind")
	}
}
