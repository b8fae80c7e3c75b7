package rtpmunge

// VP9 payload descriptor bits (RFC 9628 section 4.2), first byte.
const (
	vp9F = 0x10 // flexible mode
	vp9E = 0x04 // end of a layer frame
	vp9V = 0x02 // scalability structure present
)

// VP9Descriptor is what a forwarder needs of a VP9 payload descriptor
// (RFC 9628 section 4.2) to drop spatial and temporal layers.
type VP9Descriptor struct {
	// LayersPresent: the L bit; without it the stream has no layers to
	// choose from and TID, SID, U are zero.
	LayersPresent bool
	TID, SID      uint8
	// SwitchingUp: the U bit, a temporal switching-up point: from this
	// frame on, the frames of layer TID do not refer to earlier ones of
	// that layer.
	SwitchingUp bool
	// Start and End: the B and E bits, first and last packet of a layer
	// frame.
	Start, End bool
	// InterPicture: the P bit; a picture whose first layer frame has it
	// clear is a keyframe.
	InterPicture bool
}

// ParseVP9 reads the start of a VP9 payload descriptor; it does not
// allocate. It reports false for a payload too short for what its first
// byte announces.
func ParseVP9(payload []byte) (VP9Descriptor, bool) {
	if len(payload) < 1 {
		return VP9Descriptor{}, false
	}
	b0 := payload[0]
	d := VP9Descriptor{
		LayersPresent: b0&vp9L != 0,
		Start:         b0&vp9B != 0,
		End:           b0&vp9E != 0,
		InterPicture:  b0&vp9P != 0,
	}
	i := 1
	if b0&vp9I != 0 {
		if len(payload) < 2 {
			return VP9Descriptor{}, false
		}
		i = 2
		if payload[1]&vp9M != 0 {
			i = 3
		}
	}
	if d.LayersPresent {
		if len(payload) <= i {
			return VP9Descriptor{}, false
		}
		// TID(3) U(1) SID(3) D(1)
		l := payload[i]
		d.TID = l >> 5
		d.SwitchingUp = l&0x10 != 0
		d.SID = l >> 1 & 0x07
	}
	return d, true
}
