package main

import (
	"context"
	"fmt"
)

// Modes: what the subscribers receive.
const (
	// modeVideoRoom: one VideoRoom publisher (a pion PeerConnection) in
	// room 1234, subscribers join with its feed; the SFU fan-out.
	modeVideoRoom = "videoroom"
	// modeStreaming: one Streaming mountpoint fed with plain RTP,
	// viewers watch it; the broadcast fan-out.
	modeStreaming = "streaming"
)

// source is what the subscribers receive: a VideoRoom publisher or a
// Streaming mountpoint, both sending the synthetic media.
type source interface {
	fmt.Stringer
	// sent is the packets sent so far: all, and those every subscriber is
	// meant to get.
	sent() (all, wanted uint64)
	// watch says how a subscriber gets the media.
	watch() watchSpec
	// stopMedia stops the media; the source stays.
	stopMedia()
	close()
}

// ingestDropper is a source whose server-side ingest sockets can be read
// for drops (the mountpoint's).
type ingestDropper interface {
	ingestDrops() (uint64, error)
}

// watchSpec is how a subscriber gets the media: the plugin its handle
// attaches to, the request the server answers with an offer, and the one
// that carries the subscriber's answer.
type watchSpec struct {
	plugin      string
	join, start map[string]any
}

// newSource sets up the mode's source on t and starts its media.
func newSource(ctx context.Context, o options, c *clients, t target) (source, error) {
	if o.mode == modeStreaming {
		m, err := newMountpoint(ctx, t.url())
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	p, err := newPublisher(ctx, c.pub, t.url(), room, o.simulcast)
	if err != nil {
		return nil, err
	}
	return p, nil
}
