package rtpmunge

import (
	"time"

	"github.com/pion/rtp"
)

// HistorySize is the number of forwarded packets whose input sequence
// number Munger remembers for NACKs: about a second of 4 Mbit/s video in
// 1,200-byte packets, more than a receiver waits for a retransmission.
const HistorySize = 512

// maxDropRuns is the number of runs of dropped packets remembered in the
// current stream. A packet that arrives later than the oldest run it
// remembers cannot be placed and is not forwarded.
const maxDropRuns = 64

// Munger rewrites the sequence numbers and timestamps of one subscription's
// outgoing stream. The zero value is ready: the first packet passes
// unchanged and sets the origin.
//
// Output sequence number = input - offset, the offset growing by one for
// every packet the caller drops in order, and jumping at a Switch so that
// the new stream continues where the last one stopped. The output timestamp
// is input + an offset set at the first packet of each stream.
//
// It is not safe for concurrent use: a subscription that answers NACKs from
// another goroutine than the one forwarding must guard it with its own
// mutex.
type Munger struct {
	started   bool   // a packet has been forwarded
	switching bool   // Switch was called; the next packet starts a stream
	clockRate uint32 // of the pending switch

	// The current input stream. Input sequence numbers are extended to 64
	// bits relative to highestIn, so that comparisons survive wraparound
	// (RFC 3550 appendix A.1).
	ssrc      uint32
	highestIn int64  // highest input number forwarded or dropped
	offset    int64  // output = input - offset, above the newest drop run
	tsOffset  uint32 // output timestamp = input + tsOffset
	floorIn   int64  // inputs below are dropped: before the switch point, or their offset forgotten
	floorOff  int64  // offset from floorIn up to the oldest remembered run
	runs      [maxDropRuns]dropRun
	runsHead  int // index of the oldest run
	runsLen   int
	lastTS    uint32    // of the newest packet forwarded
	lastTime  time.Time // when it was forwarded
	history   [HistorySize]sent
}

// dropRun is a run of input numbers [from, to) dropped in order; inputs from
// to on (up to the next run) are shifted by offset.
type dropRun struct {
	from, to int64
	offset   int64
}

// sent is what was forwarded under one output sequence number.
type sent struct {
	out      uint16
	in       uint16
	valid    bool
	ssrc     uint32
	tsOffset uint32
}

// Mapping tells how a forwarded packet was rewritten, for retransmitting it
// from the source's packet cache.
type Mapping struct {
	// InSeq is the packet's sequence number in its input stream.
	InSeq uint16
	// SSRC is the input stream's SSRC: the cache to read it from.
	SSRC uint32
	// TimestampOffset is what was added to its timestamp.
	TimestampOffset uint32
}

// Switch says that the next packet given to Process starts a new input
// stream: another SSRC, another simulcast layer, or the same stream
// resumed after a pause. That packet's output number will follow the last
// one sent, and its timestamp will advance from the last one sent by the
// wall-clock time elapsed since, in clockRate ticks (at least one, so that
// the receiver sees a new frame). Packets dropped before it are ignored:
// usually the caller drops the new stream until a keyframe.
func (m *Munger) Switch(clockRate uint32) {
	m.switching = true
	m.clockRate = clockRate
}

// Process rewrites h.SequenceNumber and h.Timestamp in place for
// forwarding, and reports false, leaving h unchanged, for a packet not to
// be forwarded: one from before the current stream's first packet, of
// another SSRC than the current stream (unless a Switch is pending), or a
// late copy of a packet the caller dropped. now is the packet's arrival
// time; only a Switch reads it. The SSRC and payload type are the caller's.
func (m *Munger) Process(h *rtp.Header, now time.Time) bool {
	if !m.started || m.switching {
		m.start(h, now)
		return true
	}
	if h.SSRC != m.ssrc {
		return false
	}
	in := m.extend(h.SequenceNumber)
	var out int64
	if in > m.highestIn {
		m.highestIn = in
		out = in - m.offset
		m.lastTS = h.Timestamp + m.tsOffset
		m.lastTime = now
	} else {
		off, ok := m.offsetOf(in)
		if !ok {
			return false
		}
		out = in - off
	}
	h.SequenceNumber = uint16(out)
	h.Timestamp += m.tsOffset
	m.record(h.SequenceNumber, uint16(in), h.SSRC)
	return true
}

// start makes the packet in h the first of a new input stream.
func (m *Munger) start(h *rtp.Header, now time.Time) {
	in := int64(h.SequenceNumber)
	out, ts := in, h.Timestamp
	if m.started {
		out = m.reserved() + 1
		ts = m.lastTS + ticks(now.Sub(m.lastTime), m.clockRate)
	}
	m.started, m.switching = true, false
	m.ssrc = h.SSRC
	m.highestIn = in
	m.offset = in - out
	m.tsOffset = ts - h.Timestamp
	m.floorIn, m.floorOff = in, m.offset
	m.runsHead, m.runsLen = 0, 0
	m.lastTS, m.lastTime = ts, now
	h.SequenceNumber = uint16(out)
	h.Timestamp = ts
	m.record(h.SequenceNumber, uint16(in), h.SSRC)
}

// reserved is the highest output number used or left as a gap for a loss:
// the next stream starts after it.
func (m *Munger) reserved() int64 { return m.highestIn - m.offset }

// ticks converts d to RTP timestamp units, at least 1: a timestamp that
// does not advance would glue two frames into one.
func ticks(d time.Duration, clockRate uint32) uint32 {
	if d <= 0 || clockRate == 0 {
		return 1
	}
	secs, frac := uint64(d/time.Second), uint64(d%time.Second)
	t := uint32(secs*uint64(clockRate) + frac*uint64(clockRate)/uint64(time.Second))
	return max(t, 1)
}

// Drop says that the caller will not forward the packet in h (a paused
// stream, a temporal layer above the subscriber's): the packets after it
// shift down by one so that the receiver sees no gap. A packet that is
// dropped after later ones were forwarded cannot be hidden: its number
// was lost, the receiver will NACK it, and Lookup will not find it.
func (m *Munger) Drop(h *rtp.Header) {
	if !m.started || m.switching || h.SSRC != m.ssrc {
		return
	}
	in := m.extend(h.SequenceNumber)
	if in <= m.highestIn {
		return
	}
	m.highestIn = in
	m.offset++
	if m.runsLen > 0 {
		last := &m.runs[(m.runsHead+m.runsLen-1)%maxDropRuns]
		if last.to == in {
			last.to, last.offset = in+1, m.offset
			return
		}
	}
	if m.runsLen == maxDropRuns {
		// Forget the oldest run: packets before its end can no
		// longer be placed.
		old := m.runs[m.runsHead]
		m.floorIn, m.floorOff = old.to, old.offset
		m.runsHead = (m.runsHead + 1) % maxDropRuns
		m.runsLen--
	}
	m.runs[(m.runsHead+m.runsLen)%maxDropRuns] = dropRun{from: in, to: in + 1, offset: m.offset}
	m.runsLen++
}

// extend returns the 64-bit input number nearest to highestIn whose low 16
// bits are seq.
func (m *Munger) extend(seq uint16) int64 {
	return m.highestIn + int64(int16(seq-uint16(m.highestIn)))
}

// offsetOf returns the offset in force for a late input number, or false
// if it was dropped or is too old to place.
func (m *Munger) offsetOf(in int64) (int64, bool) {
	if in < m.floorIn {
		return 0, false
	}
	for i := m.runsLen - 1; i >= 0; i-- {
		r := &m.runs[(m.runsHead+i)%maxDropRuns]
		if in >= r.to {
			return r.offset, true
		}
		if in >= r.from {
			return 0, false
		}
	}
	return m.floorOff, true
}

func (m *Munger) record(out, in uint16, ssrc uint32) {
	m.history[out%HistorySize] = sent{out: out, in: in, valid: true, ssrc: ssrc, tsOffset: m.tsOffset}
}

// Lookup returns how the packet sent as outSeq was rewritten, for a NACK;
// false if it was never sent or is older than the last HistorySize numbers.
func (m *Munger) Lookup(outSeq uint16) (Mapping, bool) {
	if !m.started {
		return Mapping{}, false
	}
	age := uint16(m.reserved()) - outSeq
	if age >= HistorySize {
		// Not sent yet, or too old: the slot may hold a packet a
		// multiple of 65536 numbers away.
		return Mapping{}, false
	}
	s := m.history[outSeq%HistorySize]
	if !s.valid || s.out != outSeq {
		return Mapping{}, false
	}
	return Mapping{InSeq: s.in, SSRC: s.ssrc, TimestampOffset: s.tsOffset}, true
}

// OutToIn returns the input sequence number of the packet sent as outSeq.
func (m *Munger) OutToIn(outSeq uint16) (uint16, bool) {
	mp, ok := m.Lookup(outSeq)
	return mp.InSeq, ok
}

// Last returns the highest output sequence number used (or left as a gap
// for a loss) and the timestamp of the newest packet forwarded; false
// before the first packet.
func (m *Munger) Last() (seq uint16, ts uint32, ok bool) {
	return uint16(m.reserved()), m.lastTS, m.started
}
