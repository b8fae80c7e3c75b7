package sfu

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/playoutdelay"
)

// renegotiateTimeout bounds a renegotiation the plugin starts by itself
// (when a source it forwards goes away).
const renegotiateTimeout = 10 * time.Second

// Subscriber is a handle that receives, on one PeerConnection, any set of
// streams of a room's publishers (Janus: a handle joined with ptype
// "subscriber"). The plugin offers; the client answers with "start".
type Subscriber struct {
	p         *Plugin
	h         *ianua.Handle
	room      *Room
	privateID uint64 // the owner's, if given

	// negMu serialises everything that touches the PeerConnection's
	// negotiation: the client's messages and the renegotiations the
	// plugin starts when a source closes.
	negMu sync.Mutex

	mu      sync.Mutex
	streams []*subStream
	paused  bool
	pending bool // an offer is owed once the current one is answered
	hasData bool
	// e2ee: the subscription's media is end-to-end encrypted, all of it
	// (decided at the join, as in Janus).
	e2ee     bool
	left     bool
	bg       sync.WaitGroup
	bgClosed bool
	quit     chan struct{} // stops the allocator
}

// startAllocator starts the automatic layer choice and the layer reports,
// once.
func (s *Subscriber) startAllocator() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quit != nil || s.bgClosed {
		return
	}
	s.quit = make(chan struct{})
	s.bg.Add(1)
	go s.allocate(s.quit)
}

// subStream is one m-line of a subscription.
type subStream struct {
	mid     string
	mindex  int
	kind    string
	feed    *Participant
	feedMID string
	sub     *ianua.Subscription
	sender  *webrtc.RTPSender
	send    bool
	active  bool
	created time.Time
	// manual: the client chose the layer (manualLayer, the substream,
	// or manualSpatial, the spatial layer; -1 for none), which the
	// allocator keeps from then on; votes: allocator's count of intervals
	// in a row that allowed a higher layer (allocator goroutine only).
	manual                     bool
	manualLayer, manualSpatial int
	votes                      int
	// reportedLayer, reportedSpatial and reportedTemporal are the
	// simulcast substream, the spatial and the temporal layer last told
	// to the client (-1: none yet; allocator goroutine only).
	reportedLayer, reportedSpatial, reportedTemporal int
	// playout is the playout delay asked for (nil: none).
	playout *playoutdelay.Delay
}

// Streams describes the subscription as Janus does in "attached" and
// "updated" events.
func (s *Subscriber) Streams() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streamsLocked()
}

func (s *Subscriber) streamsLocked() []map[string]any {
	out := make([]map[string]any, 0, len(s.streams))
	for _, st := range s.streams {
		if !st.active {
			continue
		}
		m := map[string]any{"mindex": st.mindex, "mid": st.mid, "type": st.kind, "send": st.send, "ready": true, "active": true}
		if st.feed != nil {
			m["feed_id"] = st.feed.id
			m["feed_mid"] = st.feedMID
			if d := st.feed.Display(); d != "" {
				m["feed_display"] = d
			}
		}
		out = append(out, m)
	}
	return out
}

// resolve turns stream references into publisher streams, or the error
// Janus gives.
func (s *Subscriber) resolve(refs []streamRef) ([]resolved, error) {
	var out []resolved
	for _, ref := range refs {
		if ref.Feed == nil {
			return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (feed)")
		}
		pub, ok := s.room.Participant(*ref.Feed)
		if !ok || !pub.isActive() {
			return nil, perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such feed (%d)", *ref.Feed)
		}
		if s.privateID != 0 && pub.privateID == s.privateID {
			return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Can't subscribe to yourself (%d)", *ref.Feed)
		}
		pub.mu.Lock()
		found := false
		for _, ps := range pub.streams {
			if ref.MID != "" && ps.mid != ref.MID {
				continue
			}
			if ps.kind != "data" && ps.src == nil {
				continue
			}
			found = true
			out = append(out, resolved{pub: pub, ps: ps, layer: ref.Substream})
		}
		pub.mu.Unlock()
		if !found {
			return nil, perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such mid %q in feed %d", ref.MID, *ref.Feed)
		}
	}
	return out, nil
}

// admitE2EE applies Janus VideoRoom's rule for end-to-end encrypted
// feeds: a subscription's media is all encrypted or none, since its client
// decrypts every stream or none. At the join, the room's require_e2ee or
// else the first feed decides; every other feed must match.
func (s *Subscriber) admitE2EE(items []resolved, joining bool) error {
	s.mu.Lock()
	e2ee := s.e2ee
	s.mu.Unlock()
	if joining {
		e2ee = s.room.Params().RequireE2EE
	}
	for i, it := range items {
		pe := it.pub.E2EE()
		switch {
		case pe == e2ee:
		case joining && i == 0:
			e2ee = true
		case joining && e2ee:
			return perr(ErrorInvalidFeed, ErrE2EEMix, "Can't have not end-to-end encrypted feed in this subscription (%d)", it.pub.id)
		case joining:
			return perr(ErrorInvalidFeed, ErrE2EEMix, "Can't have end-to-end encrypted feed in this subscription (%d)", it.pub.id)
		default:
			return perr(ErrorInvalidFeed, ErrE2EEMix, "Can't mix normal and end-to-end encrypted subscriptions")
		}
	}
	if joining {
		s.mu.Lock()
		s.e2ee = e2ee
		s.mu.Unlock()
	}
	return nil
}

type resolved struct {
	pub   *Participant
	ps    *pubStream
	layer *int
}

// add creates the m-lines for resolved streams (without negotiating).
func (s *Subscriber) add(items []resolved) error {
	pc, err := s.h.PeerConnection()
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.ps.kind == "data" {
			s.mu.Lock()
			have := s.hasData
			s.hasData = true
			s.streams = append(s.streams, &subStream{kind: "data", feed: it.pub, feedMID: it.ps.mid, send: true, active: true, created: time.Now(), manualLayer: -1, manualSpatial: -1, reportedLayer: -1, reportedSpatial: -1, reportedTemporal: -1})
			s.mu.Unlock()
			if !have {
				if err := s.h.CreateDataChannel("JanusDataChannel"); err != nil {
					return err
				}
			}
			continue
		}
		st := &subStream{kind: it.ps.kind, feed: it.pub, feedMID: it.ps.mid, send: true, active: true, created: time.Now(), manualLayer: -1, manualSpatial: -1, reportedLayer: -1, reportedSpatial: -1, reportedTemporal: -1}
		sub, err := it.ps.src.Subscribe(ianua.SubscribeParams{
			Handle:         s.h,
			TrackID:        fmt.Sprintf("%d-%s", it.pub.id, it.ps.mid),
			StreamID:       fmt.Sprintf("janus-%d", it.pub.id),
			Layer:          it.layer,
			OnSourceClosed: func(*ianua.Subscription) { s.sourceClosed(st) },
		})
		if err != nil {
			return perr(ErrorNoSuchFeed, err, "Stream %s of feed %d is gone", it.ps.mid, it.pub.id)
		}
		tr, err := pc.AddTransceiverFromTrack(sub, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			sub.Close()
			return fmt.Errorf("sfu: add transceiver: %w", err)
		}
		st.sub, st.sender = sub, tr.Sender()
		sub.Start(tr.Sender())
		s.mu.Lock()
		if s.paused {
			sub.SetPaused(true)
		}
		s.streams = append(s.streams, st)
		s.mu.Unlock()
	}
	return nil
}

// remove tears down the m-lines that match a reference (feed, feed+mid or
// sub_mid); it returns how many.
func (s *Subscriber) remove(refs []streamRef) (int, error) {
	pc, err := s.h.PeerConnection()
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	var drop []*subStream
	for _, st := range s.streams {
		if !st.active {
			continue
		}
		for _, ref := range refs {
			match := (ref.SubMID != "" && ref.SubMID == st.mid) ||
				(ref.SubMID == "" && ref.Feed != nil && st.feed != nil && st.feed.id == *ref.Feed && (ref.MID == "" || ref.MID == st.feedMID))
			if match {
				st.active = false
				drop = append(drop, st)
				break
			}
		}
	}
	s.mu.Unlock()
	for _, st := range drop {
		s.stopStream(pc, st)
	}
	return len(drop), nil
}

func (s *Subscriber) stopStream(pc *webrtc.PeerConnection, st *subStream) {
	if st.sub != nil {
		st.sub.Close()
	}
	if st.sender != nil {
		_ = pc.RemoveTrack(st.sender)
	}
}

// offer renegotiates now if the signaling state allows, or owes an offer
// for when the current one is answered. It returns the offer or nil.
func (s *Subscriber) offer(ctx context.Context, restart bool) (*ianua.JSEP, error) {
	pc, err := s.h.PeerConnection()
	if err != nil {
		return nil, err
	}
	if pc.SignalingState() != webrtc.SignalingStateStable {
		s.mu.Lock()
		s.pending = true
		s.mu.Unlock()
		return nil, nil
	}
	jsep, err := s.h.Offer(ctx, ianua.OfferOptions{ICERestart: restart})
	if err != nil {
		return nil, err
	}
	s.assignMIDs(pc, jsep.SDP)
	s.mu.Lock()
	jsep.E2EE = s.e2ee
	s.mu.Unlock()
	return jsep, nil
}

// assignMIDs records each stream's mid and m-line index once negotiated.
func (s *Subscriber) assignMIDs(pc *webrtc.PeerConnection, offer string) {
	idx := mindexByMID(offer)
	dataIdx, dataMID, hasData := applicationSection(offer)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		if st.kind == "data" {
			if hasData {
				st.mid, st.mindex = dataMID, dataIdx
			}
			continue
		}
		for _, tr := range pc.GetTransceivers() {
			if tr.Sender() == st.sender && st.sender != nil {
				st.mid = tr.Mid()
				st.mindex = idx[st.mid]
			}
		}
	}
}

// sourceClosed runs when a forwarded source goes away: the m-line is
// deactivated and the client gets an "updated" offer.
func (s *Subscriber) sourceClosed(st *subStream) {
	s.mu.Lock()
	if s.bgClosed || !st.active {
		s.mu.Unlock()
		return
	}
	st.active = false
	s.bg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.bg.Done()
		s.negMu.Lock()
		defer s.negMu.Unlock()
		s.mu.Lock()
		gone := s.bgClosed
		s.mu.Unlock()
		if gone || !s.h.HasPeerConnection() {
			return
		}
		pc, err := s.h.PeerConnection()
		if err != nil {
			return
		}
		s.stopStream(pc, st)
		ctx, cancel := context.WithTimeout(context.Background(), renegotiateTimeout)
		defer cancel()
		s.pushUpdated(ctx, "", false)
	}()
}

// pushUpdated sends the client an "updated" event, with an offer when one
// can be made now.
func (s *Subscriber) pushUpdated(ctx context.Context, tx string, restart bool) error {
	jsep, err := s.offer(ctx, restart)
	if err != nil {
		return err
	}
	if jsep == nil {
		return s.h.PushEvent(tx, map[string]any{"videoroom": "updating", "room": s.room.ID()}, nil)
	}
	return s.h.PushEvent(tx, map[string]any{"videoroom": "updated", "room": s.room.ID(), "streams": s.Streams()}, jsep)
}

// started is called once the client's answer is applied.
func (s *Subscriber) started(ctx context.Context, tx string) error {
	s.mu.Lock()
	owed := s.pending
	s.pending = false
	s.mu.Unlock()
	if err := s.h.PushEvent(tx, map[string]any{"videoroom": "event", "room": s.room.ID(), "started": "ok"}, nil); err != nil {
		return err
	}
	if owed {
		return s.pushUpdated(ctx, "", false)
	}
	return nil
}

// setPaused pauses or resumes every stream.
func (s *Subscriber) setPaused(paused bool) {
	s.mu.Lock()
	s.paused = paused
	streams := append([]*subStream(nil), s.streams...)
	s.mu.Unlock()
	for _, st := range streams {
		if st.sub != nil && st.send {
			st.sub.SetPaused(paused)
		}
	}
}

// wantsData says whether the subscription includes this publisher's data.
func (s *Subscriber) wantsData(pub *Participant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		if st.kind == "data" && st.active && st.feed == pub {
			return true
		}
	}
	return false
}

// configure changes streams (mid: send, substream, temporal, spatial and
// temporal layers) or asks for an ICE restart. The changes come in a
// "streams" array, one object per mid (Janus 1.x), or at the top level for
// one stream (how Janus took them before, still accepted by it and used by
// its demos). Every mid is checked before anything changes.
func (s *Subscriber) configure(ctx context.Context, tx string, req request) error {
	changes := req.Streams
	if len(changes) == 0 && (req.MID != "" || req.Substream != nil || req.Temporal != nil || req.Spatial != nil || req.TemporalLayer != nil || req.Send != nil || req.MinDelay != nil || req.MaxDelay != nil) {
		changes = []streamRef{{MID: req.MID, Send: req.Send, Substream: req.Substream, Temporal: req.Temporal, Spatial: req.Spatial, TemporalLayer: req.TemporalLayer, MinDelay: req.MinDelay, MaxDelay: req.MaxDelay}}
	}
	targets := make([]*subStream, len(changes))
	for i, c := range changes {
		st := s.streamByMID(c.MID)
		if c.MID == "" || st == nil {
			return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "No such mid %q in the subscription", c.MID)
		}
		layered := c.Substream != nil || c.Temporal != nil || c.Spatial != nil || c.TemporalLayer != nil || c.MinDelay != nil || c.MaxDelay != nil
		if layered && (st.sub == nil || st.kind != "video") {
			return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Stream %s is not video", c.MID)
		}
		for _, d := range []*int{c.MinDelay, c.MaxDelay} {
			if d != nil && *d > playoutdelay.Max {
				return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (min_delay and max_delay should be at most %d)", playoutdelay.Max)
			}
		}
		targets[i] = st
	}
	for i, c := range changes {
		if err := s.configureStream(targets[i], c); err != nil {
			return err
		}
	}
	if req.Restart {
		return s.pushUpdated(ctx, tx, true)
	}
	return s.h.PushEvent(tx, map[string]any{"videoroom": "event", "room": s.room.ID(), "configured": "ok"}, nil)
}

// configureStream applies one stream's changes.
func (s *Subscriber) configureStream(st *subStream, c streamRef) error {
	// The choice is recorded before it is applied: an allocation round
	// running now may still apply its own, and the next one puts the
	// client's back.
	if c.Substream != nil {
		s.mu.Lock()
		st.manual, st.manualLayer = true, *c.Substream
		s.mu.Unlock()
		if err := st.sub.SetLayer(*c.Substream); err != nil {
			return perr(ErrorInvalidElement, err, "Cannot pick substream %d: %v", *c.Substream, err)
		}
	}
	if c.Temporal != nil {
		if err := st.sub.SetTemporalLayer(*c.Temporal); err != nil {
			return perr(ErrorInvalidElement, err, "Cannot pick temporal layer %d: %v", *c.Temporal, err)
		}
	}
	if c.Spatial != nil {
		s.mu.Lock()
		st.manual, st.manualSpatial = true, *c.Spatial
		s.mu.Unlock()
		if err := st.sub.SetSpatialLayer(*c.Spatial); err != nil {
			return perr(ErrorInvalidElement, err, "Cannot pick spatial layer %d: %v", *c.Spatial, err)
		}
	}
	if c.TemporalLayer != nil {
		if err := st.sub.SetTemporalLayer(*c.TemporalLayer); err != nil {
			return perr(ErrorInvalidElement, err, "Cannot pick temporal layer %d: %v", *c.TemporalLayer, err)
		}
	}
	if c.MinDelay != nil || c.MaxDelay != nil {
		s.mu.Lock()
		st.playout = playoutdelay.Next(st.playout, c.MinDelay, c.MaxDelay)
		d := st.playout
		s.mu.Unlock()
		var err error
		if d == nil {
			err = st.sub.SetPlayoutDelay(-1, -1)
		} else {
			err = st.sub.SetPlayoutDelay(int(d.Min), int(d.Max))
		}
		if err != nil {
			return perr(ErrorInvalidElement, err, "Cannot set the playout delay: %v", err)
		}
	}
	if c.Send != nil && st.sub != nil {
		s.mu.Lock()
		st.send = *c.Send
		paused := s.paused
		s.mu.Unlock()
		st.sub.SetPaused(!*c.Send || paused)
	}
	return nil
}

func (s *Subscriber) streamByMID(mid string) *subStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		if st.active && st.mid == mid {
			return st
		}
	}
	return nil
}

// switchStreams points m-lines at other publishers' streams without
// renegotiation (Janus "switch").
func (s *Subscriber) switchStreams(tx string, refs []streamRef) error {
	type change struct {
		st *subStream
		to resolved
	}
	var changes []change
	for _, ref := range refs {
		if ref.SubMID == "" || ref.Feed == nil || ref.MID == "" {
			return perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (feed, mid and sub_mid are required)")
		}
		st := s.streamByMID(ref.SubMID)
		if st == nil || st.sub == nil {
			return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "No such sub_mid %q", ref.SubMID)
		}
		to, err := s.resolve([]streamRef{{Feed: ref.Feed, MID: ref.MID}})
		if err != nil {
			return err
		}
		if to[0].ps.kind != st.kind {
			return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Cannot switch %s to %s", st.kind, to[0].ps.kind)
		}
		if err := s.admitE2EE(to, false); err != nil {
			return err
		}
		changes = append(changes, change{st, to[0]})
	}
	n := 0
	for _, c := range changes {
		if err := c.st.sub.Switch(c.to.ps.src); err != nil {
			continue
		}
		s.mu.Lock()
		c.st.feed, c.st.feedMID = c.to.pub, c.to.ps.mid
		s.mu.Unlock()
		n++
	}
	return s.h.PushEvent(tx, map[string]any{"videoroom": "event", "room": s.room.ID(), "switched": "ok", "changes": n, "streams": s.Streams()}, nil)
}

// leave ends the subscription.
func (s *Subscriber) leave(reason string) {
	s.mu.Lock()
	if s.left {
		s.mu.Unlock()
		return
	}
	s.left = true
	s.mu.Unlock()
	s.teardown()
	s.h.Hangup(reason)
	r := s.room
	r.mu.Lock()
	delete(r.subscribers, s)
	r.mu.Unlock()
}

// teardown closes every subscription; renegotiations started before it
// see bgClosed and do nothing (wait for them with s.bg outside negMu).
func (s *Subscriber) teardown() {
	s.mu.Lock()
	s.bgClosed = true
	streams := s.streams
	s.streams = nil
	if s.quit != nil {
		close(s.quit)
		s.quit = nil
	}
	s.mu.Unlock()
	for _, st := range streams {
		if st.sub != nil {
			st.sub.Close()
		}
	}
}
