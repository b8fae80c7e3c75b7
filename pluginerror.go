package ianua

import "fmt"

// PluginError is an error a plugin returns with a numeric code of its
// message language (for Janus plugins, the codes of their "error_code"
// field), so that a host speaking that language can relay it as is. Err is
// one of the sentinel errors of this package.
type PluginError struct {
	Code   int
	Reason string
	Err    error
}

func (e *PluginError) Error() string {
	return fmt.Sprintf("%s (%d)", e.Reason, e.Code)
}

// Unwrap lets errors.Is see the sentinel.
func (e *PluginError) Unwrap() error { return e.Err }
