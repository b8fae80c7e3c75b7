package whip

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/sfu"
	"github.com/ianua/ianua/streaming"
)

// ViewerName is the name of the WHEP viewer plugin.
const ViewerName = "ianua.plugin.whep"

// ViewerParams configure a ViewerPlugin. Either may be nil: viewers then
// cannot play that kind of stream (404).
type ViewerParams struct {
	// SFU holds the rooms whose publishers viewers play.
	SFU *sfu.Plugin
	// Streaming holds the mountpoints viewers play.
	Streaming *streaming.Plugin
}

// ViewerPlugin plays an sfu room publisher or a streaming mountpoint to a
// client that makes the offer (WHEP clients offer recvonly; the sfu's and
// the streaming plugin's own viewers are offered to). It shows the
// MediaRouter's point: a plugin subscribing to another plugin's sources.
// Register it with the router beside the plugins it plays from.
type ViewerPlugin struct {
	p ViewerParams
}

// NewViewerPlugin returns the viewer plugin for the rooms of p.
func NewViewerPlugin(p *sfu.Plugin) *ViewerPlugin { return NewViewer(ViewerParams{SFU: p}) }

// NewViewer returns the viewer plugin for the rooms and mountpoints of p.
func NewViewer(p ViewerParams) *ViewerPlugin { return &ViewerPlugin{p: p} }

// Name implements ianua.Plugin.
func (*ViewerPlugin) Name() string { return ViewerName }

// Attach implements ianua.Plugin.
func (v *ViewerPlugin) Attach(h *ianua.Handle) (ianua.Attachment, error) {
	return &viewer{p: v, h: h}, nil
}

// viewRequest is the viewer's one message: which publisher (room and
// feed) or which mountpoint to play.
type viewRequest struct {
	Room       uint64  `json:"room"`
	Feed       uint64  `json:"feed"`
	Mountpoint *uint64 `json:"mountpoint,omitempty"`
	// PIN is the mountpoint's, if it has one.
	PIN string `json:"pin,omitempty"`
}

type viewer struct {
	p *ViewerPlugin
	h *ianua.Handle

	mu   sync.Mutex
	subs []*ianua.Subscription
}

// PeerConfig implements ianua.PeerConfigurer: NACKs are answered from the
// sources' caches. No bandwidth estimate: a WHEP player gets the highest
// layer (nothing here would read the estimate).
func (*viewer) PeerConfig() ianua.PeerConfig {
	return ianua.PeerConfig{NoNACKResponder: true, SendOnly: true}
}

// HandleMessage answers the client's recvonly offer with the feed's or the
// mountpoint's streams: each offered audio or video m-line gets the next
// source of its kind.
func (v *viewer) HandleMessage(ctx context.Context, msg ianua.Message) (ianua.Reply, error) {
	var req viewRequest
	if err := json.Unmarshal(msg.Body, &req); err != nil {
		return ianua.Reply{}, fmt.Errorf("%w: %v", ianua.ErrMalformedBody, err)
	}
	if msg.JSEP == nil || msg.JSEP.Type != "offer" {
		return ianua.Reply{}, fmt.Errorf("%w: a viewer sends an offer", ianua.ErrInvalidJSEP)
	}
	var (
		sources  []*ianua.Source
		streamID string
		event    map[string]any
		err      error
	)
	if req.Mountpoint != nil {
		sources, err = v.mountpointSources(*req.Mountpoint, req.PIN)
		streamID = fmt.Sprintf("mountpoint-%d", *req.Mountpoint)
		event = map[string]any{"whep": "playing", "mountpoint": *req.Mountpoint}
	} else {
		sources, err = v.feedSources(req.Room, req.Feed)
		streamID = fmt.Sprintf("feed-%d", req.Feed)
		event = map[string]any{"whep": "playing", "feed": req.Feed}
	}
	if err != nil {
		return ianua.Reply{}, err
	}
	pc, err := v.h.PeerConnection()
	if err != nil {
		return ianua.Reply{}, err
	}
	used := map[*ianua.Source]bool{}
	var subs []*ianua.Subscription
	fail := func(err error) (ianua.Reply, error) {
		for _, s := range subs {
			s.Close()
		}
		return ianua.Reply{}, err
	}
	for _, tr := range pc.GetTransceivers() {
		if tr.Mid() == "" || tr.Sender() != nil {
			continue
		}
		var src *ianua.Source
		for _, s := range sources {
			if !used[s] && s.Kind() == tr.Kind() {
				src = s
				break
			}
		}
		if src == nil {
			continue // nothing to play on this m-line: it stays recvonly
		}
		used[src] = true
		sub, err := src.Subscribe(ianua.SubscribeParams{
			Handle:   v.h,
			StreamID: streamID,
			// The publisher left or the mountpoint was destroyed: end
			// the playback.
			OnSourceClosed: func(*ianua.Subscription) { v.h.Hangup("source gone") },
		})
		if err != nil {
			return fail(err)
		}
		subs = append(subs, sub)
		sender, err := pc.AddTrack(sub)
		if err != nil {
			return fail(fmt.Errorf("whip: add track: %w", err))
		}
		sub.Start(sender)
	}
	if len(subs) == 0 {
		return fail(fmt.Errorf("%w: the offer has no m-line for the streams to play", ianua.ErrNoCommonCodec))
	}
	jsep, err := v.h.Answer(ctx)
	if err != nil {
		return fail(err)
	}
	v.mu.Lock()
	v.subs = append(v.subs, subs...)
	v.mu.Unlock()
	if err := v.h.PushEvent(msg.Transaction, event, jsep); err != nil {
		return fail(err)
	}
	return ianua.Reply{Async: true}, nil
}

// feedSources are the streams of a room publisher.
func (v *viewer) feedSources(roomID, feed uint64) ([]*ianua.Source, error) {
	if v.p.p.SFU == nil {
		return nil, fmt.Errorf("%w: %d (no sfu plugin)", sfu.ErrNoSuchRoom, roomID)
	}
	room, err := v.p.p.SFU.Room(roomID)
	if err != nil {
		return nil, err
	}
	pub, ok := room.Participant(feed)
	if !ok || !pub.Publishing() {
		return nil, fmt.Errorf("%w: %d", sfu.ErrNoSuchFeed, feed)
	}
	return pub.Sources(), nil
}

// mountpointSources are the audio and video streams of a mountpoint (its
// data streams are not played).
func (v *viewer) mountpointSources(id uint64, pin string) ([]*ianua.Source, error) {
	if v.p.p.Streaming == nil {
		return nil, fmt.Errorf("%w: %d (no streaming plugin)", streaming.ErrNoSuchMountpoint, id)
	}
	mp, err := v.p.p.Streaming.Mountpoint(id)
	if err != nil {
		return nil, err
	}
	if want := mp.Params().PIN; want != "" && subtle.ConstantTimeCompare([]byte(pin), []byte(want)) != 1 {
		return nil, fmt.Errorf("%w: wrong pin for mountpoint %d", streaming.ErrUnauthorized, id)
	}
	return mp.Sources(), nil
}

// HangupMedia implements ianua.HangupHandler.
func (v *viewer) HangupMedia(string) { v.closeSubs() }

// Detached implements ianua.DetachHandler.
func (v *viewer) Detached() { v.closeSubs() }

func (v *viewer) closeSubs() {
	v.mu.Lock()
	subs := v.subs
	v.subs = nil
	v.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

var _ webrtc.TrackLocal = (*ianua.Subscription)(nil)
