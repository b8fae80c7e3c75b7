package cluster

// RelayStats counts a node's relays and the packets they carried, for
// monitoring and for measuring what a relay hop costs (bench/load -mode
// cluster).
type RelayStats struct {
	// RelaysOut and RelaysIn are the relays running now: streams this
	// node sends to other nodes, and streams it gets from them.
	RelaysOut int `json:"relays_out"`
	RelaysIn  int `json:"relays_in"`
	// PacketsOut is what the running relays out have sent; PacketsIn
	// what the remote streams' sources here have received (over every
	// relay they had). Both grow while relays run; PacketsOut drops
	// when a relay stops.
	PacketsOut uint64 `json:"packets_out"`
	PacketsIn  uint64 `json:"packets_in"`
	// NACKed is the relay packets this node found lost on the hop and
	// asked for again; Resent those its relays out sent again.
	NACKed uint64 `json:"nacked"`
	Resent uint64 `json:"resent"`
}

// RelayStats returns the node's relay counters.
func (n *Node) RelayStats() RelayStats {
	var st RelayStats
	n.mu.Lock()
	var streams []*remoteStream
	for _, f := range n.remote {
		streams = append(streams, f.streams...)
	}
	for _, o := range n.out {
		st.RelaysOut++
		st.PacketsOut += o.fwd.Packets()
		st.Resent += o.fwd.Retransmitted()
	}
	n.mu.Unlock()
	for _, s := range streams {
		if s.isRunning() {
			st.RelaysIn++
		}
		st.PacketsIn += s.src.Packets()
		for _, l := range s.layers {
			st.NACKed += l.nacked.Load()
		}
	}
	return st
}
