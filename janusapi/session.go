package janusapi

import (
	"sync"
	"time"

	"github.com/ianua/ianua"
)

// session is the Janus API side of one ianua.Session: which transport its
// events go to, the handles' names, and the events held back while a
// request of their handle is being answered.
type session struct {
	srv *Server
	s   *ianua.Session
	id  uint64

	mu sync.Mutex
	// owner is the WebSocket that created or claimed the session. When
	// nil, events wait in queue: for long polls if http is set, else for
	// a claim (the WebSocket is gone and ReclaimTimeout runs).
	owner   *wsConn
	http    bool
	queue   *eventQueue
	handles map[uint64]handleState
	holds   map[uint64]*hold
	closing bool // destroy requested: no more events
	reclaim *time.Timer
}

// handleState is what the Janus API knows of a handle and ianua does not.
type handleState struct {
	plugin   string // as the client named it (an alias, maybe)
	api      PluginAPI
	opaqueID string
}

// hold keeps a handle's events while requests to it are being answered,
// so that the answer ("ack") comes before the events the request caused,
// as Janus clients expect.
type hold struct {
	n      int
	events [][]byte
}

func newSession(srv *Server, s *ianua.Session, owner *wsConn) *session {
	return &session{
		srv:     srv,
		s:       s,
		id:      s.ID(),
		owner:   owner,
		http:    owner == nil,
		queue:   newEventQueue(srv.p.MaxQueuedEvents),
		handles: make(map[uint64]handleState),
		holds:   make(map[uint64]*hold),
	}
}

// relay reads the ianua session's events until it closes them, turning
// each into its Janus message.
func (ss *session) relay() {
	defer ss.srv.relays.Done()
	for ev := range ss.s.Events() {
		m, ok := ss.encode(ev)
		if !ok {
			continue
		}
		ss.deliver(ev.HandleID, m.marshal())
		if ev.Type == ianua.EventDetached {
			ss.mu.Lock()
			delete(ss.handles, ev.HandleID)
			ss.mu.Unlock()
		}
	}
	ss.srv.removeSession(ss)
	ss.mu.Lock()
	if ss.reclaim != nil {
		ss.reclaim.Stop()
	}
	ss.mu.Unlock()
	ss.queue.close()
}

// deliver sends an event to the session's owner, or holds it back while a
// request of its handle is answered.
func (ss *session) deliver(handle uint64, b []byte) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return
	}
	if h := ss.holds[handle]; handle != 0 && h != nil {
		h.events = append(h.events, b)
		return
	}
	ss.sendLocked(b)
}

// sendLocked hands a message to the owner. Both ways are non-blocking
// (wsConn.enqueue, eventQueue.push), which is why it runs under ss.mu: that
// keeps each handle's events in order.
func (ss *session) sendLocked(b []byte) {
	if ss.owner != nil {
		ss.owner.enqueue(b)
		return
	}
	ss.queue.push(b)
}

// hold starts holding a handle's events; release ends it.
func (ss *session) hold(handle uint64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	h := ss.holds[handle]
	if h == nil {
		h = &hold{}
		ss.holds[handle] = h
	}
	h.n++
}

// release ends a hold, sends extra (an asynchronous error) after the held
// events, and sends all of them if no other request holds the handle.
func (ss *session) release(handle uint64, extra []byte) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	h := ss.holds[handle]
	if h == nil {
		return
	}
	if extra != nil {
		h.events = append(h.events, extra)
	}
	if h.n--; h.n > 0 {
		return
	}
	delete(ss.holds, handle)
	if ss.closing {
		return
	}
	for _, b := range h.events {
		ss.sendLocked(b)
	}
}

// claim makes conn (nil: the HTTP transport) the session's owner. Events
// that waited for a claim go to the new owner.
func (ss *session) claim(conn *wsConn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.reclaim != nil {
		ss.reclaim.Stop()
		ss.reclaim = nil
	}
	ss.owner, ss.http = conn, conn == nil
	if conn != nil {
		for _, b := range ss.queue.take(0) {
			conn.enqueue(b)
		}
	}
}

// transportGone is called when the owner WebSocket closes: the session is
// destroyed at once, or after ReclaimTimeout if nobody claims it.
func (ss *session) transportGone(conn *wsConn) {
	ss.mu.Lock()
	if ss.owner != conn {
		ss.mu.Unlock()
		return
	}
	ss.owner = nil
	if t := ss.srv.p.ReclaimTimeout; t > 0 {
		ss.reclaim = time.AfterFunc(t, func() {
			ss.mu.Lock()
			claimed := ss.owner != nil || ss.http
			ss.mu.Unlock()
			if !claimed {
				ss.destroy()
			}
		})
		ss.mu.Unlock()
		return
	}
	ss.mu.Unlock()
	ss.destroy()
}

// destroy destroys the ianua session without relaying its last events
// (Janus sends nothing after a destroy).
func (ss *session) destroy() {
	ss.mu.Lock()
	ss.closing = true
	if ss.reclaim != nil {
		ss.reclaim.Stop()
	}
	ss.mu.Unlock()
	_ = ss.s.Destroy()
}

func (ss *session) handle(id uint64) (handleState, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	h, ok := ss.handles[id]
	return h, ok
}

func (ss *session) addHandle(id uint64, h handleState) {
	ss.mu.Lock()
	ss.handles[id] = h
	ss.mu.Unlock()
}

// ownedBy says whether conn (nil: HTTP) owns the session.
func (ss *session) ownedBy(conn *wsConn) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if conn == nil {
		return ss.http
	}
	return ss.owner == conn
}
