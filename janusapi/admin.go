package janusapi

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"slices"
)

// Admin returns the handler of the Admin API subset, under
// Params.AdminPath ("/admin"): POST requests info, ping, list_sessions,
// list_handles (session_id) and handle_info (session_id, handle_id, from
// ianua's Handle.Info: ICE and DTLS state, selected candidate pair,
// per-stream counters, and the plugin's "plugin_specific"), each with "admin_secret" when Params.AdminSecret
// is set. Sessions and handle ids may be in the path, as in Janus.
func (s *Server) Admin() http.Handler { return http.HandlerFunc(s.serveAdmin) }

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		return
	}
	parts, ok := splitPath(r.URL.Path, s.p.AdminPath)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusOK)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
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
	writeJSON(w, http.StatusOK, s.admin(req))
}

func (s *Server) admin(r *request) []byte {
	tx, sid := r.Transaction, r.SessionID
	fail := func(e *apiError) []byte { return errorMessage(sid, tx, e).marshal() }
	switch r.Janus {
	case "info":
		return s.info(tx).marshal()
	case "ping":
		return (&message{Janus: "pong", Transaction: tx}).marshal()
	}
	if s.p.AdminSecret != "" {
		secret, e := r.string("admin_secret")
		if e != nil || subtle.ConstantTimeCompare([]byte(secret), []byte(s.p.AdminSecret)) != 1 {
			return fail(newError(ErrorUnauthorized, "Unauthorized request (wrong or missing secret/token)"))
		}
	}
	ok := map[string]any{"janus": "success", "transaction": tx}
	switch r.Janus {
	case "list_sessions":
		ids := []uint64{}
		for _, ss := range s.router.Sessions() {
			ids = append(ids, ss.ID())
		}
		slices.Sort(ids)
		ok["sessions"] = ids
	case "list_handles", "handle_info":
		if sid == 0 {
			return fail(newError(ErrorMissingMandatoryElement, "Missing mandatory element (session_id)"))
		}
		is, err := s.router.Session(sid)
		if err != nil {
			return fail(newError(ErrorSessionNotFound, "No such session %d", sid))
		}
		ok["session_id"] = sid
		if r.Janus == "list_handles" {
			ids := []uint64{}
			for _, h := range is.Handles() {
				ids = append(ids, h.ID())
			}
			slices.Sort(ids)
			ok["handles"] = ids
			break
		}
		if r.HandleID == 0 {
			return fail(newError(ErrorMissingMandatoryElement, "Missing mandatory element (handle_id)"))
		}
		h, err := is.Handle(r.HandleID)
		if err != nil {
			return fail(newError(ErrorHandleNotFound, "No such handle %d in session %d", r.HandleID, sid))
		}
		var info map[string]any
		b, _ := json.Marshal(h.Info())
		_ = json.Unmarshal(b, &info)
		if ss, found := s.session(sid); found {
			if hs, found := ss.handle(h.ID()); found && hs.opaqueID != "" {
				info["opaque_id"] = hs.opaqueID
			}
		}
		ok["handle_id"] = h.ID()
		ok["info"] = info
	default:
		return fail(newError(ErrorUnknownRequest, "Unknown request '%s'", r.Janus))
	}
	b, _ := json.Marshal(ok)
	return b
}
