package rtpmunge

// VP8Munger rewrites the PictureID and TL0PICIDX of a forwarded VP8 stream
// in place, so that they stay continuous across a Switch: VP8 decoders
// (libwebrtc's) take a jump in PictureID for lost frames and a jump in
// TL0PICIDX for a lost base-layer frame, and ask for a keyframe or stall.
//
// Each field keeps the width the packet has: a 7-bit PictureID stays 7 bits
// and wraps at 128, a 15-bit one wraps at 32768, so the payload never
// changes size. The zero value is ready; the first packet passes unchanged.
//
// Output = input + an offset that is set at the first packet after a
// Switch, so a retransmission rewritten before the next Switch gets the
// same values as the original. Pictures the caller drops (a temporal layer
// above the subscriber's) still leave PictureID gaps, as in Janus: VP8
// receivers accept gaps for non-reference frames.
//
// It is not safe for concurrent use.
type VP8Munger struct {
	started   bool
	switching bool
	pidOffset uint16 // modulo 2^15
	tl0Offset uint8
	lastPID   uint16 // newest output PictureID, 15 bits
	hasPID    bool
	lastTL0   uint8 // newest output TL0PICIDX
	hasTL0    bool
}

// Switch says that the next packet starts a new input stream; call it with
// Munger.Switch.
func (v *VP8Munger) Switch() { v.switching = true }

// Active reports whether the munger is in use: it has processed a packet or
// a Switch is pending. Before that Process would leave the packet as it is,
// so a caller may skip copying the payload; but from the first Switch on it
// must give Process every forwarded packet, or the next Switch cannot
// continue from the last values sent.
func (v *VP8Munger) Active() bool { return v.started || v.switching }

// Process parses the descriptor at the start of payload, rewrites its
// PictureID and TL0PICIDX in place, and returns the descriptor as it was
// received (input values). On error the payload is unchanged.
func (v *VP8Munger) Process(payload []byte) (VP8Descriptor, error) {
	return v.process(payload, true)
}

// Rewrites reports whether Process could change the next packet: a switch
// is pending after a first stream, or an offset is in force. When it does
// not, Observe does the bookkeeping without writing, so a forwarder can
// send the source's payload as it is instead of copying it.
func (v *VP8Munger) Rewrites() bool {
	return (v.switching && v.started) || v.pidOffset != 0 || v.tl0Offset != 0
}

// Observe is Process for a packet that Rewrites says stays as it is: it
// keeps the munger's state and never writes to payload, which may be
// shared.
func (v *VP8Munger) Observe(payload []byte) (VP8Descriptor, error) {
	return v.process(payload, false)
}

func (v *VP8Munger) process(payload []byte, write bool) (VP8Descriptor, error) {
	d, err := ParseVP8(payload)
	if err != nil {
		return d, err
	}
	if v.switching || !v.started {
		// Continue from the last output values; the very first packet
		// keeps its own.
		if v.started && v.hasPID && d.PictureIDPresent {
			v.pidOffset = (v.lastPID + 1 - d.PictureID) & 0x7fff
		}
		if v.started && v.hasTL0 && d.TL0PICIDXPresent {
			v.tl0Offset = v.lastTL0 + 1 - d.TL0PICIDX
		}
		v.started, v.switching = true, false
	}
	if d.PictureIDPresent {
		pid := (d.PictureID + v.pidOffset) & 0x7fff
		i := pictureIDOffset
		if d.PictureID15 {
			if write {
				payload[i] = vp8M | byte(pid>>8)
				payload[i+1] = byte(pid)
			}
			v.notePID(pid, 0x7fff)
		} else {
			if write {
				payload[i] = byte(pid & 0x7f)
			}
			v.notePID(pid, 0x7f)
		}
	}
	if d.TL0PICIDXPresent {
		tl0 := d.TL0PICIDX + v.tl0Offset
		if write {
			payload[d.tl0Offset()] = tl0
		}
		if !v.hasTL0 || int8(tl0-v.lastTL0) > 0 {
			v.lastTL0, v.hasTL0 = tl0, true
		}
	}
	return d, nil
}

// notePID remembers pid as the newest output PictureID if it is newer than
// the last, comparing in the packet's width so that a late packet does not
// move it back.
func (v *VP8Munger) notePID(pid, mask uint16) {
	if d := (pid - v.lastPID) & mask; !v.hasPID || (d != 0 && d <= mask/2) {
		v.lastPID, v.hasPID = pid, true
	}
}
