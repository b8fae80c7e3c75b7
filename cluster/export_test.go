package cluster

import "net"

// SetRelayLoss makes the node's relay readers drop the packets drop says
// (as if lost on the hop), before they look for gaps.
func (n *Node) SetRelayLoss(drop func(seq uint16) bool) { n.lossHook.Store(&drop) }

// RelayPorts returns the UDP ports of this node's relay sockets, for tests
// that send them what a stranger would.
func (n *Node) RelayPorts() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []int
	for _, f := range n.remote {
		for _, s := range f.streams {
			for _, l := range s.layers {
				out = append(out, l.conn.LocalAddr().(*net.UDPAddr).Port)
			}
		}
	}
	return out
}
