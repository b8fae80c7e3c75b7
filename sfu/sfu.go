// Package sfu is the video-room plugin: rooms where participants publish
// any number of streams on one PeerConnection and subscribe, on another, to
// any set of the others' streams (multistream), through the MediaRouter's
// forwarding engine.
//
// Its message language is Janus VideoRoom's multistream (1.x) API, so
// janus.js and the applications built on it work unchanged. Supported:
// create, edit, destroy, exists, list, listparticipants, kick, moderate,
// rtp_forward (plain RTP or SDES-keyed SRTP, per stream, a simulcast
// substream or the viewer's choice), stop_rtp_forward, listforwarders;
// join (ptype publisher / subscriber), joinandconfigure, publish,
// configure, unpublish, leave for publishers; join with streams, start,
// pause, subscribe, unsubscribe, update, configure (mid/send, substream,
// VP8 temporal,
// restart), switch, leave for subscribers; events joined, publishers,
// unpublished, leaving, kicked, destroyed, talking / stopped-talking,
// attached, updated, started, paused, switched, configured, left. Error
// codes are Janus's (421–437). ianua extras, all additive: an
// "active-speaker" event ({"videoroom":"active-speaker","room":R,"id":P},
// with audiolevel_event), and automatic layer choice from each
// subscriber's bandwidth estimate — the simulcast substream, the VP9 or
// AV1 spatial layer — until the client picks one. spatial_layer and
// temporal_layer work for VP9 (RFC 9628) and AV1 (dependency descriptor).
// Room ids are numbers. Not supported yet:
// string ids, tokens (allowed), .mjr recordings (ianua writes .ogg, .ivf and
// .h264 files that ordinary tools open instead), e2ee, dummy publishers,
// permanent rooms, the remote publisher requests (add_remote_publisher…:
// package cluster relays between ianua nodes instead).
//
// Hosts that embed without JSON use the typed API: Plugin.CreateRoom,
// Room, Rooms, DestroyRoom, Kick, Moderate.
package sfu

import (
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/ianua/ianua"
)

// Name is the plugin's package name, the one Janus clients attach to.
const Name = "janus.plugin.videoroom"

// Params configures the plugin.
type Params struct {
	// Rooms are created at start. Janus ships a demo room 1234; so does
	// DefaultRooms.
	Rooms []RoomParams
	// AdminKey, if set, is required by "create" (Janus: admin_key).
	AdminKey string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// RecordDir is where recordings go when a room has no rec_dir
	// (default: a folder "ianua-recordings" in the system temp dir).
	RecordDir string
	// OnPublisher, if set, is told when a local publisher goes live,
	// changes its streams, or stops (a cluster announces them to other
	// nodes). It is called without the plugin's locks and must not block.
	OnPublisher func(PublisherEvent)
}

// DefaultRooms is the Janus demo room, which janus.js demos join.
func DefaultRooms() []RoomParams {
	return []RoomParams{{ID: 1234, Description: "Demo Room", Publishers: 6, Bitrate: 128000 * 8, AudioLevelEvent: true}}
}

// Plugin is the video-room plugin.
type Plugin struct {
	params Params
	log    *slog.Logger

	mu    sync.Mutex
	rooms map[uint64]*Room
	// The host's observers: of local participants (Params.OnPublisher
	// and AddPublisherObserver), of rooms created, edited and destroyed,
	// of local publishers' talking and data channel messages.
	pubObs  observers[PublisherEvent]
	roomObs observers[RoomEvent]
	talkObs observers[TalkingEvent]
	dataObs observers[DataEvent]
}

// New returns the plugin with the rooms of p created.
func New(p Params) (*Plugin, error) {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.RecordDir == "" {
		p.RecordDir = filepath.Join(os.TempDir(), "ianua-recordings")
	}
	pl := &Plugin{params: p, log: p.Logger, rooms: make(map[uint64]*Room)}
	if p.OnPublisher != nil {
		pl.pubObs.add(p.OnPublisher)
	}
	for _, rp := range p.Rooms {
		if _, err := pl.CreateRoom(rp); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

// Name implements ianua.Plugin.
func (*Plugin) Name() string { return Name }

// AddPublisherObserver adds f to the observers of local publishers (see
// Params.OnPublisher), for a host part made after the plugin, such as a
// cluster node; the returned function removes it.
func (p *Plugin) AddPublisherObserver(f func(PublisherEvent)) (remove func()) {
	return p.pubObs.add(f)
}

// Attach implements ianua.Plugin.
func (p *Plugin) Attach(h *ianua.Handle) (ianua.Attachment, error) {
	return &attachment{p: p, h: h}, nil
}

// CreateRoom creates a room; an ID of 0 picks one.
func (p *Plugin) CreateRoom(rp RoomParams) (*Room, error) {
	rp = rp.withDefaults()
	p.mu.Lock()
	if rp.ID == 0 {
		for rp.ID == 0 || p.rooms[rp.ID] != nil {
			rp.ID = randomID()
		}
	}
	if _, ok := p.rooms[rp.ID]; ok {
		p.mu.Unlock()
		return nil, perr(ErrorRoomExists, ErrRoomExists, "Room %d already exists", rp.ID)
	}
	r := &Room{p: p, params: rp, participants: map[uint64]*Participant{}, subscribers: map[*Subscriber]struct{}{}, forwarders: map[uint64]*forwarder{}}
	p.rooms[rp.ID] = r
	p.mu.Unlock()
	p.roomObs.notify(RoomEvent{Params: rp})
	return r, nil
}

// Room returns the room with this id.
func (p *Plugin) Room(id uint64) (*Room, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.rooms[id]
	if !ok {
		return nil, perr(ErrorNoSuchRoom, ErrNoSuchRoom, "No such room (%d)", id)
	}
	return r, nil
}

// Rooms returns every room, private ones included, by id.
func (p *Plugin) Rooms() []*Room {
	p.mu.Lock()
	out := make([]*Room, 0, len(p.rooms))
	for _, r := range p.rooms {
		out = append(out, r)
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b *Room) int {
		switch {
		case a.ID() < b.ID():
			return -1
		case a.ID() > b.ID():
			return 1
		}
		return 0
	})
	return out
}

// DestroyRoom removes a room: every participant is told ("destroyed") and
// loses its publications and subscriptions in it.
func (p *Plugin) DestroyRoom(id uint64) error {
	p.mu.Lock()
	r, ok := p.rooms[id]
	delete(p.rooms, id)
	p.mu.Unlock()
	if !ok {
		return perr(ErrorNoSuchRoom, ErrNoSuchRoom, "No such room (%d)", id)
	}
	r.mu.Lock()
	r.destroyed = true
	params := r.params
	parts := make([]*Participant, 0, len(r.participants))
	for _, x := range r.participants {
		parts = append(parts, x)
	}
	subs := make([]*Subscriber, 0, len(r.subscribers))
	for x := range r.subscribers {
		subs = append(subs, x)
	}
	r.mu.Unlock()
	r.stopAllForwarders()
	ev := map[string]any{"videoroom": "destroyed", "room": id}
	for _, x := range parts {
		if x.h != nil {
			_ = x.h.PushEvent("", ev, nil)
		}
		x.leave("destroyed", false)
	}
	for _, x := range subs {
		_ = x.h.PushEvent("", ev, nil)
		x.leave("destroyed")
	}
	p.roomObs.notify(RoomEvent{Params: params, Destroyed: true})
	return nil
}

// randomID returns a random id that fits in a JavaScript number.
func randomID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) & (1<<53 - 1)
}
