package main

// The signaling of one node, the same as examples/videoroom's (see its
// README.md, "Signaling"): one WebSocket per client at /ws, which is one
// ianua Session, with the handles the page attaches, whose events are
// relayed to the browser as JSON. Nothing in it knows of the cluster: a
// remote publisher is a publisher of the room like any other.

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// static is the browser side, built into the binary so that the program is
// one file to copy and run.
//
//go:embed index.html app.js
var static embed.FS

const (
	// messageTimeout bounds one plugin message: answering an offer is
	// quick, so a message still running after it is stuck.
	messageTimeout = 10 * time.Second
	// writeTimeout bounds one WebSocket write, so that a browser that
	// stopped reading cannot hold its session's relay forever.
	writeTimeout = 10 * time.Second
	// maxClientMessage is far above the largest SDP offer a browser makes.
	maxClientMessage = 1 << 20
	// maxHandles per socket: a participant needs two (publisher and
	// subscriber); the rest is room for a page that does more, not for
	// one that leaks.
	maxHandles = 8
)

// server is the HTTP side: the static page and the /ws signaling.
type server struct {
	router *ianua.MediaRouter
	log    *slog.Logger
	mux    *http.ServeMux

	mu      sync.Mutex
	closing bool
	conns   sync.WaitGroup // one per WebSocket handler
}

func newServer(router *ianua.MediaRouter, log *slog.Logger) *server {
	s := &server{router: router, log: log, mux: http.NewServeMux()}
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
	Type   string `json:"type"` // attach, message, trickle, detach, hangup, keepalive
	Tx     string `json:"tx,omitempty"`
	Handle uint64 `json:"handle,omitempty"`
	// attach
	Plugin string `json:"plugin,omitempty"`
	// message
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
	Handle    uint64                   `json:"handle,omitempty"`
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

// serveWS runs one client: one session, with the handles it attaches, for
// as long as the WebSocket lives.
func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.track() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.conns.Done()

	// Accept checks that the page's Origin is this host, so that another
	// site cannot open sessions from a visitor's browser.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the HTTP request
	}
	defer c.CloseNow()
	c.SetReadLimit(maxClientMessage)

	sess, err := s.router.NewSession()
	if err != nil {
		c.Close(websocket.StatusTryAgainLater, err.Error())
		return
	}
	log := s.log.With("remote", r.RemoteAddr, "session", sess.ID())
	log.Info("cluster: client connected")

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

	cl := &client{sess: sess, conn: conn, log: log}
	cl.readLoop(ctx)

	cancel()
	// Destroy detaches every handle — the plugin takes the participant
	// out of its room, which tells the others — closes the
	// PeerConnections and then Events, which ends the relay. An error
	// only says the session was gone already (timeout).
	_ = sess.Destroy()
	<-relayed
	log.Info("cluster: client gone")
}

// client is one WebSocket's session and the handles attached in it.
type client struct {
	sess *ianua.Session
	conn *wsConn
	log  *slog.Logger
}

// readLoop handles the client's messages, in order, until the socket or ctx
// ends. Handling them on this goroutine keeps a trickle behind the offer it
// belongs to, and a subscriber's "start" behind the "join" it answers.
func (cl *client) readLoop(ctx context.Context) {
	for {
		typ, data, err := cl.conn.c.Read(ctx)
		if err != nil {
			return
		}
		// Any message proves the client alive, as Janus's keepalive does.
		if err := cl.sess.KeepAlive(); err != nil {
			return
		}
		if typ != websocket.MessageText {
			cl.conn.send(ctx, serverMsg{Type: "error", Error: "binary messages are not supported", Code: codeInvalidJSON})
			continue
		}
		var m clientMsg
		if err := json.Unmarshal(data, &m); err != nil {
			cl.conn.send(ctx, serverMsg{Type: "error", Error: "invalid JSON: " + err.Error(), Code: codeInvalidJSON})
			continue
		}
		switch m.Type {
		case "attach":
			cl.attach(ctx, m)
		case "message":
			cl.message(ctx, m)
		case "trickle":
			cl.trickle(ctx, m)
		case "detach":
			cl.onHandle(ctx, m, func(h *ianua.Handle) error { return h.Detach() }, "success")
		case "hangup":
			cl.onHandle(ctx, m, func(h *ianua.Handle) error { h.Hangup("client hung up"); return nil }, "ack")
		case "keepalive":
			if m.Tx != "" {
				cl.conn.send(ctx, serverMsg{Type: "ack", Tx: m.Tx})
			}
		default:
			cl.conn.send(ctx, serverMsg{Type: "error", Tx: m.Tx, Error: fmt.Sprintf("unknown message type %q", m.Type), Code: codeUnknownRequest})
		}
	}
}

// attach attaches a new handle to the plugin the client names and answers
// with its id, which the client puts in every later message for it.
func (cl *client) attach(ctx context.Context, m clientMsg) {
	if m.Plugin == "" {
		cl.conn.send(ctx, serverMsg{Type: "error", Tx: m.Tx, Error: "missing plugin", Code: codeMissingElement})
		return
	}
	if len(cl.sess.Handles()) >= maxHandles {
		cl.conn.send(ctx, serverMsg{Type: "error", Tx: m.Tx, Error: fmt.Sprintf("at most %d handles per connection", maxHandles), Code: codePluginAttach})
		return
	}
	h, err := cl.sess.Attach(m.Plugin)
	if err != nil {
		cl.conn.send(ctx, errorMsg(m.Tx, err))
		return
	}
	cl.log.Info("cluster: attached", "handle", h.ID(), "plugin", m.Plugin)
	cl.conn.send(ctx, serverMsg{Type: "success", Tx: m.Tx, Handle: h.ID()})
}

// message passes a plugin message (and its JSEP) to the handle. The
// VideoRoom answers room requests (list, exists, create, ...) at once:
// "success" with the data; participant requests (join, publish, start,
// ...) with "ack", their outcome following as an "event" with the same tx.
func (cl *client) message(ctx context.Context, m clientMsg) {
	h, err := cl.sess.Handle(m.Handle)
	if err != nil {
		cl.conn.send(ctx, errorMsg(m.Tx, err))
		return
	}
	mctx, cancel := context.WithTimeout(ctx, messageTimeout)
	defer cancel()
	reply, err := h.Message(mctx, ianua.Message{Body: m.Body, JSEP: m.JSEP, Transaction: m.Tx})
	switch {
	case err != nil:
		cl.conn.send(ctx, errorMsg(m.Tx, err))
	case reply.Async:
		cl.conn.send(ctx, serverMsg{Type: "ack", Tx: m.Tx, Handle: h.ID()})
	default:
		cl.conn.send(ctx, serverMsg{Type: "success", Tx: m.Tx, Handle: h.ID(), Data: reply.Data})
	}
}

// trickle passes a client candidate to the handle. Only errors and
// trickles with a tx are answered, which keeps the chatter down.
func (cl *client) trickle(ctx context.Context, m clientMsg) {
	h, err := cl.sess.Handle(m.Handle)
	if err == nil {
		if m.Completed || m.Candidate == nil || m.Candidate.Candidate == "" {
			err = h.TrickleCompleted()
		} else {
			err = h.Trickle(*m.Candidate)
		}
	}
	switch {
	case err != nil:
		cl.conn.send(ctx, errorMsg(m.Tx, err))
	case m.Tx != "":
		cl.conn.send(ctx, serverMsg{Type: "ack", Tx: m.Tx, Handle: m.Handle})
	}
}

// onHandle runs do on the handle the message names and answers with
// reply ("ack" or "success"), or with the error.
func (cl *client) onHandle(ctx context.Context, m clientMsg, do func(*ianua.Handle) error, reply string) {
	h, err := cl.sess.Handle(m.Handle)
	if err == nil {
		err = do(h)
	}
	if err != nil {
		cl.conn.send(ctx, errorMsg(m.Tx, err))
		return
	}
	cl.conn.send(ctx, serverMsg{Type: reply, Tx: m.Tx, Handle: m.Handle})
}

// Janus API error codes (janus/apierror.h), so that the numbers mean the
// same as in Janus. Plugin errors carry the plugin's own codes instead
// (VideoRoom: 421-437, see package sfu).
const (
	codeUnknownRequest   = 453
	codeInvalidJSON      = 454
	codeMissingElement   = 456
	codeSessionNotFound  = 458
	codeHandleNotFound   = 459
	codePluginNotFound   = 460
	codePluginAttach     = 461
	codePluginMessage    = 462
	codeJSEPUnknownType  = 464
	codeJSEPInvalidSDP   = 465
	codeTrickleInvalid   = 466
	codeUnexpectedAnswer = 469
	codeWebRTCState      = 471
	codeUnknown          = 490
)

// errorMsg turns an error of the session or a handle into an "error"
// message: a plugin's own code when it gave one, else the Janus code of the
// core's sentinel error.
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
		{ianua.ErrUnknownHandle, codeHandleNotFound},
		{ianua.ErrHandleDetached, codeHandleNotFound},
		{ianua.ErrUnknownPlugin, codePluginNotFound},
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

// relay sends the session's events, of all its handles, to the browser.
// It reads events until the session closes the channel, even after the
// socket is gone, because the session drops what its host does not read.
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

// eventMsg maps a session event to the wire, with the id of the handle it
// is about. The type names are Janus's ("event", "trickle", "webrtcup",
// "media", "slowlink", "hangup", "detached", ...).
func eventMsg(ev ianua.Event) (serverMsg, bool) {
	m := serverMsg{Type: ev.Type.String(), Handle: ev.HandleID}
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
