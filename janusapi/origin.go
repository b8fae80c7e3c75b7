package janusapi

import (
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

func (s *Server) anyOrigin() bool { return slices.Contains(s.p.AllowedOrigins, "*") }

// originAllowed applies Params.AllowedOrigins to a request's Origin header
// with the rules of coder/websocket's OriginPatterns, so that WebSocket and
// HTTP agree. Requests without an Origin (not from a web page) and from
// the server's own host pass.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || s.anyOrigin() {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range s.p.AllowedOrigins {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// cors answers the origin check of an HTTP request, adding the CORS headers
// Janus adds. It returns false, having answered 403, for an origin that is
// not allowed.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if !s.originAllowed(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Max-Age", "86400")
	if m := r.Header.Get("Access-Control-Request-Method"); m != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	}
	if hdrs := r.Header.Get("Access-Control-Request-Headers"); hdrs != "" {
		h.Set("Access-Control-Allow-Headers", hdrs)
	}
	return true
}
