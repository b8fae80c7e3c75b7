package main

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// Raw mode (-client raw) is for machines where pion cannot receive as fast
// as the server forwards: a pion receiver costs some 30 µs of CPU per
// packet (socket read, SRTP decryption, interceptors, channel hand-offs),
// as much as the server's forwarding. A raw subscriber's sockets count RTP
// from the clear-text header and drop it before pion; ICE, DTLS, RTCP and
// signalling stay pion's. What the server then misses is the subscribers'
// feedback about media: no NACKs, no transport-wide-cc feedback, receiver
// reports without reception statistics.

// rawNet is pion's standard network whose UDP sockets are rawConns.
type rawNet struct {
	*stdnet.Net
	count func([]byte)
}

// ListenUDP implements transport.Net.
func (n *rawNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	u, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	return &rawConn{UDPConn: u, count: n.count}, nil
}

// rawConn hands RTP packets to count and everything else (STUN, DTLS,
// RTCP) to pion.
type rawConn struct {
	*net.UDPConn
	count func([]byte)
}

// isRTP tells RTP from RTCP, STUN and DTLS on a muxed socket (RFC 7983;
// RFC 5761 section 4 for RTCP's payload types 64-95 with the marker bit).
func isRTP(b []byte) bool {
	if len(b) < 12 || b[0] < 128 || b[0] > 191 {
		return false
	}
	pt := b[1] & 0x7f
	return pt < 64 || pt > 95
}

// ReadFrom implements net.PacketConn.
func (c *rawConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(b)
		if err != nil || !isRTP(b[:n]) {
			return n, addr, err
		}
		c.count(b[:n])
	}
}

// ReadFromAddrPort and WriteToAddrPort are pion ice's allocation-free
// path (ice.AddrPortReaderWriter).
func (c *rawConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil || !isRTP(b[:n]) {
			return n, addr, err
		}
		c.count(b[:n])
	}
}

func (c *rawConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

// rawSubscriberAPI is subscriberAPI on a rawNet: one per subscriber, since
// its sockets count for it.
func rawSubscriberAPI(ip net.IP, count func([]byte)) (*webrtc.API, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return newSubscriberAPI(ip, &rawNet{Net: n, count: count})
}

// payloadKinds maps the payload types of an SDP's m-sections to their
// kinds.
func payloadKinds(sdp string) *[128]webrtc.RTPCodecType {
	var kinds [128]webrtc.RTPCodecType
	kind := webrtc.RTPCodecTypeUnknown
	for line := range strings.Lines(sdp) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "m=audio"):
			kind = webrtc.RTPCodecTypeAudio
		case strings.HasPrefix(line, "m=video"):
			kind = webrtc.RTPCodecTypeVideo
		case strings.HasPrefix(line, "m="):
			kind = webrtc.RTPCodecTypeUnknown
		case strings.HasPrefix(line, "a=rtpmap:"):
			pt, _, _ := strings.Cut(strings.TrimPrefix(line, "a=rtpmap:"), " ")
			if v, err := strconv.Atoi(pt); err == nil && v >= 0 && v < 128 {
				kinds[v] = kind
			}
		}
	}
	return &kinds
}
