package ianua

import (
	"log/slog"
	"net"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// Config configures a MediaRouter. The zero value is usable: it listens for
// ICE on one shared UDP port on 127.0.0.1 and offers only loopback
// candidates, which is what tests and local demos want. A deployment sets
// ICE.UDPAddr (for example ":8189") and, behind NAT, ICE.NAT1To1IPs or STUN.
type Config struct {
	// Logger receives the router's logs. Default: slog.Default().
	Logger *slog.Logger

	// ICE holds the network settings of every PeerConnection.
	ICE ICEConfig

	// SessionTimeout destroys a session that saw no request and no
	// KeepAlive for that long (Janus "session_timeout"). Default 60 s;
	// negative disables it.
	SessionTimeout time.Duration

	// NoMediaTimeout is how long a remote stream may stay silent before a
	// "media receiving=false" event (Janus "no_media_timer"). Default 1 s.
	NoMediaTimeout time.Duration

	// SlowLinkThreshold is the number of packets per second asked for
	// retransmission (NACKed) on one stream (m-line), in one direction, at
	// or above which a slow-link event is raised for that stream, at most
	// once every 5 s (Janus "slowlink_threshold"). Default 4; negative
	// disables slow-link events.
	SlowLinkThreshold int

	// EventBuffer is the capacity of each session's event channel. Events
	// are dropped (and logged) when a host does not read them. Default 128.
	EventBuffer int

	// Observer, if set, sees every event of every session and handle, plus
	// lifecycle, JSEP and ICE/DTLS state events (the role of Janus's event
	// handlers). It is called synchronously and must not block.
	Observer Observer
}

// ICEConfig holds the ICE settings shared by every PeerConnection of a router.
type ICEConfig struct {
	// Servers are STUN and TURN servers handed to every PeerConnection.
	Servers []webrtc.ICEServer

	// UDPAddr is the address of the one UDP socket that all
	// PeerConnections share (ICE UDP mux). Default "127.0.0.1:0", an
	// ephemeral port on loopback. Ignored when NoUDPMux is set.
	UDPAddr string

	// NoUDPMux gives each PeerConnection its own UDP sockets, from
	// PortMin..PortMax when set, instead of the shared one.
	NoUDPMux bool
	// PortMin and PortMax bound the ports used when NoUDPMux is set.
	PortMin, PortMax uint16

	// TCPAddr, if set, enables ICE-TCP (RFC 6544, passive) on one shared
	// listener at this address, for clients whose UDP is blocked.
	TCPAddr string

	// NAT1To1IPs are public addresses advertised as host candidates in
	// place of the local ones (a server behind 1:1 NAT).
	NAT1To1IPs []string

	// Interfaces, if not empty, restricts candidate gathering to these
	// network interfaces. IPFilter, if set, keeps only the IPs it accepts.
	// When neither is set and UDPAddr is a loopback address (the default),
	// only loopback candidates are offered and accepted, and the shared
	// socket talks to loopback peers only (a browser's checks from its
	// LAN address are dropped), so media stays on loopback. With NoUDPMux
	// only the candidates are restricted.
	Interfaces []string
	IPFilter   func(net.IP) bool

	// DisconnectedTimeout, FailedTimeout and KeepAliveInterval tune ICE
	// consent freshness (RFC 7675). Zero keeps pion's defaults (5 s, 25 s,
	// 2 s). A PeerConnection whose ICE fails is hung up.
	DisconnectedTimeout time.Duration
	FailedTimeout       time.Duration
	KeepAliveInterval   time.Duration

	// Net replaces the operating system's network, for tests with pion's
	// virtual network (vnet). When set, UDPAddr must be an address on it.
	Net transport.Net
}

const (
	defaultUDPAddr           = "127.0.0.1:0"
	defaultSessionTimeout    = 60 * time.Second
	defaultNoMediaTimeout    = time.Second
	defaultSlowLinkThreshold = 4
	defaultEventBuffer       = 128
)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ICE.UDPAddr == "" {
		c.ICE.UDPAddr = defaultUDPAddr
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = defaultSessionTimeout
	}
	if c.NoMediaTimeout <= 0 {
		c.NoMediaTimeout = defaultNoMediaTimeout
	}
	if c.SlowLinkThreshold == 0 {
		c.SlowLinkThreshold = defaultSlowLinkThreshold
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = defaultEventBuffer
	}
	return c
}
