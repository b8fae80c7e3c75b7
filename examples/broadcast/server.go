package main

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/sfu"
	"github.com/ianua/ianua/streaming"
	"github.com/ianua/ianua/whip"
)

// static is the browser side, built into the binary so that the program is
// one file to copy and run.
//
//go:embed index.html publish.html publish.js watch.html watch.js style.css
var static embed.FS

// pages are the files of static, served at /<name>.
var pages = []string{"publish.html", "publish.js", "watch.html", "watch.js", "style.css"}

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

// options are the settings of one run, from the flags or from a test.
type options struct {
	// Addr is the HTTP address; ":0" ports are fine (see run's ready).
	Addr string
	// ICEUDP is ianua.ICEConfig.UDPAddr, the shared media socket.
	ICEUDP string
	// NAT1To1 is ianua.ICEConfig.NAT1To1IPs.
	NAT1To1 []string
	// STUN are stun: URLs the router uses to learn its public address.
	STUN []string
	// Token, if set, is the bearer token of every WHIP, WHEP and /feeds
	// request (whip.Params.Token). The pages themselves are public.
	Token string
	// Room is the sfu room WHIP publishes into; 0 picks an id.
	Room uint64
	// Mountpoint is the RTP mountpoint to create, if its ID is not 0.
	Mountpoint mountpointOptions
	// Logger receives the router's, the plugins' and the server's logs.
	Logger *slog.Logger
}

// routerConfig turns the options into the router's configuration.
func (o options) routerConfig() (ianua.Config, error) {
	cfg := ianua.Config{
		Logger: o.Logger,
		ICE: ianua.ICEConfig{
			UDPAddr:    o.ICEUDP,
			NAT1To1IPs: o.NAT1To1,
		},
	}
	for _, ip := range o.NAT1To1 {
		if net.ParseIP(ip) == nil {
			return cfg, fmt.Errorf("-nat1to1: %q is not an IP address", ip)
		}
	}
	if len(o.STUN) > 0 {
		for _, u := range o.STUN {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") {
				return cfg, fmt.Errorf("-stun: %q is not a stun: URL", u)
			}
		}
		cfg.ICE.Servers = []webrtc.ICEServer{{URLs: o.STUN}}
	}
	return cfg, nil
}

// app is one running server, as run hands it to ready.
type app struct {
	// addr is the HTTP address it listens on.
	addr   string
	router *ianua.MediaRouter
	// room is the room WHIP publishes into.
	room *sfu.Room
	// mountpoint is the RTP mountpoint, or nil; its Params have the
	// ports bound.
	mountpoint *streaming.Mountpoint
	// streaming is the plugin that holds it.
	streaming *streaming.Plugin
}

// liveSessions is the number of router sessions alive: one per WHIP
// publisher and one per WHEP viewer (of a feed or of the mountpoint).
// Tests use it to see that a DELETE, or a publisher leaving, freed
// everything.
func (a *app) liveSessions() int { return len(a.router.Sessions()) }

// run serves the demo until ctx is cancelled, then shuts down gracefully.
// ready, if not nil, is called once the server listens, which is how a test
// learns the port of "127.0.0.1:0".
func run(ctx context.Context, opts options, ready func(*app)) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := opts.routerConfig()
	if err != nil {
		return err
	}
	var mpParams streaming.MountpointParams
	if opts.Mountpoint.ID != 0 {
		if mpParams, err = opts.Mountpoint.params(); err != nil {
			return err
		}
	}
	// The sfu plugin holds the room: a WHIP publisher joins it as an
	// ordinary participant, so Janus videoroom clients see it too.
	plugin, err := sfu.New(sfu.Params{Logger: opts.Logger})
	if err != nil {
		return err
	}
	// Browsers publish VP8 first; OBS and ffmpeg's WHIP muxer send H.264.
	room, err := plugin.CreateRoom(sfu.RoomParams{
		ID:          opts.Room,
		Description: "Broadcast",
		Publishers:  6,
		AudioCodec:  "opus",
		VideoCodec:  "vp8,h264",
	})
	if err != nil {
		return err
	}
	// The streaming plugin holds the mountpoint: plain RTP in on UDP
	// ports, from ffmpeg or GStreamer.
	stream := streaming.New(streaming.Params{Logger: opts.Logger})
	// The viewer plugin answers WHEP's recvonly offers with a publisher's
	// or the mountpoint's streams. The three plugins live on one router:
	// the viewer subscribes to sources the sfu and the streaming plugin
	// own.
	viewer := whip.NewViewer(whip.ViewerParams{SFU: plugin, Streaming: stream})
	router, err := ianua.NewMediaRouter(cfg, plugin, stream, viewer)
	if err != nil {
		return err
	}
	// Closing the router closes the plugins, and so the mountpoint.
	var mp *streaming.Mountpoint
	err = stream.Start(router)
	if err == nil && opts.Mountpoint.ID != 0 {
		mp, err = stream.CreateMountpoint(mpParams)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("mountpoint: %w", err), router.Close(context.WithoutCancel(ctx)))
	}
	opts.Logger.Info("broadcast: media", "ice-udp", router.UDPAddr(), "room", room.ID())
	if mp != nil {
		for _, m := range mp.Params().Media {
			opts.Logger.Info("broadcast: mountpoint", "id", mp.ID(), "stream", m.Type, "codec", m.Codec,
				"rtp", net.JoinHostPort(mp.Params().LocalIP, strconv.Itoa(m.Port)), "payload_type", m.PT)
		}
	}

	wsrv, err := whip.New(whip.Params{Router: router, SFU: plugin, Streaming: stream, Viewer: viewer, Token: opts.Token, Logger: opts.Logger})
	if err != nil {
		return errors.Join(err, router.Close(context.WithoutCancel(ctx)))
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		// No session exists yet, so both close at once.
		wsrv.Close()
		return errors.Join(err, router.Close(context.WithoutCancel(ctx)))
	}

	hs := &http.Server{
		Handler:           newHandler(plugin, stream, room.ID(), opts.Token, wsrv.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	if ready != nil {
		ready(&app{addr: ln.Addr().String(), router: router, room: room, mountpoint: mp, streaming: stream})
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		served = nil // Serve failed on its own; nothing more will come
	}

	// Graceful shutdown, outermost first: stop taking requests (a WHIP
	// POST in flight gets its answer), end every WHIP and WHEP session,
	// then close the router and its socket.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	errs := []error{serveErr}
	errs = append(errs, hs.Shutdown(sctx))
	wsrv.Close()
	errs = append(errs, router.Close(sctx))
	if served != nil {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newHandler routes the pages, /feeds, /mountpoints, and everything else to
// the WHIP/WHEP handler, which is mounted at the root: POST /whip/{room},
// POST /whep/{room}/{feed}, POST /whep/mountpoint/{id}, PATCH and DELETE on
// the Locations it returns.
func newHandler(plugin *sfu.Plugin, stream *streaming.Plugin, defaultRoom uint64, token string, whipHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	files := http.FileServerFS(static)
	mux.Handle("GET /{$}", files) // index.html
	for _, name := range pages {
		mux.Handle("GET /"+name, files)
	}
	mux.Handle("GET /feeds", &feedList{plugin: plugin, defaultRoom: defaultRoom, token: token})
	mux.Handle("GET /mountpoints", &mountpointList{plugin: stream, token: token})
	mux.Handle("/", whipHandler)
	return mux
}

// feed is one publisher of the room, as /feeds lists it.
type feed struct {
	ID         uint64 `json:"id"`
	Display    string `json:"display"`
	Publishing bool   `json:"publishing"`
}

// feedsReply is the body of GET /feeds.
type feedsReply struct {
	Room  uint64 `json:"room"`
	Feeds []feed `json:"feeds"`
}

// feedList serves GET /feeds?room=R: the room's publishers, for the player
// page to pick one. Without ?room it lists the default room, which is how
// the pages learn its id. It asks for the same token as WHIP and WHEP.
type feedList struct {
	plugin      *sfu.Plugin
	defaultRoom uint64
	token       string
}

func (f *feedList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.token != "" && !bearerIs(r, f.token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ianua"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	id := f.defaultRoom
	if s := r.URL.Query().Get("room"); s != "" {
		var err error
		if id, err = strconv.ParseUint(s, 10, 64); err != nil {
			http.Error(w, "room must be a number", http.StatusBadRequest)
			return
		}
	}
	room, err := f.plugin.Room(id)
	if err != nil {
		http.Error(w, "no such room", http.StatusNotFound)
		return
	}
	reply := feedsReply{Room: id, Feeds: []feed{}}
	for _, p := range room.Participants() {
		reply.Feeds = append(reply.Feeds, feed{ID: p.ID(), Display: p.Display(), Publishing: p.Publishing()})
	}
	writeJSON(w, reply)
}

// writeJSON answers v as JSON, never cached: the lists change as
// publishers come and go.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// bearerIs reports whether the request carries "Authorization: Bearer
// token", compared in constant time.
func bearerIs(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}
