package janusapi

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ianua/ianua"
)

// Params configures a Server. Only Router is required.
type Params struct {
	// Router is the media router whose plugins the clients attach to.
	Router *ianua.MediaRouter

	// APISecret, if set, must be in every request ("apisecret"), as with
	// Janus's api_secret. Tokens, if set, enables token authentication
	// ("token"): each token maps to the plugins it may attach to (all
	// when empty). With both, either one is enough, as in Janus. The
	// Admin API adds and removes tokens at run time (add_token, ...); the
	// map given here is copied and left as it is.
	APISecret string
	Tokens    map[string][]string
	// AdminSecret, if set, must be in every Admin API request
	// ("admin_secret"). Without it the Admin API is open: serve it on a
	// private address only.
	AdminSecret string

	// Aliases maps plugin names clients attach to onto registered plugin
	// names, for plugins registered under another name.
	Aliases map[string]string
	// Plugins says how the errors of each plugin reach clients, by
	// registered plugin name. Default: DefaultPlugins; plugins missing
	// from it answer every request asynchronously.
	Plugins map[string]PluginAPI

	// MaxMessageSize bounds a request, in bytes (default 1 MiB). Larger
	// ones are refused with error 450 and change nothing.
	MaxMessageSize int64
	// MessageTimeout bounds the plugin's handling of one message
	// (default 20 s).
	MessageTimeout time.Duration
	// LongPollTimeout is how long an HTTP long poll waits for events
	// before answering {"janus":"keepalive"} (default 30 s, as Janus).
	LongPollTimeout time.Duration
	// ReclaimTimeout is how long the session of a closed WebSocket waits
	// to be claimed by another connection before it is destroyed (Janus
	// reclaim_session_timeout). Default 0: destroyed at once.
	ReclaimTimeout time.Duration
	// MaxQueuedEvents bounds the events a session keeps for its long polls
	// or for a claim, and those waiting to be written to a WebSocket
	// (default 1024). A WebSocket that falls further behind is closed.
	MaxQueuedEvents int

	// AllowedOrigins lists the web origins whose pages may use the API
	// (WebSocket Origin check and HTTP CORS), as host patterns matched
	// with path.Match ("app.example.com", "*.example.com",
	// "127.0.0.1:8080"), or scheme://host patterns. "*" allows every
	// origin, which is what Janus does by default. Requests from the
	// server's own host are always allowed. Default: none other.
	AllowedOrigins []string

	// HTTPPath and AdminPath are where the REST and Admin API are served
	// (defaults "/janus" and "/admin", as in Janus).
	HTTPPath  string
	AdminPath string
	// ServerName is reported by "info" (default "ianua").
	ServerName string

	// Logger defaults to the router's.
	Logger *slog.Logger
}

const (
	defaultMaxMessageSize  = 1 << 20
	defaultMessageTimeout  = 20 * time.Second
	defaultLongPollTimeout = 30 * time.Second
	defaultMaxQueuedEvents = 1024
	// writeTimeout bounds one WebSocket write.
	writeTimeout = 10 * time.Second
)

// Server speaks the Janus API (core requests, events, Admin API subset)
// over WebSocket and HTTP, on top of a MediaRouter. Create it with New,
// serve its handlers, and Close it before closing the router.
type Server struct {
	p      Params
	router *ianua.MediaRouter
	log    *slog.Logger
	apis   map[string]PluginAPI
	tokens *tokenStore
	// refusing: new sessions are refused (Admin API
	// accept_new_sessions false, to drain the server).
	refusing atomic.Bool

	ctx    context.Context // cancelled by Close: ends connections and long polls
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	sessions map[uint64]*session
	relays   sync.WaitGroup // one per session
	conns    sync.WaitGroup // one per WebSocket and long poll
}

// New returns a Server for p.
func New(p Params) (*Server, error) {
	if p.Router == nil {
		return nil, ErrNoRouter
	}
	for alias, name := range p.Aliases {
		if _, ok := p.Router.Plugin(name); !ok {
			return nil, fmt.Errorf("janusapi: alias %q names plugin %q, which the router does not have", alias, name)
		}
	}
	if p.Plugins == nil {
		p.Plugins = DefaultPlugins()
	}
	if p.MaxMessageSize <= 0 {
		p.MaxMessageSize = defaultMaxMessageSize
	}
	if p.MessageTimeout <= 0 {
		p.MessageTimeout = defaultMessageTimeout
	}
	if p.LongPollTimeout <= 0 {
		p.LongPollTimeout = defaultLongPollTimeout
	}
	if p.MaxQueuedEvents <= 0 {
		p.MaxQueuedEvents = defaultMaxQueuedEvents
	}
	if p.HTTPPath == "" {
		p.HTTPPath = "/janus"
	}
	if p.AdminPath == "" {
		p.AdminPath = "/admin"
	}
	if p.ServerName == "" {
		p.ServerName = "ianua"
	}
	if p.Logger == nil {
		p.Logger = p.Router.Logger()
	}
	s := &Server{
		p:        p,
		router:   p.Router,
		log:      p.Logger,
		apis:     make(map[string]PluginAPI, len(p.Plugins)),
		sessions: make(map[uint64]*session),
	}
	for name, api := range p.Plugins {
		s.apis[name] = api.withDefaults(name)
	}
	s.tokens = newTokenStore(p.Tokens, s.pluginNames())
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// pluginAPI returns the PluginAPI of a registered plugin.
func (s *Server) pluginAPI(name string) PluginAPI {
	if a, ok := s.apis[name]; ok {
		return a
	}
	return PluginAPI{}.withDefaults(name)
}

// resolvePlugin turns the name a client attaches to into a registered one.
func (s *Server) resolvePlugin(name string) (string, bool) {
	if real, ok := s.p.Aliases[name]; ok {
		name = real
	}
	_, ok := s.router.Plugin(name)
	return name, ok
}

// track counts a connection or long poll, unless Close has begun.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns.Add(1)
	return true
}

// newSession creates a session owned by conn (nil: HTTP).
func (s *Server) newSession(conn *wsConn) (*session, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ianua.ErrRouterClosed
	}
	s.relays.Add(1)
	s.mu.Unlock()
	is, err := s.router.NewSession()
	if err != nil {
		s.relays.Done()
		return nil, err
	}
	ss := newSession(s, is, conn)
	s.mu.Lock()
	s.sessions[ss.id] = ss
	closed := s.closed
	s.mu.Unlock()
	go ss.relay()
	if closed { // Close began meanwhile and may have missed it
		ss.destroy()
	}
	return ss, nil
}

func (s *Server) session(id uint64) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	return ss, ok
}

func (s *Server) removeSession(ss *session) {
	s.mu.Lock()
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
	}
	s.mu.Unlock()
}

// connGone handles a closed WebSocket: its sessions are destroyed, or wait
// for a claim (Params.ReclaimTimeout).
func (s *Server) connGone(conn *wsConn) {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.transportGone(conn) // does nothing to the sessions conn does not own
	}
}

// Close ends every WebSocket and long poll, destroys every session created
// through the server, and waits for all of it, or for ctx. Close the
// router after the server.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	s.cancel()

	done := make(chan struct{})
	go func() {
		defer close(done)
		// Connections first: each destroys its sessions as it ends.
		s.conns.Wait()
		s.mu.Lock()
		left := make([]*session, 0, len(s.sessions))
		for _, ss := range s.sessions {
			left = append(left, ss)
		}
		s.mu.Unlock()
		var wg sync.WaitGroup
		for _, ss := range left {
			wg.Go(ss.destroy)
		}
		wg.Wait()
		s.relays.Wait()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
