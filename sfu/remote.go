package sfu

import (
	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/audiolevel"
)

// Stream describes one published stream of a participant, local or remote.
type Stream struct {
	MID         string `json:"mid"`
	Kind        string `json:"type"` // "audio", "video" or "data"
	Codec       string `json:"codec,omitempty"`
	Simulcast   bool   `json:"simulcast,omitempty"`
	Description string `json:"description,omitempty"`
	// Source is the stream's media (nil for data, and in announcements
	// that cross the network).
	Source *ianua.Source `json:"-"`
}

// RemotePublisherParams describe a publisher whose media comes from
// elsewhere — another node of a cluster, a relay — and that the room lists
// like its own: the room's participants get "publishers" when it is added
// and "unpublished" and "leaving" when it is removed, and subscribers
// subscribe to its sources as to any other (Janus's VideoRoom has "remote
// publishers" for the same purpose). The host feeds the sources; the room
// closes them when the publisher is removed or its streams change.
type RemotePublisherParams struct {
	ID      uint64
	Display string
	// Streams are the audio and video streams, each with its Source;
	// none for a participant that is in the room without publishing
	// (listed by listparticipants, announced with "joining" in rooms
	// that notify joins).
	Streams []Stream
	// E2EE: the publisher's media is end-to-end encrypted
	// (Participant.E2EE on its node).
	E2EE bool
}

// PublisherEvent tells a host (a cluster node, say) about a local
// participant of a room: it joined or stopped publishing (Active false),
// went live or changed its streams (Active), or left (Left).
type PublisherEvent struct {
	Room        *Room
	Participant *Participant
	Active      bool
	Left        bool
}

// AddRemotePublisher adds a remote publisher to the room.
func (r *Room) AddRemotePublisher(p RemotePublisherParams) (*Participant, error) {
	if p.ID == 0 {
		return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (id)")
	}
	streams, err := remoteStreams(p)
	if err != nil {
		return nil, err
	}
	live := len(streams) > 0
	pt := &Participant{p: r.p, room: r, id: p.ID, display: p.Display, remote: true, publishing: live, active: live, streams: streams, e2ee: live && p.E2EE}
	r.mu.Lock()
	if r.destroyed {
		r.mu.Unlock()
		return nil, perr(ErrorNoSuchRoom, ErrNoSuchRoom, "No such room (%d)", r.params.ID)
	}
	if _, ok := r.participants[p.ID]; ok {
		r.mu.Unlock()
		return nil, perr(ErrorIDExists, ErrIDExists, "User ID %d already exists", p.ID)
	}
	r.participants[p.ID] = pt
	notifyJoin := r.params.NotifyJoining
	r.mu.Unlock()
	switch {
	case live:
		r.notify(map[string]any{"videoroom": "event", "room": r.ID(), "publishers": []any{pt.info()}}, pt)
	case notifyJoin:
		r.notify(map[string]any{"videoroom": "event", "room": r.ID(), "joining": map[string]any{"id": pt.id, "display": p.Display}}, pt)
	}
	return pt, nil
}

func remoteStreams(p RemotePublisherParams) ([]*pubStream, error) {
	var out []*pubStream
	for i, st := range p.Streams {
		media := st.Kind == "audio" || st.Kind == "video"
		if media != (st.Source != nil) || (!media && st.Kind != "data") {
			return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid stream %q of remote publisher %d", st.MID, p.ID)
		}
		out = append(out, &pubStream{mid: st.MID, mindex: i, kind: st.Kind, codec: st.Codec,
			description: st.Description, src: st.Source, simulcast: st.Simulcast, level: audiolevel.Silence})
	}
	return out, nil
}

// UpdateRemotePublisher changes a remote publisher's display name and
// streams, as its own node saw it start, stop or change publishing: its
// old sources are closed (subscribers lose those streams; the room gets
// "unpublished" if it published), and if it publishes now the room gets
// "publishers" with the new streams. It stays in the room throughout.
func (r *Room) UpdateRemotePublisher(p RemotePublisherParams) error {
	pt, ok := r.Participant(p.ID)
	if !ok || !pt.remote {
		return perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such remote publisher %d", p.ID)
	}
	streams, err := remoteStreams(p)
	if err != nil {
		return err
	}
	pt.unpublish(true)
	live := len(streams) > 0
	pt.mu.Lock()
	if pt.left {
		pt.mu.Unlock()
		return perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such remote publisher %d", p.ID)
	}
	pt.display = p.Display
	pt.streams = streams
	pt.publishing, pt.active, pt.e2ee = live, live, live && p.E2EE
	pt.mu.Unlock()
	if live {
		r.notify(map[string]any{"videoroom": "event", "room": r.ID(), "publishers": []any{pt.info()}}, pt)
	}
	return nil
}

// RemoveRemotePublisher removes a remote publisher: its sources are
// closed (subscribers are told), the room gets "unpublished" and
// "leaving".
func (r *Room) RemoveRemotePublisher(id uint64) error {
	pt, ok := r.Participant(id)
	if !ok || !pt.remote {
		return perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such remote publisher %d", id)
	}
	pt.leave("", true)
	return nil
}

// Remote says whether the participant is a remote publisher.
func (pt *Participant) Remote() bool { return pt.remote }

// Streams returns the participant's published streams: audio and video
// with their sources, and its data channel (Kind "data", no Source).
func (pt *Participant) Streams() []Stream {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	out := make([]Stream, 0, len(pt.streams))
	for _, s := range pt.streams {
		if s.src == nil && s.kind != "data" {
			continue
		}
		out = append(out, Stream{MID: s.mid, Kind: s.kind, Codec: s.codec, Simulcast: s.simulcast, Description: s.description, Source: s.src})
	}
	return out
}

// observe tells the host's observers about a local participant.
func (pt *Participant) observe(active, left bool) {
	if !pt.remote {
		pt.p.pubObs.notify(PublisherEvent{Room: pt.room, Participant: pt, Active: active, Left: left})
	}
}
