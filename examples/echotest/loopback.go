package main

import (
	"errors"
	"net"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// errNotLoopback refuses a send to a peer off this machine's loopback.
var errNotLoopback = errors.New("echotest: loopback-only media socket: peer is not on loopback")

// newLoopbackNet returns the operating system's network with its UDP
// sockets kept to loopback peers.
//
// Why: with -ice-udp on 127.0.0.1 the router offers only 127.0.0.1, but a
// browser sends its connectivity checks to it from every local address, and
// Linux delivers those from, say, 192.0.2.2 over lo. ICE would then answer
// that address (a peer-reflexive candidate, RFC 8445 section 7.3.1.3) and
// could pick it, so media would flow to the LAN address. Dropping what comes
// from, and refusing what goes to, non-loopback peers keeps the demo on
// loopback in practice, not only in the SDP.
func newLoopbackNet() (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return loopbackNet{n}, nil
}

type loopbackNet struct{ transport.Net }

// ListenUDP is the one call the router makes for its shared media socket.
func (n loopbackNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return loopbackConn{c}, nil
}

// loopbackConn filters the two calls the ICE UDP mux uses, ReadFrom and
// WriteTo. (It has no ReadFromAddrPort, so the mux cannot go around it.)
type loopbackConn struct{ transport.UDPConn }

func (c loopbackConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil || isLoopbackAddr(addr) {
			return n, addr, err
		}
	}
}

func (c loopbackConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !isLoopbackAddr(addr) {
		return 0, errNotLoopback
	}
	return c.UDPConn.WriteTo(p, addr)
}

func isLoopbackAddr(addr net.Addr) bool {
	u, ok := addr.(*net.UDPAddr)
	return ok && u.IP.IsLoopback()
}
