package echotest

import "github.com/pion/rtp"

// forwarder rewrites one echoed stream. It is a pure state machine, tested
// without a network.
type forwarder struct {
	// dropped counts the packets not echoed; subtracting it keeps the
	// outgoing sequence numbers contiguous, so the client does not NACK
	// packets we chose not to send (RFC 3550 section 5.1).
	dropped uint16
}

// process prepares pkt for the echo, or says to drop it when on is false.
// The client's header extensions are removed: their ids and values belong to
// its own send path (transport-wide-cc, abs-send-time), and our sender adds
// its own.
func (f *forwarder) process(pkt *rtp.Packet, on bool) bool {
	if !on {
		f.dropped++
		return false
	}
	pkt.SequenceNumber -= f.dropped
	pkt.Extension = false
	pkt.ExtensionProfile = 0
	pkt.Extensions = pkt.Extensions[:0]
	return true
}
