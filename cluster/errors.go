package cluster

import "errors"

// Sentinel errors.
var (
	// ErrNodeIDInUse: another live node holds the id.
	ErrNodeIDInUse = errors.New("cluster: node id in use by a live node")
	// ErrInvalidParams: Params lack something Join needs.
	ErrInvalidParams = errors.New("cluster: invalid params")
	// ErrClosed: the node has left.
	ErrClosed = errors.New("cluster: node closed")
	// ErrNoSuchFeed: a relay was asked for a stream this node does not
	// publish.
	ErrNoSuchFeed = errors.New("cluster: no such feed here")
)
