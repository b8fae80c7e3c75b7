// Command sipphone serves a browser softphone on the ianua SIP gateway
// plugin (package sipgw, janus.plugin.sip): a page that registers with a
// SIP server (or calls as a guest), dials, answers or declines incoming
// calls, holds, sends DTMF and hangs up, with the call's audio in the
// browser.
//
//	go run ./examples/sipphone
//	open http://127.0.0.1:8090/
//
// The program is small on purpose, so that it can be copied: main.go reads
// the flags, server.go holds the router, the SIP gateway, the HTTP server
// and the WebSocket signaling (one SIP user agent per socket), and
// index.html + app.js + style.css are the browser side. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	opts := options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	var nat1to1, stun, rtpPorts string
	// 8090 and 5070 leave the other examples' defaults (8080, 5060) free,
	// so that this one runs beside them.
	flag.StringVar(&opts.Addr, "addr", "127.0.0.1:8090", "HTTP address of the page and of the /ws signaling")
	flag.StringVar(&opts.SIP, "sip", "127.0.0.1:5070", "UDP address of the SIP user agents (every phone page shares this socket); your SIP server or softphone must reach it")
	flag.BoolVar(&opts.SIPTCP, "sip-tcp", false, "also SIP over TCP on the -sip address (for servers that want it: a proxy with ;transport=tcp)")
	flag.StringVar(&opts.SIPTLSCert, "sip-tls-cert", "", "PEM certificate (with -sip-tls-key): also SIP over TLS (sips: URIs, ;transport=tls)")
	flag.StringVar(&opts.SIPTLSKey, "sip-tls-key", "", "PEM private key of -sip-tls-cert")
	flag.StringVar(&opts.SIPTLS, "sip-tls", "", "address of the SIP over TLS listener (default: the -sip host, port 5061)")
	flag.StringVar(&opts.SIPIP, "sip-ip", "", "IPv4 address advertised in Contact headers and SDP, where RTP arrives (default: the host of -sip, or 127.0.0.1 when that is 0.0.0.0)")
	flag.StringVar(&rtpPorts, "rtp-ports", "", "range of the calls' RTP and RTCP ports on the SIP side, min-max (default: ephemeral ports)")
	flag.StringVar(&opts.ICEUDP, "ice-udp", "127.0.0.1:0", "address of the one UDP socket that carries all WebRTC media (ICE UDP mux); a loopback address offers loopback candidates only")
	flag.StringVar(&nat1to1, "nat1to1", "", "comma-separated public IPs to advertise in place of the local ones (server behind 1:1 NAT)")
	flag.StringVar(&stun, "stun", "", "comma-separated STUN URLs (stun:host:port) for server-reflexive candidates")
	flag.Parse()
	opts.NAT1To1 = splitList(nat1to1)
	opts.STUN = splitList(stun)
	var err error
	if opts.RTPPortMin, opts.RTPPortMax, err = parsePortRange(rtpPorts); err != nil {
		fmt.Fprintln(os.Stderr, "sipphone: -rtp-ports:", err)
		os.Exit(2)
	}

	// SIGINT/SIGTERM cancel ctx; run then shuts down gracefully: no new
	// connections, every WebSocket closed, every session destroyed (which
	// hangs up the calls and withdraws the registrations), the router and
	// the SIP socket closed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err = run(ctx, opts, func(at listening) {
		opts.Logger.Info("sipphone: serving", "url", "http://"+at.HTTP+"/", "sip", at.SIP)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipphone:", err)
		os.Exit(1)
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
