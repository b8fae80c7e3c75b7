package sfu

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// attachment is the plugin's state for one handle: nothing until a join,
// then a publisher (Participant) or a subscriber.
type attachment struct {
	p *Plugin
	h *ianua.Handle

	mu  sync.Mutex
	pub *Participant
	sub *Subscriber
	// bwe: the subscriber PeerConnection about to be made estimates its
	// bandwidth (it subscribes to a simulcast stream).
	bwe bool
}

func (a *attachment) roles() (*Participant, *Subscriber) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pub, a.sub
}

// HandleMessage implements ianua.Attachment. Room management requests are
// answered synchronously (Reply.Data); participant requests are
// acknowledged and answered with an event, as in Janus.
func (a *attachment) HandleMessage(ctx context.Context, msg ianua.Message) (ianua.Reply, error) {
	req, err := parseRequest(msg.Body)
	if err != nil {
		return ianua.Reply{}, err
	}
	if isManagement(req.Request) {
		if msg.JSEP != nil {
			return ianua.Reply{}, perr(ErrorInvalidSDPType, ianua.ErrInvalidJSEP, "Request %q takes no JSEP", req.Request)
		}
		data, err := a.p.manage(req)
		if err != nil {
			return ianua.Reply{}, err
		}
		b, err := json.Marshal(data)
		if err != nil {
			return ianua.Reply{}, err
		}
		return ianua.Reply{Data: b}, nil
	}

	pub, sub := a.roles()
	switch {
	case pub != nil:
		err = a.publisherRequest(ctx, pub, req, msg)
	case sub != nil:
		sub.negMu.Lock()
		err = a.subscriberRequest(ctx, sub, req, msg)
		sub.negMu.Unlock()
	default:
		err = a.joinRequest(ctx, req, msg)
	}
	if err != nil {
		return ianua.Reply{}, err
	}
	return ianua.Reply{Async: true}, nil
}

// joinRequest handles the requests of a handle that has not joined.
func (a *attachment) joinRequest(ctx context.Context, req request, msg ianua.Message) error {
	if req.Request != "join" && req.Request != "joinandconfigure" {
		if isParticipantRequest(req.Request) {
			return perr(ErrorJoinFirst, ErrJoinFirst, "Join first")
		}
		return perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Unknown request '%s'", req.Request)
	}
	roomID, err := req.room()
	if err != nil {
		return err
	}
	room, err := a.p.Room(roomID)
	if err != nil {
		return err
	}
	if err := room.checkPIN(req.PIN); err != nil {
		return err
	}
	switch req.PType {
	case "publisher":
		return a.joinPublisher(ctx, room, req, msg)
	case "subscriber", "listener":
		if req.Request != "join" {
			return perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "joinandconfigure is for publishers")
		}
		if msg.JSEP != nil {
			return perr(ErrorInvalidSDPType, ianua.ErrInvalidJSEP, "Subscribers do not offer")
		}
		return a.joinSubscriber(ctx, room, req, msg)
	case "":
		return perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (ptype)")
	}
	return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (ptype)")
}

func isParticipantRequest(r string) bool {
	switch r {
	case "configure", "publish", "unpublish", "leave", "start", "pause", "switch", "subscribe", "unsubscribe", "update":
		return true
	}
	return false
}

func (a *attachment) joinPublisher(ctx context.Context, room *Room, req request, msg ianua.Message) error {
	if msg.JSEP != nil && req.Request == "join" {
		return perr(ErrorInvalidSDPType, ianua.ErrInvalidJSEP, "Use joinandconfigure or publish to send an offer")
	}
	if msg.JSEP != nil && msg.JSEP.Type != "offer" {
		return perr(ErrorInvalidSDPType, ianua.ErrInvalidJSEP, "Publishers send offers")
	}
	pt := &Participant{p: a.p, h: a.h, room: room, privateID: randomID()}
	if req.Display != nil {
		pt.display = *req.Display
	}
	room.mu.Lock()
	if room.destroyed {
		room.mu.Unlock()
		return perr(ErrorNoSuchRoom, ErrNoSuchRoom, "No such room (%d)", room.ID())
	}
	if req.ID != nil {
		if _, taken := room.participants[*req.ID]; taken || *req.ID == 0 {
			room.mu.Unlock()
			return perr(ErrorIDExists, ErrIDExists, "User ID %d already exists", *req.ID)
		}
		pt.id = *req.ID
	} else {
		for pt.id == 0 || room.participants[pt.id] != nil {
			pt.id = randomID()
		}
	}
	room.participants[pt.id] = pt
	notifyJoin := room.params.NotifyJoining
	room.mu.Unlock()

	if msg.JSEP != nil {
		if err := pt.publish(ctx, "", req, false, msg.JSEP.E2EE); err != nil {
			room.mu.Lock()
			delete(room.participants, pt.id)
			room.mu.Unlock()
			return err
		}
	}
	a.mu.Lock()
	a.pub = pt
	a.mu.Unlock()

	var pubs []any
	for _, other := range room.Participants() {
		if other != pt && other.isActive() {
			pubs = append(pubs, other.info())
		}
	}
	if pubs == nil {
		pubs = []any{}
	}
	joined := map[string]any{
		"videoroom": "joined", "room": room.ID(), "description": room.Params().Description,
		"id": pt.id, "private_id": pt.privateID, "publishers": pubs,
	}
	if err := a.h.PushEvent(msg.Transaction, joined, nil); err != nil {
		return err
	}
	pt.observe(false, false) // in the room; publishing comes at webrtcup
	if notifyJoin {
		room.notify(map[string]any{"videoroom": "event", "room": room.ID(), "joining": map[string]any{"id": pt.id, "display": pt.Display()}}, pt)
	}
	return nil
}

func (a *attachment) joinSubscriber(ctx context.Context, room *Room, req request, msg ianua.Message) error {
	s := &Subscriber{p: a.p, h: a.h, room: room}
	if req.PrivateID != nil {
		s.privateID = *req.PrivateID
	}
	if room.Params().RequirePvtID {
		if !room.hasPrivateID(s.privateID) {
			return perr(ErrorUnauthorized, ErrUnauthorized, "Unauthorized (this room requires a valid private_id)")
		}
	}
	refs := req.Streams
	if len(refs) == 0 && req.Feed != nil {
		refs = []streamRef{{Feed: req.Feed}}
	}
	if len(refs) == 0 {
		return perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (streams)")
	}
	items, err := s.resolve(refs)
	if err != nil {
		return err
	}
	if err := s.admitE2EE(items, true); err != nil {
		return err
	}
	// Bandwidth estimation only serves the automatic choice of a
	// simulcast or SVC layer: without a stream to choose in, its
	// per-packet bookkeeping and goroutines are spent for nothing. A VP9
	// or AV1 stream may carry spatial layers (the publisher's encoder
	// decides, the SDP does not say), so it counts.
	sim := false
	for _, it := range items {
		sim = sim || it.ps.simulcast || strings.EqualFold(it.ps.codec, "vp9") || strings.EqualFold(it.ps.codec, "av1")
	}
	a.mu.Lock()
	a.bwe = sim
	a.mu.Unlock()
	s.negMu.Lock()
	defer s.negMu.Unlock()
	if err := s.add(items); err != nil {
		s.teardown()
		a.h.Hangup("subscribe failed")
		return err
	}
	jsep, err := s.offer(ctx, false)
	if err != nil || jsep == nil {
		s.teardown()
		a.h.Hangup("subscribe failed")
		if err == nil {
			err = perr(ErrorUnknown, ianua.ErrWrongState, "Cannot offer now")
		}
		return err
	}
	room.mu.Lock()
	room.subscribers[s] = struct{}{}
	room.mu.Unlock()
	a.mu.Lock()
	a.sub = s
	a.mu.Unlock()
	// The allocator also tells the client of layer changes, for streams
	// subscribed now or later; it chooses layers only with an estimate.
	s.startAllocator()
	return a.h.PushEvent(msg.Transaction, map[string]any{"videoroom": "attached", "room": room.ID(), "streams": s.Streams()}, jsep)
}

func (a *attachment) publisherRequest(ctx context.Context, pt *Participant, req request, msg ianua.Message) error {
	room := pt.room
	switch req.Request {
	case "join", "joinandconfigure":
		return perr(ErrorAlreadyJoined, ErrAlreadyJoined, "Already in as a publisher on this handle")
	case "publish", "configure":
		if msg.JSEP != nil {
			if msg.JSEP.Type != "offer" {
				return perr(ErrorInvalidSDPType, ianua.ErrInvalidJSEP, "Publishers send offers")
			}
			pt.mu.Lock()
			publishing := pt.publishing
			pt.mu.Unlock()
			if req.Request == "publish" && publishing {
				return perr(ErrorAlreadyPublished, ErrAlreadyPublished, "Can't publish, already published")
			}
			// Refused before configure changes anything.
			if _, err := pt.checkE2EE(msg.JSEP.E2EE); err != nil {
				return err
			}
			if err := pt.configure(req); err != nil {
				return err
			}
			return pt.publish(ctx, msg.Transaction, req, publishing, msg.JSEP.E2EE)
		}
		if req.Request == "publish" {
			return perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing SDP offer")
		}
		if err := pt.configure(req); err != nil {
			return err
		}
		return a.h.PushEvent(msg.Transaction, map[string]any{"videoroom": "event", "room": room.ID(), "configured": "ok"}, nil)
	case "unpublish":
		if !pt.unpublish(true) {
			return perr(ErrorNotPublished, ErrNotPublished, "Can't unpublish, not published")
		}
		a.h.Hangup("unpublish")
		return a.h.PushEvent(msg.Transaction, map[string]any{"videoroom": "event", "room": room.ID(), "unpublished": "ok"}, nil)
	case "leave":
		pt.leave("leave", true)
		a.mu.Lock()
		a.pub = nil
		a.mu.Unlock()
		return a.h.PushEvent(msg.Transaction, map[string]any{"videoroom": "event", "room": room.ID(), "leaving": "ok"}, nil)
	case "start", "pause", "switch", "subscribe", "unsubscribe", "update":
		return perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Request %q is for subscribers", req.Request)
	}
	return perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Unknown request '%s'", req.Request)
}

func (a *attachment) subscriberRequest(ctx context.Context, s *Subscriber, req request, msg ianua.Message) error {
	room := s.room
	if msg.JSEP != nil && msg.JSEP.Type != "answer" {
		return perr(ErrorInvalidSDPType, ianua.ErrInvalidJSEP, "Subscribers send answers")
	}
	switch req.Request {
	case "join", "joinandconfigure":
		return perr(ErrorAlreadyJoined, ErrAlreadyJoined, "Already in as a subscriber on this handle")
	case "start":
		s.setPaused(false)
		if msg.JSEP != nil {
			return s.started(ctx, msg.Transaction)
		}
		return a.h.PushEvent(msg.Transaction, map[string]any{"videoroom": "event", "room": room.ID(), "started": "ok"}, nil)
	case "pause":
		s.setPaused(true)
		return a.h.PushEvent(msg.Transaction, map[string]any{"videoroom": "event", "room": room.ID(), "paused": "ok"}, nil)
	case "configure":
		return s.configure(ctx, msg.Transaction, req)
	case "subscribe", "unsubscribe", "update":
		add, del := req.Streams, []streamRef(nil)
		switch req.Request {
		case "unsubscribe":
			add, del = nil, req.Streams
		case "update":
			add, del = req.Subscribe, req.Unsubscribe
		}
		if len(add) == 0 && len(del) == 0 {
			return perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (streams)")
		}
		items, err := s.resolve(add)
		if err != nil {
			return err
		}
		if err := s.admitE2EE(items, false); err != nil {
			return err
		}
		removed, err := s.remove(del)
		if err != nil {
			return err
		}
		if err := s.add(items); err != nil {
			return err
		}
		if len(items) == 0 && removed == 0 {
			return a.h.PushEvent(msg.Transaction, map[string]any{"videoroom": "updated", "room": room.ID()}, nil)
		}
		return s.pushUpdated(ctx, msg.Transaction, false)
	case "switch":
		return s.switchStreams(msg.Transaction, req.Streams)
	case "leave":
		s.leave("leave")
		a.mu.Lock()
		a.sub = nil
		a.mu.Unlock()
		return a.h.PushEvent(msg.Transaction, map[string]any{"videoroom": "event", "room": room.ID(), "left": "ok"}, nil)
	case "publish", "unpublish":
		return perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Request %q is for publishers", req.Request)
	}
	return perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Unknown request '%s'", req.Request)
}

// PeerConfig implements ianua.PeerConfigurer: subscriptions answer NACKs
// from their source's packet cache, so pion's per-stream copy is not kept.
func (a *attachment) PeerConfig() ianua.PeerConfig {
	a.mu.Lock()
	pub, bwe := a.pub, a.bwe
	a.mu.Unlock()
	// Subscribers' PeerConnections estimate their bandwidth when they
	// subscribe to simulcast, for the automatic layer choice;
	// publishers' send no media.
	return ianua.PeerConfig{NoNACKResponder: true, BandwidthEstimation: pub == nil && bwe, SendOnly: pub == nil}
}

// HandleTrack implements ianua.TrackHandler: a publisher's track feeds its
// source.
func (a *attachment) HandleTrack(track *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	pub, _ := a.roles()
	if pub != nil {
		pub.mu.Lock()
		var src *ianua.Source
		for _, s := range pub.streams {
			if s.tr != nil && s.tr.Receiver() == rcv {
				src = s.src
			}
		}
		pub.mu.Unlock()
		if src != nil {
			_ = src.ReadTrack(track)
			return
		}
	}
	buf := make([]byte, 1500)
	for {
		if _, _, err := track.Read(buf); err != nil {
			return
		}
	}
}

// HandleData implements ianua.DataHandler: a publisher's data goes to the
// subscribers of its data stream.
func (a *attachment) HandleData(m ianua.DataMessage) {
	if pub, _ := a.roles(); pub != nil {
		pub.relayData(m)
		a.p.notifyData(DataEvent{Room: pub.room, Participant: pub, Data: m.Data, IsString: m.IsString})
	}
}

// WebRTCUp implements ianua.WebRTCUpHandler.
func (a *attachment) WebRTCUp() {
	if pub, _ := a.roles(); pub != nil {
		pub.webrtcUp()
	}
}

// SlowLink implements ianua.SlowLinkHandler, as Janus VideoRoom: a
// publisher whose packets are lost on the way in is told, with its bitrate
// cap, so that it may send less; a subscriber is told of losses on the way
// to it. "mid", "media" and "lost" are ianua's additions.
func (a *attachment) SlowLink(l ianua.SlowLink) {
	pub, sub := a.roles()
	ev := map[string]any{"videoroom": "slow_link", "mid": l.MID, "media": l.Kind, "lost": l.Lost}
	switch {
	case pub != nil && l.Uplink:
		pub.mu.Lock()
		ev["current-bitrate"] = pub.bitrate
		pub.mu.Unlock()
	case sub != nil && !l.Uplink:
	default:
		return
	}
	_ = a.h.PushEvent("", ev, nil)
}

// HangupMedia implements ianua.HangupHandler: a publisher's streams are
// unpublished; a subscriber's subscriptions end.
func (a *attachment) HangupMedia(string) {
	pub, sub := a.roles()
	if pub != nil {
		pub.unpublish(true)
	}
	if sub != nil {
		sub.teardown()
	}
}

// Detached implements ianua.DetachHandler.
func (a *attachment) Detached() {
	pub, sub := a.roles()
	if pub != nil {
		pub.leave("detached", true)
	}
	if sub != nil {
		sub.leave("detached")
		sub.bg.Wait()
	}
}

// Query implements ianua.Querier, for an admin view (Janus VideoRoom's
// query_session): the handle's role, its room and, for a publisher, its
// id, display name and whether it publishes; for a subscriber, its
// streams; for both, whether the media is end-to-end encrypted.
func (a *attachment) Query() any {
	pub, sub := a.roles()
	switch {
	case pub != nil:
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return map[string]any{"type": "publisher", "room": pub.room.ID(), "id": pub.id,
			"display": pub.display, "publishing": pub.publishing, "streams": len(pub.streams), "e2ee": pub.e2ee}
	case sub != nil:
		sub.mu.Lock()
		e2ee := sub.e2ee
		sub.mu.Unlock()
		return map[string]any{"type": "subscriber", "room": sub.room.ID(), "streams": sub.Streams(), "e2ee": e2ee}
	}
	return map[string]any{"type": "none"}
}
