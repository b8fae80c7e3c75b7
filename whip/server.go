// Package whip serves WHIP ingest (RFC 9725) into sfu rooms and WHEP
// playback (draft-ietf-wish-whep) of their publishers and of streaming
// mountpoints, as http.Handlers a host mounts where it likes:
//
//	POST   /whip/{room}                 SDP offer in, 201 + answer + Location out
//	PATCH  /whip/{room}/{id}            trickle-ice-sdpfrag (RFC 8840)
//	DELETE /whip/{room}/{id}            end the session
//	POST   /whep/{room}/{feed}          recvonly offer in, 201 + answer out
//	PATCH  /whep/{room}/{feed}/{id}
//	DELETE /whep/{room}/{feed}/{id}
//	POST   /whep/mountpoint/{mp}        recvonly offer in (?pin= if it has one)
//	PATCH  /whep/mountpoint/{mp}/{id}
//	DELETE /whep/mountpoint/{mp}/{id}
//
// A WHIP publisher is an ordinary participant of the room (display name
// from ?display=), so Janus clients in the room see it; a WHEP viewer
// subscribes to one publisher, or to one mountpoint of the streaming plugin
// (fed by plain RTP from ffmpeg, GStreamer, …). The session ends when the
// publisher leaves or the mountpoint is destroyed. Bearer-token auth when a
// token is set; each resource has an ETag, checked by PATCH's If-Match. ICE
// restart by PATCH is not supported yet (405).
package whip

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/sfu"
	"github.com/ianua/ianua/streaming"
)

// maxSDP bounds a request body.
const maxSDP = 64 << 10

// answerTimeout bounds the wait for the plugin's answer.
const answerTimeout = 10 * time.Second

// keepAliveInterval keeps WHIP/WHEP sessions alive: these clients send no
// keepalive, a resource lives until DELETE or its PeerConnection dies.
const keepAliveInterval = 15 * time.Second

// Params configure a Server. Router and at least one of SFU and Streaming
// are required.
type Params struct {
	Router *ianua.MediaRouter
	// SFU, if set, serves WHIP into its rooms and WHEP of their
	// publishers; without it those paths are 404.
	SFU *sfu.Plugin
	// Streaming, if set, serves WHEP of its mountpoints; without it
	// /whep/mountpoint/ is 404. It must be registered with Router.
	Streaming *streaming.Plugin
	// Viewer must be registered with Router for WHEP, and made for the
	// same plugins: NewViewer(ViewerParams{SFU: SFU, Streaming: Streaming}).
	Viewer *ViewerPlugin
	// Token, if set, is the bearer token every request must carry.
	Token string
	// Prefix is where the handler is mounted ("" for the root).
	Prefix string
	Logger *slog.Logger
}

// Server is the WHIP/WHEP endpoint.
type Server struct {
	p   Params
	log *slog.Logger

	mu        sync.Mutex
	resources map[string]*resource
	closed    bool
	wg        sync.WaitGroup
	quit      chan struct{}
}

// resource is one WHIP publisher or WHEP viewer.
type resource struct {
	// path is the resource's location: DELETE and PATCH must name it
	// exactly (a WHEP id under /whip/ is not found).
	path    string
	id      string
	etag    string
	session *ianua.Session
	handle  *ianua.Handle
	answers chan *ianua.JSEP
}

// New returns a server; Close stops it.
func New(p Params) (*Server, error) {
	if p.Router == nil || (p.SFU == nil && p.Streaming == nil) {
		return nil, fmt.Errorf("%w: whip needs a router and the sfu or the streaming plugin", ianua.ErrInvalidElement)
	}
	if p.Viewer != nil && (p.Viewer.p.SFU != p.SFU || p.Viewer.p.Streaming != p.Streaming) {
		// Else WHEP would find a room or mountpoint that its viewer
		// cannot play, or play one the server does not check.
		return nil, fmt.Errorf("%w: the viewer plugin must play from the server's sfu and streaming plugins", ianua.ErrInvalidElement)
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	s := &Server{p: p, log: p.Logger, resources: map[string]*resource{}, quit: make(chan struct{})}
	s.wg.Add(1)
	go s.keepAlive()
	return s, nil
}

// keepAlive refreshes every resource's session until Close.
func (s *Server) keepAlive() {
	defer s.wg.Done()
	t := time.NewTicker(keepAliveInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		s.mu.Lock()
		sessions := make([]*ianua.Session, 0, len(s.resources))
		for _, r := range s.resources {
			sessions = append(sessions, r.session)
		}
		s.mu.Unlock()
		for _, ss := range sessions {
			_ = ss.KeepAlive()
		}
	}
}

// Close ends every resource and stops the server's goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.quit)
	rs := make([]*resource, 0, len(s.resources))
	for _, r := range s.resources {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	for _, r := range rs {
		_ = r.session.Destroy()
	}
	s.wg.Wait()
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// CORS: browser WHIP/WHEP players live on other origins.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	w.Header().Set("Access-Control-Expose-Headers", "Location, ETag, Link")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if s.p.Token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+s.p.Token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ianua"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, s.p.Prefix), "/"), "/")
	tg, rest, ok := parseTarget(parts)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case len(rest) == 0 && r.Method == http.MethodPost:
		s.create(w, r, tg)
	case len(rest) == 1 && r.Method == http.MethodDelete:
		s.delete(w, r.URL.Path, rest[0])
	case len(rest) == 1 && r.Method == http.MethodPatch:
		s.patch(w, r, rest[0])
	case len(rest) <= 1:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
}

// targetKind says what a POST creates.
type targetKind int

const (
	whipRoom       targetKind = iota // a WHIP publisher in a room
	whepFeed                         // a WHEP viewer of a room publisher
	whepMountpoint                   // a WHEP viewer of a mountpoint
)

// target is what a request path names, before the resource id.
type target struct {
	kind       targetKind
	room, feed uint64 // whipRoom, whepFeed
	mountpoint uint64 // whepMountpoint
}

// parseTarget reads /whip/{room}, /whep/{room}/{feed} or
// /whep/mountpoint/{mp} off the path's parts and returns the rest.
func parseTarget(parts []string) (target, []string, bool) {
	if len(parts) < 2 {
		return target{}, nil, false
	}
	id := func(s string) (uint64, bool) {
		v, err := strconv.ParseUint(s, 10, 64)
		return v, err == nil
	}
	switch {
	case parts[0] == "whip":
		room, ok := id(parts[1])
		return target{kind: whipRoom, room: room}, parts[2:], ok
	case parts[0] == "whep" && parts[1] == "mountpoint" && len(parts) >= 3:
		mp, ok := id(parts[2])
		return target{kind: whepMountpoint, mountpoint: mp}, parts[3:], ok
	case parts[0] == "whep" && len(parts) >= 3:
		room, ok1 := id(parts[1])
		feed, ok2 := id(parts[2])
		return target{kind: whepFeed, room: room, feed: feed}, parts[3:], ok1 && ok2
	}
	return target{}, nil, false
}

// path is the target's canonical path, below the prefix.
func (tg target) path() string {
	switch tg.kind {
	case whepFeed:
		return fmt.Sprintf("/whep/%d/%d", tg.room, tg.feed)
	case whepMountpoint:
		return fmt.Sprintf("/whep/mountpoint/%d", tg.mountpoint)
	}
	return fmt.Sprintf("/whip/%d", tg.room)
}

// found says whether the target's room or mountpoint exists, and if not
// why.
func (s *Server) found(tg target) (bool, string) {
	if tg.kind == whepMountpoint {
		if s.p.Streaming == nil {
			return false, "no such mountpoint"
		}
		_, err := s.p.Streaming.Mountpoint(tg.mountpoint)
		return err == nil, "no such mountpoint"
	}
	if s.p.SFU == nil {
		return false, "no such room"
	}
	_, err := s.p.SFU.Room(tg.room)
	return err == nil, "no such room"
}

// create makes a publisher (WHIP) or a viewer (WHEP) from an offer.
func (s *Server) create(w http.ResponseWriter, r *http.Request, tg target) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		http.Error(w, "Content-Type must be application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSDP+1))
	if err != nil || len(body) > maxSDP {
		http.Error(w, "SDP too large", http.StatusRequestEntityTooLarge)
		return
	}
	if ok, why := s.found(tg); !ok {
		http.Error(w, why, http.StatusNotFound)
		return
	}
	session, err := s.p.Router.NewSession()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	res := &resource{id: randomHex(16), etag: `"` + randomHex(8) + `"`, session: session, answers: make(chan *ianua.JSEP, 1)}
	res.path = s.p.Prefix + tg.path() + "/" + res.id
	// Registered before anything can end it, so that the watcher's
	// removal always comes after; refused once Close has begun.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = session.Destroy()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.resources[res.id] = res
	s.wg.Add(1)
	s.mu.Unlock()
	go s.watch(res)
	ok := false
	defer func() {
		if !ok {
			s.mu.Lock()
			delete(s.resources, res.id)
			s.mu.Unlock()
			_ = session.Destroy()
		}
	}()

	plugin := ViewerName
	if tg.kind == whipRoom {
		plugin = sfu.Name
	}
	h, err := session.Attach(plugin)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	res.handle = h
	ctx, cancel := context.WithTimeout(r.Context(), answerTimeout)
	defer cancel()
	noTrickle := false
	offer := &ianua.JSEP{Type: "offer", SDP: string(body), Trickle: &noTrickle}
	switch tg.kind {
	case whepFeed:
		_, err = h.Message(ctx, ianua.Message{Body: jsonBody(map[string]any{"room": tg.room, "feed": tg.feed}), JSEP: offer})
	case whepMountpoint:
		view := map[string]any{"mountpoint": tg.mountpoint, "pin": r.URL.Query().Get("pin")}
		_, err = h.Message(ctx, ianua.Message{Body: jsonBody(view), JSEP: offer})
	default:
		display := r.URL.Query().Get("display")
		if display == "" {
			display = "whip"
		}
		join := map[string]any{"request": "join", "ptype": "publisher", "room": tg.room, "display": display, "pin": r.URL.Query().Get("pin")}
		if _, err = h.Message(ctx, ianua.Message{Body: jsonBody(join)}); err == nil {
			_, err = h.Message(ctx, ianua.Message{Body: jsonBody(map[string]any{"request": "publish"}), JSEP: offer})
		}
	}
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	var answer *ianua.JSEP
	select {
	case answer = <-res.answers:
	case <-ctx.Done():
		http.Error(w, "no answer", http.StatusGatewayTimeout)
		return
	}
	if tg.kind == whipRoom && !s.publishes(tg.room, h) {
		// Every m-line was refused (no codec the room allows): the
		// encoder must not believe it is live.
		http.Error(w, "no codec of the offer is allowed in the room", http.StatusNotAcceptable)
		return
	}
	ok = true

	w.Header().Set("Location", res.path)
	w.Header().Set("ETag", res.etag)
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer.SDP)
}

// watch reads a resource's session events: the answer goes to create, a
// hangup ends the resource. It ends with the session.
func (s *Server) watch(res *resource) {
	defer s.wg.Done()
	for e := range res.session.Events() {
		switch {
		case e.Type == ianua.EventPlugin && e.JSEP != nil && e.JSEP.Type == "answer":
			select {
			case res.answers <- e.JSEP:
			default:
			}
		case e.Type == ianua.EventHangup:
			// The PeerConnection is gone (ICE failed, DTLS closed, the
			// publisher left): so is the resource. Destroy emits into
			// the channel without blocking and then closes it.
			_ = res.session.Destroy()
		}
	}
	s.mu.Lock()
	delete(s.resources, res.id)
	s.mu.Unlock()
}

func (s *Server) lookup(id string) (*resource, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resources[id]
	return r, ok
}

// publishes says whether the WHIP publisher on h publishes any stream.
func (s *Server) publishes(room uint64, h *ianua.Handle) bool {
	r, err := s.p.SFU.Room(room)
	if err != nil {
		return false
	}
	for _, p := range r.Participants() {
		if p.Handle() == h {
			return len(p.Sources()) > 0
		}
	}
	return false
}

func (s *Server) delete(w http.ResponseWriter, path, id string) {
	res, ok := s.lookup(id)
	if !ok || res.path != path {
		http.Error(w, "no such resource", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	delete(s.resources, id)
	s.mu.Unlock()
	_ = res.session.Destroy()
	w.WriteHeader(http.StatusOK)
}

// patch applies trickled candidates (RFC 8840 SDP fragments).
func (s *Server) patch(w http.ResponseWriter, r *http.Request, id string) {
	res, ok := s.lookup(id)
	if !ok || res.path != r.URL.Path {
		http.Error(w, "no such resource", http.StatusNotFound)
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != res.etag {
		http.Error(w, "ETag mismatch", http.StatusPreconditionFailed)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/trickle-ice-sdpfrag") {
		http.Error(w, "Content-Type must be application/trickle-ice-sdpfrag", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSDP))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	frag := string(body)
	if strings.Contains(frag, "a=ice-ufrag:") && !strings.Contains(frag, "a=candidate") {
		// A new ufrag alone is an ICE restart request.
		http.Error(w, "ICE restart is not supported", http.StatusMethodNotAllowed)
		return
	}
	for _, line := range strings.Split(frag, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "a=candidate:"):
			if err := res.handle.Trickle(webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a=")}); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		case line == "a=end-of-candidates":
			_ = res.handle.TrickleCompleted()
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// statusOf maps core and plugin errors to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ianua.ErrInvalidSDP), errors.Is(err, ianua.ErrInvalidJSEP),
		errors.Is(err, ianua.ErrMalformedBody), errors.Is(err, ianua.ErrInvalidElement):
		return http.StatusBadRequest
	case errors.Is(err, ianua.ErrNoCommonCodec):
		return http.StatusNotAcceptable
	case errors.Is(err, sfu.ErrNoSuchRoom), errors.Is(err, sfu.ErrNoSuchFeed),
		errors.Is(err, streaming.ErrNoSuchMountpoint), errors.Is(err, ianua.ErrSourceClosed):
		// ErrSourceClosed: the publisher or mountpoint went away while
		// the viewer subscribed.
		return http.StatusNotFound
	case errors.Is(err, sfu.ErrUnauthorized), errors.Is(err, streaming.ErrUnauthorized):
		return http.StatusForbidden
	case errors.Is(err, sfu.ErrPublishersFull):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func jsonBody(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
