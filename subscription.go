package ianua

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/av1dd"
	"github.com/ianua/ianua/internal/playoutdelay"
	"github.com/ianua/ianua/internal/rtpmunge"
)

// SubscribeParams describes a subscription to a source.
type SubscribeParams struct {
	// Handle is the subscriber's handle.
	Handle *Handle
	// TrackID and StreamID are what the subscriber's browser sees (the
	// msid, RFC 8830); defaults: the source id and "ianua".
	TrackID, StreamID string
	// Layer is the simulcast layer wanted at first: 0 lowest .. 2 highest;
	// default (and any value above what the source has) the highest.
	Layer *int
	// OnSourceClosed, if set, is called when the source goes away (the
	// publisher unpublished or left). The subscription is then idle; the
	// plugin may Switch it to another source or remove it.
	OnSourceClosed func(*Subscription)
}

// Subscription forwards one source to one subscriber. It is the
// webrtc.TrackLocal the plugin adds to the subscriber's PeerConnection
// (for example with AddTransceiverFromTrack, sendonly), then Start with the
// resulting RTPSender. It rewrites SSRC, payload type, sequence numbers,
// timestamps and VP8 picture ids, so that switching layers or sources is
// seamless for the receiver.
type Subscription struct {
	h        *Handle
	params   SubscribeParams
	id       string
	streamID string
	kind     webrtc.RTPCodecType

	writeMu sync.Mutex
	mu      sync.Mutex
	src     *Source
	closed  bool
	paused  bool
	bound   bool
	ssrc    uint32
	pt      uint8
	clock   uint32
	mime    string
	writer  webrtc.TrackLocalWriter
	munger  rtpmunge.Munger
	vp8     rtpmunge.VP8Munger
	target  int // wanted simulcast layer
	// temporal is the highest VP8 temporal layer forwarded, -1 for all.
	temporal int
	// VP9 SVC (RFC 9628) and AV1 SVC (dependency descriptor): the
	// spatial and temporal layers forwarded (-1: all) and the ones asked
	// for, which take over at a picture where the switch is safe.
	spatial, spatialWant         int
	svcTemporal, svcTemporalWant int
	// av1TS is the timestamp of the AV1 temporal unit seen last (av1Seen:
	// one was), to tell where the next starts.
	av1TS   uint32
	av1Seen bool
	// ddID is the subscriber's id for the AV1 dependency descriptor
	// extension, 0 when it did not negotiate it.
	ddID uint8
	// playoutID is the subscriber's id for the playout-delay extension,
	// 0 when it did not negotiate it; playout is the delay to write
	// (playoutOn), copied per layer into playoutOut under writeMu.
	playoutID  uint8
	playout    [3]byte
	playoutOn  bool
	playoutOut [maxLayers][3]byte

	current int  // layer being forwarded, -1 before the first
	waitKey bool // forward nothing until a keyframe (after a switch)
	needKey int  // layer acceptLocked waits for a keyframe of, or -1
	// primedFrom is the source whose kept keyframe was last sent (or
	// looked for) to start this subscription; once per source.
	primedFrom *Source
	sender     *webrtc.RTPSender

	// hdr is one reusable header per layer (used under writeMu), so the
	// forwarding path writes without allocating and without holding mu
	// across the send.
	hdr [maxLayers]rtp.Header
	// ext backs each header's extensions: the dependency descriptor we
	// forward, and what pion's interceptors add (transport-wide-cc),
	// without allocating and without touching the source's packet.
	ext [maxLayers][4]rtp.Extension
	// payload is the VP8 copy buffer per layer, for picture-id rewriting.
	payload [maxLayers][]byte

	// rtx* serve retransmissions; only the RTCP reader touches them.
	rtxBuf [1500]byte
	rtxPkt rtp.Packet
	rtxOut [1500]byte
	// RTX (RFC 4588) when the subscriber negotiated it: retransmissions
	// go on their own SSRC and payload type with the original sequence
	// number first in the payload.
	rtxSSRC   uint32
	rtxPT     uint8
	rtxSeq    uint16
	rtxHdr    rtp.Header
	rtxBroken bool

	packets       atomic.Uint64
	bytes         atomic.Uint64
	retransmitted atomic.Uint64
}

// Subscribe creates a subscription of a handle to the source.
func (s *Source) Subscribe(p SubscribeParams) (*Subscription, error) {
	if p.Handle == nil {
		return nil, fmt.Errorf("%w: subscribe needs a handle", ErrInvalidElement)
	}
	if p.Handle.isDetached() {
		return nil, ErrHandleDetached
	}
	sub := &Subscription{
		h:        p.Handle,
		params:   p,
		id:       p.TrackID,
		streamID: p.StreamID,
		kind:     s.kind,
		src:      s,
		target:   maxLayers - 1,
		current:  -1,
		temporal: -1,
		spatial:  -1, spatialWant: -1, svcTemporal: -1, svcTemporalWant: -1,
		waitKey: s.kind == webrtc.RTPCodecTypeVideo,
	}
	if sub.id == "" {
		sub.id = s.id
	}
	if sub.streamID == "" {
		sub.streamID = "ianua"
	}
	if p.Layer != nil {
		sub.target = min(max(*p.Layer, 0), maxLayers-1)
	}
	if err := s.addSub(sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// Source is the source being forwarded (nil once it closed).
func (sub *Subscription) Source() *Source {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.src
}

// Handle is the subscriber's handle.
func (sub *Subscription) Handle() *Handle { return sub.h }

// ID implements webrtc.TrackLocal.
func (sub *Subscription) ID() string { return sub.id }

// RID implements webrtc.TrackLocal: a subscription sends one encoding.
func (sub *Subscription) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (sub *Subscription) StreamID() string { return sub.streamID }

// Kind implements webrtc.TrackLocal.
func (sub *Subscription) Kind() webrtc.RTPCodecType { return sub.kind }

// Bind implements webrtc.TrackLocal: it picks the negotiated codec that
// matches the source's.
func (sub *Subscription) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	want := sub.sourceCodecLocked()
	for _, c := range ctx.CodecParameters() {
		if want.MimeType != "" && !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
			continue
		}
		sub.ssrc = uint32(ctx.SSRC())
		sub.pt = uint8(c.PayloadType)
		sub.rtxSSRC, sub.rtxPT = 0, 0
		if rtx := uint32(ctx.SSRCRetransmission()); rtx != 0 {
			apt := fmt.Sprintf("apt=%d", c.PayloadType)
			for _, r := range ctx.CodecParameters() {
				if strings.EqualFold(r.MimeType, webrtc.MimeTypeRTX) && strings.Contains(r.SDPFmtpLine, apt) {
					sub.rtxSSRC, sub.rtxPT = rtx, uint8(r.PayloadType)
				}
			}
		}
		sub.clock = c.ClockRate
		sub.mime = strings.ToLower(c.MimeType)
		sub.ddID, sub.playoutID = 0, 0
		for _, e := range ctx.HeaderExtensions() {
			if e.URI == av1dd.URI && sub.mime == "video/av1" {
				sub.ddID = uint8(e.ID)
			}
			if e.URI == playoutdelay.URI && sub.kind == webrtc.RTPCodecTypeVideo {
				sub.playoutID = uint8(e.ID)
			}
		}
		sub.writer = ctx.WriteStream()
		sub.bound = true
		return c, nil
	}
	return webrtc.RTPCodecParameters{}, fmt.Errorf("%w: subscriber has no %s", ErrNoCommonCodec, want.MimeType)
}

// sourceCodecLocked is the source's codec: the one that arrived, or else
// the first one the publisher negotiated.
func (sub *Subscription) sourceCodecLocked() webrtc.RTPCodecCapability {
	if sub.src == nil {
		return webrtc.RTPCodecCapability{}
	}
	if c := sub.src.Codec(); c.MimeType != "" {
		return c.RTPCodecCapability
	}
	if sub.src.tr == nil {
		return webrtc.RTPCodecCapability{}
	}
	if rcv := sub.src.tr.Receiver(); rcv != nil {
		for _, c := range rcv.GetParameters().Codecs {
			if !strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
				return c.RTPCodecCapability
			}
		}
	}
	return webrtc.RTPCodecCapability{}
}

// Unbind implements webrtc.TrackLocal.
func (sub *Subscription) Unbind(webrtc.TrackLocalContext) error {
	sub.mu.Lock()
	sub.bound = false
	sub.writer = nil
	sub.mu.Unlock()
	return nil
}

// Start reads the subscriber's RTCP for this subscription (keyframe
// requests; pion's interceptors see NACKs and reports on the way) until the
// sender stops. The goroutine ends when the sender is stopped or its
// PeerConnection closed.
func (sub *Subscription) Start(sender *webrtc.RTPSender) {
	sub.mu.Lock()
	sub.sender = sender
	sub.mu.Unlock()
	go sub.readRTCP(sender)
	sub.requestKeyframe()
}

func (sub *Subscription) readRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				sub.requestKeyframe()
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					pair.Range(func(seq uint16) bool {
						sub.retransmit(seq)
						return true
					})
				}
			}
		}
	}
}

func (sub *Subscription) requestKeyframe() {
	sub.mu.Lock()
	// Before the first layer is chosen ask every layer: the wanted one
	// may not be sent at all (browsers drop simulcast layers under load).
	src, layer := sub.src, sub.current
	sub.mu.Unlock()
	if src != nil {
		src.RequestKeyframe(layer)
	}
}

// writeRTP forwards one packet of the source, if it is from the layer
// being forwarded (or the wanted one, at a keyframe).
func (sub *Subscription) writeRTP(p *outPacket) {
	// writeMu orders this subscription's writes: its header and payload
	// buffers are reused, and around a Switch (or a simulcast layer
	// change) the old source's reader may still be writing when the new
	// one starts. Only this subscription's forwarding ever waits on it.
	sub.writeMu.Lock()
	defer sub.writeMu.Unlock()
	sub.mu.Lock()
	if !sub.liveLocked(p.src) {
		sub.mu.Unlock()
		return
	}
	if sub.kind == webrtc.RTPCodecTypeVideo {
		if !sub.acceptLocked(p) {
			need, src := sub.needKey, sub.src
			if need == p.layer && sub.current < 0 && sub.primedFrom != src && sub.connectedLocked() {
				sub.primedFrom = src
				if kf := src.keyframeBefore(p); kf != nil {
					sub.mu.Unlock()
					sub.prime(p, kf)
					return
				}
			}
			sub.mu.Unlock()
			// Nothing else asks while we wait: the receiver sends no
			// PLI for a stream it gets no packet of.
			if need >= 0 && src != nil {
				src.RequestKeyframe(need)
			}
			return
		}
	}
	h, payload, w, ok := sub.prepareLocked(p)
	sub.mu.Unlock()
	if ok {
		sub.send(h, payload, w)
	}
}

// liveLocked says whether packets of src are to be forwarded now.
func (sub *Subscription) liveLocked(src *Source) bool {
	return !sub.closed && sub.bound && !sub.paused && src == sub.src
}

// connectedLocked says whether the subscriber's DTLS is up: pion drops
// what is written before (WriteRTP returns no error, and 0). Without a
// sender (not started yet, or not a PeerConnection) the write will tell.
func (sub *Subscription) connectedLocked() bool {
	return sub.sender == nil || sub.sender.Transport().State() == webrtc.DTLSTransportStateConnected
}

// prime sends a subscriber that starts between keyframes a copy of the
// source's latest keyframe (SourceParams.KeepKeyframe), then waits for the
// next keyframe: the receiver shows a picture at once and never decodes a
// frame whose references it did not get. Called with writeMu held.
func (sub *Subscription) prime(live *outPacket, kf [][]byte) {
	var pkt rtp.Packet
	for i, raw := range kf {
		if pkt.Unmarshal(raw) != nil {
			continue
		}
		p := outPacket{src: live.src, header: pkt.Header, payload: pkt.Payload, layer: live.layer, keyframe: i == 0, now: live.now}
		sub.mu.Lock()
		if !sub.liveLocked(p.src) || !sub.acceptLocked(&p) {
			sub.mu.Unlock()
			return
		}
		h, payload, w, ok := sub.prepareLocked(&p)
		sub.mu.Unlock()
		if ok && !sub.send(h, payload, w) && i == 0 {
			// SRTP is not quite ready: try again with the next packet.
			sub.mu.Lock()
			sub.primedFrom = nil
			sub.current = -1
			sub.waitKey = true
			sub.mu.Unlock()
			return
		}
	}
	sub.mu.Lock()
	sub.waitKey = true
	sub.mu.Unlock()
}

// prepareLocked rewrites an accepted packet for this subscriber: the
// header in the subscription's buffer, the payload shared or (VP8 after a
// switch) copied. ok is false for a packet not to send.
func (sub *Subscription) prepareLocked(p *outPacket) (h *rtp.Header, payload []byte, w webrtc.TrackLocalWriter, ok bool) {
	h = &sub.hdr[p.layer]
	*h = p.header
	if sub.temporal >= 0 && sub.mime == "video/vp8" {
		// VP8 temporal scalability (RFC 7741 section 4.2): frames of a
		// layer above the wanted one are not referenced by the lower
		// ones, so they can be dropped without breaking decoding.
		if d, err := rtpmunge.ParseVP8(p.payload); err == nil && d.TIDPresent && int(d.TID) > sub.temporal {
			sub.munger.Drop(h)
			return nil, nil, nil, false
		}
	}
	if sub.mime == "video/vp9" && (sub.spatialWant >= 0 || sub.svcTemporalWant >= 0 || sub.spatial >= 0 || sub.svcTemporal >= 0) {
		if !sub.svcLocked(h, p.payload) {
			sub.munger.Drop(h)
			return nil, nil, nil, false
		}
	}
	if p.svc.ok && !sub.av1Locked(h, p) {
		sub.munger.Drop(h)
		return nil, nil, nil, false
	}
	h.Extension = false
	h.ExtensionProfile = 0
	h.Extensions = sub.ext[p.layer][:0]
	if sub.ddID != 0 && len(p.svc.ext) > 0 {
		sub.setDD(h, p.svc.ext)
	}
	if sub.playoutOn && sub.playoutID != 0 {
		sub.playoutOut[p.layer] = sub.playout
		if !h.Extension {
			h.Extension = true
			h.ExtensionProfile = rtp.ExtensionProfileOneByte
			if sub.playoutID > 14 {
				h.ExtensionProfile = rtp.ExtensionProfileTwoByte
			}
		}
		_ = h.SetExtension(sub.playoutID, sub.playoutOut[p.layer][:])
	}
	if !sub.munger.Process(h, p.now) {
		return nil, nil, nil, false
	}
	h.SSRC = sub.ssrc
	h.PayloadType = sub.pt
	payload = p.payload
	if sub.mime == "video/vp8" {
		// Picture ids need rewriting only after a switch; until then the
		// source's payload is sent as it is, shared by every subscriber.
		if !sub.vp8.Rewrites() {
			_, _ = sub.vp8.Observe(payload)
		} else {
			buf := sub.payload[p.layer]
			if cap(buf) < len(payload) {
				buf = make([]byte, 0, 1500)
			}
			buf = append(buf[:0], payload...)
			_, _ = sub.vp8.Process(buf)
			sub.payload[p.layer] = buf
			payload = buf
		}
	}
	return h, payload, sub.writer, true
}

// svcLocked applies the VP9 spatial and temporal layer choice to one
// packet (RFC 9628): layers above the chosen ones are dropped — lower
// layers never refer to them — and the last packet of the chosen spatial
// layer's frame gets the marker bit, which ends the picture for the
// receiver. A switch down takes effect at the next picture, a spatial
// switch up at a keyframe (the layer refers to its own earlier frames),
// a temporal one at a switching-up point.
func (sub *Subscription) svcLocked(h *rtp.Header, payload []byte) bool {
	d, ok := rtpmunge.ParseVP9(payload)
	if !ok || !d.LayersPresent {
		return true
	}
	pictureStart := d.Start && d.SID == 0
	if pictureStart && sub.spatialWant != sub.spatial {
		up := sub.spatialWant < 0 || (sub.spatial >= 0 && sub.spatialWant > sub.spatial)
		if !up || !d.InterPicture {
			sub.spatial = sub.spatialWant
		}
	}
	if pictureStart && sub.svcTemporalWant != sub.svcTemporal {
		up := sub.svcTemporalWant < 0 || (sub.svcTemporal >= 0 && sub.svcTemporalWant > sub.svcTemporal)
		if !up || !d.InterPicture || d.SwitchingUp {
			sub.svcTemporal = sub.svcTemporalWant
		}
	}
	if (sub.spatial >= 0 && int(d.SID) > sub.spatial) || (sub.svcTemporal >= 0 && int(d.TID) > sub.svcTemporal) {
		return false
	}
	if sub.spatial >= 0 && int(d.SID) == sub.spatial && d.End {
		h.Marker = true
	}
	return true
}

// av1Locked applies the spatial and temporal layer choice to one AV1
// packet, from its dependency descriptor (AV1 RTP payload format, appendix
// A): frames above the chosen layers are dropped — a frame refers only to
// frames of its layers or lower ones (section 3) — and the end of the
// chosen spatial layer's frame gets the marker bit, which ends the
// temporal unit for the receiver (section 4.2). Switches happen at the
// start of a temporal unit: down at once, spatial up at a keyframe (the
// layer refers to its own earlier frames), temporal up at a switch
// indication (A.4.4).
func (sub *Subscription) av1Locked(h *rtp.Header, p *outPacket) bool {
	f := &p.svc
	if !sub.av1Seen || p.header.Timestamp != sub.av1TS {
		sub.av1Seen, sub.av1TS = true, p.header.Timestamp
		if sub.spatialWant != sub.spatial {
			up := sub.spatialWant < 0 || (sub.spatial >= 0 && sub.spatialWant > sub.spatial)
			if !up || p.keyframe {
				sub.spatial = sub.spatialWant
			}
		}
		if sub.svcTemporalWant != sub.svcTemporal {
			up := sub.svcTemporalWant < 0 || (sub.svcTemporal >= 0 && sub.svcTemporalWant > sub.svcTemporal)
			if !up || p.keyframe || av1TemporalSwitch(f, sub.svcTemporalWant) {
				sub.svcTemporal = sub.svcTemporalWant
			}
		}
	}
	if (sub.spatial >= 0 && int(f.spatial) > sub.spatial) || (sub.svcTemporal >= 0 && int(f.temporal) > sub.svcTemporal) {
		return false
	}
	if sub.spatial >= 0 && int(f.spatial) == sub.spatial && f.end {
		h.Marker = true
	}
	return true
}

// av1TemporalSwitch says whether forwarding temporal layers up to tid (-1:
// all) may start at the frame f: it has a switch indication for the
// decode target of its spatial layer and that temporal layer.
func av1TemporalSwitch(f *svcFrame, tid int) bool {
	s := f.structure
	if tid < 0 || tid > int(s.MaxTemporal) {
		tid = int(s.MaxTemporal)
	}
	dt := s.DecodeTarget(int(f.spatial), tid)
	if dt < 0 {
		return f.temporal == 0
	}
	return f.dtis.At(dt) == av1dd.Switch
}

// setDD puts an AV1 dependency descriptor on an outgoing header under the
// subscriber's id: in the one-byte form when it fits, else the two-byte
// one (RFC 8285 sections 4.2 and 4.3; a descriptor with its structure is
// often longer than 16 bytes, and Chrome sends it so too).
func (sub *Subscription) setDD(h *rtp.Header, dd []byte) {
	h.Extension = true
	h.ExtensionProfile = rtp.ExtensionProfileOneByte
	if sub.ddID > 14 || len(dd) > 16 {
		h.ExtensionProfile = rtp.ExtensionProfileTwoByte
	}
	_ = h.SetExtension(sub.ddID, dd)
}

// SetPlayoutDelay asks the subscriber's receiver for a playout delay
// between min and max, in units of 10 ms, with the playout-delay header
// extension on every video packet (Janus: min_delay, max_delay). A
// negative value stops it. It has no effect when the subscriber did not
// negotiate the extension (Chrome and Firefox offer it).
func (sub *Subscription) SetPlayoutDelay(min, max int) error {
	if min < 0 || max < 0 {
		sub.mu.Lock()
		sub.playoutOn = false
		sub.mu.Unlock()
		return nil
	}
	if sub.kind != webrtc.RTPCodecTypeVideo {
		return fmt.Errorf("%w: playout delay is for video", ErrInvalidElement)
	}
	if min > playoutdelay.Max || max > playoutdelay.Max {
		return fmt.Errorf("%w: playout delay %d..%d", ErrInvalidElement, min, max)
	}
	b, err := playoutdelay.Delay{Min: uint16(min), Max: uint16(max)}.Marshal()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidElement, err)
	}
	sub.mu.Lock()
	sub.playout, sub.playoutOn = b, true
	sub.mu.Unlock()
	return nil
}

// SetSpatialLayer chooses the highest VP9 or AV1 spatial layer to forward
// (0 lowest; -1 all). Going down takes effect at the next picture; going
// up at the next keyframe, which is asked for.
func (sub *Subscription) SetSpatialLayer(layer int) error {
	if sub.kind != webrtc.RTPCodecTypeVideo || layer < -1 || layer > 2 {
		return fmt.Errorf("%w: spatial layer %d", ErrInvalidElement, layer)
	}
	sub.mu.Lock()
	if sub.bound && sub.mime != "video/vp9" && sub.mime != "video/av1" {
		sub.mu.Unlock()
		return fmt.Errorf("%w: spatial layers need VP9 or AV1, not %s", ErrInvalidElement, sub.mime)
	}
	up := layer < 0 || (sub.spatial >= 0 && layer > sub.spatial)
	sub.spatialWant = layer
	src := sub.src
	sub.mu.Unlock()
	if up && src != nil {
		src.RequestKeyframe(-1)
	}
	return nil
}

// SpatialLayer returns the VP9 or AV1 spatial layer being forwarded and
// the one asked for (-1: all).
func (sub *Subscription) SpatialLayer() (current, target int) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.spatial, sub.spatialWant
}

// send writes one prepared packet, without holding mu, and says whether
// it went out.
func (sub *Subscription) send(h *rtp.Header, payload []byte, w webrtc.TrackLocalWriter) bool {
	n, err := w.WriteRTP(h, payload)
	if err != nil || n == 0 {
		return false
	}
	sub.packets.Add(1)
	sub.bytes.Add(uint64(len(payload)))
	return true
}

// retransmit answers a NACK for one of our packets (RFC 4585 section
// 6.2.1) from the source's packet cache: every subscriber shares one copy
// of the source's recent packets, instead of each keeping its own.
func (sub *Subscription) retransmit(outSeq uint16) {
	sub.mu.Lock()
	src, w := sub.src, sub.writer
	m, ok := sub.munger.Lookup(outSeq)
	if !ok || src == nil || w == nil || !sub.bound {
		sub.mu.Unlock()
		return
	}
	n, ok := src.cached(m.SSRC, m.InSeq, sub.rtxBuf[:])
	if !ok || sub.rtxPkt.Unmarshal(sub.rtxBuf[:n]) != nil {
		sub.mu.Unlock()
		return
	}
	h := &sub.rtxPkt.Header
	h.SequenceNumber = outSeq
	h.Timestamp += m.TimestampOffset
	h.SSRC = sub.ssrc
	h.PayloadType = sub.pt
	var dd []byte
	if id := src.ddID.Load(); id != 0 && sub.ddID != 0 {
		dd = h.GetExtension(uint8(id))
	}
	h.Extension = false
	h.ExtensionProfile = 0
	h.Extensions = h.Extensions[:0]
	if dd != nil {
		sub.setDD(h, dd)
	}
	if sub.mime == "video/vp8" && sub.vp8.Rewrites() {
		// The payload is our own copy: rewrite its picture id as the
		// original was.
		_, _ = sub.vp8.Process(sub.rtxPkt.Payload)
	}
	payload := sub.rtxPkt.Payload
	useRTX := sub.rtxSSRC != 0 && !sub.rtxBroken && len(payload)+2 <= len(sub.rtxOut)
	var rtxPayload []byte
	if useRTX {
		// RFC 4588 section 4: OSN, then the original payload.
		sub.rtxOut[0], sub.rtxOut[1] = byte(outSeq>>8), byte(outSeq)
		rtxPayload = sub.rtxOut[:2+copy(sub.rtxOut[2:], payload)]
		sub.rtxHdr = *h
		sub.rtxHdr.SSRC = sub.rtxSSRC
		sub.rtxHdr.PayloadType = sub.rtxPT
		sub.rtxHdr.SequenceNumber = sub.rtxSeq
		sub.rtxSeq++
	}
	sub.mu.Unlock()
	if useRTX {
		if _, err := w.WriteRTP(&sub.rtxHdr, rtxPayload); err == nil {
			sub.retransmitted.Add(1)
			return
		}
		// pion's congestion controller paces by SSRC and knows only the
		// media one: fall back to plain retransmission, which receivers
		// accept too (RFC 4585 section 3.1), from now on.
		sub.mu.Lock()
		sub.rtxBroken = true
		sub.mu.Unlock()
	}
	if _, err := w.WriteRTP(h, payload); err == nil {
		sub.retransmitted.Add(1)
	}
}

// acceptLocked decides whether a video packet goes out, switching layers at
// keyframes: a layer switch waits for a keyframe of the wanted layer, so the
// receiver's decoder never sees a frame it cannot decode.
func (sub *Subscription) acceptLocked(p *outPacket) bool {
	sub.needKey = -1
	if p.layer == sub.current && !sub.waitKey {
		return true
	}
	want := sub.target
	// When the wanted layer is not being received, fall back to the best
	// lower live one, so a subscriber is never left without video.
	if want != p.layer && !sub.src.layerLive(want, p.now) {
		for l := want - 1; l >= 0; l-- {
			if sub.src.layerLive(l, p.now) {
				want = l
				break
			}
		}
	}
	if p.layer != want || !p.keyframe {
		if p.layer == want {
			sub.needKey = want // a packet of the layer we wait to switch to
		}
		return false
	}
	if sub.current != p.layer || sub.waitKey {
		sub.munger.Switch(sub.clock)
		sub.vp8.Switch()
	}
	sub.current = p.layer
	sub.waitKey = false
	return true
}

// SetLayer chooses the simulcast layer to forward (0 lowest .. 2
// highest). The switch happens at the next keyframe of that layer, which
// is asked for now.
func (sub *Subscription) SetLayer(layer int) error {
	sub.mu.Lock()
	src := sub.src
	if src == nil {
		sub.mu.Unlock()
		return ErrSourceClosed
	}
	if sub.kind != webrtc.RTPCodecTypeVideo || !src.Simulcast() {
		sub.mu.Unlock()
		return fmt.Errorf("%w: source %s has no simulcast layers", ErrInvalidElement, src.id)
	}
	if layer < 0 || layer >= maxLayers {
		sub.mu.Unlock()
		return fmt.Errorf("%w: layer %d", ErrInvalidElement, layer)
	}
	changed := sub.target != layer
	sub.target = layer
	sub.mu.Unlock()
	if changed {
		// A layer that is not sent falls back to a lower one: ask all.
		if !src.layerLive(layer, time.Now()) {
			layer = -1
		}
		src.RequestKeyframe(layer)
	}
	return nil
}

// SetTemporalLayer limits a VP8, VP9 or AV1 stream to temporal layers
// 0..layer (-1: all), for a receiver that wants a lower frame rate (Janus
// "temporal"). Going up waits for a frame where the switch is safe.
func (sub *Subscription) SetTemporalLayer(layer int) error {
	if sub.kind != webrtc.RTPCodecTypeVideo || layer < -1 || layer > 2 {
		return fmt.Errorf("%w: temporal layer %d", ErrInvalidElement, layer)
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	switch {
	case sub.bound && (sub.mime == "video/vp9" || sub.mime == "video/av1"):
		sub.svcTemporalWant = layer
	case sub.bound && sub.mime != "video/vp8":
		return fmt.Errorf("%w: temporal layers need VP8, VP9 or AV1, not %s", ErrInvalidElement, sub.mime)
	default:
		// VP8: the payload descriptor's TID when the publisher writes
		// it, else the dependency descriptor's temporal id (with its
		// switch points), whichever the packets carry.
		sub.temporal = layer
		sub.svcTemporalWant = layer
	}
	return nil
}

// TemporalLayer returns the highest temporal layer being forwarded and
// the one asked for (-1: all): VP9 and AV1, and VP8 whose temporal ids
// come in the dependency descriptor, switch up at a switch point, so the
// two differ for a while; VP8 with TIDs in its payload switches at once.
func (sub *Subscription) TemporalLayer() (current, target int) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.mime == "video/vp9" || sub.mime == "video/av1" || (sub.mime == "video/vp8" && sub.av1Seen) {
		return sub.svcTemporal, sub.svcTemporalWant
	}
	return sub.temporal, sub.temporal
}

// Layer returns the layer being forwarded (-1: none yet) and the one
// wanted.
func (sub *Subscription) Layer() (current, target int) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.current, sub.target
}

// SetPaused stops or resumes forwarding; on resume video waits for a
// keyframe, which is asked for.
func (sub *Subscription) SetPaused(paused bool) {
	sub.mu.Lock()
	was := sub.paused
	sub.paused = paused
	if was && !paused {
		sub.waitKey = sub.kind == webrtc.RTPCodecTypeVideo
		sub.munger.Switch(sub.clock)
		sub.vp8.Switch()
	}
	sub.mu.Unlock()
	if was && !paused {
		sub.requestKeyframe()
	}
}

// resync makes the next forwarded packet start a new output run (after a
// gap in the source): continuous numbering, and a keyframe for video.
func (sub *Subscription) resync() {
	sub.mu.Lock()
	sub.waitKey = sub.kind == webrtc.RTPCodecTypeVideo
	sub.munger.Switch(sub.clock)
	sub.vp8.Switch()
	sub.mu.Unlock()
}

// Paused says whether forwarding is paused.
func (sub *Subscription) Paused() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.paused
}

// Switch makes the subscription forward another source of the same kind
// and codec, without renegotiation (Janus VideoRoom "switch").
func (sub *Subscription) Switch(to *Source) error {
	if to.kind != sub.kind {
		return fmt.Errorf("%w: cannot switch %s to %s", ErrInvalidElement, sub.kind, to.kind)
	}
	sub.mu.Lock()
	if sub.closed {
		sub.mu.Unlock()
		return ErrSubscriptionClosed
	}
	from := sub.src
	if from == to {
		sub.mu.Unlock()
		return nil
	}
	if sub.bound {
		if c := to.Codec(); c.MimeType != "" && !strings.EqualFold(c.MimeType, sub.mime) {
			sub.mu.Unlock()
			return fmt.Errorf("%w: %s cannot switch to %s", ErrNoCommonCodec, sub.mime, c.MimeType)
		}
	}
	sub.mu.Unlock()
	if err := to.addSub(sub); err != nil {
		return err
	}
	if from != nil {
		from.removeSub(sub)
	}
	sub.mu.Lock()
	sub.src = to
	sub.current = -1
	sub.waitKey = sub.kind == webrtc.RTPCodecTypeVideo
	sub.munger.Switch(sub.clock)
	sub.vp8.Switch()
	sub.mu.Unlock()
	to.RequestKeyframe(-1)
	return nil
}

func (sub *Subscription) sourceClosed(src *Source) {
	sub.mu.Lock()
	if sub.src != src {
		sub.mu.Unlock()
		return
	}
	sub.src = nil
	cb := sub.params.OnSourceClosed
	sub.mu.Unlock()
	if cb != nil {
		cb(sub)
	}
}

// Sender is the RTPSender given to Start.
func (sub *Subscription) Sender() *webrtc.RTPSender {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.sender
}

// Packets is the number of packets forwarded so far.
func (sub *Subscription) Packets() uint64 { return sub.packets.Load() }

// Retransmitted is the number of packets resent for NACKs.
func (sub *Subscription) Retransmitted() uint64 { return sub.retransmitted.Load() }

// Close stops forwarding and leaves the source. The plugin removes the
// track from the PeerConnection (RemoveTrack), which ends the RTCP reader.
func (sub *Subscription) Close() {
	sub.mu.Lock()
	if sub.closed {
		sub.mu.Unlock()
		return
	}
	sub.closed = true
	src := sub.src
	sub.src = nil
	sub.mu.Unlock()
	if src != nil {
		src.removeSub(sub)
	}
}
