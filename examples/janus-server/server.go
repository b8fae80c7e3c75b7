package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/echotest"
	"github.com/ianua/ianua/janusapi"
	"github.com/ianua/ianua/sfu"
	"github.com/ianua/ianua/sipgw"
	"github.com/ianua/ianua/streaming"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

// listening is where each server listens, once it does (ports of ":0"
// resolved); empty for a disabled one.
type listening struct {
	HTTP, WebSocket, Admin, Web string
	// SIP and SIPTLS are the SIP plugin's sockets, if it runs: UDP (and
	// TCP with sip_tcp) on SIP, TLS on SIPTLS.
	SIP, SIPTLS string
}

// plugins returns the plugins the server offers, under their Janus names.
func plugins(o options) ([]ianua.Plugin, error) {
	rooms := o.VideoRoom.Rooms
	if rooms == nil {
		rooms = sfu.DefaultRooms()
	}
	videoroom, err := sfu.New(sfu.Params{Rooms: rooms, AdminKey: o.VideoRoom.AdminKey, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	mountpoints := o.Streaming.Mountpoints
	if mountpoints == nil {
		mountpoints = []streaming.MountpointParams{rtpMountpoint(sampleMountpoint, sampleDesc, sampleAudioPort, sampleVideoPort)}
	}
	out := []ianua.Plugin{
		echotest.New(), // janus.plugin.echotest
		videoroom,      // janus.plugin.videoroom
		// janus.plugin.streaming: the configured mountpoints (run opens
		// them), and more with the "create" request.
		streaming.New(streaming.Params{Mountpoints: mountpoints, AdminKey: o.Streaming.AdminKey, Logger: o.Logger}),
	}
	if o.SIP != "" {
		// janus.plugin.sip: one SIP user agent per handle; the router
		// closes it (ianua.Closer).
		sp := sipgw.Params{ListenAddr: o.SIP, TCP: o.SIPTCP, TLSListenAddr: o.SIPTLS, Logger: o.Logger}
		if o.SIPTLSCert != "" || o.SIPTLSKey != "" {
			cert, err := tls.LoadX509KeyPair(o.SIPTLSCert, o.SIPTLSKey)
			if err != nil {
				return nil, fmt.Errorf("sip_tls_cert, sip_tls_key: %w", err)
			}
			sp.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		sip, err := sipgw.New(sp)
		if err != nil {
			return nil, err
		}
		out = append(out, sip)
	}
	return out, nil
}

// run serves the Janus API and the demo pages until ctx is cancelled, then
// shuts down gracefully. ready, if not nil, is called once everything
// listens, which is how a test learns the ports of ":0" addresses.
func run(ctx context.Context, o options, ready func(listening)) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := o.check(); err != nil {
		return err
	}
	cfg := ianua.Config{
		Logger:         o.Logger,
		SessionTimeout: time.Duration(o.SessionTimeout),
		ICE:            ianua.ICEConfig{UDPAddr: o.ICEUDP, NAT1To1IPs: o.NAT1To1},
	}
	if len(o.STUN) > 0 {
		cfg.ICE.Servers = []webrtc.ICEServer{{URLs: o.STUN}}
	}
	// Monitoring: the router's observer POSTs every event to the backend
	// as Janus's sample event handler would. Closed after the router, so
	// that the last sessions' ends are sent too.
	var evh *janusapi.EventHandler
	if o.EventBackend != "" {
		var err error
		evh, err = janusapi.NewEventHandler(janusapi.EventHandlerParams{
			Backend: o.EventBackend, User: o.EventBackendUser, Password: o.EventBackendPassword,
			Emitter: "ianua-janus-server", Logger: o.Logger,
		})
		if err != nil {
			return err
		}
		cfg.Observer = evh
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
			defer cancel()
			if err := evh.Close(ctx); err != nil {
				o.Logger.Warn("janus-server: event handler", "err", err)
			}
		}()
	}
	ps, err := plugins(o)
	if err != nil {
		return err
	}
	// One router for the whole program: the shared ICE socket, the
	// plugins and every session.
	router, err := ianua.NewMediaRouter(cfg, ps...)
	if err != nil {
		return err
	}
	o.Logger.Info("janus-server: media", "ice-udp", router.UDPAddr())
	// Open the mountpoints now rather than at the first attach, so that a
	// taken port is reported at start and RTP is taken before anyone
	// watches.
	for _, p := range ps {
		if sp, ok := p.(*streaming.Plugin); ok {
			if err := sp.Start(router); err != nil {
				return errors.Join(fmt.Errorf("streaming: %w", err), router.Close(context.WithoutCancel(ctx)))
			}
			for _, mp := range sp.Mountpoints() {
				for _, m := range mp.Params().Media {
					o.Logger.Info("janus-server: mountpoint", "id", mp.ID(), "type", m.Type, "codec", cmp.Or(m.Codec, m.Rtpmap, m.DataType), "pt", m.PT,
						"rtp", net.JoinHostPort(mp.Params().LocalIP, strconv.Itoa(m.Port)))
				}
			}
		}
	}

	// Listen on everything first, so that a taken port is reported before
	// anything is served.
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	listen := func(addr string) (string, error) {
		if addr == "" {
			lns = append(lns, nil)
			return "", nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", err
		}
		lns = append(lns, ln)
		return ln.Addr().String(), nil
	}
	var at listening
	for _, p := range ps {
		if sp, ok := p.(*sipgw.Plugin); ok {
			at.SIP = sp.Addr().String()
			if a := sp.TLSAddr(); a != nil {
				at.SIPTLS = a.String()
			}
			o.Logger.Info("janus-server: SIP", "udp", at.SIP, "tcp", o.SIPTCP, "tls", at.SIPTLS)
		}
	}
	for _, l := range []struct {
		addr string
		dst  *string
	}{{o.HTTP, &at.HTTP}, {o.WebSocket, &at.WebSocket}, {o.Admin, &at.Admin}, {o.Web, &at.Web}} {
		if *l.dst, err = listen(l.addr); err != nil {
			closeAll()
			return errors.Join(err, router.Close(context.WithoutCancel(ctx)))
		}
	}
	lns = slicesCompact(lns)

	origins := o.AllowedOrigins
	if origins == nil && at.Web != "" {
		origins = webOrigins(at.Web)
	}
	api, err := janusapi.New(janusapi.Params{
		Router:         router,
		APISecret:      o.APISecret,
		AdminSecret:    o.AdminSecret,
		Tokens:         o.Tokens,
		Aliases:        o.Aliases,
		ReclaimTimeout: time.Duration(o.ReclaimTimeout),
		AllowedOrigins: origins,
		Logger:         o.Logger,
	})
	if err != nil {
		closeAll()
		return errors.Join(err, router.Close(context.WithoutCancel(ctx)))
	}

	// The REST API under /janus and the Admin API under /admin, as Janus
	// serves them; the WebSocket API on any path.
	rest := http.NewServeMux()
	rest.Handle("/janus", api.HTTP())
	rest.Handle("/janus/", api.HTTP())
	admin := http.NewServeMux()
	admin.Handle("/admin", api.Admin())
	admin.Handle("/admin/", api.Admin())
	handlers := map[string]http.Handler{at.HTTP: rest, at.WebSocket: api.WebSocket(), at.Admin: admin}
	if at.Web != "" {
		web, err := newWeb(o, at)
		if err != nil {
			closeAll()
			return errors.Join(err, router.Close(context.WithoutCancel(ctx)))
		}
		handlers[at.Web] = web
	}

	served := make(chan error, len(lns))
	var servers []*http.Server
	for _, ln := range lns {
		hs := &http.Server{
			Handler:           handlers[ln.Addr().String()],
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		}
		servers = append(servers, hs)
		go func() { served <- hs.Serve(ln) }()
	}
	if ready != nil {
		ready(at)
	}

	var serveErr error
	pending := len(servers)
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		pending--
	}

	// Graceful shutdown, outermost first: stop taking connections; end the
	// WebSockets and long polls and destroy every session (api.Close);
	// then close the router and its socket.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	shut := make(chan error, len(servers))
	for _, hs := range servers {
		go func() { shut <- hs.Shutdown(sctx) }()
	}
	errs := []error{serveErr, api.Close(sctx)}
	for range servers {
		errs = append(errs, <-shut)
	}
	errs = append(errs, router.Close(sctx))
	for ; pending > 0; pending-- {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// slicesCompact drops the nil listeners of disabled servers.
func slicesCompact(lns []net.Listener) []net.Listener {
	out := lns[:0]
	for _, ln := range lns {
		if ln != nil {
			out = append(out, ln)
		}
	}
	return out
}

// webOrigins are the origins of the demo pages, which call the API from
// another port: host:port as listened on, and localhost:port for a
// loopback listener.
func webOrigins(web string) []string {
	host, port, err := net.SplitHostPort(web)
	if err != nil {
		return []string{web}
	}
	out := []string{web}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		out = append(out, net.JoinHostPort("localhost", port))
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		// Served on every address: allow any host on the page's port.
		out = append(out, "*:"+port)
	}
	return out
}
