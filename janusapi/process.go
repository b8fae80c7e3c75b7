package janusapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// process answers one request from conn (nil: HTTP), as janus.c's
// janus_process_incoming_request does. after, if not nil, must be called
// once the reply is sent: it releases the events the request caused, which
// were held back so that they follow the reply.
func (s *Server) process(ctx context.Context, conn *wsConn, r *request) (out *message, after func()) {
	tx := r.Transaction
	if r.SessionID == 0 && r.HandleID == 0 {
		switch r.Janus {
		case "info":
			return s.info(tx), nil
		case "ping":
			return &message{Janus: "pong", Transaction: tx}, nil
		case "create":
			return s.create(conn, r), nil
		}
		return errorMessage(0, tx, newError(ErrorInvalidRequestPath, "Unhandled request '%s' at this path", r.Janus)), nil
	}
	sid := r.SessionID
	if sid == 0 {
		return errorMessage(0, tx, newError(ErrorSessionNotFound, "Invalid session")), nil
	}
	if r.hasHandle && r.HandleID == 0 {
		return errorMessage(sid, tx, newError(ErrorHandleNotFound, "Invalid handle")), nil
	}
	if !s.authorized(r) {
		return errorMessage(sid, tx, newError(ErrorUnauthorized, "Unauthorized request (wrong or missing secret/token)")), nil
	}
	ss, ok := s.session(sid)
	if !ok || ss.s.KeepAlive() != nil {
		return errorMessage(sid, tx, newError(ErrorSessionNotFound, "No such session %d", sid)), nil
	}
	var h *ianua.Handle
	if r.HandleID != 0 {
		var err error
		if h, err = ss.s.Handle(r.HandleID); err != nil {
			return errorMessage(sid, tx, newError(ErrorHandleNotFound, "No such handle %d in session %d", r.HandleID, sid)), nil
		}
	}
	wrongPath := func() (*message, func()) {
		return errorMessage(sid, tx, newError(ErrorInvalidRequestPath, "Unhandled request '%s' at this path", r.Janus)), nil
	}
	ack := &message{Janus: "ack", SessionID: sid, Transaction: tx}
	success := &message{Janus: "success", SessionID: sid, Transaction: tx}

	switch r.Janus {
	case "keepalive":
		return ack, nil
	case "claim":
		ss.claim(conn)
		return success, nil
	case "attach":
		if h != nil {
			return wrongPath()
		}
		return s.attach(ss, r), nil
	case "destroy":
		if h != nil {
			return wrongPath()
		}
		ss.destroy()
		return success, nil
	case "detach":
		if h == nil {
			return wrongPath()
		}
		if err := h.Detach(); err != nil {
			return errorMessage(sid, tx, coreError(err, ErrorPluginDetach)), nil
		}
		return success, nil
	case "hangup":
		if h == nil {
			return wrongPath()
		}
		h.Hangup("Janus API")
		return success, nil
	case "message":
		if h == nil {
			return wrongPath()
		}
		return s.message(ctx, ss, h, r)
	case "trickle":
		if h == nil {
			return wrongPath()
		}
		if e := s.trickle(h, r); e != nil {
			return errorMessage(sid, tx, e), nil
		}
		return ack, nil
	}
	return errorMessage(sid, tx, newError(ErrorUnknownRequest, "Unknown request '%s'", r.Janus)), nil
}

// authorized checks the API secret or token, as Janus does: with both
// configured, either one is enough.
func (s *Server) authorized(r *request) bool {
	if s.p.APISecret == "" && !s.tokens.enabled {
		return true
	}
	if s.p.APISecret != "" {
		if secret, e := r.string("apisecret"); e == nil && secret != "" &&
			subtle.ConstantTimeCompare([]byte(secret), []byte(s.p.APISecret)) == 1 {
			return true
		}
	}
	if s.tokens.enabled {
		if token, e := r.string("token"); e == nil && token != "" && s.tokens.valid(token) {
			return true
		}
	}
	return false
}

func (s *Server) create(conn *wsConn, r *request) *message {
	tx := r.Transaction
	if s.refusing.Load() {
		return errorMessage(0, tx, newError(ErrorNotAcceptingSessions, "Not accepting new sessions"))
	}
	if !s.authorized(r) {
		return errorMessage(0, tx, newError(ErrorUnauthorized, "Unauthorized request (wrong or missing secret/token)"))
	}
	if r.has("id") {
		// Janus lets the client choose the id; ianua ids are the router's.
		return errorMessage(0, tx, newError(ErrorUnknown, "Client-chosen session ids are not supported"))
	}
	ss, err := s.newSession(conn)
	if err != nil {
		return errorMessage(0, tx, coreError(err, ErrorUnknown))
	}
	return &message{Janus: "success", Transaction: tx, Data: map[string]uint64{"id": ss.id}}
}

func (s *Server) attach(ss *session, r *request) *message {
	sid, tx := ss.id, r.Transaction
	plugin, e := r.requiredString("plugin")
	if e != nil {
		return errorMessage(sid, tx, e)
	}
	opaque, e := r.string("opaque_id")
	if e != nil {
		return errorMessage(sid, tx, e)
	}
	name, ok := s.resolvePlugin(plugin)
	if !ok {
		return errorMessage(sid, tx, newError(ErrorPluginNotFound, "No such plugin '%s'", plugin))
	}
	if s.tokens.enabled {
		// A request with the API secret instead passes; a stored token
		// must allow the plugin.
		if token, _ := r.string("token"); token != "" && s.tokens.valid(token) && !s.tokens.allows(token, plugin, name) {
			return errorMessage(sid, tx, newError(ErrorUnauthorizedPlugin, "Provided token can't access plugin '%s'", plugin))
		}
	}
	h, err := ss.s.Attach(name)
	if err != nil {
		return errorMessage(sid, tx, coreError(err, ErrorPluginAttach))
	}
	ss.addHandle(h.ID(), handleState{plugin: plugin, api: s.pluginAPI(name), opaqueID: opaque})
	return &message{Janus: "success", SessionID: sid, Transaction: tx, Data: map[string]uint64{"id": h.ID()}}
}

// message passes a plugin message on and turns the plugin's reply (or
// error, see PluginAPI) into Janus's answer.
func (s *Server) message(ctx context.Context, ss *session, h *ianua.Handle, r *request) (*message, func()) {
	sid, tx, hid := ss.id, r.Transaction, h.ID()
	body, e := r.object("body")
	if e == nil && body == nil {
		e = newError(ErrorMissingMandatoryElement, "Missing mandatory element (body)")
	}
	if e != nil {
		return errorMessage(sid, tx, e), nil
	}
	var j *ianua.JSEP
	if _, ok := r.fields["jsep"]; ok {
		pj, e := parseJSEP(r.fields["jsep"])
		if e != nil {
			return errorMessage(sid, tx, e), nil
		}
		j = &ianua.JSEP{Type: *pj.Type, SDP: *pj.SDP, Trickle: pj.Trickle, E2EE: pj.E2EE}
	}
	hs, ok := ss.handle(hid)
	if !ok {
		hs = handleState{plugin: h.PluginName(), api: s.pluginAPI(h.PluginName())}
	}

	ss.hold(hid)
	var extra []byte
	after := func() { ss.release(hid, extra) }
	mctx, cancel := context.WithTimeout(ctx, s.p.MessageTimeout)
	reply, err := h.Message(mctx, ianua.Message{Body: body, JSEP: j, Transaction: tx})
	cancel()

	var pe *ianua.PluginError
	switch {
	case err == nil && reply.Data != nil && !reply.Async:
		if !isObject(reply.Data) || !json.Valid(reply.Data) {
			return errorMessage(sid, tx, newError(ErrorPluginMessage, "Plugin returned an invalid JSON response")), after
		}
		return &message{Janus: "success", SessionID: sid, Transaction: tx, Sender: hid,
			PluginData: &pluginData{Plugin: hs.plugin, Data: reply.Data}}, after
	case err == nil:
		return &message{Janus: "ack", SessionID: sid, Transaction: tx}, after
	case errors.As(err, &pe):
		data := hs.api.errorData(pe.Code, pe.Reason)
		if hs.api.synchronous(body) {
			return &message{Janus: "success", SessionID: sid, Transaction: tx, Sender: hid,
				PluginData: &pluginData{Plugin: hs.plugin, Data: data}}, after
		}
		ev := &message{Janus: "event", SessionID: sid, Transaction: tx, Sender: hid,
			PluginData: &pluginData{Plugin: hs.plugin, Data: data}}
		extra = ev.marshal()
		return &message{Janus: "ack", SessionID: sid, Transaction: tx}, after
	}
	return errorMessage(sid, tx, coreError(err, ErrorPluginMessage)), after
}

// trickle passes the client's candidates on. As in Janus, a candidate
// that arrives before its session description is kept until it comes, and
// the elements of "candidates" are applied as far as they go.
func (s *Server) trickle(h *ianua.Handle, r *request) *apiError {
	one, many := r.has("candidate"), r.has("candidates")
	switch {
	case !one && !many:
		return newError(ErrorMissingMandatoryElement, "Missing mandatory element (candidate|candidates)")
	case one && many:
		return newError(ErrorInvalidJSON, "Can't have both candidate and candidates")
	case one:
		c, e := parseCandidate(r.fields["candidate"])
		if e != nil {
			return e
		}
		return s.applyCandidate(h, c)
	}
	var list []json.RawMessage
	if json.Unmarshal(r.fields["candidates"], &list) != nil {
		return newError(ErrorInvalidElementType, "candidates is not an array")
	}
	for _, raw := range list {
		c, e := parseCandidate(raw)
		if e == nil {
			e = s.applyCandidate(h, c)
		}
		if e != nil {
			h.Logger().Debug("janusapi: candidate ignored", "err", e)
		}
	}
	return nil
}

func (s *Server) applyCandidate(h *ianua.Handle, c trickleCandidate) *apiError {
	var err error
	if c.completed {
		err = h.TrickleCompleted()
	} else {
		err = h.Trickle(webrtc.ICECandidateInit{Candidate: c.candidate, SDPMid: c.sdpMid, SDPMLineIndex: c.sdpMLineIndex})
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ianua.ErrNoPeerConnection):
		// A late candidate of a PeerConnection that was hung up: Janus
		// acknowledges those too.
		h.Logger().Debug("janusapi: candidate for a hung-up PeerConnection ignored", "candidate", c)
		return nil
	}
	return coreError(err, ErrorTrickleInvalidStream)
}
