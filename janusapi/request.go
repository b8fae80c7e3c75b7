package janusapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// request is one Janus API request, its fields kept raw until the request
// type says which it needs and of what type.
type request struct {
	fields      map[string]json.RawMessage
	Janus       string // lower case
	Transaction string
	SessionID   uint64
	HandleID    uint64
	hasHandle   bool // a handle_id was given, even an invalid one
}

// parseRequest decodes a request and checks the fields every request has
// (Janus: "transaction" and "janus", both strings). The returned error is
// an *apiError; the request's transaction and session are set as far as
// they could be read, for the error's answer.
func parseRequest(raw []byte) (*request, *apiError) {
	r := &request{}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return r, newError(ErrorInvalidJSON, "JSON error: empty request")
	}
	if err := json.Unmarshal(trimmed, &r.fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return r, newError(ErrorInvalidJSONObject, "JSON error: not an object")
		}
		return r, newError(ErrorInvalidJSON, "JSON error: %v", err)
	}
	if r.fields == nil { // "null"
		return r, newError(ErrorInvalidJSONObject, "JSON error: not an object")
	}
	// Ids count only when they are positive integers, as in Janus; the
	// session's is read first so that errors can name it.
	r.SessionID, _ = r.uint("session_id")
	r.HandleID, _ = r.uint("handle_id")
	r.hasHandle = r.has("handle_id")
	tx, err := r.requiredString("transaction")
	if err != nil {
		return r, err
	}
	r.Transaction = tx
	janus, err := r.requiredString("janus")
	if err != nil {
		return r, err
	}
	r.Janus = strings.ToLower(janus)
	return r, nil
}

// uint reads a positive integer field.
func (r *request) uint(name string) (uint64, bool) {
	raw, ok := r.fields[name]
	if !ok {
		return 0, false
	}
	var v uint64
	if json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	return v, true
}

// has says whether a field is present and not null.
func (r *request) has(name string) bool {
	raw, ok := r.fields[name]
	return ok && string(raw) != "null"
}

func (r *request) requiredString(name string) (string, *apiError) {
	if !r.has(name) {
		return "", newError(ErrorMissingMandatoryElement, "Missing mandatory element (%s)", name)
	}
	return r.string(name)
}

// string reads an optional string field ("" when absent).
func (r *request) string(name string) (string, *apiError) {
	if !r.has(name) {
		return "", nil
	}
	var s string
	if json.Unmarshal(r.fields[name], &s) != nil {
		return "", newError(ErrorInvalidElementType, "Invalid element type (%s should be a string)", name)
	}
	return s, nil
}

// bool reads an optional boolean field (false when absent).
func (r *request) bool(name string) (bool, *apiError) {
	if !r.has(name) {
		return false, nil
	}
	var b bool
	if json.Unmarshal(r.fields[name], &b) != nil {
		return false, newError(ErrorInvalidElementType, "Invalid element type (%s should be a boolean)", name)
	}
	return b, nil
}

// strings reads an optional array field; ok says whether its elements are
// all strings.
func (r *request) strings(name string) (list []string, ok bool, e *apiError) {
	if !r.has(name) {
		return nil, true, nil
	}
	var raw []json.RawMessage
	if json.Unmarshal(r.fields[name], &raw) != nil {
		return nil, false, newError(ErrorInvalidElementType, "Invalid element type (%s should be an array)", name)
	}
	ok = true
	for _, v := range raw {
		var s string
		if json.Unmarshal(v, &s) != nil {
			ok = false
			continue
		}
		list = append(list, s)
	}
	return list, ok, nil
}

// object reads a field that must be a JSON object; nil when absent.
func (r *request) object(name string) (json.RawMessage, *apiError) {
	if !r.has(name) {
		return nil, nil
	}
	raw := r.fields[name]
	if !isObject(raw) {
		return nil, newError(ErrorInvalidElementType, "Invalid element type (%s should be an object)", name)
	}
	return raw, nil
}

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

// jsep is the "jsep" of a message, checked as Janus checks it.
type jsep struct {
	Type    *string `json:"type"`
	SDP     *string `json:"sdp"`
	Trickle *bool   `json:"trickle"`
	// E2EE is true only for a JSON true, as Janus's json_is_true.
	E2EE bool
}

func parseJSEP(raw json.RawMessage) (*jsep, *apiError) {
	if !isObject(raw) {
		return nil, newError(ErrorInvalidJSONObject, "Invalid jsep object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, newError(ErrorInvalidJSON, "JSEP error: %v", err)
	}
	var j jsep
	for _, f := range []struct {
		name string
		dst  any
		kind string
		req  bool
	}{
		{"type", &j.Type, "a string", true},
		{"sdp", &j.SDP, "a string", true},
		{"trickle", &j.Trickle, "a boolean", false},
	} {
		v, ok := fields[f.name]
		if !ok || string(v) == "null" {
			if f.req {
				return nil, newError(ErrorMissingMandatoryElement, "JSEP error: missing mandatory element (%s)", f.name)
			}
			continue
		}
		if json.Unmarshal(v, f.dst) != nil {
			return nil, newError(ErrorInvalidElementType, "JSEP error: invalid element type (%s should be %s)", f.name, f.kind)
		}
	}
	j.E2EE = string(bytes.TrimSpace(fields["e2ee"])) == "true"
	switch strings.ToLower(*j.Type) {
	case "offer", "answer":
		*j.Type = strings.ToLower(*j.Type)
	default:
		return nil, newError(ErrorJSEPUnknownType, "JSEP error: unknown message type '%s'", *j.Type)
	}
	return &j, nil
}

// trickleCandidate is one element of "candidate" or "candidates".
type trickleCandidate struct {
	completed     bool
	candidate     string
	sdpMid        *string
	sdpMLineIndex *uint16
}

// parseCandidate checks a trickled candidate as Janus does: an object
// with "completed", or with "candidate" and "sdpMid" or "sdpMLineIndex".
func parseCandidate(raw json.RawMessage) (trickleCandidate, *apiError) {
	var c trickleCandidate
	if !isObject(raw) {
		// Janus reads anything but an object as end-of-candidates.
		c.completed = true
		return c, nil
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		return c, newError(ErrorInvalidJSON, "Trickle error: %v", err)
	}
	if _, ok := f["completed"]; ok {
		c.completed = true
		return c, nil
	}
	if v, ok := f["sdpMid"]; ok && string(v) != "null" {
		var mid string
		if json.Unmarshal(v, &mid) != nil {
			return c, newError(ErrorInvalidElementType, "Trickle error: invalid element type (sdpMid should be a string)")
		}
		c.sdpMid = &mid
	}
	if v, ok := f["sdpMLineIndex"]; ok && string(v) != "null" {
		var idx uint16
		if json.Unmarshal(v, &idx) != nil {
			return c, newError(ErrorInvalidElementType, "Trickle error: invalid element type (sdpMLineIndex should be a positive integer)")
		}
		c.sdpMLineIndex = &idx
	}
	if c.sdpMid == nil && c.sdpMLineIndex == nil {
		return c, newError(ErrorMissingMandatoryElement, "Trickle error: missing mandatory element (sdpMid or sdpMLineIndex)")
	}
	v, ok := f["candidate"]
	if !ok || string(v) == "null" {
		return c, newError(ErrorMissingMandatoryElement, "Trickle error: missing mandatory element (candidate)")
	}
	if json.Unmarshal(v, &c.candidate) != nil {
		return c, newError(ErrorInvalidElementType, "Trickle error: invalid element type (candidate should be a string)")
	}
	if c.candidate == "" {
		c.completed = true
	}
	return c, nil
}

func (c trickleCandidate) String() string {
	if c.completed {
		return "end-of-candidates"
	}
	return fmt.Sprintf("%q", c.candidate)
}
