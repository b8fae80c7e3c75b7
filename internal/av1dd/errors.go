package av1dd

import "errors"

// Errors returned by Parser.Parse; test them with errors.Is.
var (
	// ErrShort is returned for a descriptor that ends inside a field.
	ErrShort = errors.New("av1dd: descriptor too short")
	// ErrNoStructure is returned for a packet that needs a frame
	// dependency structure when none was received yet.
	ErrNoStructure = errors.New("av1dd: no frame dependency structure")
	// ErrUnknownTemplate is returned for a template id outside the
	// current structure: a new structure was sent and not received (A.4.2:
	// "values out of the valid range indicate a change of the Frame
	// dependency structure").
	ErrUnknownTemplate = errors.New("av1dd: template id outside the structure")
	// ErrInvalid is returned for a structure beyond the spec's limits
	// (more than 64 templates, spatial id above 3, temporal id above 7).
	ErrInvalid = errors.New("av1dd: invalid frame dependency structure")
)
