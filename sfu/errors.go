package sfu

import (
	"errors"
	"fmt"

	"github.com/ianua/ianua"
)

// Error codes of Janus VideoRoom, so existing clients read them unchanged.
const (
	ErrorUnknown          = 499
	ErrorNoMessage        = 421
	ErrorInvalidJSON      = 422
	ErrorInvalidRequest   = 423
	ErrorJoinFirst        = 424
	ErrorAlreadyJoined    = 425
	ErrorNoSuchRoom       = 426
	ErrorRoomExists       = 427
	ErrorNoSuchFeed       = 428
	ErrorMissingElement   = 429
	ErrorInvalidElement   = 430
	ErrorInvalidSDPType   = 431
	ErrorPublishersFull   = 432
	ErrorUnauthorized     = 433
	ErrorAlreadyPublished = 434
	ErrorNotPublished     = 435
	ErrorIDExists         = 436
	ErrorInvalidSDP       = 437
	ErrorInvalidFeed      = 438
)

// Sentinel errors of the typed API; each *ianua.PluginError the plugin
// returns wraps one of these or one of package ianua.
var (
	ErrNoSuchRoom       = errors.New("sfu: no such room")
	ErrRoomExists       = errors.New("sfu: room exists")
	ErrNoSuchFeed       = errors.New("sfu: no such feed")
	ErrUnauthorized     = errors.New("sfu: unauthorized")
	ErrPublishersFull   = errors.New("sfu: maximum number of publishers reached")
	ErrAlreadyPublished = errors.New("sfu: already published")
	ErrNotPublished     = errors.New("sfu: not published")
	ErrIDExists         = errors.New("sfu: participant id exists")
	ErrJoinFirst        = errors.New("sfu: join first")
	ErrAlreadyJoined    = errors.New("sfu: already joined")
	// ErrE2EERequired: the room takes only end-to-end encrypted media.
	ErrE2EERequired = errors.New("sfu: room requires end-to-end encrypted media")
	// ErrE2EEMix: one subscription cannot mix end-to-end encrypted feeds
	// with others (the client decrypts all of its media or none).
	ErrE2EEMix = errors.New("sfu: cannot mix end-to-end encrypted and other feeds")
)

func perr(code int, sentinel error, format string, args ...any) error {
	return &ianua.PluginError{Code: code, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}
