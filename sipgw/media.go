package sipgw

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
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
	// onFeedback, when set (video), gets the peer's RTCP feedback (RFC
	// 4585): keyframe requests and NACKs for the browser's stream. Without
	// it the peer's RTCP is read and dropped.
	onFeedback func(pkts []rtcp.Packet)

	// rtcpRemote is where RTCP to the peer goes: its a=rtcp port, or its
	// RTP address with rtcp-mux (RFC 5761).
	rtcpRemote atomic.Pointer[net.UDPAddr]
	rtcpMux    atomic.Bool
	// peerSSRC is the SSRC of the peer's stream, ourSSRC that of ours
	// (the browser's, which crosses unchanged), for RTCP feedback.
	peerSSRC atomic.Uint32
	ourSSRC  atomic.Uint32

	// Packet counters, for status and tests.
	toPeer   atomic.Uint64
	fromPeer atomic.Uint64
	// Keyframe requests (PLI, FIR) from the peer and to it.
	keyframesAsked atomic.Uint64
	plisSent       atomic.Uint64

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
func (m *media) setPeer(d mediaDesc, n negotiated, local direction) {
	addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(d.IP.Unmap(), uint16(d.Port)))
	m.remote.Store(addr)
	rtcpPort := d.RTCPPort
	if d.RTCPMux {
		rtcpPort = d.Port
	}
	m.rtcpRemote.Store(net.UDPAddrFromAddrPort(netip.AddrPortFrom(d.IP.Unmap(), uint16(rtcpPort))))
	m.rtcpMux.Store(d.RTCPMux)
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

// start runs the readers. The track, if set, gets the peer's packets;
// onDTMF its key presses, onFeedback its RTCP feedback.
func (m *media) start(track *relayTrack, onDTMF func(string, int), onFeedback func([]rtcp.Packet)) {
	m.startOnce.Do(func() {
		m.track, m.onDTMF, m.onFeedback = track, onDTMF, onFeedback
		m.wg.Add(2)
		go m.readRTP()
		go m.drainRTCP()
	})
}

// stopReaders stops the readers and keeps the sockets open, for a room
// call that takes the leg over (join_room).
func (m *media) stopReaders() {
	past := time.Unix(1, 0)
	_ = m.rtp.SetReadDeadline(past)
	_ = m.rtcp.SetReadDeadline(past)
	m.wg.Wait()
	_ = m.rtp.SetReadDeadline(time.Time{})
	_ = m.rtcp.SetReadDeadline(time.Time{})
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
		if n < 12 || buf[0]>>6 != 2 {
			continue // not RTP
		}
		if isRTCP(buf[:n]) {
			// RTCP of a peer using rtcp-mux (RFC 5761 section 4).
			m.feedback(buf[:n], plain)
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
		m.peerSSRC.Store(pkt.SSRC)
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

// drainRTCP reads the peer's RTCP on the port after the RTP one: the
// WebRTC leg has its own reports, so only feedback is used (video), and a
// closed port would draw ICMP errors to the peer.
func (m *media) drainRTCP() {
	defer m.wg.Done()
	buf, plain := make([]byte, 1500), make([]byte, 1500)
	for {
		n, _, err := m.rtcp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		m.feedback(buf[:n], plain)
	}
}

// feedback hands the peer's RTCP feedback to onFeedback; with SRTP it is
// SRTCP, decrypted into plain (the reader's buffer) and dropped when it
// does not authenticate (RFC 3711 section 3.4).
func (m *media) feedback(b, plain []byte) {
	if m.onFeedback == nil || !m.recv.Load() && !m.send.Load() {
		return
	}
	if s := m.srtp.Load(); s != nil {
		var err error
		if b, err = s.decryptRTCP(plain[:0], b); err != nil {
			return
		}
	}
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return
	}
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			m.keyframesAsked.Add(1)
		}
	}
	m.onFeedback(pkts)
}

// requestKeyframe asks the peer for a keyframe of its stream: a PLI (RFC
// 4585 section 6.3.1) in a compound packet behind an empty receiver
// report (RFC 3550 section 6.1), on its RTCP address; SRTCP with SRTP.
func (m *media) requestKeyframe() {
	addr, media := m.rtcpRemote.Load(), m.peerSSRC.Load()
	if addr == nil || media == 0 || !m.recv.Load() {
		return
	}
	ours := m.ourSSRC.Load()
	if ours == 0 {
		ours = 1
	}
	var b [20]byte
	// RR: V=2, RC=0, PT=201, length 1 (words - 1), sender SSRC.
	b[0], b[1], b[3] = 0x80, 201, 1
	binary.BigEndian.PutUint32(b[4:8], ours)
	// PLI: V=2, FMT=1, PT=206, length 2, sender and media SSRC.
	b[8], b[9], b[11] = 0x81, 206, 2
	binary.BigEndian.PutUint32(b[12:16], ours)
	binary.BigEndian.PutUint32(b[16:20], media)
	out := b[:]
	// Room for the SRTCP index and tag (RFC 3711 section 3.4).
	var enc [64]byte
	if s := m.srtp.Load(); s != nil {
		var err error
		if out, err = s.encryptRTCP(enc[:0], out); err != nil {
			return
		}
	}
	conn := m.rtcp
	if m.rtcpMux.Load() {
		conn = m.rtp
	}
	if _, err := conn.WriteToUDP(out, addr); err == nil {
		m.plisSent.Add(1)
	}
}

// sendToPeer relays one browser packet of codec c to the peer, with the
// peer's payload type for c; buf and enc are the caller's reused buffers
// for the packet and its SRTP form. It reports whether the leg sends
// (whether or not this packet went).
func (m *media) sendToPeer(pkt *rtp.Packet, c codecKey, buf, enc []byte) bool {
	if !m.send.Load() {
		return false
	}
	neg, addr := m.neg.Load(), m.remote.Load()
	if neg == nil || addr == nil {
		return false
	}
	switch {
	case keyOf(neg.Media) == c:
		pkt.PayloadType = neg.Media.PT
	case neg.DTMF != nil && keyOf(*neg.DTMF) == c:
		pkt.PayloadType = neg.DTMF.PT
	default:
		return true
	}
	pkt.Extension = false
	pkt.Extensions = pkt.Extensions[:0]
	n, err := pkt.MarshalTo(buf)
	if err != nil {
		return true
	}
	out := buf[:n]
	if s := m.srtp.Load(); s != nil {
		if out, err = s.out.EncryptRTP(enc[:0], out, nil); err != nil {
			return true
		}
	}
	if _, err := m.rtp.WriteToUDP(out, addr); err == nil {
		m.toPeer.Add(1)
		m.ourSSRC.Store(pkt.SSRC)
	}
	return true
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
