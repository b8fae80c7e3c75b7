package ianua

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/audiolevel"
	"github.com/ianua/ianua/internal/av1dd"
	"github.com/ianua/ianua/internal/packetcache"
	"github.com/ianua/ianua/internal/rtpmunge"
	"github.com/ianua/ianua/internal/throttle"
)

// Forwarding constants.
const (
	// maxLayers is the number of simulcast layers a source may have
	// (RFC 8853: rid-based simulcast; browsers send up to 3).
	maxLayers = 3
	// maxSpatial is the number of VP9 or AV1 spatial layers a source
	// measures (browsers send up to three: L3T3).
	maxSpatial = 3
	// cacheSize is the number of packets kept per layer for NACKs: about
	// 2 s of 1.2 Mbit/s video.
	cacheSize = 512
	// keyframeInterval throttles keyframe requests towards a publisher,
	// however many subscribers ask (mediasoup and Janus do the same).
	keyframeInterval = 500 * time.Millisecond
	// parallelFanout is the subscriber count above which a source spreads
	// its writes over worker goroutines (LiveKit does above 20).
	parallelFanout = 16
)

// SourceParams describes a stream a plugin publishes to the router.
type SourceParams struct {
	// Handle is the publisher's handle; keyframe requests go to it.
	Handle *Handle
	// Transceiver is the publisher's transceiver the stream arrives on.
	Transceiver *webrtc.RTPTransceiver
	// ID names the source; default "<handle id>/<mid>".
	ID string
	// OnAudioLevel, if set, is told when an audio source starts or stops
	// talking (RFC 6464 audio levels). It is called from the source's
	// reading goroutine and must not block.
	OnTalking func(src *Source, talking bool, level int)
	// OnLevel, if set, is given the average audio level (0 loudest .. 127
	// silent) of each window of Talking.ActivePackets packets, for an
	// active-speaker choice. Same goroutine rules as OnTalking.
	OnLevel func(src *Source, level int)
	// Talking tunes the talking detector (zero: Janus defaults).
	Talking audiolevel.Params

	// For sources fed by the caller (NewSource: an RTP ingest port, a
	// relay from another node) rather than by a PeerConnection: the kind
	// and codec of the stream, and what to do when subscribers need a
	// keyframe (nil: nothing can be asked; they wait for the next one).
	Kind              webrtc.RTPCodecType
	Codec             webrtc.RTPCodecParameters
	OnKeyframeRequest func(src *Source)
	// (Publish takes Codec too, when set: the codec the plugin's answer
	// chose, known before the first packet says it; subscribers bound
	// earlier need it.)
	// KeepKeyframe keeps a copy of each video layer's latest keyframe and
	// sends it first to a subscriber that starts between keyframes: a
	// picture at once, then the live stream from the next keyframe. For
	// senders that cannot be asked for a keyframe (plain RTP ingest).
	KeepKeyframe bool
	// HeaderExtensions are the RTP header extensions (URI and id) that a
	// fed source's packets carry, as its sender negotiated them; a source
	// from a PeerConnection knows them from its transceiver. Of these the
	// source reads the AV1 dependency descriptor (for layer choice) and
	// audio levels.
	HeaderExtensions []webrtc.RTPHeaderExtensionParameter
	// OnSubscribers, if set, is told the number of subscriptions each
	// time it changes, so that a source fed from afar (a relay from
	// another node) runs only while someone watches. It is called
	// without the source's locks, from the goroutine that subscribed or
	// unsubscribed, and must not block.
	OnSubscribers func(src *Source, n int)
}

// Source is one published media stream — one m-line of a publisher: audio,
// or video with up to three simulcast layers. Any number of handles, of any
// plugin, subscribe to it. The plugin feeds it by calling ReadTrack from
// its TrackHandler for each track (layer) of the transceiver.
type Source struct {
	id       string
	r        *MediaRouter
	pub      *Handle
	tr       *webrtc.RTPTransceiver
	kind     webrtc.RTPCodecType
	mid      string
	params   SourceParams
	keyframe throttle.Throttle

	mu     sync.Mutex
	codec  webrtc.RTPCodecParameters
	layers [maxLayers]*layer
	closed bool
	// subs is copy-on-write: writers rebuild it under mu, the reading
	// goroutines load it and iterate without a lock.
	subs atomic.Pointer[[]*Subscription]

	level *audiolevel.Detector
	// levelPackets counts packets into the detector's window (reading
	// goroutine only).
	levelPackets int
	muted        atomic.Bool

	dropped atomic.Uint64 // packets that were not RTP (ReadPackets)
	// ddID is the id of the AV1 dependency descriptor extension in the
	// source's packets, 0 without it; retransmissions carry it on.
	ddID atomic.Uint32

	kfArmed atomic.Bool
	kfTimer *time.Timer // guarded by mu

	done chan struct{}
}

// layer is one simulcast encoding (or the only one) of a source.
type layer struct {
	rid   string
	ssrc  atomic.Uint32
	cache *packetcache.Cache
	// lastPacket is when the layer last received a packet (unix ns), to
	// tell which layers are live.
	lastPacket atomic.Int64
	// packets received; bitrate estimate, bits per second, updated once
	// a second.
	packets atomic.Uint64
	bytes   atomic.Uint64
	bitrate atomic.Uint64
	// spatialRate is the bitrate of each spatial layer (VP9: RFC 9628
	// SID; AV1: the dependency descriptor's spatial id) within the
	// stream, over the same second; zero when the stream has no spatial
	// layers.
	spatialRate [maxSpatial]atomic.Uint64
	// kf is the latest keyframe (SourceParams.KeepKeyframe), or nil.
	kf *keyframeBuffer
}

// Publish creates a source for a publisher's transceiver.
func (r *MediaRouter) Publish(p SourceParams) (*Source, error) {
	if p.Handle == nil || p.Transceiver == nil {
		return nil, fmt.Errorf("%w: publish needs a handle and a transceiver", ErrInvalidElement)
	}
	if p.Handle.isDetached() {
		return nil, ErrHandleDetached
	}
	mid := p.Transceiver.Mid()
	id := p.ID
	if id == "" {
		id = fmt.Sprintf("%d/%s", p.Handle.id, mid)
	}
	s := &Source{
		id:       id,
		r:        r,
		pub:      p.Handle,
		tr:       p.Transceiver,
		kind:     p.Transceiver.Kind(),
		mid:      mid,
		params:   p,
		codec:    p.Codec,
		keyframe: throttle.Throttle{Interval: keyframeInterval},
		done:     make(chan struct{}),
	}
	empty := []*Subscription{}
	s.subs.Store(&empty)
	if s.kind == webrtc.RTPCodecTypeAudio && (p.OnTalking != nil || p.OnLevel != nil) {
		d, err := audiolevel.New(p.Talking)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidElement, err)
		}
		s.level = d
	}
	return s, nil
}

// NewSource creates a source the caller feeds with ReadPackets, for media
// that does not come from a PeerConnection. p.Kind, p.Codec and p.ID are
// required; Handle and Transceiver are not used.
func (r *MediaRouter) NewSource(p SourceParams) (*Source, error) {
	if p.ID == "" || p.Codec.MimeType == "" || (p.Kind != webrtc.RTPCodecTypeAudio && p.Kind != webrtc.RTPCodecTypeVideo) {
		return nil, fmt.Errorf("%w: an external source needs an id, a kind and a codec", ErrInvalidElement)
	}
	s := &Source{
		id:       p.ID,
		r:        r,
		kind:     p.Kind,
		params:   p,
		codec:    p.Codec,
		keyframe: throttle.Throttle{Interval: keyframeInterval},
		done:     make(chan struct{}),
	}
	empty := []*Subscription{}
	s.subs.Store(&empty)
	if s.kind == webrtc.RTPCodecTypeAudio && (p.OnTalking != nil || p.OnLevel != nil) {
		d, err := audiolevel.New(p.Talking)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidElement, err)
		}
		s.level = d
	}
	return s, nil
}

// ID is the source's name.
func (s *Source) ID() string { return s.id }

// Kind is audio or video.
func (s *Source) Kind() webrtc.RTPCodecType { return s.kind }

// MID is the publisher's mid of the stream.
func (s *Source) MID() string { return s.mid }

// Publisher is the publisher's handle.
func (s *Source) Publisher() *Handle { return s.pub }

// Codec is the stream's codec, known once its first packet arrived.
func (s *Source) Codec() webrtc.RTPCodecParameters {
	s.mu.Lock()
	codec := s.codec
	s.mu.Unlock()
	// Before the first packet: what the publisher's m-line negotiated.
	if codec.MimeType == "" && s.tr != nil {
		if rcv := s.tr.Receiver(); rcv != nil && len(rcv.GetParameters().Codecs) > 0 {
			codec = rcv.GetParameters().Codecs[0]
		}
	}
	return codec
}

// Layers returns the rids of the simulcast layers seen so far, lowest
// quality first as the publisher declared them; one empty rid without
// simulcast.
func (s *Source) Layers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.layers {
		if l != nil {
			out = append(out, l.rid)
		}
	}
	return out
}

// Simulcast says whether the source has more than one layer.
func (s *Source) Simulcast() bool { return len(s.Layers()) > 1 }

// Done is closed when the source is closed.
func (s *Source) Done() <-chan struct{} { return s.done }

// layerIndex maps a rid to a layer slot: with simulcast, browsers name the
// layers by rid and send them from low to high (the order of a=simulcast);
// common names are mapped so that index 0 is the lowest quality.
func layerIndex(rid string, rids []string) int {
	for i, r := range rids {
		if r == rid {
			return i
		}
	}
	switch strings.ToLower(rid) {
	case "", "q", "l", "0":
		return 0
	case "h", "m", "1":
		return 1
	case "f", "2":
		return 2
	}
	return 0
}

// rids returns the send rids the publisher declared for the transceiver,
// none for an external source,
// in SDP order (RFC 8851, RFC 8853), lowest quality first when the order is
// the usual q/h/f or l/m/h one.
func (s *Source) rids() []string {
	if s.pub == nil {
		return nil
	}
	rd := s.pub.remoteDescription()
	if rd == nil {
		return nil
	}
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(rd.SDP); err != nil {
		return nil
	}
	for _, m := range desc.MediaDescriptions {
		if mid, _ := m.Attribute("mid"); mid != s.mid {
			continue
		}
		var out []string
		for _, a := range m.Attributes {
			if a.Key != "rid" {
				continue
			}
			if id, dir, ok := strings.Cut(a.Value, " "); ok && strings.HasPrefix(dir, "send") {
				out = append(out, id)
			}
		}
		return orderRIDs(out)
	}
	return nil
}

// orderRIDs puts well-known rid names in quality order (q<h<f, l<m<h);
// unknown names keep their order.
func orderRIDs(rids []string) []string {
	rank := func(r string) int {
		switch strings.ToLower(r) {
		case "q", "l", "0":
			return 0
		case "h", "1":
			if hasRID(rids, "l") || hasRID(rids, "m") {
				return 2
			}
			return 1
		case "m":
			return 1
		case "f", "2":
			return 2
		}
		return -1
	}
	known := true
	for _, r := range rids {
		if rank(r) < 0 {
			known = false
		}
	}
	if !known {
		return rids
	}
	out := make([]string, len(rids))
	copy(out, rids)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && rank(out[j]) < rank(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func hasRID(rids []string, r string) bool {
	for _, x := range rids {
		if strings.EqualFold(x, r) {
			return true
		}
	}
	return false
}

// ReadTrack reads one track (one layer) of the source and forwards every
// packet to the subscriptions, until the track ends or the source closes.
// Call it from the plugin's TrackHandler; it returns when the track is done.
func (s *Source) ReadTrack(track *webrtc.TrackRemote) error {
	s.mu.Lock()
	s.codec = track.Codec()
	s.mu.Unlock()
	rd, err := s.newReader(layerIndex(track.RID(), s.rids()), track.RID(), uint32(track.SSRC()))
	if err != nil {
		return err
	}
	defer rd.close()
	for {
		n, _, err := track.Read(rd.buf)
		if err != nil {
			return nil
		}
		if !rd.ingest(rd.buf[:n]) {
			return nil
		}
	}
}

// ReadPackets feeds the source from read, one RTP packet per call (a UDP
// socket's Read, say), as layer 0..2, until read fails or the source
// closes. Packets that are not RTP are counted in the returned total of
// dropped packets and skipped.
func (s *Source) ReadPackets(layer int, read func([]byte) (int, error)) (dropped uint64, err error) {
	if layer < 0 || layer >= maxLayers {
		return 0, fmt.Errorf("%w: layer %d", ErrInvalidElement, layer)
	}
	rd, err := s.newReader(layer, "", 0)
	if err != nil {
		return 0, err
	}
	defer rd.close()
	for {
		n, err := read(rd.buf)
		if err != nil {
			return rd.dropped, nil
		}
		if !rd.ingest(rd.buf[:n]) {
			return rd.dropped, nil
		}
	}
}

// reader is the state of one goroutine feeding one layer of a source; all
// of it is reused from packet to packet.
type reader struct {
	s            *Source
	l            *layer
	idx          int
	buf          []byte
	pkt          rtp.Packet
	out          outPacket
	fan          fanout
	rateStart    time.Time
	rateBytes    uint64
	audioLevelID uint8
	dropped      uint64
	mime         string
	// spatialBytes counts each spatial layer's bytes since rateStart.
	spatialBytes [maxSpatial]uint64
	// dd reads the AV1 dependency descriptors (extension ddID), keeping
	// the layer's latest frame dependency structure; ddAsked is set once
	// a keyframe was asked for because the structure is missing.
	dd      av1dd.Parser
	ddID    uint8
	ddAsked bool
}

func (s *Source) newReader(idx int, rid string, ssrc uint32) (*reader, error) {
	cache, err := packetcache.New(cacheSize)
	if err != nil {
		return nil, err
	}
	l := &layer{rid: rid, cache: cache}
	if s.params.KeepKeyframe && s.kind == webrtc.RTPCodecTypeVideo {
		l.kf = &keyframeBuffer{}
	}
	l.ssrc.Store(ssrc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSourceClosed
	}
	if s.layers[idx] != nil {
		return nil, fmt.Errorf("%w: layer %d (%q) read twice", ErrInvalidElement, idx, rid)
	}
	s.layers[idx] = l
	rd := &reader{s: s, l: l, idx: idx, buf: make([]byte, 1500), rateStart: time.Now(), mime: strings.ToLower(s.codec.MimeType)}
	rd.audioLevelID = s.headerExtensionID(sdp.AudioLevelURI)
	switch rd.mime {
	case "video/av1":
		rd.ddID = s.headerExtensionID(av1dd.URI)
		s.ddID.Store(uint32(rd.ddID))
	case "video/vp8":
		// Chrome puts a VP8 stream's temporal layers in the dependency
		// descriptor alone when it is negotiated (no TID, not even a
		// picture id, in the payload descriptor).
		rd.ddID = s.headerExtensionID(av1dd.URI)
		s.ddID.Store(uint32(rd.ddID))
	}
	return rd, nil
}

func (rd *reader) close() { rd.fan.close() }

// ingest takes one raw RTP packet: cache, keyframe and audio level, then
// the fan-out. It returns false once the source is closed.
func (rd *reader) ingest(raw []byte) bool {
	s, l := rd.s, rd.l
	if err := rd.pkt.Unmarshal(raw); err != nil || rd.pkt.Version != 2 {
		rd.dropped++
		s.dropped.Add(1)
		return true
	}
	if ssrc := l.ssrc.Load(); ssrc == 0 {
		l.ssrc.Store(rd.pkt.SSRC)
	} else if ssrc != rd.pkt.SSRC && rd.s.pub == nil {
		// A fed source whose sender started over (ffmpeg run again, a
		// relay restarted): a new stream, whose numbering has nothing
		// to do with the old one (RFC 3550 section 8.2).
		l.ssrc.Store(rd.pkt.SSRC)
		l.cache.Reset()
		for _, sub := range *s.subs.Load() {
			sub.resync()
		}
	}
	now := time.Now()
	l.lastPacket.Store(now.UnixNano())
	l.packets.Add(1)
	total := l.bytes.Add(uint64(len(raw)))
	out := &rd.out
	out.svc = svcFrame{}
	switch rd.mime {
	case "video/vp9":
		if d, ok := rtpmunge.ParseVP9(rd.pkt.Payload); ok && d.LayersPresent && int(d.SID) < maxSpatial {
			rd.spatialBytes[d.SID] += uint64(len(raw))
		}
	case "video/av1":
		if rd.ddID != 0 {
			rd.parseDD(&out.svc)
			if out.svc.ok && int(out.svc.spatial) < maxSpatial {
				rd.spatialBytes[out.svc.spatial] += uint64(len(raw))
			}
		}
	case "video/vp8":
		if rd.ddID != 0 {
			rd.parseDD(&out.svc)
		}
	}
	if d := now.Sub(rd.rateStart); d >= time.Second {
		l.bitrate.Store((total - rd.rateBytes) * 8 * uint64(time.Second) / uint64(d))
		rd.rateStart, rd.rateBytes = now, total
		for i := range rd.spatialBytes {
			l.spatialRate[i].Store(rd.spatialBytes[i] * 8 * uint64(time.Second) / uint64(d))
			rd.spatialBytes[i] = 0
		}
	}
	l.cache.Store(rd.pkt.SequenceNumber, raw)

	out.src = s
	out.header = rd.pkt.Header
	out.payload = rd.pkt.Payload
	out.layer = rd.idx
	out.now = now
	out.keyframe = s.kind == webrtc.RTPCodecTypeVideo && rtpmunge.KeyFrame(rd.mime, rd.pkt.Payload) ||
		out.svc.ok && out.svc.keyframe
	if rd.audioLevelID != 0 && s.level != nil {
		if ext := rd.pkt.GetExtension(rd.audioLevelID); ext != nil {
			if lvl, voice, ok := audiolevel.ParseExtension(ext); ok {
				s.observeLevel(lvl, voice)
			}
		}
	}
	if !s.muted.Load() {
		s.forward(&rd.fan, out)
	}
	if l.kf != nil {
		// After the fan-out: a subscription primed while this packet
		// is forwarded gets the keyframe before it, not this packet.
		l.kf.observe(raw, &rd.pkt.Header, out.keyframe)
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// outPacket is one packet as a reading goroutine hands it to the
// subscriptions; they copy the header, never the payload.
type outPacket struct {
	src      *Source
	header   rtp.Header
	payload  []byte
	layer    int
	keyframe bool
	now      time.Time
	svc      svcFrame
}

// svcFrame is what the AV1 dependency descriptor says of a packet's frame,
// for the subscriptions' layer choice.
type svcFrame struct {
	ok                bool // a descriptor was read and resolved
	spatial, temporal uint8
	// start and end: first and last packet of the (layer) frame.
	start, end bool
	// keyframe: the packet brought a new frame dependency structure,
	// which starts a coded video sequence.
	keyframe  bool
	dtis      av1dd.DTIs
	structure *av1dd.Structure
	// ext is the descriptor as received, forwarded to subscribers that
	// negotiated it.
	ext []byte
}

// parseDD reads the packet's AV1 dependency descriptor into f. Without
// the frame dependency structure (the keyframe that brought it was lost,
// or reading started after it) it asks once for a keyframe, which brings
// the structure.
func (rd *reader) parseDD(f *svcFrame) {
	ext := rd.pkt.GetExtension(rd.ddID)
	if ext == nil {
		return
	}
	d, err := rd.dd.Parse(ext)
	if err != nil {
		if (errors.Is(err, av1dd.ErrNoStructure) || errors.Is(err, av1dd.ErrUnknownTemplate)) && !rd.ddAsked {
			rd.ddAsked = true
			rd.s.RequestKeyframe(rd.idx)
		}
		return
	}
	if d.NewStructure {
		rd.ddAsked = false
	}
	*f = svcFrame{
		ok: true, spatial: d.Spatial, temporal: d.Temporal,
		start: d.StartOfFrame, end: d.EndOfFrame,
		keyframe: d.NewStructure && d.StartOfFrame,
		dtis:     d.DTIs, structure: d.Structure, ext: ext,
	}
}

func (s *Source) forward(fan *fanout, p *outPacket) {
	subs := *s.subs.Load()
	if len(subs) > parallelFanout {
		fan.run(subs, p)
		return
	}
	for _, sub := range subs {
		sub.writeRTP(p)
	}
}

func (s *Source) observeLevel(level uint8, voice bool) {
	ev := s.level.Observe(level, voice)
	s.levelPackets++
	if s.levelPackets >= s.level.Params().ActivePackets {
		s.levelPackets = 0
		if avg, ok := s.level.Average(); ok && s.params.OnLevel != nil {
			s.params.OnLevel(s, avg)
		}
	}
	if s.params.OnTalking == nil {
		return
	}
	switch ev {
	case audiolevel.Talking:
		avg, _ := s.level.Average()
		s.params.OnTalking(s, true, avg)
	case audiolevel.StoppedTalking:
		avg, _ := s.level.Average()
		s.params.OnTalking(s, false, avg)
	}
}

// headerExtensionID is the id the publisher negotiated for an extension.
func (s *Source) headerExtensionID(uri string) uint8 {
	if s.tr == nil {
		for _, e := range s.params.HeaderExtensions {
			if e.URI == uri {
				return uint8(e.ID)
			}
		}
		return 0
	}
	rcv := s.tr.Receiver()
	if rcv == nil {
		return 0
	}
	for _, e := range rcv.GetParameters().HeaderExtensions {
		if e.URI == uri {
			return uint8(e.ID)
		}
	}
	return 0
}

// RequestKeyframe asks the publisher for a keyframe on a layer (-1: every
// layer), at most once per keyframeInterval whatever the number of
// subscribers asking; a request inside the interval is sent at its end.
func (s *Source) RequestKeyframe(layerIdx int) {
	if s.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	if s.keyframe.Allow(time.Now()) {
		s.sendKeyframeRequest(layerIdx)
		return
	}
	// Held back: make sure one more goes out when the interval ends.
	if s.kfArmed.CompareAndSwap(false, true) {
		s.mu.Lock()
		if !s.closed {
			s.kfTimer = time.AfterFunc(keyframeInterval, s.flushKeyframe)
		}
		s.mu.Unlock()
	}
}

func (s *Source) flushKeyframe() {
	s.kfArmed.Store(false)
	if s.keyframe.Pending(time.Now()) {
		s.sendKeyframeRequest(-1)
	}
}

func (s *Source) sendKeyframeRequest(layerIdx int) {
	if s.pub == nil {
		if f := s.params.OnKeyframeRequest; f != nil {
			f(s)
		}
		return
	}
	s.mu.Lock()
	var ssrcs []uint32
	for i, l := range s.layers {
		if l != nil && (layerIdx < 0 || i == layerIdx) {
			ssrcs = append(ssrcs, l.ssrc.Load())
		}
	}
	s.mu.Unlock()
	for _, ssrc := range ssrcs {
		_ = s.pub.RequestKeyframe(ssrc)
	}
}

// cached copies the packet with this sequence number of the layer with
// this SSRC from the packet cache into dst.
func (s *Source) cached(ssrc uint32, seq uint16, dst []byte) (int, bool) {
	s.mu.Lock()
	var l *layer
	for _, x := range s.layers {
		if x != nil && x.ssrc.Load() == ssrc {
			l = x
		}
	}
	s.mu.Unlock()
	if l == nil {
		return 0, false
	}
	return l.cache.Get(seq, dst)
}

// keyframeBefore returns the copy of the layer's latest keyframe if it
// precedes p, or nil. Only called while p is being forwarded (see
// keyframeBuffer).
func (s *Source) keyframeBefore(p *outPacket) [][]byte {
	s.mu.Lock()
	l := s.layers[p.layer]
	s.mu.Unlock()
	if l == nil || l.kf == nil {
		return nil
	}
	return l.kf.before(&p.header)
}

// layerLive says whether a layer received a packet recently.
func (s *Source) layerLive(idx int, now time.Time) bool {
	s.mu.Lock()
	l := s.layers[idx]
	s.mu.Unlock()
	if l == nil {
		return false
	}
	return now.Sub(time.Unix(0, l.lastPacket.Load())) < time.Second
}

// SetMuted stops (or resumes) forwarding the source to every subscriber,
// as a moderator's mute does; on resume the subscriptions restart cleanly
// at a keyframe, which is asked for.
func (s *Source) SetMuted(muted bool) {
	if s.muted.Swap(muted) == muted || muted {
		return
	}
	for _, sub := range *s.subs.Load() {
		sub.resync()
	}
	s.RequestKeyframe(-1)
}

// Muted says whether the source is muted.
func (s *Source) Muted() bool { return s.muted.Load() }

// Dropped is the number of packets given to ReadPackets that were not RTP.
func (s *Source) Dropped() uint64 { return s.dropped.Load() }

// Packets is the number of RTP packets the source received, over all its
// layers (what the publisher sent and the network delivered; not counted:
// what Dropped counts).
func (s *Source) Packets() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, l := range s.layers {
		if l != nil {
			n += l.packets.Load()
		}
	}
	return n
}

// Receiving says whether any layer got a packet within d.
func (s *Source) Receiving(d time.Duration) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.layers {
		if l != nil && now.Sub(time.Unix(0, l.lastPacket.Load())) < d {
			return true
		}
	}
	return false
}

// LayerBitrates returns each layer's incoming bitrate over the last second,
// bits per second, 0 for a layer absent or silent for a second.
func (s *Source) LayerBitrates() [maxLayers]uint64 {
	var out [maxLayers]uint64
	now := time.Now()
	for i := range maxLayers {
		if !s.layerLive(i, now) {
			continue
		}
		s.mu.Lock()
		l := s.layers[i]
		s.mu.Unlock()
		out[i] = l.bitrate.Load()
	}
	return out
}

// SpatialBitrates returns the bitrate of each spatial layer (VP9: RFC 9628;
// AV1: from the dependency descriptor) of the source's stream over the last second, bits per second, lowest
// first; all zero for a stream without spatial layers, or silent for a
// second. A subscriber forwarded up to layer n gets the sum of layers 0 to
// n.
func (s *Source) SpatialBitrates() [maxSpatial]uint64 {
	var out [maxSpatial]uint64
	if !s.layerLive(0, time.Now()) {
		return out
	}
	s.mu.Lock()
	l := s.layers[0]
	s.mu.Unlock()
	for i := range out {
		out[i] = l.spatialRate[i].Load()
	}
	return out
}

// SpatialLayers is the number of spatial layers the source's stream
// carries now (the ones with a bitrate in SpatialBitrates): 0 for a
// stream without SVC.
func (s *Source) SpatialLayers() int {
	n := 0
	for _, r := range s.SpatialBitrates() {
		if r > 0 {
			n++
		}
	}
	return n
}

// Subscribers returns the source's subscriptions.
func (s *Source) Subscribers() []*Subscription {
	return append([]*Subscription(nil), *s.subs.Load()...)
}

func (s *Source) addSub(sub *Subscription) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSourceClosed
	}
	old := *s.subs.Load()
	next := make([]*Subscription, len(old), len(old)+1)
	copy(next, old)
	next = append(next, sub)
	s.subs.Store(&next)
	s.mu.Unlock()
	if f := s.params.OnSubscribers; f != nil {
		f(s, len(next))
	}
	return nil
}

func (s *Source) removeSub(sub *Subscription) {
	s.mu.Lock()
	old := *s.subs.Load()
	next := make([]*Subscription, 0, len(old))
	for _, x := range old {
		if x != sub {
			next = append(next, x)
		}
	}
	s.subs.Store(&next)
	s.mu.Unlock()
	if f := s.params.OnSubscribers; f != nil && len(next) != len(old) {
		f(s, len(next))
	}
}

// Close unpublishes the source: reading stops, and every subscription is
// told (its OnSourceClosed runs) and stops forwarding.
func (s *Source) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	subs := *s.subs.Load()
	empty := []*Subscription{}
	s.subs.Store(&empty)
	if s.kfTimer != nil {
		s.kfTimer.Stop()
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.sourceClosed(s)
	}
}
