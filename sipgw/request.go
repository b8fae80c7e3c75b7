package sipgw

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// Request is the union of the fields of the Janus SIP requests the plugin
// reads; each request uses the ones its Janus documentation lists.
type Request struct {
	Request string `json:"request"`

	// register: Type "guest" sends no REGISTER (Janus also has "helper",
	// not supported yet). For info, Type is the content type.
	Type          string            `json:"type,omitempty"`
	SendRegister  *bool             `json:"send_register,omitempty"`
	Username      string            `json:"username,omitempty"`
	Secret        string            `json:"secret,omitempty"`
	HA1Secret     string            `json:"ha1_secret,omitempty"`
	AuthUser      string            `json:"authuser,omitempty"`
	DisplayName   string            `json:"display_name,omitempty"`
	UserAgent     string            `json:"user_agent,omitempty"`
	Proxy         string            `json:"proxy,omitempty"`
	OutboundProxy string            `json:"outbound_proxy,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Refresh       bool              `json:"refresh,omitempty"`
	RegisterTTL   *int              `json:"register_ttl,omitempty"`
	ForceTCP      bool              `json:"force_tcp,omitempty"`
	ForceUDP      bool              `json:"force_udp,omitempty"`
	MasterID      *uint64           `json:"master_id,omitempty"`

	// call (also uri for message and transfer, call_id for message)
	URI         string `json:"uri,omitempty"`
	SRTP        string `json:"srtp,omitempty"`
	SRTPProfile string `json:"srtp_profile,omitempty"`
	CallID      string `json:"call_id,omitempty"`
	// ReferID, in call and decline, is the refer_id of a "transfer"
	// event: the transferor hears how the transfer went.
	ReferID *uint32 `json:"refer_id,omitempty"`
	// AutoacceptReinvites false, in call and accept, relays the peer's
	// re-INVITEs to the browser ("updatingcall") instead of answering
	// them in the plugin.
	AutoacceptReinvites *bool `json:"autoaccept_reinvites,omitempty"`

	// Room, in call, places the call into that room of the router's
	// video-room plugin, with no JSEP (an ianua extension, RoomDial);
	// PIN is the room's pin, Display the callee's name in the room.
	Room    *uint64 `json:"room,omitempty"`
	PIN     string  `json:"pin,omitempty"`
	Display string  `json:"display,omitempty"`

	// decline
	Code *int `json:"code,omitempty"`

	// hold
	Direction string `json:"direction,omitempty"`

	// dtmf_info
	Digit    string `json:"digit,omitempty"`
	Duration *int   `json:"duration,omitempty"`

	// info and message
	Content     string `json:"content,omitempty"`
	ContentType string `json:"content_type,omitempty"`

	// transfer: the Call-ID of the call an attended transfer replaces.
	Replace string `json:"replace,omitempty"`
}

// ParseRequest decodes a message body. It returns a *ianua.PluginError with
// a Janus SIP code on bad input; the request-specific checks come later.
func ParseRequest(body json.RawMessage) (Request, error) {
	var req Request
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return req, perr(ErrorNoMessage, ianua.ErrMalformedBody, "No message??")
	}
	if trimmed[0] != '{' {
		return req, perr(ErrorInvalidJSON, ianua.ErrMalformedBody, "JSON error: not an object")
	}
	if err := json.Unmarshal(trimmed, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return req, perr(ErrorInvalidElement, ianua.ErrInvalidElement,
				"Invalid element type (%s should be %s)", typeErr.Field, typeErr.Type)
		}
		return req, perr(ErrorInvalidJSON, ianua.ErrMalformedBody, "JSON error: %v", err)
	}
	if req.Request == "" {
		return req, perr(ErrorMissingElement, ErrMissingElement, "Missing element (request)")
	}
	req.Request = strings.ToLower(req.Request)
	return req, nil
}

// parseURI parses a user-supplied SIP URI. CR, LF and NUL are refused
// before parsing: in a Request-URI or a To header they would end the line
// and inject headers of the client's choosing (RFC 3261 section 25.1).
func parseURI(field, s string) (sip.Uri, error) {
	var u sip.Uri
	if strings.ContainsAny(s, "\r\n\x00") {
		return u, perr(ErrorInvalidAddress, ErrHeaderInjection, "Invalid %s address (CR/LF)", field)
	}
	if s == "" {
		return u, perr(ErrorMissingElement, ErrMissingElement, "Missing element (%s)", field)
	}
	if err := sip.ParseUri(s, &u); err != nil || u.Host == "" ||
		(u.Scheme != "sip" && u.Scheme != "sips") || strings.ContainsAny(s, " \t<>\"") {
		return u, perr(ErrorInvalidAddress, ErrInvalidAddress, "Invalid %s address %s", field, s)
	}
	return u, nil
}

// parseUserURI is parseURI for the URIs that name a user (username, the
// callee): a user part is required.
func parseUserURI(field, s string) (sip.Uri, error) {
	u, err := parseURI(field, s)
	if err != nil {
		return u, err
	}
	if u.User == "" {
		return u, perr(ErrorInvalidAddress, ErrInvalidAddress, "Invalid %s address %s", field, s)
	}
	return u, nil
}

// customHeaders turns the "headers" object into SIP headers, sorted by
// name so that the message does not depend on map order. A name that is
// not an RFC 3261 token, or a value with CR, LF or NUL, is refused (Janus
// skips them silently; refusing tells the client). Headers the stack owns
// are refused too: overriding them would break the dialog.
func customHeaders(h map[string]string) ([]sip.Header, error) {
	if len(h) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]sip.Header, 0, len(h))
	for _, name := range names {
		value := h[name]
		if !isToken(name) {
			return nil, perr(ErrorInvalidElement, ErrHeaderInjection, "Invalid header name %q", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, perr(ErrorInvalidElement, ErrHeaderInjection, "Invalid value of header %s (CR/LF)", name)
		}
		if reservedHeader(name) {
			return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Header %s cannot be set", name)
		}
		out = append(out, sip.NewHeader(name, value))
	}
	return out, nil
}

// reservedHeader names the headers the SIP stack writes itself, in long
// and compact form (RFC 3261 section 7.3.3).
func reservedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq",
		"content-length", "l", "content-type", "c", "max-forwards",
		"contact", "m", "route", "record-route", "expires":
		return true
	}
	return false
}

// isToken says whether s is an RFC 3261 token (section 25.1), the grammar
// of header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// safeText refuses CR, LF and NUL in a value that ends up inside a header
// (a display name, a user agent).
func safeText(field, s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return perr(ErrorInvalidElement, ErrHeaderInjection, "Invalid element (%s contains CR/LF)", field)
	}
	return nil
}

// quoteDisplayName escapes a display name for a quoted-string (RFC 3261
// section 25.1: quoted-pair), so that a quote in it cannot end the string.
func quoteDisplayName(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
