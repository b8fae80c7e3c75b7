package rtpmunge

import "errors"

// Errors returned by the parsers; test them with errors.Is.
var (
	// ErrShortPayload is returned for a payload that ends inside its
	// payload descriptor, or has nothing after it.
	ErrShortPayload = errors.New("rtpmunge: payload too short")
)
