package sfu

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ianua/ianua/internal/audiolevel"
)

// RoomParams are a room's settings, with the names of Janus VideoRoom's
// "create" request.
type RoomParams struct {
	ID          uint64 `json:"room,omitempty"`
	Description string `json:"description,omitempty"`
	Secret      string `json:"secret,omitempty"`
	PIN         string `json:"pin,omitempty"`
	IsPrivate   bool   `json:"is_private,omitempty"`
	// RequirePvtID makes subscribers give a publisher's private_id.
	RequirePvtID bool `json:"require_pvtid,omitempty"`
	// RequireE2EE admits only publishers whose media is end-to-end
	// encrypted ("e2ee" in their offer's JSEP), and subscriptions to them.
	RequireE2EE bool `json:"require_e2ee,omitempty"`
	// Publishers is the maximum number of concurrent publishers (default 3).
	Publishers int `json:"publishers,omitempty"`
	// Bitrate caps each publisher's video, bits per second, via REMB
	// (0: no cap).
	Bitrate uint32 `json:"bitrate,omitempty"`
	// AudioCodec and VideoCodec are comma-separated lists of allowed
	// codecs in order of preference (defaults "opus" and "vp8").
	AudioCodec string `json:"audiocodec,omitempty"`
	VideoCodec string `json:"videocodec,omitempty"`
	// AudioLevelEvent sends talking / stopped-talking events.
	AudioLevelEvent bool `json:"audiolevel_event,omitempty"`
	// AudioActivePackets and AudioLevelAverage tune the talking detector
	// (Janus defaults 100 packets and 25 -dBov).
	AudioActivePackets int `json:"audio_active_packets,omitempty"`
	AudioLevelAverage  int `json:"audio_level_average,omitempty"`
	// NotifyJoining tells participants about joins that do not publish.
	NotifyJoining bool `json:"notify_joining,omitempty"`
	// Record records every publisher, in RecDir (default: the plugin's
	// RecordDir), one file per stream (.ogg, .ivf, .h264).
	Record bool   `json:"record,omitempty"`
	RecDir string `json:"rec_dir,omitempty"`
}

func (p RoomParams) withDefaults() RoomParams {
	if p.Publishers <= 0 {
		p.Publishers = 3
	}
	if p.AudioCodec == "" {
		p.AudioCodec = "opus"
	}
	if p.VideoCodec == "" {
		p.VideoCodec = "vp8"
	}
	if p.AudioActivePackets <= 0 {
		p.AudioActivePackets = 100
	}
	if p.AudioLevelAverage <= 0 {
		p.AudioLevelAverage = 25
	}
	return p
}

func codecList(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.ToLower(strings.TrimSpace(c)); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// Room is one video room: its settings and participants.
type Room struct {
	p *Plugin

	mu           sync.Mutex
	params       RoomParams
	participants map[uint64]*Participant // joined publishers (active or not)
	subscribers  map[*Subscriber]struct{}
	forwarders   map[uint64]*forwarder
	destroyed    bool

	// speaker picks the active speaker from the publishers' audio levels;
	// speakerMu serialises its updates (they come from several reading
	// goroutines) without holding mu.
	speakerMu sync.Mutex
	speaker   *audiolevel.ActiveSpeaker
}

// ActiveSpeaker returns the participant who speaks now, if anyone has.
func (r *Room) ActiveSpeaker() (uint64, bool) {
	r.speakerMu.Lock()
	defer r.speakerMu.Unlock()
	if r.speaker == nil {
		return 0, false
	}
	return r.speaker.Current()
}

// updateSpeaker re-runs the active-speaker choice and, when it changes and
// the room sends audio-level events, tells everyone. This is an ianua
// extra: {"videoroom":"active-speaker","room":R,"id":P}.
func (r *Room) updateSpeaker() {
	parts := r.Participants()
	levels := make([]audiolevel.Level, 0, len(parts))
	for _, p := range parts {
		if p.isActive() {
			levels = append(levels, audiolevel.Level{ID: p.id, Average: p.loudest()})
		}
	}
	params := r.Params()
	r.speakerMu.Lock()
	if r.speaker == nil {
		sp, err := audiolevel.NewActiveSpeaker(audiolevel.SpeakerParams{MaxLevel: params.AudioLevelAverage})
		if err != nil {
			r.speakerMu.Unlock()
			return
		}
		r.speaker = sp
	}
	changed := r.speaker.Update(time.Now(), levels)
	id, ok := r.speaker.Current()
	r.speakerMu.Unlock()
	if changed && ok && params.AudioLevelEvent {
		r.notify(map[string]any{"videoroom": "active-speaker", "room": params.ID, "id": id}, nil)
	}
}

// ID is the room's numeric id.
func (r *Room) ID() uint64 { return r.params.ID }

// Params returns the room's settings.
func (r *Room) Params() RoomParams {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.params
}

// Participants returns the joined publishers, active or not.
func (r *Room) Participants() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Participant) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return out
}

// Participant returns the joined publisher with this id.
func (r *Room) Participant(id uint64) (*Participant, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.participants[id]
	return p, ok
}

func (r *Room) activePublishers() int {
	n := 0
	// Not under r.mu: isActive takes p.mu, and p.mu is held while
	// calling into the room (lock order participant, then room).
	for _, p := range r.Participants() {
		if p.isActive() {
			n++
		}
	}
	return n
}

// checkSecret verifies a room secret for administration.
func (r *Room) checkSecret(secret string) error {
	r.mu.Lock()
	s := r.params.Secret
	r.mu.Unlock()
	if s != "" && s != secret {
		return perr(ErrorUnauthorized, ErrUnauthorized, "Unauthorized (wrong secret)")
	}
	return nil
}

func (r *Room) checkPIN(pin string) error {
	r.mu.Lock()
	p := r.params.PIN
	r.mu.Unlock()
	if p != "" && p != pin {
		return perr(ErrorUnauthorized, ErrUnauthorized, "Unauthorized (wrong pin)")
	}
	return nil
}

// notify pushes an event to every joined participant but except.
func (r *Room) notify(data any, except *Participant) {
	for _, p := range r.Participants() {
		if p != except && p.h != nil {
			_ = p.h.PushEvent("", data, nil)
		}
	}
}

func (r *Room) info() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return map[string]any{
		"room":             r.params.ID,
		"description":      r.params.Description,
		"pin_required":     r.params.PIN != "",
		"is_private":       r.params.IsPrivate,
		"max_publishers":   r.params.Publishers,
		"bitrate":          r.params.Bitrate,
		"require_pvtid":    r.params.RequirePvtID,
		"require_e2ee":     r.params.RequireE2EE,
		"notify_joining":   r.params.NotifyJoining,
		"audiocodec":       r.params.AudioCodec,
		"videocodec":       r.params.VideoCodec,
		"audiolevel_event": r.params.AudioLevelEvent,
		"num_participants": len(r.participants),
	}
}
