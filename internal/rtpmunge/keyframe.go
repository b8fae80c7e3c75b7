package rtpmunge

import "strings"

// KeyFrame reports whether an RTP payload of the given codec starts a key
// frame, where a subscriber can start or switch layers. mimeType is
// compared without regard to case ("video/VP8", as pion spells it, or
// "video/vp8"); an unknown codec reports false.
func KeyFrame(mimeType string, payload []byte) bool {
	switch videoCodec(mimeType) {
	case "vp8":
		return vp8KeyFrame(payload)
	case "h264":
		return H264KeyFrame(payload)
	case "vp9":
		return VP9KeyFrame(payload)
	case "av1":
		return AV1KeyFrame(payload)
	}
	return false
}

// videoCodec returns the lower-case subtype of a "video/" mime type of at
// most four letters, or "". It runs for every video packet: one pass, no
// allocation, where a chain of strings.EqualFold would compare the prefix
// once per codec.
func videoCodec(mimeType string) string {
	const prefix = "video/"
	sub := len(mimeType) - len(prefix)
	if sub < 1 || sub > 4 || !strings.EqualFold(mimeType[:len(prefix)], prefix) {
		return ""
	}
	var b [4]byte
	for i := range sub {
		c := mimeType[len(prefix)+i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	switch string(b[:sub]) {
	case "vp8":
		return "vp8"
	case "h264":
		return "h264"
	case "vp9":
		return "vp9"
	case "av1":
		return "av1"
	}
	return ""
}

// vp8KeyFrame is ParseVP8(payload).KeyFrame without filling a descriptor:
// S set, partition 0, and the P bit after the descriptor clear (RFC 7741
// sections 4.2 and 4.3).
func vp8KeyFrame(b []byte) bool {
	if len(b) < 1 || b[0]&(vp8S|vp8PID) != vp8S {
		return false
	}
	i := 1
	if b[0]&vp8X != 0 {
		if len(b) < 2 {
			return false
		}
		x := b[1]
		i = 2
		if x&vp8I != 0 {
			if len(b) <= i {
				return false
			}
			if b[i]&vp8M != 0 {
				i++
			}
			i++
		}
		if x&vp8L != 0 {
			i++
		}
		if x&(vp8T|vp8K) != 0 {
			i++
		}
	}
	return len(b) > i && b[i]&0x01 == 0
}

// H.264 NAL unit types (RFC 6184 section 5.2, table 1; ITU-T H.264 table
// 7-1).
const (
	h264IDR   = 5
	h264SPS   = 7
	h264STAPA = 24
	h264STAPB = 25
	h264FUA   = 28
	h264FUB   = 29
)

// H264KeyFrame reports whether an H.264 RTP payload (RFC 6184) carries an
// IDR slice (NAL type 5) or a sequence parameter set (7), which senders put
// just before an IDR: in a single NAL unit packet, in any unit of a STAP-A
// or STAP-B aggregate (section 5.7.1), or at the start of a fragmented unit
// (FU-A or FU-B with the S bit, section 5.8). MTAPs, which WebRTC does not
// use, report false.
func H264KeyFrame(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	switch t := payload[0] & 0x1f; t {
	case h264IDR, h264SPS:
		return true
	case h264STAPA, h264STAPB:
		i := 1
		if t == h264STAPB {
			i = 3 // decoding order number
		}
		// Each unit: a 16-bit size, then the NAL unit.
		for i+2 < len(payload) {
			n := int(payload[i])<<8 | int(payload[i+1])
			i += 2
			if n == 0 || i+n > len(payload) {
				return false
			}
			if u := payload[i] & 0x1f; u == h264IDR || u == h264SPS {
				return true
			}
			i += n
		}
	case h264FUA, h264FUB:
		// FU header: S, E, R bits and the fragmented unit's type.
		if len(payload) < 2 || payload[1]&0x80 == 0 {
			return false
		}
		u := payload[1] & 0x1f
		return u == h264IDR || u == h264SPS
	}
	return false
}

// VP9 payload descriptor bits (RFC 9628 section 4.2).
const (
	vp9I = 0x80 // PictureID present
	vp9P = 0x40 // inter-picture predicted
	vp9L = 0x20 // layer indices present
	vp9B = 0x08 // start of a frame
	vp9M = 0x80 // 15-bit PictureID
)

// VP9KeyFrame reports whether a VP9 RTP payload (RFC 9628) starts a key
// picture: from the payload descriptor alone, the P bit clear (not
// predicted from an earlier picture), the B bit set (first packet of the
// frame) and spatial layer 0 (the L byte's SID, taken as 0 when the
// descriptor has no layer indices). Best effort: upper spatial layers of a
// key picture (P clear, SID above 0) report false, since one cannot start
// decoding there, and the VP9 frame header itself is not read.
func VP9KeyFrame(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	b0 := payload[0]
	if b0&vp9P != 0 || b0&vp9B == 0 {
		return false
	}
	i := 1
	if b0&vp9I != 0 {
		if len(payload) < 2 {
			return false
		}
		i = 2
		if payload[1]&vp9M != 0 {
			i = 3
		}
	}
	if b0&vp9L != 0 {
		if len(payload) <= i {
			return false
		}
		// TID(3) U(1) SID(3) D(1)
		if sid := payload[i] >> 1 & 0x07; sid != 0 {
			return false
		}
	}
	return true
}

// av1N is the N bit of the AV1 aggregation header: the packet is the first
// of a coded video sequence.
const av1N = 0x08

// AV1KeyFrame reports whether an AV1 RTP payload starts a new coded video
// sequence: the N bit of the aggregation header (AV1 RTP payload format,
// section 4.4), which senders set on the first packet of a key frame that
// carries a sequence header. Best effort: the OBUs are not read, so a key
// frame sent without a new sequence (rare in WebRTC) reports false.
func AV1KeyFrame(payload []byte) bool {
	return len(payload) > 0 && payload[0]&av1N != 0
}
