package janusapi

import (
	"errors"
	"fmt"

	"github.com/ianua/ianua"
)

// Error codes of the Janus API (janus/apierror.h), with Janus's numbers so
// that clients read them unchanged. Plugin errors carry the plugin's own
// codes instead (see PluginAPI).
const (
	ErrorUnauthorized            = 403
	ErrorUnauthorizedPlugin      = 405
	ErrorTransportSpecific       = 450
	ErrorMissingRequest          = 452
	ErrorUnknownRequest          = 453
	ErrorInvalidJSON             = 454
	ErrorInvalidJSONObject       = 455
	ErrorMissingMandatoryElement = 456
	ErrorInvalidRequestPath      = 457
	ErrorSessionNotFound         = 458
	ErrorHandleNotFound          = 459
	ErrorPluginNotFound          = 460
	ErrorPluginAttach            = 461
	ErrorPluginMessage           = 462
	ErrorPluginDetach            = 463
	ErrorJSEPUnknownType         = 464
	ErrorJSEPInvalidSDP          = 465
	ErrorTrickleInvalidStream    = 466
	ErrorInvalidElementType      = 467
	ErrorSessionConflict         = 468
	ErrorUnexpectedAnswer        = 469
	ErrorTokenNotFound           = 470
	ErrorWebRTCState             = 471
	ErrorNotAcceptingSessions    = 472
	ErrorUnknown                 = 490
)

// apiError is a Janus API error: {"code": N, "reason": "..."}.
type apiError struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (%d)", e.Reason, e.Code) }

func newError(code int, format string, args ...any) *apiError {
	return &apiError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// coreError maps an error of the ianua core (a sentinel of package ianua,
// wrapped) to the Janus API error the Janus core would give.
func coreError(err error, fallback int) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	code := fallback
	for _, c := range []struct {
		err  error
		code int
	}{
		{ianua.ErrRouterClosed, ErrorNotAcceptingSessions},
		{ianua.ErrSessionDestroyed, ErrorSessionNotFound},
		{ianua.ErrUnknownSession, ErrorSessionNotFound},
		{ianua.ErrHandleDetached, ErrorHandleNotFound},
		{ianua.ErrUnknownHandle, ErrorHandleNotFound},
		{ianua.ErrUnknownPlugin, ErrorPluginNotFound},
		{ianua.ErrInvalidJSEP, ErrorJSEPUnknownType},
		{ianua.ErrInvalidSDP, ErrorJSEPInvalidSDP},
		{ianua.ErrNoCommonCodec, ErrorJSEPInvalidSDP},
		{ianua.ErrNoPendingOffer, ErrorUnexpectedAnswer},
		{ianua.ErrWrongState, ErrorWebRTCState},
		{ianua.ErrNoPeerConnection, ErrorWebRTCState},
		{ianua.ErrInvalidCandidate, ErrorTrickleInvalidStream},
		{ianua.ErrTooManyCandidates, ErrorTrickleInvalidStream},
		{ianua.ErrMalformedBody, ErrorPluginMessage},
		{ianua.ErrUnknownRequest, ErrorPluginMessage},
		{ianua.ErrInvalidElement, ErrorPluginMessage},
	} {
		if errors.Is(err, c.err) {
			code = c.code
			break
		}
	}
	return &apiError{Code: code, Reason: err.Error()}
}
