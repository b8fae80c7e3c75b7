package main

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/sipgw"
)

// static is the browser side, built into the binary so that the program is
// one file to copy and run.
//
//go:embed index.html app.js style.css
var static embed.FS

const (
	// messageTimeout bounds one plugin message. The SIP plugin answers
	// every request at once and reports the outcome as events, so a
	// message still running after it is stuck.
	messageTimeout = 10 * time.Second
	// writeTimeout bounds one WebSocket write, so that a browser that
	// stopped reading cannot hold its session's relay forever.
	writeTimeout = 10 * time.Second
	// shutdownTimeout bounds the graceful shutdown after a signal: the
	// calls' BYEs and the un-REGISTERs go out in it.
	shutdownTimeout = 10 * time.Second
	// maxClientMessage is far above the largest SDP offer a browser makes.
	maxClientMessage = 1 << 20
)

// options are the settings of one run, from the flags or from a test.
type options struct {
	// Addr is the HTTP address; ":0" ports are fine (see run's ready).
	Addr string
	// SIP is sipgw.Params.ListenAddr, the SIP socket of every phone.
	SIP string
	// SIPIP is sipgw.Params.LocalIP, the address in Contact and SDP.
	SIPIP string
	// SIPTCP also takes and sends SIP over TCP on the SIP address
	// (sipgw.Params.TCP).
	SIPTCP bool
	// SIPTLSCert and SIPTLSKey, PEM files, take and send SIP over TLS on
	// SIPTLS (default: the SIP host, port 5061).
	SIPTLSCert, SIPTLSKey, SIPTLS string
	// RTPPortMin and RTPPortMax are sipgw.Params' RTP port range; zero
	// for ephemeral ports.
	RTPPortMin, RTPPortMax uint16
	// ICEUDP is ianua.ICEConfig.UDPAddr, the shared WebRTC media socket.
	ICEUDP string
	// NAT1To1 is ianua.ICEConfig.NAT1To1IPs.
	NAT1To1 []string
	// STUN are stun: URLs the router uses to learn its public address.
	STUN []string
	// Logger receives the router's, the gateway's and the server's logs.
	Logger *slog.Logger
}

// listening is where the program listens, once it does (":0" ports
// resolved).
type listening struct {
	HTTP string // the page and /ws
	SIP  string // the gateway's SIP socket, as peers reach it
	// SIPTLS is the gateway's TLS listener, if it has one.
	SIPTLS string
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

// parsePortRange reads "min-max" ("" is no range: ephemeral ports).
func parsePortRange(s string) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not min-max", s)
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h <= l {
		return 0, 0, fmt.Errorf("%q is not a port range min-max with 0 < min < max", s)
	}
	return uint16(l), uint16(h), nil
}

// run serves the phone until ctx is cancelled, then shuts down gracefully.
// ready, if not nil, is called once the HTTP and SIP sockets listen, which
// is how a test learns the ports of ":0" addresses.
func run(ctx context.Context, opts options, ready func(listening)) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := opts.routerConfig()
	if err != nil {
		return err
	}
	// The SIP gateway: one UDP socket for SIP that every phone (handle)
	// shares, each with a user agent of its own, and RTP ports per call.
	// With -sip-tcp and -sip-tls-cert the phones also reach SIP servers
	// over TCP and TLS: a proxy with ";transport=tcp" or a sips: URI.
	gp := sipgw.Params{
		ListenAddr:    opts.SIP,
		LocalIP:       opts.SIPIP,
		TCP:           opts.SIPTCP,
		TLSListenAddr: opts.SIPTLS,
		RTPPortMin:    opts.RTPPortMin,
		RTPPortMax:    opts.RTPPortMax,
		UserAgent:     "ianua-sipphone",
		Logger:        opts.Logger,
	}
	if opts.SIPTLSCert != "" || opts.SIPTLSKey != "" {
		cert, err := tls.LoadX509KeyPair(opts.SIPTLSCert, opts.SIPTLSKey)
		if err != nil {
			return fmt.Errorf("-sip-tls-cert, -sip-tls-key: %w", err)
		}
		gp.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	gw, err := sipgw.New(gp)
	if err != nil {
		return err
	}
	// One router for the whole program: it owns the shared ICE socket and
	// every session. Each WebSocket gets a session with one SIP handle.
	// The router closes the gateway when it closes (ianua.Closer).
	router, err := ianua.NewMediaRouter(cfg, gw)
	if err != nil {
		return errors.Join(err, gw.Close(context.WithoutCancel(ctx)))
	}
	at := listening{SIP: sipAddr(gw.Addr(), opts.SIPIP)}
	if a := gw.TLSAddr(); a != nil {
		at.SIPTLS = sipAddr(a, opts.SIPIP)
	}
	opts.Logger.Info("sipphone: media", "ice-udp", router.UDPAddr(), "sip", at.SIP, "sip-tcp", opts.SIPTCP, "sip-tls", at.SIPTLS)

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		// No session exists yet, so Close returns at once.
		return errors.Join(err, router.Close(context.WithoutCancel(ctx)))
	}
	at.HTTP = ln.Addr().String()

	srv := newServer(router, at.SIP, opts.Logger)
	// Every request's context derives from connCtx. http.Server.Shutdown
	// forgets a connection once the WebSocket hijacks it, so cancelling
	// connCtx is how shutdown reaches the WebSockets.
	connCtx, cancelConns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelConns()
	hs := &http.Server{
		Handler:           srv,
		BaseContext:       func(net.Listener) context.Context { return connCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	if ready != nil {
		ready(at)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		served = nil // Serve failed on its own; nothing more will come
	}

	// Graceful shutdown, outermost first: stop taking connections, end
	// the WebSockets (each destroys its session, whose handle hangs up
	// its call and withdraws its registration), then close the router,
	// which closes the gateway once those BYEs and un-REGISTERs are done.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	errs := []error{serveErr}
	errs = append(errs, hs.Shutdown(sctx))
	cancelConns()
	srv.shutdown()
	errs = append(errs, router.Close(sctx))
	if served != nil {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sipAddr is the gateway's SIP address as peers reach it: the advertised
// IP (sipgw.Params.LocalIP) with the socket's port.
func sipAddr(sock net.Addr, localIP string) string {
	host, port, err := net.SplitHostPort(sock.String())
	if err != nil {
		return sock.String()
	}
	if localIP != "" {
		host = localIP
	} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// server is the HTTP side: the static page and the /ws signaling.
type server struct {
	router *ianua.MediaRouter
	sip    string // the gateway's SIP address, told to each page
	log    *slog.Logger
	mux    *http.ServeMux

	mu      sync.Mutex
	closing bool
	conns   sync.WaitGroup // one per WebSocket handler
}

func newServer(router *ianua.MediaRouter, sip string, log *slog.Logger) *server {
	s := &server{router: router, sip: sip, log: log, mux: http.NewServeMux()}
	s.mux.Handle("GET /", http.FileServerFS(static))
	s.mux.HandleFunc("GET /ws", s.serveWS)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// track counts one more WebSocket handler, unless shutdown has begun.
func (s *server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns.Add(1)
	return true
}

// shutdown refuses new WebSockets and waits for the running ones, which
// end once their request context is cancelled.
func (s *server) shutdown() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.conns.Wait()
}

// clientMsg is what the browser sends (see README.md, "Signaling").
type clientMsg struct {
	Type string `json:"type"` // message, trickle, keepalive
	Tx   string `json:"tx,omitempty"`
	// message: a request of the SIP plugin, with the browser's JSEP
	Body json.RawMessage `json:"body,omitempty"`
	JSEP *ianua.JSEP     `json:"jsep,omitempty"`
	// trickle
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Completed bool                     `json:"completed,omitempty"`
}

// serverMsg is what the server sends. Only the fields of its Type are set.
type serverMsg struct {
	Type      string                   `json:"type"`
	Tx        string                   `json:"tx,omitempty"`
	SessionID uint64                   `json:"session_id,omitempty"`
	HandleID  uint64                   `json:"handle_id,omitempty"`
	SIP       string                   `json:"sip,omitempty"`
	Data      json.RawMessage          `json:"data,omitempty"`
	JSEP      *ianua.JSEP              `json:"jsep,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Completed bool                     `json:"completed,omitempty"`
	Media     *ianua.MediaState        `json:"media,omitempty"`
	SlowLink  *ianua.SlowLink          `json:"slowlink,omitempty"`
	Reason    string                   `json:"reason,omitempty"`
	Error     string                   `json:"error,omitempty"`
	Code      int                      `json:"code,omitempty"`
}

// serveWS runs one phone: one session with one SIP handle (a SIP user
// agent), for as long as the WebSocket lives.
func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.track() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.conns.Done()

	// Accept checks that the page's Origin is this host, so that another
	// site cannot make calls from a visitor's browser.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the HTTP request
	}
	defer c.CloseNow()
	c.SetReadLimit(maxClientMessage)
	log := s.log.With("remote", r.RemoteAddr)

	sess, err := s.router.NewSession()
	if err != nil {
		c.Close(websocket.StatusTryAgainLater, err.Error())
		return
	}
	h, err := sess.Attach(sipgw.Name)
	if err != nil {
		_ = sess.Destroy()
		c.Close(websocket.StatusInternalError, err.Error())
		return
	}
	log = log.With("session", sess.ID(), "handle", h.ID())
	log.Info("sipphone: phone connected")

	// ctx ends with the socket (read or write error), the session (timeout)
	// or the server (shutdown); each of these cancels it.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	conn := &wsConn{c: c, cancel: cancel}

	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		conn.relay(ctx, sess.Events())
	}()

	conn.send(ctx, serverMsg{Type: "attached", SessionID: sess.ID(), HandleID: h.ID(), SIP: s.sip})
	s.readLoop(ctx, conn, sess, h)

	cancel()
	// Destroy detaches the handle: the plugin hangs up its call (BYE, or
	// CANCEL while calling) and withdraws its registration, both in the
	// background, and closes the PeerConnection and then Events, which
	// ends the relay. An error only says the session was gone already
	// (timeout).
	_ = sess.Destroy()
	<-relayed
	log.Info("sipphone: phone gone")
}

// readLoop handles the client's messages, in order, until the socket or ctx
// ends. Handling them on this goroutine keeps a trickle behind the offer or
// answer it belongs to.
func (s *server) readLoop(ctx context.Context, conn *wsConn, sess *ianua.Session, h *ianua.Handle) {
	for {
		typ, data, err := conn.c.Read(ctx)
		if err != nil {
			return
		}
		// Any message proves the client alive, as Janus's keepalive does.
		if err := sess.KeepAlive(); err != nil {
			return
		}
		if typ != websocket.MessageText {
			conn.send(ctx, serverMsg{Type: "error", Error: "binary messages are not supported", Code: codeInvalidJSON})
			continue
		}
		var m clientMsg
		if err := json.Unmarshal(data, &m); err != nil {
			conn.send(ctx, serverMsg{Type: "error", Error: "invalid JSON: " + err.Error(), Code: codeInvalidJSON})
			continue
		}
		switch m.Type {
		case "message":
			s.handleMessage(ctx, conn, h, m)
		case "trickle":
			s.handleTrickle(ctx, conn, h, m)
		case "keepalive":
			conn.send(ctx, serverMsg{Type: "ack", Tx: m.Tx})
		default:
			conn.send(ctx, serverMsg{Type: "error", Tx: m.Tx, Error: fmt.Sprintf("unknown message type %q", m.Type), Code: codeUnknownRequest})
		}
	}
}

// handleMessage passes a SIP plugin request (and its JSEP) to the handle.
// The plugin takes every request asynchronously: "ack" now, the outcome as
// "event"s with the same tx (registering, registered, calling, accepted,
// ...), or "error" at once for a bad request.
func (s *server) handleMessage(ctx context.Context, conn *wsConn, h *ianua.Handle, m clientMsg) {
	mctx, cancel := context.WithTimeout(ctx, messageTimeout)
	defer cancel()
	reply, err := h.Message(mctx, ianua.Message{Body: m.Body, JSEP: m.JSEP, Transaction: m.Tx})
	switch {
	case err != nil:
		conn.send(ctx, errorMsg(m.Tx, err))
	case reply.Async:
		conn.send(ctx, serverMsg{Type: "ack", Tx: m.Tx})
	default:
		conn.send(ctx, serverMsg{Type: "success", Tx: m.Tx, Data: reply.Data})
	}
}

// handleTrickle passes a client candidate to the handle. Only errors and
// trickles with a tx are answered, which keeps the chatter down.
func (s *server) handleTrickle(ctx context.Context, conn *wsConn, h *ianua.Handle, m clientMsg) {
	var err error
	switch {
	case m.Completed || m.Candidate == nil || m.Candidate.Candidate == "":
		err = h.TrickleCompleted()
	default:
		err = h.Trickle(*m.Candidate)
	}
	switch {
	case err != nil:
		conn.send(ctx, errorMsg(m.Tx, err))
	case m.Tx != "":
		conn.send(ctx, serverMsg{Type: "ack", Tx: m.Tx})
	}
}

// Janus API error codes (janus/apierror.h), so that the numbers mean the
// same as in Janus. Plugin errors carry the SIP plugin's own codes
// (440-455) instead.
const (
	codeUnknownRequest   = 453
	codeInvalidJSON      = 454
	codeSessionNotFound  = 458
	codeHandleNotFound   = 459
	codePluginMessage    = 462
	codeJSEPUnknownType  = 464
	codeJSEPInvalidSDP   = 465
	codeTrickleInvalid   = 466
	codeUnexpectedAnswer = 469
	codeWebRTCState      = 471
	codeUnknown          = 490
)

// errorMsg turns an error of Handle.Message or Handle.Trickle into an
// "error" message: the plugin's own code when it gave one, else the Janus
// code of the core's sentinel error.
func errorMsg(tx string, err error) serverMsg {
	m := serverMsg{Type: "error", Tx: tx, Error: err.Error(), Code: codeUnknown}
	var pe *ianua.PluginError
	if errors.As(err, &pe) {
		m.Code, m.Error = pe.Code, pe.Reason
		return m
	}
	for _, c := range []struct {
		err  error
		code int
	}{
		{ianua.ErrSessionDestroyed, codeSessionNotFound},
		{ianua.ErrHandleDetached, codeHandleNotFound},
		{ianua.ErrInvalidJSEP, codeJSEPUnknownType},
		{ianua.ErrInvalidSDP, codeJSEPInvalidSDP},
		{ianua.ErrNoCommonCodec, codeJSEPInvalidSDP},
		{ianua.ErrInvalidCandidate, codeTrickleInvalid},
		{ianua.ErrTooManyCandidates, codeTrickleInvalid},
		{ianua.ErrNoPendingOffer, codeUnexpectedAnswer},
		{ianua.ErrWrongState, codeWebRTCState},
		{ianua.ErrNoPeerConnection, codeWebRTCState},
		{ianua.ErrMalformedBody, codePluginMessage},
		{ianua.ErrUnknownRequest, codePluginMessage},
		{ianua.ErrInvalidElement, codePluginMessage},
	} {
		if errors.Is(err, c.err) {
			m.Code = c.code
			break
		}
	}
	return m
}

// wsConn writes JSON to one WebSocket. coder/websocket allows concurrent
// writes, so the relay and the read loop both write through it.
type wsConn struct {
	c      *websocket.Conn
	cancel context.CancelFunc
}

// send writes one message; a failed write ends the connection.
func (w *wsConn) send(ctx context.Context, m serverMsg) {
	b, err := json.Marshal(m)
	if err != nil {
		return // cannot happen: every field marshals
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := w.c.Write(wctx, websocket.MessageText, b); err != nil {
		w.cancel()
	}
}

// relay sends the session's events to the browser. It reads events until
// the session closes the channel, even after the socket is gone, because the
// session drops what its host does not read.
func (w *wsConn) relay(ctx context.Context, events <-chan ianua.Event) {
	for ev := range events {
		if ctx.Err() != nil {
			continue
		}
		if m, ok := eventMsg(ev); ok {
			w.send(ctx, m)
		}
	}
	// The session ended (timeout, or the router closing): so does the
	// socket.
	w.cancel()
}

// eventMsg maps a session event to the wire. The type names are Janus's
// ("event", "trickle", "webrtcup", "media", "slowlink", "hangup", ...).
// The SIP plugin's events are "event"s whose data is
// {"sip":"event","result":{"event":"registered",...},"call_id":...}.
func eventMsg(ev ianua.Event) (serverMsg, bool) {
	m := serverMsg{Type: ev.Type.String()}
	switch ev.Type {
	case ianua.EventPlugin:
		m.Tx, m.Data, m.JSEP = ev.Transaction, ev.Data, ev.JSEP
	case ianua.EventTrickle:
		m.Candidate, m.Completed = ev.Candidate, ev.Completed
	case ianua.EventWebRTCUp:
	case ianua.EventMedia:
		m.Media = ev.Media
	case ianua.EventSlowLink:
		m.SlowLink = ev.SlowLink
	case ianua.EventHangup, ianua.EventDetached, ianua.EventTimeout, ianua.EventDestroyed:
		m.Reason = ev.Reason
	default:
		return m, false // observer-only events never reach a session
	}
	return m, true
}
