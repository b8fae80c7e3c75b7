package sipgw

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/ianua/ianua/internal/testpeer"
)

func TestPortRange(t *testing.T) {
	// Find a free block of four ports for a two-pair range.
	var base int
	for range 20 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		_ = c.Close()
		if p%2 == 0 && p < 65000 {
			base = p
			break
		}
	}
	if base == 0 {
		t.Skip("no even port")
	}
	r := &portRange{min: uint16(base), max: uint16(base + 3)}
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range 2 {
		rtpConn, rtcpConn, err := r.allocate("127.0.0.1")
		if err != nil {
			t.Skipf("range %d-%d taken meanwhile: %v", base, base+3, err)
		}
		conns = append(conns, rtpConn, rtcpConn)
		rp, cp := rtpConn.LocalAddr().(*net.UDPAddr).Port, rtcpConn.LocalAddr().(*net.UDPAddr).Port
		if rp%2 != 0 || cp != rp+1 || rp < base || cp > base+3 {
			t.Errorf("pair %d/%d outside %d-%d", rp, cp, base, base+3)
		}
	}
	if _, _, err := r.allocate("127.0.0.1"); !errors.Is(err, ErrNoPorts) {
		t.Errorf("exhausted range: %v", err)
	}
}

func TestParams(t *testing.T) {
	testCases := []struct {
		p  Params
		ok bool
	}{
		{Params{}, true},
		{Params{TCP: true}, true},
		{Params{TLSConfig: &tls.Config{}}, false},
		{Params{TLSListenAddr: "127.0.0.1:5061"}, false},
		{Params{TLSConfig: &tls.Config{Certificates: make([]tls.Certificate, 1)}, TLSListenAddr: "nonsense"}, false},
		{Params{ListenAddr: "nonsense"}, false},
		{Params{LocalIP: "::1"}, false},
		{Params{RTPPortMin: 20000, RTPPortMax: 10000}, false},
		{Params{RTPPortMax: 10000}, false},
		{Params{RTPPortMin: 10000, RTPPortMax: 10001}, true},
	}
	for i, tc := range testCases {
		p, err := tc.p.withDefaults()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadParams)) {
			t.Errorf("case %d: %v", i, err)
		}
		if err == nil && (p.ListenAddr == "" || p.LocalIP != "127.0.0.1" || p.RegisterTTL == 0) {
			t.Errorf("case %d: defaults %+v", i, p)
		}
	}
	if p, _ := (Params{ListenAddr: "10.1.2.3:5070"}).withDefaults(); p.LocalIP != "10.1.2.3" {
		t.Errorf("LocalIP from ListenAddr: %q", p.LocalIP)
	}
	cert := &tls.Config{Certificates: make([]tls.Certificate, 1)}
	for listen, want := range map[string]string{"": "127.0.0.1:5061", "10.1.2.3:5070": "10.1.2.3:5061", "127.0.0.1:0": "127.0.0.1:0"} {
		if p, err := (Params{ListenAddr: listen, TLSConfig: cert}).withDefaults(); err != nil || p.TLSListenAddr != want {
			t.Errorf("TLS listen address for %q: %q, %v", listen, p.TLSListenAddr, err)
		}
	}
}

func TestIsRTCP(t *testing.T) {
	for pt, want := range map[byte]bool{200: true, 201: true, 0x80 | 0: false, 111: false, 0x80 | 111: false, 72: true, 0x80 | 8: false} {
		if got := isRTCP([]byte{0x80, pt}); got != want {
			t.Errorf("second byte %d: %v", pt, got)
		}
	}
}

func TestEphemeralPair(t *testing.T) {
	var r portRange
	rtpConn, rtcpConn, err := r.allocate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer rtpConn.Close()
	defer rtcpConn.Close()
	rp, cp := rtpConn.LocalAddr().(*net.UDPAddr), rtcpConn.LocalAddr().(*net.UDPAddr)
	if !rp.IP.IsLoopback() || !cp.IP.IsLoopback() || rp.Port == cp.Port {
		t.Errorf("%v %v", rp, cp)
	}
	if cp.Port != rp.Port+1 {
		t.Logf("no adjacent pair this time: %d/%d", rp.Port, cp.Port)
	}
}

// TestVideoFeedback: a keyframe request of ours goes to the peer's RTCP
// address (or its RTP one with rtcp-mux) as RR+PLI for its stream, and
// the peer's PLI, FIR and NACK reach onFeedback, on either port.
func TestVideoFeedback(t *testing.T) {
	m, err := newMedia(testpeer.QuietLogger(), &portRange{}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	peerRTP, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = peerRTP.Close() }()
	peerRTCP, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = peerRTCP.Close() }()
	ip := netip.MustParseAddr("127.0.0.1")
	d := mediaDesc{IP: ip, Port: peerRTP.LocalAddr().(*net.UDPAddr).Port, RTCPPort: peerRTCP.LocalAddr().(*net.UDPAddr).Port, Dir: dirSendRecv}
	vp8 := codec{Name: "vp8", PT: 96, Clock: 90000}
	m.setPeer(d, negotiated{Media: vp8}, dirSendRecv)
	var mu sync.Mutex
	var got []string
	m.start(nil, nil, func(pkts []rtcp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pkts {
			got = append(got, fmt.Sprintf("%T", p))
		}
	})

	// No keyframe request before the peer's stream is known.
	m.requestKeyframe()
	if m.plisSent.Load() != 0 {
		t.Error("PLI without a media SSRC")
	}
	m.peerSSRC.Store(0x1234)
	m.ourSSRC.Store(0x99)
	read := func(c *net.UDPConn) []rtcp.Packet {
		t.Helper()
		buf := make([]byte, 1500)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return pkts
	}
	m.requestKeyframe()
	pkts := read(peerRTCP)
	if len(pkts) != 2 {
		t.Fatalf("%+v", pkts)
	}
	if pli, ok := pkts[1].(*rtcp.PictureLossIndication); !ok || pli.MediaSSRC != 0x1234 || pli.SenderSSRC != 0x99 {
		t.Errorf("%+v", pkts[1])
	}
	// rtcp-mux: on the RTP port.
	d.RTCPMux = true
	m.setPeer(d, negotiated{Media: vp8}, dirSendRecv)
	m.requestKeyframe()
	if pkts := read(peerRTP); len(pkts) != 2 {
		t.Errorf("muxed: %+v", pkts)
	}

	// The peer's feedback, on the RTCP port and muxed on the RTP one.
	rtpPort, rtcpPort := m.localPorts()
	send := func(c *net.UDPConn, port int, p rtcp.Packet) {
		raw, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 0x1234}, p})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteToUDP(raw, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	send(peerRTCP, rtcpPort, &rtcp.PictureLossIndication{MediaSSRC: 0x99})
	send(peerRTP, rtpPort, &rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 0x99}}})
	send(peerRTCP, rtcpPort, &rtcp.TransportLayerNack{MediaSSRC: 0x99, Nacks: []rtcp.NackPair{{PacketID: 7}}})
	testpeer.WaitFor(t, 2*time.Second, "feedback", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 6
	})
	if n := m.keyframesAsked.Load(); n != 2 {
		t.Errorf("%d keyframe requests counted, want 2", n)
	}
}
