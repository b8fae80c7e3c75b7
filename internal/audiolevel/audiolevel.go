// Package audiolevel turns the audio levels that senders put in each packet
// (RFC 6464, the "ssrc-audio-level" header extension) into talking and
// stopped-talking events, like the Janus VideoRoom's audiolevel_event, and
// picks the active speaker of a room.
//
// Levels are in -dBov: 0 is the loudest a sender can be, 127 is silence
// (RFC 6464 section 3). A lower number is a louder participant.
//
// It imports nothing of ianua's.
package audiolevel

import (
	"errors"
	"fmt"
)

// Defaults, those of the Janus VideoRoom (audio_level_average and
// audio_active_packets, about 2 s of 20 ms Opus packets), with a stop level
// ten dB quieter so that a voice hovering around the threshold does not
// raise an event every window.
const (
	DefaultTalkingLevel  = 25
	DefaultStoppedLevel  = DefaultTalkingLevel + 10
	DefaultActivePackets = 100
)

// Silence is the level of a packet with no sound (-127 dBov).
const Silence = 127

// ErrParams is returned for parameters out of range.
var ErrParams = errors.New("audiolevel: invalid parameters")

// Event is what a window of packets says about a participant.
type Event int

const (
	// None: no change.
	None Event = iota
	// Talking: the participant started talking.
	Talking
	// StoppedTalking: the participant stopped talking.
	StoppedTalking
)

func (e Event) String() string {
	switch e {
	case None:
		return "none"
	case Talking:
		return "talking"
	case StoppedTalking:
		return "stopped-talking"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Params configure a Detector. A zero field takes its default.
type Params struct {
	// TalkingLevel: a window whose average level is at or below it
	// (as loud or louder) means talking. 0..126; default 25.
	TalkingLevel int
	// StoppedLevel: a window whose average is at or above it (as quiet or
	// quieter) means not talking. Above TalkingLevel, up to 127; default
	// TalkingLevel+10. Averages in between change nothing (hysteresis).
	// For Janus's single threshold (talking below 25, else not), use
	// TalkingLevel 24 and StoppedLevel 25: averages between 24 and 25
	// then keep the previous state rather than count as talking.
	StoppedLevel int
	// ActivePackets is the window, in packets. Default 100.
	ActivePackets int
	// UseVAD counts packets whose V (voice activity) flag is clear as
	// silence. Set it only when the extension was negotiated with
	// "vad=on" (RFC 6464 section 4); otherwise the flag carries nothing.
	UseVAD bool
}

// withDefaults fills in the zero fields and checks the ranges.
func (p Params) withDefaults() (Params, error) {
	if p.TalkingLevel == 0 {
		p.TalkingLevel = DefaultTalkingLevel
	}
	if p.StoppedLevel == 0 {
		p.StoppedLevel = min(p.TalkingLevel+10, Silence)
	}
	if p.ActivePackets == 0 {
		p.ActivePackets = DefaultActivePackets
	}
	switch {
	case p.TalkingLevel < 0 || p.TalkingLevel >= Silence:
		return p, fmt.Errorf("%w: TalkingLevel %d not in 0..126", ErrParams, p.TalkingLevel)
	case p.StoppedLevel <= p.TalkingLevel || p.StoppedLevel > Silence:
		return p, fmt.Errorf("%w: StoppedLevel %d not in %d..127", ErrParams, p.StoppedLevel, p.TalkingLevel+1)
	case p.ActivePackets < 0 || p.ActivePackets > 1<<20:
		return p, fmt.Errorf("%w: ActivePackets %d", ErrParams, p.ActivePackets)
	}
	return p, nil
}

// Detector follows one participant's audio levels. It is not safe for
// concurrent use: the goroutine reading the participant's audio owns it.
type Detector struct {
	p       Params
	sum     int // levels in the current window
	n       int // packets in the current window
	avg     int // average of the last full window
	hasAvg  bool
	talking bool
}

// New returns a Detector, not talking.
func New(p Params) (*Detector, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Detector{p: p}, nil
}

// Params returns the parameters in force, defaults filled in.
func (d *Detector) Params() Params { return d.p }

// Observe records the level (0..127, -dBov) and voice flag of one audio
// packet. At the end of each window of ActivePackets packets it compares the
// window's average with the thresholds and returns Talking or
// StoppedTalking if the state changed; otherwise None. Windows do not
// overlap, as in Janus: an event is at most one window late.
func (d *Detector) Observe(level uint8, voice bool) Event {
	l := int(level & 0x7f)
	if d.p.UseVAD && !voice {
		l = Silence
	}
	d.sum += l
	d.n++
	if d.n < d.p.ActivePackets {
		return None
	}
	sum, n := d.sum, d.n
	d.sum, d.n = 0, 0
	// Compare sums rather than a rounded average: sum <= level*n is
	// average <= level exactly.
	d.avg, d.hasAvg = (sum+n/2)/n, true
	switch {
	case !d.talking && sum <= d.p.TalkingLevel*n:
		d.talking = true
		return Talking
	case d.talking && sum >= d.p.StoppedLevel*n:
		d.talking = false
		return StoppedTalking
	}
	return None
}

// Talking reports whether the participant is talking.
func (d *Detector) Talking() bool { return d.talking }

// Average is the rounded average level of the last full window, what
// ActiveSpeaker compares; false before the first window ends.
func (d *Detector) Average() (int, bool) { return d.avg, d.hasAvg }

// Reset forgets everything, for a participant that muted or unpublished.
// It raises no event: the caller says stopped-talking itself if it wants.
func (d *Detector) Reset() { *d = Detector{p: d.p} }

// ParseExtension reads the payload of an RFC 6464 audio level extension
// (section 3): one byte, V flag then a 7-bit level, in either the one-byte
// or the two-byte header form. Bytes after the first are padding.
func ParseExtension(b []byte) (level uint8, voice bool, ok bool) {
	if len(b) == 0 {
		return 0, false, false
	}
	return b[0] & 0x7f, b[0]&0x80 != 0, true
}
