// Package playoutdelay reads and writes the playout-delay RTP header
// extension (http://www.webrtc.org/experiments/rtp-hdrext/playout-delay):
// the sender tells the receiver the least and the most delay its jitter
// buffer should add before rendering. Janus sets it from the plugins'
// min_delay and max_delay.
package playoutdelay

// URI names the extension in SDP (a=extmap).
const URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

// Max is the largest delay the extension carries: 12 bits of 10 ms.
const Max = 4095

// Delay is a minimum and a maximum playout delay, in units of 10 ms.
type Delay struct {
	Min, Max uint16
}

// Marshal returns the extension's 3 bytes: 12 bits of minimum, then 12 of
// maximum.
func (d Delay) Marshal() ([3]byte, error) {
	if d.Min > Max || d.Max > Max || d.Min > d.Max {
		return [3]byte{}, ErrRange
	}
	return [3]byte{byte(d.Min >> 4), byte(d.Min<<4) | byte(d.Max>>8), byte(d.Max)}, nil
}

// Unmarshal reads the extension's data.
func Unmarshal(b []byte) (Delay, error) {
	if len(b) != 3 {
		return Delay{}, ErrSize
	}
	return Delay{Min: uint16(b[0])<<4 | uint16(b[1])>>4, Max: uint16(b[1]&0x0f)<<8 | uint16(b[2])}, nil
}

// Next applies a Janus min_delay / max_delay request (either may be nil)
// to the delay in force (nil: none) and returns the new one: a negative
// value clears both, a minimum above the maximum raises it, a maximum
// below the minimum lowers it. Values above Max are the caller's to
// refuse first.
func Next(cur *Delay, minDelay, maxDelay *int) *Delay {
	d := Delay{}
	if cur != nil {
		d = *cur
	}
	if minDelay != nil {
		if *minDelay < 0 {
			return nil
		}
		d.Min = uint16(min(*minDelay, Max))
		d.Max = max(d.Max, d.Min)
	}
	if maxDelay != nil {
		if *maxDelay < 0 {
			return nil
		}
		d.Max = uint16(min(*maxDelay, Max))
		d.Min = min(d.Min, d.Max)
	}
	return &d
}
