package sfu

import (
	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/audiolevel"
)

// Stream describes one published stream of a participant, local or remote.
type Stream struct {
	MID         string `json:"mid"`
	Kind        string `json:"type"` // "audio" or "video"
	Codec       string `json:"codec,omitempty"`
	Simulcast   bool   `json:"simulcast,omitempty"`
	Description string `json:"description,omitempty"`
	// Source is the stream's media (nil in announcements that cross the
	// network).
	Source *ianua.Source `json:"-"`
}

// RemotePublisherParams describe a publisher whose media comes from
// elsewhere — another node of a cluster, a relay — and that the room lists
// like its own: the room's participants get "publishers" when it is added
// and "unpublished" and "leaving" when it is removed, and subscribers
// subscribe to its sources as to any other (Janus's VideoRoom has "remote
// publishers" for the same purpose). The host feeds the sources; the room
// closes them when the publisher is removed.
type RemotePublisherParams struct {
	ID      uint64
	Display string
	// Streams are the audio and video streams, each with its Source.
	Streams []Stream
}

// PublisherEvent tells a host (a cluster node, say) that a local publisher
// of a room went live or changed its streams (Active), or stopped.
type PublisherEvent struct {
	Room        *Room
	Participant *Participant
	Active      bool
}

// AddRemotePublisher adds a remote publisher to the room.
func (r *Room) AddRemotePublisher(p RemotePublisherParams) (*Participant, error) {
	if p.ID == 0 {
		return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (id)")
	}
	pt := &Participant{p: r.p, room: r, id: p.ID, display: p.Display, remote: true, publishing: true, active: true}
	for i, st := range p.Streams {
		if st.Source == nil || (st.Kind != "audio" && st.Kind != "video") {
			return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid stream %q of remote publisher %d", st.MID, p.ID)
		}
		pt.streams = append(pt.streams, &pubStream{mid: st.MID, mindex: i, kind: st.Kind, codec: st.Codec,
			description: st.Description, src: st.Source, simulcast: st.Simulcast, level: audiolevel.Silence})
	}
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
	r.mu.Unlock()
	r.notify(map[string]any{"videoroom": "event", "room": r.ID(), "publishers": []any{pt.info()}}, pt)
	return pt, nil
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

// Streams returns the participant's published audio and video streams.
func (pt *Participant) Streams() []Stream {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	out := make([]Stream, 0, len(pt.streams))
	for _, s := range pt.streams {
		if s.src == nil {
			continue
		}
		out = append(out, Stream{MID: s.mid, Kind: s.kind, Codec: s.codec, Simulcast: s.simulcast, Description: s.description, Source: s.src})
	}
	return out
}

// observe tells the host's observer about a local publisher.
func (pt *Participant) observe(active bool) {
	if !pt.remote {
		pt.p.notifyObservers(PublisherEvent{Room: pt.room, Participant: pt, Active: active})
	}
}
