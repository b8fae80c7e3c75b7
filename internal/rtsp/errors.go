package rtsp

import "errors"

// Sentinel errors.
var (
	// ErrBadURL: not an rtsp:// URL with a host.
	ErrBadURL = errors.New("rtsp: invalid URL")
	// ErrUnauthorized: the server refused the credentials (or none were
	// given and it wants some).
	ErrUnauthorized = errors.New("rtsp: unauthorized")
	// ErrStatus: the server answered with another error status.
	ErrStatus = errors.New("rtsp: error status")
	// ErrBadResponse: the server's answer is not RTSP, or lacks what the
	// request needs (an SDP, a Session, a Transport).
	ErrBadResponse = errors.New("rtsp: bad response")
)
