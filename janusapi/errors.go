package janusapi

import "errors"

// Sentinel errors of the Go API. Errors sent to Janus clients are
// apiError values with Janus's codes (apierror.go).
var (
	// ErrNoRouter: Params.Router is nil.
	ErrNoRouter = errors.New("janusapi: Params.Router is nil")
	// ErrInvalidBackend: EventHandlerParams.Backend is not an http:// or
	// https:// URL.
	ErrInvalidBackend = errors.New("janusapi: event handler backend must be an http or https URL")
	// ErrBackendRefused: the event handler's backend answered a POST
	// with a status other than 2xx.
	ErrBackendRefused = errors.New("janusapi: event handler backend refused the events")
)
