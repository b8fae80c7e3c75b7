package sfu

import (
	"github.com/ianua/ianua"
)

// TalkingEvent tells a host (a cluster node, say) that an audio stream of
// a local publisher started or stopped talking (RFC 6464 audio levels;
// Level is the window's average, 0 loudest .. 127 silent, as in the
// room's "talking" events). It comes whether or not the room sends
// talking events to its participants.
type TalkingEvent struct {
	Room        *Room
	Participant *Participant
	MID         string
	Talking     bool
	Level       int
}

// AddTalkingObserver adds f to the observers of local publishers' talking;
// the returned function removes it. f is called from the stream's reading
// goroutine, without the plugin's locks, and must not block.
func (p *Plugin) AddTalkingObserver(f func(TalkingEvent)) (remove func()) {
	return p.talkObs.add(f)
}

// SetRemoteTalking sets whether a remote publisher's audio stream is
// talking, as its own node detected (a cluster relays the TalkingEvents
// of the publisher's node): the room's participants get "talking" or
// "stopped-talking" if the room sends them, and the level counts for the
// active speaker.
func (r *Room) SetRemoteTalking(feed uint64, mid string, talking bool, level int) error {
	pt, ok := r.Participant(feed)
	if !ok || !pt.remote {
		return perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such remote publisher %d", feed)
	}
	if _, ok := pt.stream(mid); !ok {
		return perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such stream %q of remote publisher %d", mid, feed)
	}
	if level < 0 || level > 127 {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid audio level %d", level)
	}
	pt.setTalking(mid, talking, level)
	return nil
}
