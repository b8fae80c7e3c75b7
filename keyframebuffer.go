package ianua

import "github.com/pion/rtp"

// maxKeyframePackets bounds the copy of one keyframe: about 1.2 MB, more
// than a 4K VP8 or H.264 keyframe takes.
const maxKeyframePackets = 1024

// keyframeBuffer keeps a copy of the packets of a layer's latest complete
// keyframe, so that a subscriber that starts between keyframes sees a
// picture at once even when the sender cannot be asked for one (plain RTP
// from ffmpeg: there is no RTCP path back to it). Janus Streaming's
// "videobufferkf" does the same.
//
// Only the layer's reading goroutine calls observe; ready is read by the
// subscriptions while that goroutine forwards a packet of the same layer
// (it waits for them), never while observe runs, so no lock is needed.
// Both frames' buffers are reused from keyframe to keyframe.
type keyframeBuffer struct {
	ready, next keyframeCopy
}

// keyframeCopy is the packets of one frame, in arrival order.
type keyframeCopy struct {
	pkts     [][]byte
	n        int
	ts       uint32
	ssrc     uint32
	lastSeq  uint16
	building bool
	complete bool
}

// observe looks at one packet of the layer after it was forwarded.
func (b *keyframeBuffer) observe(raw []byte, h *rtp.Header, keyframe bool) {
	n := &b.next
	if keyframe && !(n.building && n.ts == h.Timestamp && n.ssrc == h.SSRC) {
		// A keyframe's first packet (for H.264 its SPS; the IDR that
		// follows has the same timestamp and continues the frame).
		n.n, n.ts, n.ssrc, n.building, n.complete = 0, h.Timestamp, h.SSRC, true, false
	}
	if !n.building {
		return
	}
	if h.Timestamp != n.ts || h.SSRC != n.ssrc || n.n == maxKeyframePackets {
		// The next frame began before the marker bit: the keyframe's
		// last packet was lost, or it is too large to keep.
		n.building = false
		return
	}
	if n.n == len(n.pkts) {
		n.pkts = append(n.pkts, make([]byte, 0, len(raw)))
	}
	n.pkts[n.n] = append(n.pkts[n.n][:0], raw...)
	n.n++
	n.lastSeq = h.SequenceNumber
	if h.Marker {
		// RFC 3550 section 5.1, and each video payload format: the
		// marker is set on the last packet of a frame.
		n.building, n.complete = false, true
		b.ready, b.next = b.next, b.ready
	}
}

// before returns the packets of the last complete keyframe if it precedes
// the packet h of the same stream, or nil.
func (b *keyframeBuffer) before(h *rtp.Header) [][]byte {
	r := &b.ready
	if !r.complete || r.ssrc != h.SSRC || r.ts == h.Timestamp {
		return nil
	}
	// RFC 3550 appendix A.1: sequence numbers compared modulo 2^16.
	if d := h.SequenceNumber - r.lastSeq; d == 0 || d >= 1<<15 {
		return nil
	}
	return r.pkts[:r.n]
}
