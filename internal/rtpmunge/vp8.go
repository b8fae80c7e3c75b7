package rtpmunge

// VP8Descriptor is the VP8 payload descriptor of one packet (RFC 7741
// section 4.2), and whether the packet starts a key frame.
type VP8Descriptor struct {
	// NonReference is the N bit: no other frame depends on this one.
	NonReference bool
	// Start is the S bit: the packet starts a VP8 partition.
	Start bool
	// PartitionID is the PID field, the partition the packet starts or
	// continues.
	PartitionID uint8

	// PictureIDPresent is the I bit; PictureID15 the M bit (a 15-bit
	// rather than 7-bit PictureID).
	PictureIDPresent bool
	PictureID15      bool
	PictureID        uint16

	// TL0PICIDXPresent is the L bit.
	TL0PICIDXPresent bool
	TL0PICIDX        uint8

	// TIDPresent is the T bit; TID is the temporal layer and Y the
	// layer sync bit.
	TIDPresent bool
	TID        uint8
	Y          bool

	// KeyIdxPresent is the K bit.
	KeyIdxPresent bool
	KeyIdx        uint8

	// KeyFrame: the packet starts a key frame. Start set, PartitionID 0,
	// and the P (inverse key frame) bit of the VP8 payload header clear
	// (RFC 7741 section 4.3; RFC 6386 section 9.1).
	KeyFrame bool

	// HeaderSize is the descriptor's length in bytes; the VP8 payload
	// follows it.
	HeaderSize int
}

// Bits of the VP8 payload descriptor (RFC 7741 section 4.2).
const (
	vp8X   = 0x80 // extended control bits present
	vp8N   = 0x20
	vp8S   = 0x10
	vp8PID = 0x07
	vp8I   = 0x80 // PictureID present
	vp8L   = 0x40 // TL0PICIDX present
	vp8T   = 0x20 // TID present
	vp8K   = 0x10 // KEYIDX present
	vp8M   = 0x80 // 15-bit PictureID
)

// ParseVP8 reads the VP8 payload descriptor at the start of an RTP payload.
// It returns ErrShortPayload if the payload ends inside the descriptor or
// has no VP8 data after it.
func ParseVP8(payload []byte) (VP8Descriptor, error) {
	var d VP8Descriptor
	b := payload
	if len(b) < 1 {
		return d, ErrShortPayload
	}
	d.NonReference = b[0]&vp8N != 0
	d.Start = b[0]&vp8S != 0
	d.PartitionID = b[0] & vp8PID
	i := 1
	if b[0]&vp8X != 0 {
		if len(b) < 2 {
			return d, ErrShortPayload
		}
		x := b[1]
		i = 2
		if x&vp8I != 0 {
			if len(b) < i+1 {
				return d, ErrShortPayload
			}
			d.PictureIDPresent = true
			if b[i]&vp8M != 0 {
				if len(b) < i+2 {
					return d, ErrShortPayload
				}
				d.PictureID15 = true
				d.PictureID = uint16(b[i]&0x7f)<<8 | uint16(b[i+1])
				i += 2
			} else {
				d.PictureID = uint16(b[i] & 0x7f)
				i++
			}
		}
		if x&vp8L != 0 {
			if len(b) < i+1 {
				return d, ErrShortPayload
			}
			d.TL0PICIDXPresent = true
			d.TL0PICIDX = b[i]
			i++
		}
		if x&(vp8T|vp8K) != 0 {
			if len(b) < i+1 {
				return d, ErrShortPayload
			}
			if x&vp8T != 0 {
				d.TIDPresent = true
				d.TID = b[i] >> 6
				d.Y = b[i]&0x20 != 0
			}
			if x&vp8K != 0 {
				d.KeyIdxPresent = true
				d.KeyIdx = b[i] & 0x1f
			}
			i++
		}
	}
	if len(b) <= i {
		return d, ErrShortPayload
	}
	d.HeaderSize = i
	d.KeyFrame = d.Start && d.PartitionID == 0 && b[i]&0x01 == 0
	return d, nil
}

// pictureIDOffset is where the PictureID starts in a descriptor that has
// one: after the first byte and the X byte.
const pictureIDOffset = 2

// tl0Offset is where the TL0PICIDX of d is.
func (d *VP8Descriptor) tl0Offset() int {
	switch {
	case !d.PictureIDPresent:
		return pictureIDOffset
	case d.PictureID15:
		return pictureIDOffset + 2
	}
	return pictureIDOffset + 1
}
