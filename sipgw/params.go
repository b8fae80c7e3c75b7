package sipgw

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Params configures the plugin. The zero value is usable: SIP over UDP on
// 127.0.0.1:5060 and RTP on ephemeral loopback ports, which is what local
// demos want. A deployment sets ListenAddr, LocalIP and an RTP port range.
type Params struct {
	// Logger receives the plugin's logs and sipgo's. Default: slog.Default().
	Logger *slog.Logger

	// ListenAddr is the address of the one UDP socket every handle's user
	// agent sends and receives SIP on. Default "127.0.0.1:5060"; use
	// "127.0.0.1:0" for an ephemeral port (tests), read back with
	// Plugin.Addr.
	ListenAddr string

	// Transport is the SIP transport. Only "udp" (the default) for now.
	Transport string

	// LocalIP is the address RTP sockets bind to and that Contact headers
	// and SDP c= lines advertise. Default: the host of ListenAddr, or
	// 127.0.0.1 when that is unspecified.
	LocalIP string

	// RTPPortMin and RTPPortMax bound the local RTP ports (each call takes
	// an even port for RTP and the next one for RTCP, RFC 3550 section
	// 11). Zero for both: ephemeral ports.
	RTPPortMin, RTPPortMax uint16

	// RegisterTTL is the registration lifetime asked for when a register
	// request has no register_ttl (Janus "register_ttl"). Default 3600 s.
	RegisterTTL time.Duration

	// UserAgent is the User-Agent header of our requests. Default "ianua".
	UserAgent string
}

const (
	defaultListenAddr  = "127.0.0.1:5060"
	defaultRegisterTTL = 3600 * time.Second
	defaultUserAgent   = "ianua"
)

func (p Params) withDefaults() (Params, error) {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.ListenAddr == "" {
		p.ListenAddr = defaultListenAddr
	}
	if p.Transport == "" {
		p.Transport = "udp"
	}
	if p.Transport != "udp" {
		return p, fmt.Errorf("%w: transport %q (only udp for now)", ErrBadParams, p.Transport)
	}
	host, _, err := net.SplitHostPort(p.ListenAddr)
	if err != nil {
		return p, fmt.Errorf("%w: listen address %q: %v", ErrBadParams, p.ListenAddr, err)
	}
	if p.LocalIP == "" {
		p.LocalIP = "127.0.0.1"
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
			p.LocalIP = ip.String()
		}
	}
	if ip, err := netip.ParseAddr(p.LocalIP); err != nil || !ip.Is4() {
		// SDP c= lines here are IN IP4; IPv6 media would need IN IP6.
		return p, fmt.Errorf("%w: local IP %q must be an IPv4 address", ErrBadParams, p.LocalIP)
	}
	if p.RTPPortMin > p.RTPPortMax || (p.RTPPortMax != 0 && (p.RTPPortMin == 0 || p.RTPPortMax-p.RTPPortMin < 1)) {
		return p, fmt.Errorf("%w: RTP port range %d-%d", ErrBadParams, p.RTPPortMin, p.RTPPortMax)
	}
	if p.RegisterTTL <= 0 {
		p.RegisterTTL = defaultRegisterTTL
	}
	if p.UserAgent == "" {
		p.UserAgent = defaultUserAgent
	}
	return p, nil
}
