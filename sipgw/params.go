package sipgw

import (
	"crypto/tls"
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
	// agent sends and receives SIP on, and of the TCP listener with TCP.
	// Default "127.0.0.1:5060"; use "127.0.0.1:0" for an ephemeral port
	// (tests), read back with Plugin.Addr.
	ListenAddr string

	// TCP also takes SIP over TCP (RFC 3261 section 18) on ListenAddr's
	// address and port, and lets requests go out over TCP: to URIs with
	// ";transport=tcp" and for accounts registered with force_tcp.
	// Default false: UDP only.
	TCP bool

	// TLSConfig, when set, takes SIP over TLS on TLSListenAddr with its
	// certificates (it needs at least one, or GetCertificate), and lets
	// requests go out over TLS: to sips: URIs and URIs with
	// ";transport=tls". Outgoing connections verify the peer with the
	// same configuration (RootCAs, or the system's roots when nil; the
	// server name is the URI's host unless ServerName is set). Default
	// nil: no TLS.
	TLSConfig *tls.Config

	// TLSListenAddr is the address of the TLS listener. Default: the
	// host of ListenAddr and port 5061 (RFC 3261 section 19.1.2), or an
	// ephemeral port when ListenAddr's is 0. Read back with
	// Plugin.TLSAddr.
	TLSListenAddr string

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
	host, port, err := net.SplitHostPort(p.ListenAddr)
	if err != nil {
		return p, fmt.Errorf("%w: listen address %q: %v", ErrBadParams, p.ListenAddr, err)
	}
	if p.TLSConfig != nil {
		if len(p.TLSConfig.Certificates) == 0 && p.TLSConfig.GetCertificate == nil && p.TLSConfig.GetConfigForClient == nil {
			return p, fmt.Errorf("%w: TLS configuration without a certificate", ErrBadParams)
		}
		if p.TLSListenAddr == "" {
			tport := "5061"
			if port == "0" {
				tport = "0"
			}
			p.TLSListenAddr = net.JoinHostPort(host, tport)
		}
		if _, _, err := net.SplitHostPort(p.TLSListenAddr); err != nil {
			return p, fmt.Errorf("%w: TLS listen address %q: %v", ErrBadParams, p.TLSListenAddr, err)
		}
	} else if p.TLSListenAddr != "" {
		return p, fmt.Errorf("%w: TLS listen address without a TLS configuration", ErrBadParams)
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
