package playoutdelay

import "errors"

var (
	// ErrRange is returned for a delay outside 0..Max or a minimum above
	// the maximum.
	ErrRange = errors.New("playoutdelay: delays must be 0..4095 (10 ms units), min <= max")
	// ErrSize is returned when the extension's data is not 3 bytes.
	ErrSize = errors.New("playoutdelay: the extension is 3 bytes")
)
