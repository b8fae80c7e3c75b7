package whip

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/sfu"
)

// ViewerName is the name of the WHEP viewer plugin.
const ViewerName = "ianua.plugin.whep"

// ViewerPlugin plays an sfu room publisher to a client that makes the offer
// (WHEP clients offer recvonly; the sfu's own subscribers are offered to).
// It shows the MediaRouter's point: a plugin subscribing to another
// plugin's sources. Register it with the router beside the sfu plugin.
type ViewerPlugin struct {
	sfu *sfu.Plugin
}

// NewViewerPlugin returns the viewer plugin for the rooms of p.
func NewViewerPlugin(p *sfu.Plugin) *ViewerPlugin { return &ViewerPlugin{sfu: p} }

// Name implements ianua.Plugin.
func (*ViewerPlugin) Name() string { return ViewerName }

// Attach implements ianua.Plugin.
func (v *ViewerPlugin) Attach(h *ianua.Handle) (ianua.Attachment, error) {
	return &viewer{p: v, h: h}, nil
}

// viewRequest is the viewer's one message: which publisher to play.
type viewRequest struct {
	Room uint64 `json:"room"`
	Feed uint64 `json:"feed"`
}

type viewer struct {
	p *ViewerPlugin
	h *ianua.Handle

	mu   sync.Mutex
	subs []*ianua.Subscription
}

// PeerConfig implements ianua.PeerConfigurer: NACKs are answered from the
// sources' caches and the bandwidth is estimated, as for sfu subscribers.
func (*viewer) PeerConfig() ianua.PeerConfig {
	return ianua.PeerConfig{NoNACKResponder: true, BandwidthEstimation: true}
}

// HandleMessage answers the client's recvonly offer with the feed's
// streams: each offered audio or video m-line gets the next source of its
// kind.
func (v *viewer) HandleMessage(ctx context.Context, msg ianua.Message) (ianua.Reply, error) {
	var req viewRequest
	if err := json.Unmarshal(msg.Body, &req); err != nil {
		return ianua.Reply{}, fmt.Errorf("%w: %v", ianua.ErrMalformedBody, err)
	}
	if msg.JSEP == nil || msg.JSEP.Type != "offer" {
		return ianua.Reply{}, fmt.Errorf("%w: a viewer sends an offer", ianua.ErrInvalidJSEP)
	}
	room, err := v.p.sfu.Room(req.Room)
	if err != nil {
		return ianua.Reply{}, err
	}
	pub, ok := room.Participant(req.Feed)
	if !ok || !pub.Publishing() {
		return ianua.Reply{}, fmt.Errorf("%w: %d", sfu.ErrNoSuchFeed, req.Feed)
	}
	sources := pub.Sources()
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
			StreamID: fmt.Sprintf("feed-%d", req.Feed),
			// The publisher went away: end the playback.
			OnSourceClosed: func(*ianua.Subscription) { v.h.Hangup("publisher gone") },
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
		return fail(fmt.Errorf("%w: the offer has no m-line for the feed's streams", ianua.ErrNoCommonCodec))
	}
	jsep, err := v.h.Answer(ctx)
	if err != nil {
		return fail(err)
	}
	v.mu.Lock()
	v.subs = append(v.subs, subs...)
	v.mu.Unlock()
	if err := v.h.PushEvent(msg.Transaction, map[string]any{"whep": "playing", "feed": req.Feed}, jsep); err != nil {
		return fail(err)
	}
	return ianua.Reply{Async: true}, nil
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
