package cluster

import "time"

// rateMeter turns the process's CPU time and a packet count into rates
// between two samples.
type rateMeter struct {
	at      time.Time
	cpu     time.Duration
	packets uint64
}

// sample returns the CPU use in cores and the packets per second since
// the last sample (CPU -1 where it is not measured; both 0 on the first).
func (m *rateMeter) sample(now time.Time, packets uint64) (cpu, pps float64) {
	c, ok := processCPU()
	if !ok {
		cpu = -1
	}
	if !m.at.IsZero() {
		if d := now.Sub(m.at).Seconds(); d > 0 {
			if ok {
				cpu = (c - m.cpu).Seconds() / d
			}
			if packets >= m.packets {
				pps = float64(packets-m.packets) / d
			}
		}
	}
	m.at, m.cpu, m.packets = now, c, packets
	return cpu, pps
}

// packetsSent counts the packets this node's sfu rooms sent so far, to
// subscribers and relays (forwarded and retransmitted).
func (n *Node) packetsSent() uint64 {
	var total uint64
	for _, r := range n.p.SFU.Rooms() {
		for _, pt := range r.Participants() {
			for _, src := range pt.Sources() {
				for _, sub := range src.Subscribers() {
					total += sub.Packets() + sub.Retransmitted()
				}
			}
		}
	}
	return total
}
