package streaming

import (
	"errors"
	"fmt"

	"github.com/ianua/ianua"
)

// Error codes of Janus Streaming, so existing clients read them unchanged.
const (
	ErrorNoMessage        = 450
	ErrorInvalidJSON      = 451
	ErrorInvalidRequest   = 452
	ErrorMissingElement   = 453
	ErrorInvalidElement   = 454
	ErrorNoSuchMountpoint = 455
	ErrorCantCreate       = 456
	ErrorUnauthorized     = 457
	ErrorCantSwitch       = 458
	ErrorUnknown          = 470
)

// Sentinel errors of the typed API.
var (
	ErrNoSuchMountpoint = errors.New("streaming: no such mountpoint")
	ErrMountpointExists = errors.New("streaming: mountpoint exists")
	ErrUnauthorized     = errors.New("streaming: unauthorized")
	ErrCantCreate       = errors.New("streaming: cannot create mountpoint")
	ErrCantSwitch       = errors.New("streaming: cannot switch")
	ErrNotWatching      = errors.New("streaming: not watching")
)

func perr(code int, sentinel error, format string, args ...any) error {
	return &ianua.PluginError{Code: code, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}
