package janusapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// Subprotocol is the WebSocket subprotocol of the Janus API.
const Subprotocol = "janus-protocol"

// WebSocket returns the handler of the Janus API over WebSocket
// (subprotocol "janus-protocol", on any path). Sessions created or claimed
// on a connection send their events on it; when it closes they are
// destroyed (see Params.ReclaimTimeout).
func (s *Server) WebSocket() http.Handler { return http.HandlerFunc(s.serveWS) }

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.track() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.conns.Done()
	opts := &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}}
	if s.anyOrigin() {
		opts.InsecureSkipVerify = true
	} else {
		opts.OriginPatterns = s.p.AllowedOrigins
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept has answered the HTTP request
	}
	defer c.CloseNow()
	// Oversized messages are read through and refused one by one, with an
	// error, rather than closing the connection and its sessions.
	c.SetReadLimit(-1)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// http.Server.Shutdown does not reach hijacked connections: Close
	// does, through s.ctx.
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	conn := &wsConn{
		srv:    s,
		c:      c,
		ctx:    ctx,
		cancel: cancel,
		out:    make(chan []byte, s.p.MaxQueuedEvents),
		lanes:  make(map[laneKey]*lane),
		log:    s.log.With("remote", r.RemoteAddr),
	}
	conn.wg.Add(1)
	go conn.writeLoop()
	conn.readLoop()

	cancel()
	conn.wg.Wait() // writer and lanes
	s.connGone(conn)
	c.Close(websocket.StatusNormalClosure, "")
}

// wsConn is one WebSocket client. Its read loop answers requests, those of
// one handle in order on a lane of their own so that a slow plugin message
// holds up neither keepalives nor the other handles; one writer goroutine
// sends replies and events in the order they were queued.
type wsConn struct {
	srv    *Server
	c      *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	out    chan []byte
	log    *slog.Logger

	wg    sync.WaitGroup // writer and lanes
	mu    sync.Mutex
	lanes map[laneKey]*lane
}

type laneKey struct{ session, handle uint64 }

// lane runs the requests of one handle, in order.
type lane struct {
	queue []func()
}

// enqueue queues a message for the writer without blocking. A client too
// slow to take its events is disconnected.
func (w *wsConn) enqueue(b []byte) {
	select {
	case w.out <- b:
	default:
		if w.ctx.Err() == nil {
			w.log.Warn("janusapi: WebSocket client too slow, closing it", "queued", len(w.out))
			w.cancel()
		}
	}
}

func (w *wsConn) writeLoop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.ctx.Done():
			return
		case b := <-w.out:
			wctx, cancel := context.WithTimeout(w.ctx, writeTimeout)
			err := w.c.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				w.cancel()
				return
			}
		}
	}
}

func (w *wsConn) readLoop() {
	limit := w.srv.p.MaxMessageSize
	for {
		_, rd, err := w.c.Reader(w.ctx)
		if err != nil {
			return
		}
		data, err := io.ReadAll(io.LimitReader(rd, limit+1))
		if err != nil {
			return
		}
		if int64(len(data)) > limit {
			if _, err := io.Copy(io.Discard, rd); err != nil {
				return
			}
			w.enqueue(errorMessage(0, "", newError(ErrorTransportSpecific, "Message too large (limit %d bytes)", limit)).marshal())
			continue
		}
		r, e := parseRequest(data)
		if e != nil {
			w.enqueue(errorMessage(r.SessionID, r.Transaction, e).marshal())
			continue
		}
		run := func() {
			out, after := w.srv.process(w.ctx, w, r)
			w.enqueue(out.marshal())
			if after != nil {
				after()
			}
		}
		if r.SessionID != 0 && r.HandleID != 0 {
			w.onLane(laneKey{r.SessionID, r.HandleID}, run)
		} else {
			run()
		}
	}
}

// onLane runs f after the requests already queued for the same handle.
func (w *wsConn) onLane(k laneKey, f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if l := w.lanes[k]; l != nil {
		l.queue = append(l.queue, f)
		return
	}
	l := &lane{queue: []func(){f}}
	w.lanes[k] = l
	w.wg.Add(1)
	go w.runLane(k, l)
}

func (w *wsConn) runLane(k laneKey, l *lane) {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		if len(l.queue) == 0 || w.ctx.Err() != nil {
			delete(w.lanes, k)
			w.mu.Unlock()
			return
		}
		f := l.queue[0]
		l.queue = l.queue[1:]
		w.mu.Unlock()
		f()
	}
}
