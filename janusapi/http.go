package janusapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTP returns the handler of the Janus REST API, under Params.HTTPPath
// ("/janus"): POST /janus (create, info, ping), POST /janus/<session>,
// POST /janus/<session>/<handle>, GET /janus/<session>?maxev=N (long poll),
// GET /janus/info and GET /janus/ping. Sessions created or claimed over
// HTTP queue their events for the long polls.
func (s *Server) HTTP() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		return
	}
	parts, ok := splitPath(r.URL.Path, s.p.HTTPPath)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		switch {
		case len(parts) == 1 && parts[0] == "info":
			writeJSON(w, http.StatusOK, s.info("").marshal())
		case len(parts) == 1 && parts[0] == "ping":
			writeJSON(w, http.StatusOK, (&message{Janus: "pong"}).marshal())
		case len(parts) == 2:
			// Janus redirects a long poll on a handle to its session.
			http.Redirect(w, r, s.p.HTTPPath+"/"+parts[0]+"?"+r.URL.RawQuery, http.StatusFound)
		case len(parts) == 1:
			sid, err := strconv.ParseUint(parts[0], 10, 64)
			if err != nil || sid == 0 {
				http.NotFound(w, r)
				return
			}
			s.longPoll(w, r, sid)
		default:
			http.NotFound(w, r)
		}
	case http.MethodPost:
		s.post(w, r, parts)
	default:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// splitPath returns the path elements under base, at most two.
func splitPath(p, base string) ([]string, bool) {
	rest, ok := strings.CutPrefix(p, strings.TrimSuffix(base, "/"))
	if !ok || (rest != "" && rest[0] != '/') {
		return nil, false
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return nil, true
	}
	parts := strings.Split(rest, "/")
	return parts, len(parts) <= 2
}

// readBody reads a request body of at most limit bytes; a larger one is an
// error 450 with HTTP status 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorMessage(0, "",
				newError(ErrorTransportSpecific, "Message too large (limit %d bytes)", limit)).marshal())
		}
		return nil, false
	}
	return body, true
}

// pathIDs puts the session and handle ids of the path into the request,
// refusing ids that contradict those of the body (Janus: 457).
func pathIDs(r *request, parts []string) *apiError {
	ids := make([]uint64, 0, 2)
	for _, p := range parts {
		id, err := strconv.ParseUint(p, 10, 64)
		if err != nil || id == 0 {
			return newError(ErrorInvalidRequestPath, "Invalid path element '%s'", p)
		}
		ids = append(ids, id)
	}
	if len(ids) > 0 {
		if r.SessionID != 0 && r.SessionID != ids[0] {
			return newError(ErrorInvalidRequestPath, "Conflicting session ID (payload and path)")
		}
		r.SessionID = ids[0]
	}
	if len(ids) > 1 {
		if r.HandleID != 0 && r.HandleID != ids[1] {
			return newError(ErrorInvalidRequestPath, "Conflicting handle ID (payload and path)")
		}
		r.HandleID, r.hasHandle = ids[1], true
	}
	return nil
}

func (s *Server) post(w http.ResponseWriter, r *http.Request, parts []string) {
	if !s.track() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.conns.Done()
	body, ok := readBody(w, r, s.p.MaxMessageSize)
	if !ok {
		return
	}
	req, e := parseRequest(body)
	if e == nil {
		e = pathIDs(req, parts)
	}
	if e != nil {
		writeJSON(w, http.StatusOK, errorMessage(req.SessionID, req.Transaction, e).marshal())
		return
	}
	out, after := s.process(r.Context(), nil, req)
	writeJSON(w, http.StatusOK, out.marshal())
	if after != nil {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		after()
	}
}

// pollKeepAlive is how often a waiting long poll keeps its session alive.
const pollKeepAlive = 250 * time.Millisecond

// longPoll answers GET /janus/<session>: the session's next events (up to
// maxev, as an array when maxev > 1), or {"janus":"keepalive"} after
// Params.LongPollTimeout without any. A long poll keeps the session alive.
func (s *Server) longPoll(w http.ResponseWriter, r *http.Request, sid uint64) {
	q := r.URL.Query()
	auth := &request{fields: map[string]json.RawMessage{}}
	for _, k := range []string{"apisecret", "token"} {
		if v := q.Get(k); v != "" {
			b, _ := json.Marshal(v)
			auth.fields[k] = b
		}
	}
	if !s.authorized(auth) {
		writeJSON(w, http.StatusForbidden, errorMessage(sid, "",
			newError(ErrorUnauthorized, "Unauthorized request (wrong or missing secret/token)")).marshal())
		return
	}
	ss, ok := s.session(sid)
	if !ok || !ss.ownedBy(nil) || ss.s.KeepAlive() != nil {
		writeJSON(w, http.StatusNotFound, errorMessage(sid, "", newError(ErrorSessionNotFound, "No such session %d", sid)).marshal())
		return
	}
	maxev := 1
	if v, err := strconv.Atoi(q.Get("maxev")); err == nil && v > 1 {
		maxev = v
	}
	if !s.track() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.conns.Done()

	timer := time.NewTimer(s.p.LongPollTimeout)
	defer timer.Stop()
	// A session with a long poll waiting is not idle, whatever its
	// timeout.
	alive := time.NewTicker(pollKeepAlive)
	defer alive.Stop()
	for {
		if evs := ss.queue.take(maxev); len(evs) > 0 {
			writeEvents(w, evs, maxev)
			return
		}
		ready, over := ss.queue.wait()
		if over {
			writeJSON(w, http.StatusNotFound, errorMessage(sid, "", newError(ErrorSessionNotFound, "No such session %d", sid)).marshal())
			return
		}
		select {
		case <-ready:
		case <-alive.C:
			_ = ss.s.KeepAlive()
		case <-timer.C:
			writeEvents(w, [][]byte{[]byte(`{"janus":"keepalive"}`)}, maxev)
			return
		case <-s.ctx.Done():
			writeEvents(w, [][]byte{[]byte(`{"janus":"keepalive"}`)}, maxev)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func writeEvents(w http.ResponseWriter, evs [][]byte, maxev int) {
	if maxev == 1 {
		writeJSON(w, http.StatusOK, evs[0])
		return
	}
	writeJSON(w, http.StatusOK, jsonArray(evs))
}

// jsonArray joins JSON values into one JSON array.
func jsonArray(elems [][]byte) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e)
	}
	b.WriteByte(']')
	return b.Bytes()
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
