package ianua

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Session is what one client of the host holds: its handles, its stream of
// events, and its keepalive. Create it with MediaRouter.NewSession.
type Session struct {
	id uint64
	r  *MediaRouter

	lastSeen atomic.Int64 // unix nanoseconds of the last request
	timer    *time.Timer

	mu        sync.Mutex
	handles   map[uint64]*Handle
	destroyed bool
	events    chan Event // nil once closed after the last event
	out       <-chan Event
	dropped   uint64

	done chan struct{} // closed when destroyed
}

func newSession(r *MediaRouter, id uint64) *Session {
	s := &Session{
		id:      id,
		r:       r,
		handles: make(map[uint64]*Handle),
		events:  make(chan Event, r.cfg.EventBuffer),
		done:    make(chan struct{}),
	}
	s.out = s.events
	s.touch()
	return s
}

func (s *Session) start() {
	if t := s.r.cfg.SessionTimeout; t > 0 {
		s.mu.Lock()
		s.timer = time.AfterFunc(t, s.checkTimeout)
		s.mu.Unlock()
	}
}

// ID is the session's id, unique in its router and safe for JavaScript.
func (s *Session) ID() uint64 { return s.id }

// Router is the router the session belongs to.
func (s *Session) Router() *MediaRouter { return s.r }

// Events is the stream of everything the host must relay to its client. It
// is closed after the session's last event (EventDestroyed or
// EventTimeout). The host must keep reading it: events that do not fit in
// the buffer (Config.EventBuffer) are dropped and logged.
func (s *Session) Events() <-chan Event { return s.out }

// Done is closed when the session is destroyed.
func (s *Session) Done() <-chan struct{} { return s.done }

// KeepAlive tells the session its client is alive (Janus: keepalive). Every
// other call on the session or its handles does too.
func (s *Session) KeepAlive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return ErrSessionDestroyed
	}
	s.touch()
	return nil
}

func (s *Session) touch() { s.lastSeen.Store(time.Now().UnixNano()) }

// checkTimeout runs on the timer: it destroys the session if it has been
// idle for the whole timeout, and otherwise sets the timer for the rest.
func (s *Session) checkTimeout() {
	timeout := s.r.cfg.SessionTimeout
	idle := time.Since(time.Unix(0, s.lastSeen.Load()))
	if idle < timeout {
		s.mu.Lock()
		if !s.destroyed {
			s.timer.Reset(timeout - idle)
		}
		s.mu.Unlock()
		return
	}
	s.r.log.Info("session timed out", "session", s.id, "idle", idle)
	s.destroy(EventTimeout)
}

// Attach attaches a new handle to the registered plugin with this name.
func (s *Session) Attach(plugin string) (*Handle, error) {
	p, ok := s.r.Plugin(plugin)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPlugin, plugin)
	}
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil, ErrSessionDestroyed
	}
	s.touch()
	id := s.r.newIDLocked(func(id uint64) bool { _, taken := s.handles[id]; return taken })
	h := newHandle(s, id, p)
	s.handles[id] = h
	s.mu.Unlock()

	att, err := p.Attach(h)
	if err != nil || att == nil {
		s.mu.Lock()
		delete(s.handles, id)
		s.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("%w: %s returned no attachment", ErrUnknownPlugin, p.Name())
		}
		return nil, fmt.Errorf("ianua: attach to %s: %w", p.Name(), err)
	}
	h.setAttachment(att)
	s.r.observe(Event{Type: EventAttached, SessionID: s.id, HandleID: id, Plugin: p.Name()})
	return h, nil
}

// Handle returns the attached handle with this id.
func (s *Session) Handle(id uint64) (*Handle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return nil, ErrSessionDestroyed
	}
	h, ok := s.handles[id]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownHandle, id)
	}
	return h, nil
}

// Handles returns the attached handles.
func (s *Session) Handles() []*Handle {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Handle, 0, len(s.handles))
	for _, h := range s.handles {
		out = append(out, h)
	}
	return out
}

func (s *Session) removeHandle(id uint64) {
	s.mu.Lock()
	delete(s.handles, id)
	s.mu.Unlock()
}

// Destroy detaches every handle, closes their PeerConnections, delivers
// EventDestroyed and closes Events. It returns when all of it is done.
func (s *Session) Destroy() error {
	if !s.destroy(EventDestroyed) {
		return ErrSessionDestroyed
	}
	return nil
}

func (s *Session) destroy(last EventType) bool {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return false
	}
	s.destroyed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	handles := make([]*Handle, 0, len(s.handles))
	for _, h := range s.handles {
		handles = append(handles, h)
	}
	s.mu.Unlock()

	for _, h := range handles {
		h.detach("session destroyed")
	}
	// Out of the router before the last event, so that a host acting on
	// it (a client told "timeout") finds the session gone.
	s.r.removeSession(s.id)
	s.emitFinal(Event{Type: last, SessionID: s.id})
	close(s.done)
	return true
}

// emit delivers an event to the observer and, without blocking, to the
// host. Safe from any goroutine.
func (s *Session) emit(e Event) {
	e.SessionID = s.id
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.r.observe(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events == nil {
		return
	}
	select {
	case s.events <- e:
	default:
		s.dropped++
		s.r.log.Warn("session event dropped: host is not reading Events", "session", s.id, "event", e.Type, "dropped", s.dropped)
	}
}

// emitFinal delivers the last event and closes the channel.
func (s *Session) emitFinal(e Event) {
	s.emit(e)
	s.mu.Lock()
	close(s.events)
	s.events = nil
	s.mu.Unlock()
}
