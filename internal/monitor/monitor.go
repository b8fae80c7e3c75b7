// Package monitor is an interceptor that counts, per PeerConnection, what
// arrives on each remote RTP stream and how many packets of each stream the
// two sides ask each other to retransmit. The core reads these counters
// once a second to raise Janus-style "media" (receiving on/off) and
// per-stream "slowlink" events without touching the plugins' hot path.
//
// It imports nothing of ianua's.
package monitor

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Stream counts packets and bytes of one remote RTP stream (one SSRC).
type Stream struct {
	nacks   atomic.Uint32 // NACK messages we sent for it
	nacked  atomic.Uint64 // packets those messages asked for
	packets atomic.Uint64
	bytes   atomic.Uint64
	last    atomic.Int64 // unix nanoseconds of the last packet
}

// Packets is the number of RTP packets received so far.
func (s *Stream) Packets() uint64 { return s.packets.Load() }

// Bytes is the number of RTP bytes (header and payload) received so far.
func (s *Stream) Bytes() uint64 { return s.bytes.Load() }

// NACKs is the number of NACK messages we sent for the stream.
func (s *Stream) NACKs() uint32 { return s.nacks.Load() }

// NACKed is the number of packets of the stream we asked to be resent.
func (s *Stream) NACKed() uint64 { return s.nacked.Load() }

// LastPacket is when the last packet arrived (zero if none yet).
func (s *Stream) LastPacket() time.Time {
	n := s.last.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// LocalStream counts what we send on one local RTP stream and what the
// remote peer reports about it.
type LocalStream struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
	lost    atomic.Int64  // cumulative, from receiver reports
	jitter  atomic.Uint32 // interarrival jitter, in timestamp units
	rtt     atomic.Int64  // nanoseconds, from LSR/DLSR (RFC 3550 6.4.1)
	nacks   atomic.Uint32
	nacked  atomic.Uint64 // packets the NACKs asked for
	plis    atomic.Uint32
}

// Packets is the number of RTP packets sent so far.
func (s *LocalStream) Packets() uint64 { return s.packets.Load() }

// Bytes is the number of RTP payload bytes sent so far.
func (s *LocalStream) Bytes() uint64 { return s.bytes.Load() }

// Lost is the cumulative number of packets the peer reports lost.
func (s *LocalStream) Lost() int64 { return s.lost.Load() }

// Jitter is the peer's interarrival jitter, in RTP timestamp units.
func (s *LocalStream) Jitter() uint32 { return s.jitter.Load() }

// RTT is the round-trip time from the last receiver report (0 if unknown).
func (s *LocalStream) RTT() time.Duration { return time.Duration(s.rtt.Load()) }

// NACKs and PLIs count the feedback messages the peer sent for the stream.
func (s *LocalStream) NACKs() uint32 { return s.nacks.Load() }

// NACKed is the number of packets of the stream the peer asked us to
// resend.
func (s *LocalStream) NACKed() uint64 { return s.nacked.Load() }

// PLIs counts picture loss indications (and FIRs) for the stream.
func (s *LocalStream) PLIs() uint32 { return s.plis.Load() }

// Monitor is one PeerConnection's counters. It is its own interceptor
// factory, so that each PeerConnection gets exactly one instance.
type Monitor struct {
	interceptor.NoOp

	mu      sync.Mutex
	streams map[uint32]*Stream
	local   map[uint32]*LocalStream
}

// New returns an empty Monitor.
func New() *Monitor {
	return &Monitor{streams: make(map[uint32]*Stream), local: make(map[uint32]*LocalStream)}
}

// NewInterceptor implements interceptor.Factory.
func (m *Monitor) NewInterceptor(string) (interceptor.Interceptor, error) {
	return m, nil
}

// Stream returns the counters of the remote stream with this SSRC.
func (m *Monitor) Stream(ssrc uint32) (*Stream, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.streams[ssrc]
	return s, ok
}

// Local returns the counters of the local stream with this SSRC.
func (m *Monitor) Local(ssrc uint32) (*LocalStream, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.local[ssrc]
	return s, ok
}

// BindLocalStream implements interceptor.Interceptor.
func (m *Monitor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	s := &LocalStream{}
	m.mu.Lock()
	m.local[info.SSRC] = s
	m.mu.Unlock()
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		n, err := writer.Write(h, payload, a)
		if err == nil {
			s.packets.Add(1)
			s.bytes.Add(uint64(len(payload)))
		}
		return n, err
	})
}

// UnbindLocalStream implements interceptor.Interceptor.
func (m *Monitor) UnbindLocalStream(info *interceptor.StreamInfo) {
	m.mu.Lock()
	delete(m.local, info.SSRC)
	m.mu.Unlock()
}

// BindRemoteStream implements interceptor.Interceptor.
func (m *Monitor) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	s := &Stream{}
	m.mu.Lock()
	m.streams[info.SSRC] = s
	m.mu.Unlock()
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err == nil {
			s.packets.Add(1)
			s.bytes.Add(uint64(n))
			s.last.Store(time.Now().UnixNano())
		}
		return n, attr, err
	})
}

// UnbindRemoteStream implements interceptor.Interceptor.
func (m *Monitor) UnbindRemoteStream(info *interceptor.StreamInfo) {
	m.mu.Lock()
	delete(m.streams, info.SSRC)
	m.mu.Unlock()
}

// BindRTCPReader implements interceptor.Interceptor.
func (m *Monitor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		// GetRTCPPackets caches the parsed packets in the attributes, so
		// the interceptors after us do not parse them again.
		pkts, perr := attr.GetRTCPPackets(b[:n])
		if perr != nil {
			return n, attr, err
		}
		m.feedback(pkts)
		return n, attr, err
	})
}

// BindRTCPWriter implements interceptor.Interceptor.
func (m *Monitor) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if n, ok := p.(*rtcp.TransportLayerNack); ok {
				if s, ok := m.Stream(n.MediaSSRC); ok {
					s.nacks.Add(1)
					s.nacked.Add(countNACKed(n))
				}
			}
		}
		return writer.Write(pkts, a)
	})
}

// feedback records what the peer says about our local streams.
func (m *Monitor) feedback(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.ReceiverReport:
			m.reports(p.Reports)
		case *rtcp.SenderReport:
			m.reports(p.Reports)
		case *rtcp.TransportLayerNack:
			if s, ok := m.Local(p.MediaSSRC); ok {
				s.nacks.Add(1)
				s.nacked.Add(countNACKed(p))
			}
		case *rtcp.PictureLossIndication:
			if s, ok := m.Local(p.MediaSSRC); ok {
				s.plis.Add(1)
			}
		case *rtcp.FullIntraRequest:
			if s, ok := m.Local(p.MediaSSRC); ok {
				s.plis.Add(1)
			}
		}
	}
}

func (m *Monitor) reports(rr []rtcp.ReceptionReport) {
	now := ntpMiddle(time.Now())
	for _, r := range rr {
		s, ok := m.Local(r.SSRC)
		if !ok {
			continue
		}
		s.lost.Store(int64(r.TotalLost))
		s.jitter.Store(r.Jitter)
		// RTT = arrival - LSR - DLSR, in 1/65536 s (RFC 3550 6.4.1).
		if r.LastSenderReport != 0 {
			if d := now - r.LastSenderReport - r.Delay; d < 1<<31 {
				s.rtt.Store(int64(time.Duration(d) * time.Second / 65536))
			}
		}
	}
}

// ntpMiddle returns the middle 32 bits of the NTP timestamp of t.
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint32((secs<<32 | frac) >> 16)
}

// countNACKed is the number of packets one NACK asks for.
func countNACKed(nack *rtcp.TransportLayerNack) uint64 {
	var n uint64
	for _, pair := range nack.Nacks {
		// One packet id plus a bitmask of the 16 following ones
		// (RFC 4585 section 6.2.1).
		n += 1 + uint64(bits.OnesCount16(uint16(pair.LostPackets)))
	}
	return n
}
