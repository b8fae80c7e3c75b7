// Command janus-server serves the Janus API over ianua, on Janus's default
// ports, with the EchoTest and VideoRoom plugins, and demo pages built on
// janus.js:
//
//	npm ci --prefix examples/janus-server/web   # janus.js, once
//	go run ./examples/janus-server
//	open http://127.0.0.1:8080/
//
// Existing janus.js applications point their server URL at
// ws://127.0.0.1:8188/ or http://127.0.0.1:8088/janus. main.go reads the
// flags and the config file, server.go runs the router and the servers,
// web.go serves the pages of web/. See README.md.
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
	// Flags fill f; after the config file (if any) is read into o, the
	// flags given on the command line are copied over it.
	o, f := defaultOptions(), defaultOptions()
	var configFile, nat1to1, stun, origins, mountpointPorts string
	flag.StringVar(&configFile, "config", "", "JSON config file with the same settings and the videoroom rooms (flags given on the command line win); see README.md")
	flag.StringVar(&f.HTTP, "http", f.HTTP, "address of the REST API (/janus); empty disables it")
	flag.StringVar(&f.WebSocket, "ws", f.WebSocket, "address of the WebSocket API (subprotocol janus-protocol); empty disables it")
	flag.StringVar(&f.Admin, "admin", f.Admin, "address of the Admin API (/admin); empty disables it")
	flag.StringVar(&f.Web, "web", f.Web, "address of the demo pages; empty disables them")
	flag.StringVar(&f.WebDir, "web-dir", "", "directory whose node_modules hold janus.js (default web/ or examples/janus-server/web/)")
	flag.StringVar(&f.SIP, "sip", f.SIP, "UDP address of the SIP user agents (janus.plugin.sip); empty leaves the plugin out")
	flag.BoolVar(&f.SIPTCP, "sip-tcp", false, "also SIP over TCP on the -sip address")
	flag.StringVar(&f.SIPTLSCert, "sip-tls-cert", "", "PEM certificate (with -sip-tls-key): also SIP over TLS")
	flag.StringVar(&f.SIPTLSKey, "sip-tls-key", "", "PEM private key of -sip-tls-cert")
	flag.StringVar(&f.SIPTLS, "sip-tls", "", "address of the SIP over TLS listener (default: the -sip host, port 5061)")
	flag.StringVar(&mountpointPorts, "mountpoint-ports", fmt.Sprintf("%d,%d", sampleAudioPort, sampleVideoPort),
		"UDP ports on 127.0.0.1 of Streaming mountpoint 1, audio (Opus) and video (VP8), for RTP from ffmpeg or GStreamer; empty: no mountpoint. Given, it replaces the config file's mountpoints")
	flag.StringVar(&f.ICEUDP, "ice-udp", f.ICEUDP, "address of the one UDP socket that carries all media; a loopback address offers loopback candidates only")
	flag.StringVar(&nat1to1, "nat1to1", "", "comma-separated public IPs to advertise in place of the local ones (server behind 1:1 NAT)")
	flag.StringVar(&stun, "stun", "", "comma-separated STUN URLs (stun:host:port) for server-reflexive candidates; the pages use them too")
	flag.StringVar(&f.APISecret, "apisecret", "", "API secret every request must carry (Janus api_secret)")
	flag.StringVar(&f.AdminSecret, "admin-secret", "", "secret every Admin API request must carry (admin_secret)")
	flag.StringVar(&origins, "allow-origin", "", "comma-separated web origins allowed to use the API (host:port patterns, or *); default: the demo pages' own")
	flag.StringVar(&f.EventBackend, "event-backend", "", "URL to POST Janus-format event handler events to (sample event handler's backend); empty: none")
	flag.Var(&f.SessionTimeout, "session-timeout", "destroy sessions idle for this long (default 60s)")
	flag.Var(&f.ReclaimTimeout, "reclaim-timeout", "keep the sessions of a closed WebSocket this long for a claim (default 0: destroy at once)")
	flag.Parse()

	if configFile != "" {
		if err := loadConfig(configFile, &o); err != nil {
			fmt.Fprintln(os.Stderr, "janus-server:", err)
			os.Exit(2)
		}
	}
	flag.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "http":
			o.HTTP = f.HTTP
		case "ws":
			o.WebSocket = f.WebSocket
		case "admin":
			o.Admin = f.Admin
		case "web":
			o.Web = f.Web
		case "web-dir":
			o.WebDir = f.WebDir
		case "sip":
			o.SIP = f.SIP
		case "sip-tcp":
			o.SIPTCP = f.SIPTCP
		case "sip-tls-cert":
			o.SIPTLSCert = f.SIPTLSCert
		case "sip-tls-key":
			o.SIPTLSKey = f.SIPTLSKey
		case "sip-tls":
			o.SIPTLS = f.SIPTLS
		case "ice-udp":
			o.ICEUDP = f.ICEUDP
		case "apisecret":
			o.APISecret = f.APISecret
		case "admin-secret":
			o.AdminSecret = f.AdminSecret
		case "event-backend":
			o.EventBackend = f.EventBackend
		case "session-timeout":
			o.SessionTimeout = f.SessionTimeout
		case "reclaim-timeout":
			o.ReclaimTimeout = f.ReclaimTimeout
		case "nat1to1":
			o.NAT1To1 = splitList(nat1to1)
		case "stun":
			o.STUN = splitList(stun)
		case "allow-origin":
			o.AllowedOrigins = splitList(origins)
		case "mountpoint-ports":
			mps, err := mountpointsFromPorts(mountpointPorts)
			if err != nil {
				fmt.Fprintln(os.Stderr, "janus-server: -mountpoint-ports:", err)
				os.Exit(2)
			}
			o.Streaming.Mountpoints = mps
		}
	})
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	// SIGINT/SIGTERM cancel ctx; run then shuts down gracefully: no new
	// connections, every WebSocket and long poll ended, every session
	// destroyed, the router closed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, o, func(at listening) {
		o.Logger.Info("janus-server: ready",
			"rest", url("http", at.HTTP, "/janus"), "websocket", url("ws", at.WebSocket, "/"),
			"admin", url("http", at.Admin, "/admin"), "demos", url("http", at.Web, "/"))
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "janus-server:", err)
		os.Exit(1)
	}
}

func url(scheme, addr, path string) string {
	if addr == "" {
		return "off"
	}
	return scheme + "://" + addr + path
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
