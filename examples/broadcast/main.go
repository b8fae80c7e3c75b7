// Command broadcast serves the ianua broadcast demo: one publisher sends a
// camera and a microphone over WHIP (RFC 9725) into an sfu room, and any
// number of viewers play it over WHEP, from the pages served here or from
// any WHIP encoder (OBS, ffmpeg) and any WHEP player. An RTP mountpoint of
// the streaming plugin takes plain RTP from ffmpeg or GStreamer (VP8 or
// H.264 on 127.0.0.1:5004, Opus on 127.0.0.1:5006 by default), and WHEP
// plays it too.
//
//	go run ./examples/broadcast
//	open http://127.0.0.1:8080/publish.html and http://127.0.0.1:8080/watch.html
//
// The program is small on purpose, so that it can be copied: main.go reads
// the flags, server.go holds the router, the sfu, streaming and WHEP
// plugins, the WHIP/WHEP handler and the feed list, mountpoint.go the
// mountpoint's settings and list, and publish.* / watch.* are the browser
// side. See README.md.
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
	flag.StringVar(&opts.Addr, "addr", "127.0.0.1:8080", "HTTP address of the pages, of WHIP/WHEP and of /feeds")
	flag.StringVar(&opts.ICEUDP, "ice-udp", "127.0.0.1:0", "address of the one UDP socket that carries all WebRTC media (ICE UDP mux); a loopback address offers loopback candidates only")
	flag.StringVar(&nat1to1, "nat1to1", "", "comma-separated public IPs to advertise in place of the local ones (server behind 1:1 NAT)")
	flag.StringVar(&stun, "stun", "", "comma-separated STUN URLs (stun:host:port) for server-reflexive candidates")
	flag.StringVar(&opts.Token, "token", "", "bearer token that WHIP, WHEP and /feeds requests must carry (default: none, anyone may publish)")
	flag.Uint64Var(&opts.Room, "room", 1234, "id of the sfu room that WHIP publishes into (0 picks one)")
	flag.Uint64Var(&opts.Mountpoint.ID, "mountpoint", 1, "id of the RTP mountpoint that WHEP plays at /whep/mountpoint/ID (0: no mountpoint)")
	flag.StringVar(&opts.Mountpoint.Video, "mountpoint-video", "127.0.0.1:5004", `UDP address the mountpoint's video RTP arrives on ("": no video; port 0 picks one)`)
	flag.StringVar(&opts.Mountpoint.Audio, "mountpoint-audio", "127.0.0.1:5006", `UDP address the mountpoint's Opus RTP arrives on ("": no audio; same host as the video)`)
	flag.StringVar(&opts.Mountpoint.VideoCodec, "mountpoint-video-codec", "vp8", "codec of the mountpoint's video: vp8 or h264")
	flag.Parse()
	opts.NAT1To1 = splitList(nat1to1)
	opts.STUN = splitList(stun)

	// SIGINT/SIGTERM cancel ctx; run then shuts down gracefully: no new
	// requests, every WHIP and WHEP session destroyed, the router closed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := run(ctx, opts, func(a *app) {
		opts.Logger.Info("broadcast: serving",
			"publish", "http://"+a.addr+"/publish.html",
			"watch", "http://"+a.addr+"/watch.html",
			"whip", fmt.Sprintf("http://%s/whip/%d", a.addr, a.room.ID()))
		if a.mountpoint != nil {
			opts.Logger.Info("broadcast: mountpoint",
				"watch", fmt.Sprintf("http://%s/watch.html?mountpoint=%d", a.addr, a.mountpoint.ID()),
				"whep", fmt.Sprintf("http://%s/whep/mountpoint/%d", a.addr, a.mountpoint.ID()))
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "broadcast:", err)
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
