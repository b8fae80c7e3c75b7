package sipgw

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/ianua/ianua/internal/rtpmunge"
)

// media is the RTP leg of one call towards the SIP peer: a socket pair on
// LocalIP, the peer's address, and the relay of packets both ways. RTP
// goes through untouched but for the payload type, which each side
// numbers its own way, the SSRC on the WebRTC side (the browser's sender
// owns it) and header extensions, which belong to the WebRTC leg.
type media struct {
	log  *slog.Logger
	rtp  *net.UDPConn
	rtcp *net.UDPConn

	remote atomic.Pointer[net.UDPAddr]
	neg    atomic.Pointer[negotiated]
	// srtp, when set, is the SDES-SRTP state (RFC 4568): the peer's
	// packets are decrypted, ours encrypted.
	srtp atomic.Pointer[srtpPair]
	// send and recv gate the two directions, from the SDP directions
	// (hold): send is browser to SIP peer, recv the other way.
	send atomic.Bool
	recv atomic.Bool

	track  *relayTrack
	onDTMF func(signal string, ms int)

	// Packet counters, for status and tests.
	toPeer   atomic.Uint64
	fromPeer atomic.Uint64

	startOnce sync.Once
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newMedia(log *slog.Logger, ports *portRange, ip string) (*media, error) {
	rtpConn, rtcpConn, err := ports.allocate(ip)
	if err != nil {
		return nil, err
	}
	return &media{log: log, rtp: rtpConn, rtcp: rtcpConn}, nil
}

func (m *media) localPorts() (rtpPort, rtcpPort int) {
	return m.rtp.LocalAddr().(*net.UDPAddr).Port, m.rtcp.LocalAddr().(*net.UDPAddr).Port
}

// setPeer points the leg at the peer's m=audio section and codecs.
func (m *media) setPeer(d audioDesc, n negotiated, local direction) {
	addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(d.IP.Unmap(), uint16(d.Port)))
	m.remote.Store(addr)
	m.neg.Store(&n)
	m.setDirection(local & d.Dir.reverse())
}

// setDirection gates what flows: our side's direction as agreed in SDP.
// A peer address of 0.0.0.0 also means "do not send" (RFC 3264 section
// 8.4, the old way of holding).
func (m *media) setDirection(d direction) {
	hold := false
	if a := m.remote.Load(); a != nil && a.IP.IsUnspecified() {
		hold = true
	}
	m.send.Store(d&dirSend != 0 && !hold)
	m.recv.Store(d&dirRecv != 0)
}

// start runs the readers. The track, if set, gets the peer's packets.
func (m *media) start(track *relayTrack, onDTMF func(string, int)) {
	m.startOnce.Do(func() {
		m.track, m.onDTMF = track, onDTMF
		m.wg.Add(2)
		go m.readRTP()
		go m.drainRTCP()
	})
}

// close closes the sockets and waits for the readers.
func (m *media) close() {
	m.closeOnce.Do(func() {
		_ = m.rtp.Close()
		_ = m.rtcp.Close()
	})
	m.wg.Wait()
}

// readRTP relays the peer's RTP to the browser. One buffer and one packet
// are reused for the whole call.
func (m *media) readRTP() {
	defer m.wg.Done()
	buf, plain := make([]byte, 1500), make([]byte, 1500)
	var pkt rtp.Packet
	var dtmfs dtmfDetector
	// The browser's track is one stream; the peer may start new ones (a
	// PBX bridging the call elsewhere, an announcement then the callee):
	// numbering and timing go on across them (RFC 3550 section 8.2), or
	// the browser would drop the new stream's packets as old.
	var mung rtpmunge.Munger
	var ssrc uint32
	for {
		n, _, err := m.rtp.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.log.Debug("sipgw: RTP read", "err", err)
			}
			return
		}
		if n < 12 || buf[0]>>6 != 2 || isRTCP(buf[:n]) {
			// RTCP of a peer using rtcp-mux (RFC 5761 section 4), or
			// not RTP at all.
			continue
		}
		raw := buf[:n]
		if s := m.srtp.Load(); s != nil {
			// Failed authentication or a replay: dropped (RFC 3711
			// section 3.3).
			if raw, err = s.in.DecryptRTP(plain, raw, nil); err != nil {
				continue
			}
		}
		if err := pkt.Unmarshal(raw); err != nil {
			continue
		}
		m.fromPeer.Add(1)
		neg := m.neg.Load()
		if neg == nil {
			continue
		}
		var c codec
		switch {
		case pkt.PayloadType == neg.Media.PT:
			c = neg.Media
		case neg.DTMF != nil && pkt.PayloadType == neg.DTMF.PT:
			c = *neg.DTMF
			if sig, ms, ok := dtmfs.packet(pkt.Timestamp, pkt.Payload, c.Clock); ok && m.onDTMF != nil {
				m.onDTMF(sig, ms)
			}
		default:
			continue // comfort noise and others the browser did not negotiate
		}
		if !m.recv.Load() || m.track == nil {
			continue
		}
		if pkt.SSRC != ssrc {
			if ssrc != 0 {
				mung.Switch(c.Clock)
			}
			ssrc = pkt.SSRC
		}
		if !mung.Process(&pkt.Header, time.Now()) {
			continue
		}
		pkt.Extension = false
		pkt.Extensions = pkt.Extensions[:0]
		m.track.write(&pkt, keyOf(c))
	}
}

// drainRTCP reads the peer's RTCP on the port after the RTP one and drops
// it: the WebRTC leg has its own RTCP, and a closed port would draw ICMP
// errors to the peer.
func (m *media) drainRTCP() {
	defer m.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := m.rtcp.ReadFromUDP(buf); err != nil {
			return
		}
	}
}

// sendToPeer relays one browser packet of codec c to the peer, with the
// peer's payload type for c; buf and enc are the caller's reused buffers
// for the packet and its SRTP form.
func (m *media) sendToPeer(pkt *rtp.Packet, c codecKey, buf, enc []byte) {
	if !m.send.Load() {
		return
	}
	neg, addr := m.neg.Load(), m.remote.Load()
	if neg == nil || addr == nil {
		return
	}
	switch {
	case keyOf(neg.Media) == c:
		pkt.PayloadType = neg.Media.PT
	case neg.DTMF != nil && keyOf(*neg.DTMF) == c:
		pkt.PayloadType = neg.DTMF.PT
	default:
		return
	}
	pkt.Extension = false
	pkt.Extensions = pkt.Extensions[:0]
	n, err := pkt.MarshalTo(buf)
	if err != nil {
		return
	}
	out := buf[:n]
	if s := m.srtp.Load(); s != nil {
		if out, err = s.out.EncryptRTP(enc[:0], out, nil); err != nil {
			return
		}
	}
	if _, err := m.rtp.WriteToUDP(out, addr); err == nil {
		m.toPeer.Add(1)
	}
}

// isRTCP tells RTCP from RTP on one port (RFC 5761 section 4): RTCP packet
// types 192-223 fall on RTP payload types 64-95.
func isRTCP(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	pt := b[1] & 0x7f
	return pt >= 64 && pt <= 95
}

// ephemeralPair binds an RTP socket on an ephemeral even port and RTCP on
// the next one if it can (peers that ignore a=rtcp send RTCP there, RFC
// 3550 section 11), else on any port.
func ephemeralPair(addr net.IP) (rtpConn, rtcpConn *net.UDPConn, err error) {
	const tries = 8
	for range tries {
		rtpConn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: addr})
		if err != nil {
			return nil, nil, err
		}
		port := rtpConn.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 0 && port < 65535 {
			if rtcpConn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: addr, Port: port + 1}); err == nil {
				return rtpConn, rtcpConn, nil
			}
		}
		_ = rtpConn.Close()
	}
	if rtpConn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: addr}); err != nil {
		return nil, nil, err
	}
	if rtcpConn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: addr}); err != nil {
		_ = rtpConn.Close()
		return nil, nil, err
	}
	return rtpConn, rtcpConn, nil
}

// portRange hands out RTP/RTCP socket pairs.
type portRange struct {
	min, max uint16

	mu   sync.Mutex
	next uint16
}

// allocate binds an RTP socket and an RTCP one on ip: an even port and the
// next one (RFC 3550 section 11), cycling through the range if there is
// one, else ephemeral (a=rtcp tells the peer where RTCP goes anyway).
func (r *portRange) allocate(ip string) (rtpConn, rtcpConn *net.UDPConn, err error) {
	addr := net.ParseIP(ip)
	if r.min == 0 && r.max == 0 {
		return ephemeralPair(addr)
	}
	first := r.min + r.min%2
	pairs := (int(r.max) - int(first) + 1) / 2
	r.mu.Lock()
	start := r.next
	r.mu.Unlock()
	for i := 0; i < pairs; i++ {
		p := first + uint16((int(start)+i)%pairs)*2
		rtpConn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: addr, Port: int(p)})
		if err != nil {
			continue
		}
		rtcpConn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: addr, Port: int(p) + 1})
		if err != nil {
			_ = rtpConn.Close()
			continue
		}
		r.mu.Lock()
		r.next = uint16((int(start) + i + 1) % pairs)
		r.mu.Unlock()
		return rtpConn, rtcpConn, nil
	}
	return nil, nil, ErrNoPorts
}
