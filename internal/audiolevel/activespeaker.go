package audiolevel

import (
	"fmt"
	"time"
)

// DefaultHold is how long an active speaker keeps the floor before another
// may take it: about two of Janus's default windows, so that one loud
// window from someone else (a cough, a laugh) does not move the spotlight.
const DefaultHold = 2 * time.Second

// Level is one participant's recent average level, as Detector.Average
// gives it: 0 (loudest) to 127 (silence).
type Level struct {
	ID      uint64
	Average int
}

// SpeakerParams configure an ActiveSpeaker. A zero field takes its default.
type SpeakerParams struct {
	// Hold is the least time a speaker keeps the floor. Default 2 s.
	Hold time.Duration
	// MaxLevel: a participant whose average is above it (quieter) is not
	// speaking and never takes the floor. 1..127; default 25, Janus's
	// talking level.
	MaxLevel int
	// Margin is how many dB louder than the current speaker a challenger
	// must be to take the floor once Hold has passed. Default 0: any
	// louder participant.
	Margin int
}

// ActiveSpeaker picks the loudest participant of a room, without flapping.
// The rule, applied by each Update:
//
//  1. The candidate is the loudest participant (lowest Average) at or below
//     MaxLevel; on a tie the current speaker stays the candidate, or else
//     the first in the list.
//  2. With no current speaker, the candidate takes the floor at once.
//  3. A current speaker missing from the list has left: the candidate takes
//     the floor at once, or nobody if there is none.
//  4. Otherwise, the candidate takes the floor only when the current
//     speaker has held it for at least Hold and the candidate is louder by
//     at least Margin dB.
//  5. When nobody is speaking the last speaker keeps the floor: a video
//     layout should not go blank between sentences.
//
// It is not safe for concurrent use: the room's owner calls it, say once a
// window.
type ActiveSpeaker struct {
	p       SpeakerParams
	current uint64
	has     bool
	since   time.Time
}

// NewActiveSpeaker returns an ActiveSpeaker with no current speaker.
func NewActiveSpeaker(p SpeakerParams) (*ActiveSpeaker, error) {
	if p.Hold == 0 {
		p.Hold = DefaultHold
	}
	if p.MaxLevel == 0 {
		p.MaxLevel = DefaultTalkingLevel
	}
	switch {
	case p.Hold < 0:
		return nil, fmt.Errorf("%w: Hold %v", ErrParams, p.Hold)
	case p.MaxLevel < 0 || p.MaxLevel > Silence:
		return nil, fmt.Errorf("%w: MaxLevel %d not in 1..127", ErrParams, p.MaxLevel)
	case p.Margin < 0 || p.Margin > Silence:
		return nil, fmt.Errorf("%w: Margin %d not in 0..127", ErrParams, p.Margin)
	}
	return &ActiveSpeaker{p: p}, nil
}

// Current returns the active speaker; false if there is none.
func (a *ActiveSpeaker) Current() (uint64, bool) { return a.current, a.has }

// Update applies the rule above to the participants' latest averages and
// reports whether the active speaker changed. The slice is only read.
func (a *ActiveSpeaker) Update(now time.Time, levels []Level) bool {
	cand, candLevel, found := uint64(0), 0, false
	curLevel, curPresent := 0, false
	for _, l := range levels {
		if a.has && l.ID == a.current {
			curLevel, curPresent = l.Average, true
		}
		if l.Average > a.p.MaxLevel {
			continue
		}
		if !found || l.Average < candLevel || (l.Average == candLevel && a.has && l.ID == a.current) {
			cand, candLevel, found = l.ID, l.Average, true
		}
	}
	switch {
	case !a.has || !curPresent:
		if !found {
			changed := a.has
			a.current, a.has = 0, false
			return changed
		}
		a.take(cand, now)
		return true
	case !found || cand == a.current:
		return false
	case now.Sub(a.since) < a.p.Hold || curLevel-candLevel < a.p.Margin:
		return false
	}
	a.take(cand, now)
	return true
}

func (a *ActiveSpeaker) take(id uint64, now time.Time) {
	a.current, a.has, a.since = id, true, now
}
