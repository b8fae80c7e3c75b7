package sipgw

import (
	"errors"
	"net"
	"testing"
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
		{Params{Transport: "tcp"}, false},
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
