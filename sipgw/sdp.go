package sipgw

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// The SIP side of a call is plain RTP/AVP audio (RFC 3551) with the codecs
// both sides have, so that packets cross the gateway untouched: no
// transcoding. This file is the pure part: parsing the peer's SDP, picking
// codecs, writing ours. It is tested without a network.

var (
	errNoAudio = errors.New("sdp: no usable audio section")
	errNoVideo = errors.New("sdp: no video section")
	errNoCodec = errors.New("sdp: no common codec")
)

// codec is one RTP payload format of an m=audio line.
type codec struct {
	Name     string // lower-case encoding name: "opus", "pcmu", "telephone-event"
	PT       uint8
	Clock    uint32
	Channels uint16
	Fmtp     string
	// FB is the codec's a=rtcp-fb values (RFC 4585): "nack", "nack pli",
	// "ccm fir".
	FB []string
}

// dtmf is the RFC 4733 payload format name.
const dtmf = "telephone-event"

func (c codec) isDTMF() bool { return c.Name == dtmf }

// same says whether two payload formats are one codec (payload type
// numbers aside). H.264 formats are one only with the same packetization
// mode and profile (RFC 6184 section 8.2.2; the level may differ).
func (c codec) same(o codec) bool {
	if c.Name != o.Name || c.Clock != o.Clock {
		return false
	}
	if c.Name == "h264" {
		return fmtpParam(c.Fmtp, "packetization-mode", "0") == fmtpParam(o.Fmtp, "packetization-mode", "0") &&
			h264Profile(c.Fmtp) == h264Profile(o.Fmtp)
	}
	return true
}

// fmtpParam is the value of name in an a=fmtp parameter list
// ("a=1;b=2"), def when absent.
func fmtpParam(fmtp, name, def string) string {
	for _, p := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return def
}

// h264Profile is the profile_idc and profile-iop of an H.264 fmtp's
// profile-level-id, the level left out; 4200 (Baseline) when absent (RFC
// 6184 section 8.1).
func h264Profile(fmtp string) string {
	p := strings.ToLower(fmtpParam(fmtp, "profile-level-id", "420010"))
	if len(p) != 6 {
		return p
	}
	return p[:4]
}

// supported says whether both the WebRTC side (the router's codecs) and
// this gateway can carry c untouched.
func supported(c codec) bool {
	switch c.Name {
	case "opus":
		return c.Clock == 48000
	case "g722", "pcmu", "pcma":
		// G.722's RTP clock is 8000 although it samples at 16 kHz
		// (RFC 3551 section 4.5.2).
		return c.Clock == 8000
	case dtmf:
		return c.Clock == 8000 || c.Clock == 48000
	}
	return false
}

// direction is an SDP media direction (RFC 4566 section 6) as two bits.
type direction uint8

const (
	dirInactive direction = 0
	dirSend     direction = 1
	dirRecv     direction = 2
	dirSendRecv           = dirSend | dirRecv
)

func (d direction) String() string {
	switch d {
	case dirSend:
		return "sendonly"
	case dirRecv:
		return "recvonly"
	case dirSendRecv:
		return "sendrecv"
	}
	return "inactive"
}

func parseDirection(s string) (direction, bool) {
	switch s {
	case "sendrecv":
		return dirSendRecv, true
	case "sendonly":
		return dirSend, true
	case "recvonly":
		return dirRecv, true
	case "inactive":
		return dirInactive, true
	}
	return 0, false
}

// reverse is the direction an answerer takes for an offered one (RFC 3264
// section 6.1): what the offerer sends, the answerer receives.
func (d direction) reverse() direction {
	var r direction
	if d&dirSend != 0 {
		r |= dirRecv
	}
	if d&dirRecv != 0 {
		r |= dirSend
	}
	return r
}

// mediaDesc is what we use of a peer's m=audio or m=video section.
type mediaDesc struct {
	Index    int // of the m= line in the SDP, from 0
	IP       netip.Addr
	Port     int  // 0 when the stream is rejected (RFC 3264 section 6)
	RTCPPort int  // a=rtcp (RFC 3605), else Port+1
	RTCPMux  bool // a=rtcp-mux (RFC 5761)
	Dir      direction
	Codecs   []codec // in the order of the m= line
	Proto    string
	// Crypto is the usable a=crypto keys (RFC 4568), in the SDP's order;
	// CryptoLines counts all of them.
	Crypto      []sdesKey
	CryptoLines int
}

// parseAudio finds the first accepted m=audio section of raw.
func parseAudio(raw []byte) (mediaDesc, error) {
	d, err := parseSection(raw, "audio", false)
	if errors.Is(err, errNoSection) {
		err = errNoAudio
	}
	return d, err
}

// parseVideo finds the first m=video section of raw, accepted or not
// (Port 0): an answer keeps a rejected stream's m= line (RFC 3264 section
// 6).
func parseVideo(raw []byte) (mediaDesc, error) {
	d, err := parseSection(raw, "video", true)
	if errors.Is(err, errNoSection) {
		err = errNoVideo
	}
	return d, err
}

var errNoSection = errors.New("sdp: no such section")

// parseSection reads the first m= section of kind in raw; one with port 0
// only when rejected is true.
func parseSection(raw []byte, kind string, rejected bool) (mediaDesc, error) {
	var d mediaDesc
	var s sdp.SessionDescription
	if err := s.Unmarshal(raw); err != nil {
		return d, fmt.Errorf("sdp: %w", err)
	}
	sessionDir := dirSendRecv
	for _, a := range s.Attributes {
		if dir, ok := parseDirection(a.Key); ok {
			sessionDir = dir
		}
	}
	for i, m := range s.MediaDescriptions {
		// Port 0 rejects or disables the stream (RFC 3264 section 6).
		if m.MediaName.Media != kind || (m.MediaName.Port.Value == 0 && !rejected) {
			continue
		}
		d.Index = i
		d.Port = m.MediaName.Port.Value
		d.RTCPPort = d.Port + 1
		d.Dir = sessionDir
		d.Proto = strings.Join(m.MediaName.Protos, "/")
		c := m.ConnectionInformation
		if c == nil {
			c = s.ConnectionInformation
		}
		if d.Port != 0 && (c == nil || c.Address == nil) {
			return d, fmt.Errorf("%w: no connection address", errNoSection)
		}
		if c != nil && c.Address != nil {
			ip, err := netip.ParseAddr(c.Address.Address)
			if err != nil && d.Port != 0 {
				return d, fmt.Errorf("%w: connection address %q", errNoSection, c.Address.Address)
			}
			d.IP = ip
		}
		rtpmap := map[uint8]codec{}
		fmtp := map[uint8]string{}
		fb := map[int][]string{} // by payload type, -1 for "*"
		for _, a := range m.Attributes {
			switch a.Key {
			case "rtpmap":
				if c, ok := parseRTPMap(a.Value); ok {
					rtpmap[c.PT] = c
				}
			case "fmtp":
				if pt, rest, ok := strings.Cut(a.Value, " "); ok {
					if n, err := strconv.ParseUint(pt, 10, 7); err == nil {
						fmtp[uint8(n)] = strings.TrimSpace(rest)
					}
				}
			case "rtcp-fb":
				// a=rtcp-fb:<pt or *> <type> [<subtype>] (RFC 4585
				// section 4.2).
				pt, rest, ok := strings.Cut(a.Value, " ")
				if !ok {
					continue
				}
				rest = strings.Join(strings.Fields(rest), " ")
				if pt == "*" {
					fb[-1] = append(fb[-1], rest)
				} else if n, err := strconv.ParseUint(pt, 10, 7); err == nil {
					fb[int(n)] = append(fb[int(n)], rest)
				}
			case "rtcp":
				// a=rtcp:<port> [nettype addrtype address]
				port, _, _ := strings.Cut(a.Value, " ")
				if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
					d.RTCPPort = n
				}
			case "rtcp-mux":
				d.RTCPMux = true
			case "crypto":
				d.CryptoLines++
				if k, err := parseCrypto(a.Value); err == nil {
					d.Crypto = append(d.Crypto, k)
				}
			default:
				if dir, ok := parseDirection(a.Key); ok {
					d.Dir = dir
				}
			}
		}
		for _, f := range m.MediaName.Formats {
			n, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				continue
			}
			pt := uint8(n)
			c, ok := rtpmap[pt]
			if !ok {
				if c, ok = staticPT(pt); !ok || kind != "audio" {
					continue
				}
			}
			c.Fmtp = fmtp[pt]
			if kind == "video" {
				c.FB = append(append([]string(nil), fb[-1]...), fb[int(pt)]...)
			}
			d.Codecs = append(d.Codecs, c)
		}
		return d, nil
	}
	return d, errNoSection
}

// parseRTPMap parses "<pt> <name>/<clock>[/<channels>]".
func parseRTPMap(v string) (codec, bool) {
	pt, rest, ok := strings.Cut(v, " ")
	if !ok {
		return codec{}, false
	}
	n, err := strconv.ParseUint(pt, 10, 7)
	if err != nil {
		return codec{}, false
	}
	parts := strings.Split(strings.TrimSpace(rest), "/")
	if len(parts) < 2 {
		return codec{}, false
	}
	clock, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return codec{}, false
	}
	c := codec{Name: strings.ToLower(parts[0]), PT: uint8(n), Clock: uint32(clock), Channels: 1}
	if len(parts) > 2 {
		if ch, err := strconv.ParseUint(parts[2], 10, 16); err == nil {
			c.Channels = uint16(ch)
		}
	}
	return c, true
}

// staticPT is the static audio payload types we know (RFC 3551 table 4),
// for SDPs that list them without an rtpmap.
func staticPT(pt uint8) (codec, bool) {
	switch pt {
	case 0:
		return codec{Name: "pcmu", PT: 0, Clock: 8000, Channels: 1}, true
	case 8:
		return codec{Name: "pcma", PT: 8, Clock: 8000, Channels: 1}, true
	case 9:
		return codec{Name: "g722", PT: 9, Clock: 8000, Channels: 1}, true
	}
	return codec{}, false
}

// offerCodecs is what we offer the SIP side for a browser offer: the
// browser's audio codecs we can carry, in its order and with its payload
// types (so that its packets need no rewriting), and telephone-event at
// the clock rate of each (from the browser's if it has it, else on a free
// dynamic payload type, so that DTMF from the SIP peer can be read).
func offerCodecs(browser []codec) ([]codec, error) {
	var out []codec
	used := map[uint8]bool{}
	for _, c := range browser {
		used[c.PT] = true
		if !c.isDTMF() && supported(c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, errNoCodec
	}
	clocks := map[uint32]bool{}
	for _, c := range out {
		clocks[c.Clock] = true
	}
	for _, clock := range []uint32{48000, 8000} {
		if !clocks[clock] {
			continue
		}
		te, ok := findCodec(browser, codec{Name: dtmf, Clock: clock})
		if !ok {
			te = codec{Name: dtmf, Clock: clock, Channels: 1, Fmtp: "0-16", PT: freePT(used)}
			used[te.PT] = true
		}
		out = append(out, te)
	}
	return out, nil
}

// freePT returns a dynamic payload type (RFC 3551 section 3) not in used,
// 101 first, the common choice for telephone-event.
func freePT(used map[uint8]bool) uint8 {
	for pt := uint8(101); pt <= 127; pt++ {
		if !used[pt] {
			return pt
		}
	}
	for pt := uint8(96); pt < 101; pt++ {
		if !used[pt] {
			return pt
		}
	}
	return 101
}

func findCodec(list []codec, want codec) (codec, bool) {
	for _, c := range list {
		if c.same(want) {
			return c, true
		}
	}
	return codec{}, false
}

// negotiated is the outcome of one offer/answer on the SIP side: the one
// media codec both legs use, and telephone-event at its clock if both have
// it. PTs are the SIP peer's.
type negotiated struct {
	Media codec
	DTMF  *codec
}

// pickAnswer reads the SIP peer's answer to our offer: the first codec of
// the answer that we offered (RFC 3264 section 6.1: the answerer lists the
// ones it will use, preferred first).
func pickAnswer(offered []codec, answer mediaDesc) (negotiated, error) {
	var n negotiated
	for _, c := range answer.Codecs {
		if c.isDTMF() || !supported(c) {
			continue
		}
		if _, ok := findCodec(offered, c); ok {
			n.Media = c
			break
		}
	}
	if n.Media.Name == "" {
		return n, errNoCodec
	}
	if te, ok := findCodec(answer.Codecs, codec{Name: dtmf, Clock: n.Media.Clock}); ok {
		n.DTMF = &te
	}
	return n, nil
}

// pickOffer reads an offer from the SIP peer: the codecs we can carry,
// media codecs first in the peer's order, for the browser to choose from.
func pickOffer(offer mediaDesc) []codec {
	var media, te []codec
	for _, c := range offer.Codecs {
		if !supported(c) {
			continue
		}
		if c.isDTMF() {
			te = append(te, c)
		} else {
			media = append(media, c)
		}
	}
	if len(media) == 0 {
		return nil
	}
	return append(media, te...)
}

// answerFor is our answer's codecs once the browser chose media from the
// peer's offer: that codec and telephone-event at its clock, each with the
// offer's payload type (RFC 3264 section 6.1).
func answerFor(offer mediaDesc, chosen codec) (negotiated, error) {
	var n negotiated
	c, ok := findCodec(offer.Codecs, chosen)
	if !ok || c.isDTMF() || !supported(c) {
		return n, errNoCodec
	}
	n.Media = c
	if te, ok := findCodec(offer.Codecs, codec{Name: dtmf, Clock: c.Clock}); ok {
		n.DTMF = &te
	}
	return n, nil
}

func (n negotiated) codecs() []codec {
	if n.DTMF == nil {
		return []codec{n.Media}
	}
	return []codec{n.Media, *n.DTMF}
}

// supportedVideo says whether c is a video codec both legs carry
// untouched: VP8 (RFC 7741) and H.264 (RFC 6184).
func supportedVideo(c codec) bool {
	switch c.Name {
	case "vp8", "h264":
		return c.Clock == 90000
	}
	return false
}

// videoFB is the RTCP feedback (RFC 4585) the gateway relays on video:
// generic NACK (from the SIP peer to the browser, whose packets cross
// unrenumbered), and keyframe requests both ways, PLI (RFC 4585 section
// 6.3.1) and FIR (RFC 5104 section 4.3.1).
func videoFB() []string { return []string{"nack", "nack pli", "ccm fir"} }

// keepFB is the values of fb the gateway relays.
func keepFB(fb []string) []string {
	var out []string
	for _, f := range fb {
		for _, v := range videoFB() {
			if strings.EqualFold(f, v) {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// maxH264 bounds the H.264 formats of our offers: a SIP request over UDP
// must stay under 1300 bytes (RFC 3261 section 18.1.1), and a browser
// offers a dozen H.264 formats.
const maxH264 = 2

// offerVideoCodecs is the video we offer the SIP side for a browser
// offer: its VP8 and H.264 formats in its order, with its payload types
// and fmtp (profile-level-id, packetization-mode), and of its rtcp-fb
// those the gateway relays. Of H.264, the first maxH264 profiles with
// packetization-mode 1 (non-interleaved, what phones send), or the
// first format if none has it.
func offerVideoCodecs(browser []codec) []codec {
	var out []codec
	h264, vp8 := 0, false
	for _, c := range browser {
		if !supportedVideo(c) {
			continue
		}
		switch {
		case c.Name == "vp8" && vp8:
			continue
		case c.Name == "vp8":
			vp8 = true
		case h264 == maxH264 || fmtpParam(c.Fmtp, "packetization-mode", "0") != "1":
			continue
		default:
			h264++
		}
		c.FB = keepFB(c.FB)
		out = append(out, c)
	}
	if h264 == 0 {
		for _, c := range browser {
			if supportedVideo(c) && c.Name == "h264" {
				c.FB = keepFB(c.FB)
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// pickVideoAnswer reads the video of the SIP peer's answer to our offer:
// the first format of the answer that we offered, as the peer numbers it
// (peer) and as the browser does (browser). A format is matched by its
// payload type first, which the answerer keeps (RFC 3264 section 6.1), so
// that an H.264 answer with another level still finds its offer.
func pickVideoAnswer(offered []codec, answer mediaDesc) (peer, browser codec, err error) {
	if answer.Port == 0 {
		return peer, browser, errNoVideo
	}
	for _, c := range answer.Codecs {
		if !supportedVideo(c) {
			continue
		}
		for _, o := range offered {
			if o.PT == c.PT && o.Name == c.Name && o.Clock == c.Clock {
				return c, o, nil
			}
		}
		if o, ok := findCodec(offered, c); ok {
			return c, o, nil
		}
	}
	return peer, browser, errNoCodec
}

// pickVideoOffer is the video formats of the SIP peer's offer we can
// carry, in its order, for the browser to choose from; none when the
// stream is rejected, or RTP/SAVP without a key we can use (an RTP/AVP
// offer's unusable keys leave it plain, as for audio).
func pickVideoOffer(offer mediaDesc) []codec {
	if offer.Port == 0 {
		return nil
	}
	if _, hasKey := pickCrypto(offer.Crypto); offer.Proto != "RTP/AVP" && (offer.Proto != "RTP/SAVP" || !hasKey) {
		return nil
	}
	var out []codec
	for _, c := range offer.Codecs {
		if supportedVideo(c) {
			c.FB = keepFB(c.FB)
			out = append(out, c)
		}
	}
	return out
}

// answerVideoFor is the peer's format of its video offer that the browser
// chose.
func answerVideoFor(offer mediaDesc, chosen codec) (codec, error) {
	c, ok := findCodec(offer.Codecs, chosen)
	if !ok || !supportedVideo(c) {
		return codec{}, errNoCodec
	}
	c.FB = keepFB(c.FB)
	return c, nil
}

// rejectedVideo is the m=video line that refuses the stream of d (RFC
// 3264 section 6: port 0, one of its formats).
func rejectedVideo(d mediaDesc, audioIndex int) *localVideo {
	v := &localVideo{Proto: d.Proto, First: d.Index < audioIndex}
	if len(d.Codecs) > 0 {
		v.Codecs = []codec{d.Codecs[0]}
	}
	return v
}

// localSDP is what we write in an offer or answer.
type localSDP struct {
	SessionID uint64
	Version   uint64 // o= version, bumped on every change (RFC 3264 section 8)
	IP        string
	Port      int
	RTCPPort  int
	Codecs    []codec
	Dir       direction
	Proto     string   // "RTP/AVP" when empty
	Crypto    *sdesKey // our SDES key, if SRTP
	// Video is the m=video section, if the session has one.
	Video *localVideo
}

// localVideo is our m=video section. Once there, it stays in every
// offer and answer of the session, with port 0 when the stream is
// rejected or gone (RFC 3264 section 8).
type localVideo struct {
	Port     int // 0: rejected
	RTCPPort int
	Codecs   []codec
	Dir      direction
	Proto    string   // the audio's when empty
	First    bool     // before m=audio, as in the peer's offer
	Crypto   *sdesKey // our SDES key for video, if SRTP (its own, RFC 4568)
}

// setDir sets the direction of every section. c.mu must be held by a
// caller on a call's localSDP.
func (l *localSDP) setDir(d direction) {
	l.Dir = d
	if l.Video != nil {
		l.Video.Dir = d
	}
}

// marshal writes the SDP (RFC 8866). a=rtcp names our RTCP port (RFC 3605)
// so that peers need not assume port+1; we do not offer rtcp-mux: a peer
// that uses it anyway is understood (RTCP on the RTP port is read too).
func (l localSDP) marshal() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\n")
	fmt.Fprintf(&b, "o=ianua %d %d IN IP4 %s\r\n", l.SessionID, l.Version, l.IP)
	fmt.Fprintf(&b, "s=ianua\r\n")
	fmt.Fprintf(&b, "c=IN IP4 %s\r\n", l.IP)
	fmt.Fprintf(&b, "t=0 0\r\n")
	proto := l.Proto
	if proto == "" {
		proto = "RTP/AVP"
	}
	if v := l.Video; v != nil && v.First {
		v.write(&b, proto)
	}
	writeMedia(&b, "audio", l.Port, proto, l.Codecs)
	if l.RTCPPort != 0 {
		fmt.Fprintf(&b, "a=rtcp:%d\r\n", l.RTCPPort)
	}
	if l.Crypto != nil {
		fmt.Fprintf(&b, "a=crypto:%s\r\n", l.Crypto.attribute())
	}
	fmt.Fprintf(&b, "a=%s\r\n", l.Dir)
	if v := l.Video; v != nil && !v.First {
		v.write(&b, proto)
	}
	return []byte(b.String())
}

func (v *localVideo) write(b *strings.Builder, proto string) {
	if v.Proto != "" {
		proto = v.Proto
	}
	if v.Port == 0 {
		// Rejected: the m= line alone, with a format (RFC 3264 section 6).
		fmt.Fprintf(b, "m=video 0 %s", proto)
		if len(v.Codecs) == 0 {
			b.WriteString(" 96")
		}
		for _, c := range v.Codecs {
			fmt.Fprintf(b, " %d", c.PT)
		}
		b.WriteString("\r\n")
		return
	}
	writeMedia(b, "video", v.Port, proto, v.Codecs)
	if v.RTCPPort != 0 {
		fmt.Fprintf(b, "a=rtcp:%d\r\n", v.RTCPPort)
	}
	if v.Crypto != nil {
		fmt.Fprintf(b, "a=crypto:%s\r\n", v.Crypto.attribute())
	}
	fmt.Fprintf(b, "a=%s\r\n", v.Dir)
}

// writeMedia writes an m= line and its formats' rtpmap, fmtp and rtcp-fb.
func writeMedia(b *strings.Builder, kind string, port int, proto string, codecs []codec) {
	fmt.Fprintf(b, "m=%s %d %s", kind, port, proto)
	for _, c := range codecs {
		fmt.Fprintf(b, " %d", c.PT)
	}
	b.WriteString("\r\n")
	// Feedback common to all formats goes once, for "*" (RFC 4585
	// section 4.2), to keep the request small.
	common := len(codecs) > 1 && len(codecs[0].FB) > 0
	for _, c := range codecs[1:] {
		common = common && slices.Equal(c.FB, codecs[0].FB)
	}
	if common {
		for _, f := range codecs[0].FB {
			fmt.Fprintf(b, "a=rtcp-fb:* %s\r\n", f)
		}
	}
	for _, c := range codecs {
		if c.Channels > 1 {
			fmt.Fprintf(b, "a=rtpmap:%d %s/%d/%d\r\n", c.PT, sdpName(c.Name), c.Clock, c.Channels)
		} else {
			fmt.Fprintf(b, "a=rtpmap:%d %s/%d\r\n", c.PT, sdpName(c.Name), c.Clock)
		}
		if c.Fmtp != "" {
			fmt.Fprintf(b, "a=fmtp:%d %s\r\n", c.PT, c.Fmtp)
		}
		for _, f := range c.FB {
			if !common {
				fmt.Fprintf(b, "a=rtcp-fb:%d %s\r\n", c.PT, f)
			}
		}
	}
}

// sdpName is the usual spelling of an encoding name (they are case
// insensitive, RFC 4855 section 3, but some peers compare them verbatim).
func sdpName(name string) string {
	switch name {
	case "pcmu", "pcma", "g722", "vp8", "h264":
		return strings.ToUpper(name)
	}
	return name
}
