package janusapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/ianua/ianua"
)

// Admin returns the handler of the Admin API subset, under
// Params.AdminPath ("/admin"), POST requests each with "admin_secret" when
// Params.AdminSecret is set (but info and ping); session and handle ids
// may be in the path, as in Janus:
//
//   - info, ping, get_status;
//   - list_sessions, destroy_session, accept_new_sessions (false refuses
//     "create" with 472, to drain the server);
//   - list_handles, handle_info (ianua's Handle.Info: ICE and DTLS state,
//     selected candidate pair, per-stream counters, and the plugin's
//     "plugin_specific"; "plugin_only" for that part alone),
//     hangup_webrtc, detach_handle;
//   - add_token, allow_token, disallow_token, list_tokens, remove_token
//     (with Params.Tokens set);
//   - message_plugin, for plugins that implement ianua.AdminHandler (sfu:
//     room management; streaming: mountpoints).
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
	case "get_status":
		cfg := s.router.Config()
		ok["status"] = map[string]any{
			"token_auth":              s.tokens.enabled,
			"session_timeout":         int(cfg.SessionTimeout.Seconds()),
			"reclaim_session_timeout": int(s.p.ReclaimTimeout.Seconds()),
			"no_media_timer":          int(cfg.NoMediaTimeout.Seconds()),
			"slowlink_threshold":      cfg.SlowLinkThreshold,
			"accepting_new_sessions":  !s.refusing.Load(),
		}
	case "accept_new_sessions":
		if !r.has("accept") {
			return fail(newError(ErrorMissingMandatoryElement, "Missing mandatory element (accept)"))
		}
		accept, e := r.bool("accept")
		if e != nil {
			return fail(e)
		}
		s.refusing.Store(!accept)
		ok["accept"] = accept
	case "list_sessions":
		ids := []uint64{}
		for _, ss := range s.router.Sessions() {
			ids = append(ids, ss.ID())
		}
		slices.Sort(ids)
		ok["sessions"] = ids
	case "add_token", "allow_token", "disallow_token", "list_tokens", "remove_token":
		data, e := s.tokenRequest(r)
		if e != nil {
			return fail(e)
		}
		if data != nil {
			ok["data"] = data
		}
	case "message_plugin":
		response, e := s.messagePlugin(r)
		if e != nil {
			return fail(e)
		}
		ok["response"] = response
	case "destroy_session", "list_handles", "handle_info", "hangup_webrtc", "detach_handle":
		if sid == 0 {
			return fail(newError(ErrorMissingMandatoryElement, "Missing mandatory element (session_id)"))
		}
		is, err := s.router.Session(sid)
		if err != nil {
			return fail(newError(ErrorSessionNotFound, "No such session %d", sid))
		}
		ok["session_id"] = sid
		switch r.Janus {
		case "destroy_session":
			// As the Janus API's destroy: through the API's session when
			// it has one, so that its transport is told.
			if ss, found := s.session(sid); found {
				ss.destroy()
			} else if err := is.Destroy(); err != nil {
				return fail(coreError(err, ErrorUnknown))
			}
			return marshal(ok)
		case "list_handles":
			ids := []uint64{}
			for _, h := range is.Handles() {
				ids = append(ids, h.ID())
			}
			slices.Sort(ids)
			ok["handles"] = ids
			return marshal(ok)
		}
		if r.HandleID == 0 {
			return fail(newError(ErrorMissingMandatoryElement, "Missing mandatory element (handle_id)"))
		}
		h, err := is.Handle(r.HandleID)
		if err != nil {
			return fail(newError(ErrorHandleNotFound, "No such handle %d in session %d", r.HandleID, sid))
		}
		switch r.Janus {
		case "hangup_webrtc":
			h.Hangup("Admin API")
			return marshal(ok)
		case "detach_handle":
			if err := h.Detach(); err != nil {
				return fail(coreError(err, ErrorPluginDetach))
			}
			return marshal(ok)
		}
		pluginOnly, e := r.bool("plugin_only")
		if e != nil {
			return fail(e)
		}
		var info map[string]any
		b, _ := json.Marshal(h.Info())
		_ = json.Unmarshal(b, &info)
		if pluginOnly {
			info = map[string]any{"plugin_specific": info["plugin_specific"]}
		}
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
	return marshal(ok)
}

func marshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// tokenRequest handles the token requests of the Admin API as Janus does
// (janus.c, janus_request_allow_token): the data of the reply, or the
// error.
func (s *Server) tokenRequest(r *request) (any, *apiError) {
	if !s.tokens.enabled {
		return nil, newError(ErrorUnknown, "Stored-Token based authentication disabled")
	}
	if r.Janus == "list_tokens" {
		return map[string]any{"tokens": s.tokens.list()}, nil
	}
	token, e := r.requiredString("token")
	if e != nil {
		return nil, e
	}
	if r.Janus == "remove_token" {
		if !s.tokens.remove(token) {
			return nil, newError(ErrorUnknown, "Error removing token")
		}
		return nil, nil
	}
	plugins, valid, e := r.strings("plugins")
	if e != nil {
		return nil, e
	}
	known := func(p string) bool { _, ok := s.resolvePlugin(p); return ok }
	if r.Janus == "add_token" {
		// Names that are not plugins are skipped, as in Janus; without
		// any, the token may attach to every plugin.
		plugins = slices.DeleteFunc(plugins, func(p string) bool { return !known(p) })
		if !r.has("plugins") || len(plugins) == 0 {
			plugins = s.pluginNames()
		}
		return map[string]any{"plugins": s.tokens.add(token, plugins)}, nil
	}
	if len(plugins) == 0 {
		return nil, newError(ErrorInvalidElementType, "Invalid element type (plugins should be a non-empty array)")
	}
	if !valid || slices.ContainsFunc(plugins, func(p string) bool { return !known(p) }) {
		return nil, newError(ErrorInvalidElementType, "Invalid element type (some of the provided plugins are invalid)")
	}
	allowed, found := s.tokens.allow(token, plugins, r.Janus == "allow_token")
	if !found {
		return nil, newError(ErrorTokenNotFound, "Token %s not found", token)
	}
	return map[string]any{"plugins": allowed}, nil
}

// messagePlugin passes "request" to a plugin's ianua.AdminHandler and
// returns its response; a plugin error is the response, in the plugin's
// error form ({"videoroom":"event","error_code":N,"error":"..."}), as in
// Janus.
func (s *Server) messagePlugin(r *request) (json.RawMessage, *apiError) {
	plugin, e := r.requiredString("plugin")
	if e != nil {
		return nil, e
	}
	if !r.has("request") {
		return nil, newError(ErrorMissingMandatoryElement, "Missing mandatory element (request)")
	}
	body, e := r.object("request")
	if e != nil {
		return nil, e
	}
	name, found := s.resolvePlugin(plugin)
	if !found {
		return nil, newError(ErrorPluginNotFound, "Invalid plugin")
	}
	p, _ := s.router.Plugin(name)
	ah, isAdmin := p.(ianua.AdminHandler)
	if !isAdmin {
		return nil, newError(ErrorUnknown, "Plugin doesn't support Admin API messages")
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.p.MessageTimeout)
	defer cancel()
	resp, err := ah.HandleAdminMessage(ctx, body)
	if err != nil {
		var pe *ianua.PluginError
		if !errors.As(err, &pe) {
			return nil, newError(ErrorPluginMessage, "Error handling the request: %v", err)
		}
		b, _ := json.Marshal(s.pluginAPI(name).errorData(pe.Code, pe.Reason))
		return b, nil
	}
	if len(resp) == 0 || !json.Valid(resp) {
		resp = json.RawMessage("{}")
	}
	return resp, nil
}
