// Command videoroom serves the ianua VideoRoom demo: a page where everyone
// who joins a room publishes a camera, a microphone and a data channel
// through the sfu plugin (janus.plugin.videoroom) and sees and hears
// everyone else, with talking indicators, simulcast layers, screen sharing
// and a text chat.
//
//	go run ./examples/videoroom
//	open http://127.0.0.1:8080/ in two tabs
//
// The program is small on purpose, so that it can be copied: main.go reads
// the flags, server.go holds the router, the HTTP server and the WebSocket
// signaling (several handles per socket), and index.html + app.js are the
// browser side. See README.md.
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
	var nat1to1, stun string
	flag.StringVar(&opts.Addr, "addr", "127.0.0.1:8080", "HTTP address of the page and of the /ws signaling")
	flag.StringVar(&opts.ICEUDP, "ice-udp", "127.0.0.1:0", "address of the one UDP socket that carries all WebRTC media (ICE UDP mux); a loopback address offers loopback candidates only")
	flag.StringVar(&nat1to1, "nat1to1", "", "comma-separated public IPs to advertise in place of the local ones (server behind 1:1 NAT)")
	flag.StringVar(&stun, "stun", "", "comma-separated STUN URLs (stun:host:port) for server-reflexive candidates")
	flag.Parse()
	opts.NAT1To1 = splitList(nat1to1)
	opts.STUN = splitList(stun)

	// SIGINT/SIGTERM cancel ctx; run then shuts down gracefully: no new
	// connections, every WebSocket closed, every session destroyed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, opts, func(addr string) {
		opts.Logger.Info("videoroom: serving", "url", "http://"+addr+"/")
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "videoroom:", err)
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
