package loopback

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestConnKeepsToLoopback(t *testing.T) {
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := Conn{raw}
	defer c.Close()
	if _, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("WriteTo off loopback: %v", err)
	}
	if _, err := c.WriteToAddrPort([]byte("x"), netip.MustParseAddrPort("192.0.2.1:9")); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("WriteToAddrPort off loopback: %v", err)
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteTo([]byte("hi"), c.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 10)
	n, ap, err := c.ReadFromAddrPort(buf)
	if err != nil || string(buf[:n]) != "hi" || !ap.Addr().IsLoopback() {
		t.Errorf("read %q from %v: %v", buf[:n], ap, err)
	}
	if _, err := c.WriteToAddrPort([]byte("back"), ap); err != nil {
		t.Errorf("write back to loopback: %v", err)
	}
}

func TestCandidate(t *testing.T) {
	testCases := []struct {
		line string
		want bool
	}{
		{"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", true},
		{"candidate:1 1 udp 2130706431 ::1 5000 typ host", true},
		{"candidate:2 1 udp 2122260223 192.0.2.1 50000 typ host", false},
		{"candidate:3 1 udp 2122260223 abcd.local 50000 typ host", false},
		{"candidate:4 1", false},
	}
	for _, tc := range testCases {
		if got := Candidate(tc.line); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.line, got, tc.want)
		}
	}
}
