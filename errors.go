package ianua

import "errors"

// Errors returned by the core. They are wrapped with details; test them with
// errors.Is. Every call that returns one of them has changed nothing.
var (
	// ErrRouterClosed is returned by a MediaRouter after Close.
	ErrRouterClosed = errors.New("ianua: media router closed")
	// ErrSessionDestroyed is returned by a Session after Destroy or timeout.
	ErrSessionDestroyed = errors.New("ianua: session destroyed")
	// ErrHandleDetached is returned by a Handle after Detach.
	ErrHandleDetached = errors.New("ianua: handle detached")
	// ErrUnknownPlugin is returned by Attach for a plugin the router does
	// not have.
	ErrUnknownPlugin = errors.New("ianua: unknown plugin")
	// ErrUnknownSession and ErrUnknownHandle are returned by look-ups.
	ErrUnknownSession = errors.New("ianua: unknown session")
	ErrUnknownHandle  = errors.New("ianua: unknown handle")

	// ErrInvalidJSEP is returned for a JSEP whose type is neither "offer"
	// nor "answer".
	ErrInvalidJSEP = errors.New("ianua: invalid JSEP type")
	// ErrInvalidSDP is returned for a session description that does not
	// parse or that the PeerConnection refuses.
	ErrInvalidSDP = errors.New("ianua: invalid SDP")
	// ErrNoCommonCodec is returned for an offer none of whose media
	// sections has a codec the router supports.
	ErrNoCommonCodec = errors.New("ianua: no common codec")
	// ErrNoPendingOffer is returned for an answer when no local offer is
	// waiting for one, and by Answer when no remote offer is pending.
	ErrNoPendingOffer = errors.New("ianua: no pending offer")
	// ErrNoPeerConnection is returned by calls that need a PeerConnection
	// on a handle that has none (never negotiated, or hung up).
	ErrNoPeerConnection = errors.New("ianua: handle has no PeerConnection")
	// ErrInvalidCandidate is returned by Trickle for a candidate the ICE
	// agent refuses.
	ErrInvalidCandidate = errors.New("ianua: invalid ICE candidate")
	// ErrTooManyCandidates is returned by Trickle when too many candidates
	// wait for a session description.
	ErrTooManyCandidates = errors.New("ianua: too many queued ICE candidates")
	// ErrNoDataChannel is returned by SendData when no data channel is open.
	ErrNoDataChannel = errors.New("ianua: no data channel")

	// ErrMalformedBody is returned by plugins for a message body that is
	// not valid JSON of the expected shape.
	ErrMalformedBody = errors.New("ianua: malformed message body")
	// ErrUnknownRequest is returned by plugins for a request they do not
	// know.
	ErrUnknownRequest = errors.New("ianua: unknown request")
	// ErrInvalidElement is returned by plugins for a field of the wrong
	// type or value.
	ErrInvalidElement = errors.New("ianua: invalid element")
)

// ErrWrongState is returned for a negotiation step the PeerConnection's
// signaling state does not allow (RFC 9429 section 3.2), such as an offer
// while our own offer waits for its answer.
var ErrWrongState = errors.New("ianua: wrong signaling state")

// Errors of the forwarding engine.
var (
	// ErrSourceClosed is returned for a source that was unpublished.
	ErrSourceClosed = errors.New("ianua: source closed")
	// ErrSubscriptionClosed is returned for a closed subscription.
	ErrSubscriptionClosed = errors.New("ianua: subscription closed")
)
