package ianua

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// slowLinkEvery is the shortest time between two slow-link events of one
// stream in one direction, so that a lasting loss is reported now and then
// rather than every second (Janus does the same).
const slowLinkEvery = 5 * time.Second

// linkLoss is what the watch remembers of one stream's retransmission
// requests between two ticks.
type linkLoss struct {
	up, down     uint64 // packets asked for so far, each way
	upAt, downAt time.Time
}

// checkSlowLink raises a slow-link event for each stream (m-line) whose
// packets were asked for retransmission, in one direction, at
// cfg.SlowLinkThreshold packets a second or more since the last tick: as
// Janus does, per medium, naming its mid and kind. Uplink counts the NACKs
// we sent for the client's streams on the m-line, downlink the NACKs the
// client sent for ours.
func (p *peer) checkSlowLink(now time.Time, elapsed time.Duration, seen map[string]*linkLoss) {
	threshold := float64(p.h.s.r.cfg.SlowLinkThreshold) * elapsed.Seconds()
	for _, tr := range p.pc.GetTransceivers() {
		mid := tr.Mid()
		if mid == "" {
			continue
		}
		up, down := p.nacked(tr)
		l, ok := seen[mid]
		if !ok {
			l = &linkLoss{}
			seen[mid] = l
		}
		// A stream's counters restart when its SSRC changes.
		lostUp, lostDown := sub0(up, l.up), sub0(down, l.down)
		l.up, l.down = up, down
		kind := tr.Kind().String()
		if lostUp > 0 && float64(lostUp) >= threshold && now.Sub(l.upAt) >= slowLinkEvery {
			l.upAt = now
			p.h.slowLink(SlowLink{MID: mid, Kind: kind, Uplink: true, Lost: lostUp})
		}
		if lostDown > 0 && float64(lostDown) >= threshold && now.Sub(l.downAt) >= slowLinkEvery {
			l.downAt = now
			p.h.slowLink(SlowLink{MID: mid, Kind: kind, Uplink: false, Lost: lostDown})
		}
	}
}

// nacked is how many packets of the transceiver's streams were asked for
// so far: by us for what we receive (up), by the client for what we send
// (down). Retransmission requests name the media SSRC, not the RTX one.
func (p *peer) nacked(tr *webrtc.RTPTransceiver) (up, down uint64) {
	if rcv := tr.Receiver(); rcv != nil {
		for _, t := range rcv.Tracks() {
			if s, ok := p.mon.Stream(uint32(t.SSRC())); ok {
				up += s.NACKed()
			}
		}
	}
	if snd := tr.Sender(); snd != nil {
		for _, enc := range snd.GetParameters().Encodings {
			if s, ok := p.mon.Local(uint32(enc.SSRC)); ok {
				down += s.NACKed()
			}
		}
	}
	return up, down
}

// sub0 is a - b, or a when the counter went back (a new stream).
func sub0(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return a - b
}
