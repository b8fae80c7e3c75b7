// Package loopback keeps a UDP socket's traffic to loopback peers.
//
// Why: a router whose ICE socket is on 127.0.0.1 offers only 127.0.0.1,
// but a browser sends its connectivity checks to it from every local
// address, and Linux delivers those from, say, the LAN address over lo. ICE
// answers such a check (a peer-reflexive candidate, RFC 8445 section
// 7.3.1.3) and may nominate it, so media would flow to a LAN address.
// Dropping what comes from, and refusing what goes to, other peers keeps
// the media on loopback in practice and not only in the SDP.
//
// It imports nothing of ianua's.
package loopback

import (
	"errors"
	"net"
	"net/netip"
	"strings"
)

// ErrNotLoopback refuses a send to a peer that is not on loopback.
var ErrNotLoopback = errors.New("loopback: peer is not on loopback")

// Conn is a *net.UDPConn that talks to loopback peers only. It keeps the
// allocation-free netip.AddrPort methods that pion's ICE UDP mux prefers.
type Conn struct {
	*net.UDPConn
}

// ReadFrom implements net.PacketConn, skipping packets from other peers.
func (c Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil || isLoopback(addr) {
			return n, addr, err
		}
	}
}

// WriteTo implements net.PacketConn.
func (c Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !isLoopback(addr) {
		return 0, ErrNotLoopback
	}
	return c.UDPConn.WriteTo(p, addr)
}

// ReadFromAddrPort skips packets from other peers.
func (c Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	for {
		n, ap, err := c.UDPConn.ReadFromUDPAddrPort(p)
		if err != nil || ap.Addr().Unmap().IsLoopback() {
			return n, ap, err
		}
	}
}

// WriteToAddrPort refuses other peers.
func (c Conn) WriteToAddrPort(p []byte, ap netip.AddrPort) (int, error) {
	if !ap.Addr().Unmap().IsLoopback() {
		return 0, ErrNotLoopback
	}
	return c.UDPConn.WriteToUDPAddrPort(p, ap)
}

func isLoopback(addr net.Addr) bool {
	u, ok := addr.(*net.UDPAddr)
	return ok && u.IP.IsLoopback()
}

// Candidate says whether an ICE candidate's connection address (RFC 8839
// section 5.1: "candidate:<foundation> <component> <transport> <priority>
// <address> <port> typ ...") is a loopback IP. An mDNS name is not.
func Candidate(line string) bool {
	f := strings.Fields(line)
	if len(f) < 5 {
		return false
	}
	ip := net.ParseIP(f[4])
	return ip != nil && ip.IsLoopback()
}
