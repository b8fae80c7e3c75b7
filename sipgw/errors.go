package sipgw

import (
	"errors"
	"fmt"

	"github.com/ianua/ianua"
)

// Error codes of the Janus SIP plugin (janus_sip.c), so existing clients
// read them unchanged.
const (
	ErrorUnknown           = 499
	ErrorNoMessage         = 440
	ErrorInvalidJSON       = 441
	ErrorInvalidRequest    = 442
	ErrorMissingElement    = 443
	ErrorInvalidElement    = 444
	ErrorAlreadyRegistered = 445
	ErrorInvalidAddress    = 446
	ErrorWrongState        = 447
	ErrorMissingSDP        = 448
	// ErrorSIPStack is Janus's "libsofia error": the SIP stack failed.
	ErrorSIPStack     = 449
	ErrorIO           = 450
	ErrorRecording    = 451
	ErrorTooStrict    = 452
	ErrorHelper       = 453
	ErrorNoSuchCallID = 454
	ErrorNoSuchStream = 455
)

// Sentinel errors. Every *ianua.PluginError the plugin returns wraps one of
// these or one of package ianua; test them with errors.Is.
var (
	// ErrClosed is returned after Plugin.Close.
	ErrClosed = errors.New("sipgw: plugin closed")
	// ErrBadParams is returned by New for unusable Params.
	ErrBadParams = errors.New("sipgw: bad parameters")
	// ErrMissingElement is returned for a request without a field it needs.
	ErrMissingElement = errors.New("sipgw: missing element")
	// ErrAlreadyRegistered is returned by register on a handle that is
	// registered (or registering) and did not ask for a refresh.
	ErrAlreadyRegistered = errors.New("sipgw: already registered")
	// ErrInvalidAddress is returned for a SIP URI that does not parse or
	// that carries characters a SIP message cannot (CR, LF).
	ErrInvalidAddress = errors.New("sipgw: invalid SIP address")
	// ErrCallState is returned for a request the registration or call
	// state does not allow (Janus "wrong state").
	ErrCallState = errors.New("sipgw: wrong state")
	// ErrMissingSDP is returned when a request needs a JSEP it lacks, or
	// one the SIP side cannot use.
	ErrMissingSDP = errors.New("sipgw: missing or unusable SDP")
	// ErrHeaderInjection is returned for a user-supplied header whose name
	// is not a token or whose value holds CR, LF or NUL (RFC 3261 section
	// 25.1): they would end the header and let the client write its own.
	ErrHeaderInjection = errors.New("sipgw: header injection refused")
	// ErrNoPorts is returned when no RTP port pair is free in the range.
	ErrNoPorts = errors.New("sipgw: no free RTP ports")
	// ErrTransportUnavailable is returned for a request that asks for a
	// SIP transport the plugin does not listen on (TCP without
	// Params.TCP, TLS or sips: without Params.TLSConfig: a URI's
	// transport parameter, force_tcp) or does not know (ws, sctp).
	ErrTransportUnavailable = errors.New("sipgw: SIP transport not available")
	// ErrNotSupported is returned for Janus SIP requests and options this
	// plugin does not implement yet.
	ErrNotSupported = errors.New("sipgw: not supported yet")
)

func perr(code int, sentinel error, format string, args ...any) error {
	return &ianua.PluginError{Code: code, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}
