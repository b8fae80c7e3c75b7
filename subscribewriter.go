package ianua

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/pion/webrtc/v4"
)

// SubscribeWriterParams describes a subscription whose packets go to a
// writer of the plugin's rather than to a PeerConnection: a SIP call's RTP
// leg, a muxer, a relay socket. It has no handle.
type SubscribeWriterParams struct {
	// Writer gets each rewritten packet, from the source's reading
	// goroutine (one packet at a time per subscription): it must not
	// block.
	Writer webrtc.TrackLocalWriter
	// ID names the subscription; default "<source id>/writer".
	ID string
	// SSRC and PayloadType stamp every packet; zero: a random SSRC and
	// the source's payload type. They stay across Switch, which is what
	// makes a change of source seamless for the receiver.
	SSRC        uint32
	PayloadType uint8
	// Layer is the simulcast layer wanted at first (nil: the highest).
	Layer *int
	// OnSourceClosed, if set, is called when the source goes away; the
	// subscription may then Switch to another source, or be closed.
	OnSourceClosed func(*Subscription)
}

// SubscribeWriter subscribes a writer to the source. The subscription
// rewrites sequence numbers and timestamps as for a PeerConnection, so
// Switch moves it to another source of the same codec without a jump.
func (s *Source) SubscribeWriter(p SubscribeWriterParams) (*Subscription, error) {
	if p.Writer == nil {
		return nil, fmt.Errorf("%w: subscribe needs a writer", ErrInvalidElement)
	}
	codec := s.Codec()
	if codec.MimeType == "" {
		return nil, fmt.Errorf("%w: source %s has no codec yet", ErrInvalidElement, s.id)
	}
	id := p.ID
	if id == "" {
		id = s.id + "/writer"
	}
	ssrc := p.SSRC
	for ssrc == 0 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		ssrc = binary.BigEndian.Uint32(b[:])
	}
	pt := p.PayloadType
	if pt == 0 {
		pt = uint8(codec.PayloadType)
	}
	sub, err := s.subscribeWriter(id, p.Writer, ssrc, pt, codec, p.Layer, func() {}, 0)
	if err != nil {
		return nil, err
	}
	// The callback is set once sub exists, so that it gets it; a source
	// that closed meanwhile is reported here.
	sub.mu.Lock()
	sub.params.OnSourceClosed = p.OnSourceClosed
	gone := sub.src == nil && !sub.closed
	sub.mu.Unlock()
	if gone && p.OnSourceClosed != nil {
		p.OnSourceClosed(sub)
	}
	return sub, nil
}
