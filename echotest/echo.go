package echotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/playoutdelay"
)

// rembInterval is how often the bitrate cap is repeated: browsers forget a
// REMB after a while, so Janus repeats it too.
const rembInterval = time.Second

// Echo is the EchoTest state of one handle. Hosts that embed without JSON
// can use Configure; it is what the handle's Attachment returns.
type Echo struct {
	p *Plugin
	h *ianua.Handle

	audio   atomic.Bool
	video   atomic.Bool
	bitrate atomic.Uint32
	// keyframe is bumped to make every video echo loop send a PLI.
	keyframe atomic.Uint32

	// recordGen is bumped when recording starts or stops: each stream's
	// loop then opens or closes its file.
	recordGen atomic.Uint32
	// playoutGen is bumped when the playout delay changes.
	playoutGen atomic.Uint32
	// e2ee: the client said its media is end-to-end encrypted (Janus's
	// "e2ee" in the offer's JSEP); the answer says so back. Until the
	// hangup, as in Janus.
	e2ee atomic.Bool

	mu     sync.Mutex
	echoes map[*webrtc.RTPTransceiver]*echoTrack
	// layered are the video streams echoed through the forwarding
	// engine (simulcast, VP9, AV1), and layers the client's choice of
	// layers for them.
	layered map[*webrtc.RTPTransceiver]*layered
	layers  layerChoice
	// fallback is Janus's simulcast fallback time, reported only.
	fallback int
	// playout is the playout delay asked of the client for the echoed
	// video (Janus: min_delay, max_delay), in 10 ms units; nil: none.
	playout *playoutdelay.Delay
	// recordBase is the recordings' base path, "" when not recording.
	recordBase string
	recordings []string
}

func newEcho(p *Plugin, h *ianua.Handle) *Echo {
	e := &Echo{
		p: p, h: h,
		echoes:  make(map[*webrtc.RTPTransceiver]*echoTrack),
		layered: make(map[*webrtc.RTPTransceiver]*layered),
		// Like Janus: the highest substream and every temporal layer.
		layers: layerChoice{substream: 2, temporal: 2, spatial: 2, svcTemporal: 2},
	}
	e.audio.Store(true)
	e.video.Store(true)
	return e
}

// Status is what Echo reports of itself (Janus: query_session), with
// Janus's names where Janus has the field.
type Status struct {
	AudioActive bool   `json:"audio_active"`
	VideoActive bool   `json:"video_active"`
	Bitrate     uint32 `json:"bitrate"`
	// Streams is the number of audio and video streams echoed.
	Streams int `json:"streams"`
	// Simulcast is set when a stream is simulcast: Substream is the
	// layer echoed (-1 before the first), SubstreamTarget the one asked
	// for, TemporalTarget the temporal layers asked for.
	Simulcast       bool `json:"simulcast,omitempty"`
	Substream       *int `json:"substream,omitempty"`
	SubstreamTarget *int `json:"substream-target,omitempty"`
	TemporalTarget  *int `json:"temporal-layer-target,omitempty"`
	// Fallback is the "fallback" asked for, microseconds (reported only).
	Fallback int `json:"fallback,omitempty"`
	// SVC is set when a stream is VP9 or AV1, which may carry SVC;
	// SpatialLayer is the layer echoed (-1: all).
	SVC                bool `json:"svc,omitempty"`
	SpatialLayer       *int `json:"spatial_layer,omitempty"`
	SpatialLayerTarget *int `json:"spatial_layer-target,omitempty"`
	// Recording is the base path of the recordings in progress.
	Recording string `json:"recording,omitempty"`
	// MinDelay and MaxDelay are the playout delay asked of the client.
	MinDelay *int `json:"min_delay,omitempty"`
	MaxDelay *int `json:"max_delay,omitempty"`
	// E2EE: the client's media is end-to-end encrypted.
	E2EE bool `json:"e2ee,omitempty"`
}

// Status returns the current settings and the layers being echoed.
func (e *Echo) Status() Status {
	e.mu.Lock()
	st := Status{
		AudioActive: e.audio.Load(), VideoActive: e.video.Load(), Bitrate: e.bitrate.Load(),
		Streams: len(e.echoes) + len(e.layered), Recording: e.recordBase, Fallback: e.fallback,
		E2EE: e.e2ee.Load(),
	}
	if d := e.playout; d != nil {
		lo, hi := int(d.Min), int(d.Max)
		st.MinDelay, st.MaxDelay = &lo, &hi
	}
	c := e.layers
	streams := e.layeredLocked()
	e.mu.Unlock()
	for _, l := range streams {
		switch {
		case l.simulcast && !st.Simulcast:
			cur, _ := l.sub.Layer()
			st.Simulcast, st.Substream, st.SubstreamTarget, st.TemporalTarget = true, &cur, &c.substream, &c.temporal
		case l.svc && !l.simulcast && !st.SVC:
			cur, _ := l.sub.SpatialLayer()
			st.SVC, st.SpatialLayer, st.SpatialLayerTarget = true, &cur, &c.spatial
		}
	}
	return st
}

// layeredLocked returns the layered streams, to be used without e.mu.
func (e *Echo) layeredLocked() []*layered {
	streams := make([]*layered, 0, len(e.layered))
	for _, l := range e.layered {
		streams = append(streams, l)
	}
	return streams
}

// Query implements ianua.Querier: the Status, for an admin view.
func (e *Echo) Query() any { return e.Status() }

// HandleMessage implements ianua.Attachment. Like Janus EchoTest it
// answers asynchronously: the result ({"echotest":"event","result":"ok"})
// and any JSEP arrive as a plugin event with the message's transaction.
func (e *Echo) HandleMessage(ctx context.Context, msg ianua.Message) (ianua.Reply, error) {
	req, err := ParseRequest(msg.Body)
	if err != nil {
		return ianua.Reply{}, err
	}
	if msg.JSEP == nil && !req.hasAttributes() {
		return ianua.Reply{}, pluginError(ErrorInvalidElement, ianua.ErrInvalidElement, "Message error: no supported attributes found")
	}
	var jsep *ianua.JSEP
	switch {
	case msg.JSEP != nil && msg.JSEP.Type == "offer":
		if req.Request == "offer" {
			return ianua.Reply{}, pluginError(ErrorInvalidElement, ianua.ErrInvalidElement, "Cannot ask for an offer while sending one")
		}
		if err := e.prepareEcho(req); err != nil {
			return ianua.Reply{}, err
		}
		if jsep, err = e.h.Answer(ctx); err != nil {
			return ianua.Reply{}, pluginError(ErrorInvalidSDP, ianua.ErrInvalidSDP, "Error answering: %v", err)
		}
		if msg.JSEP.E2EE {
			e.e2ee.Store(true)
		}
		jsep.E2EE = e.e2ee.Load()
	case req.Request == "offer":
		if jsep, err = e.offer(ctx, req); err != nil {
			return ianua.Reply{}, err
		}
	}
	e.Configure(req)
	if err := e.h.PushEvent(msg.Transaction, map[string]any{"echotest": "event", "result": "ok"}, jsep); err != nil {
		return ianua.Reply{}, err
	}
	return ianua.Reply{Async: true}, nil
}

// Configure applies the audio, video, bitrate and keyframe settings of req
// (the other fields need a negotiation and go through HandleMessage).
func (e *Echo) Configure(req Request) {
	if req.Audio != nil {
		e.audio.Store(*req.Audio)
	}
	if req.Video != nil {
		if was := e.video.Swap(*req.Video); !was && *req.Video {
			e.keyframe.Add(1) // resume on a keyframe
		}
	}
	if req.Bitrate != nil {
		e.bitrate.Store(*req.Bitrate)
		e.sendREMB()
	}
	if req.Record != nil {
		base := ""
		if *req.Record {
			base = req.Filename
			if base == "" {
				base = fmt.Sprintf("echotest-%d-%d", e.h.ID(), time.Now().Unix())
			}
			if !filepath.IsAbs(base) {
				base = filepath.Join(e.p.params.RecordDir, base)
			}
		}
		e.mu.Lock()
		changed := e.recordBase != base
		e.recordBase = base
		e.mu.Unlock()
		if changed {
			e.recordGen.Add(1)
			if base != "" {
				// Video files start at a keyframe.
				e.keyframe.Add(1)
				e.requestKeyframes()
			}
		}
	}
	if req.Keyframe {
		e.keyframe.Add(1)
		e.requestKeyframes()
	}
	e.configureLayers(req)
}

// configureLayers applies the video toggle and the layer choice of req to
// the layered streams.
func (e *Echo) configureLayers(req Request) {
	e.mu.Lock()
	c := &e.layers
	asked := false
	for _, f := range []struct {
		from *int
		to   *int
	}{{req.Substream, &c.substream}, {req.Temporal, &c.temporal}, {req.SpatialLayer, &c.spatial}, {req.TemporalLayer, &c.svcTemporal}} {
		if f.from != nil {
			*f.to = *f.from
			asked = true
		}
	}
	if req.Fallback != nil {
		e.fallback = *req.Fallback
	}
	delayChanged := req.MinDelay != nil || req.MaxDelay != nil
	if delayChanged {
		e.playout = playoutdelay.Next(e.playout, req.MinDelay, req.MaxDelay)
	}
	playout := e.playout
	if delayChanged {
		e.playoutGen.Add(1)
	}
	choice := e.layers
	streams := e.layeredLocked()
	e.mu.Unlock()
	for _, l := range streams {
		if req.Video != nil {
			l.sub.SetPaused(!*req.Video)
		}
		if delayChanged {
			setPlayout(l.sub, playout)
		}
		if asked {
			e.applyLayers(l, choice, true)
		}
	}
}

// Recordings returns the paths of the files recorded so far.
func (e *Echo) Recordings() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.recordings)
}

// syncRecording opens or closes the recording of one stream to match the
// record setting; rec is the stream's current one, or nil.
func (e *Echo) syncRecording(rec *ianua.Recording, remote *webrtc.TrackRemote, mid string) *ianua.Recording {
	e.mu.Lock()
	base := e.recordBase
	e.mu.Unlock()
	if rec != nil {
		rec.Stop()
		rec = nil
	}
	if base == "" {
		return nil
	}
	path := fmt.Sprintf("%s-%s-%s", base, remote.Kind(), mid)
	rec, err := ianua.NewRecording(ianua.RecordParams{Path: path}, remote.Codec())
	if err != nil {
		e.h.Logger().Warn("echotest: cannot record", "path", path, "err", err)
		return nil
	}
	e.mu.Lock()
	e.recordings = append(e.recordings, rec.Path())
	e.mu.Unlock()
	return rec
}

// prepareEcho gives every transceiver the client sends on a local track of
// the same codec, so that the answer says sendrecv and the echo goes back on
// the same m-line.
func (e *Echo) prepareEcho(req Request) error {
	pc, err := e.h.PeerConnection()
	if err != nil {
		return err
	}
	simulcast := simulcastMids(pc.RemoteDescription())
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() != nil || tr.Receiver() == nil || tr.Mid() == "" {
			continue
		}
		if d := tr.Direction(); d != webrtc.RTPTransceiverDirectionRecvonly && d != webrtc.RTPTransceiverDirectionSendrecv {
			continue
		}
		codecs := tr.Receiver().GetParameters().Codecs
		name, profile := req.AudioCodec, ""
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			name, profile = req.VideoCodec, req.VideoProfile
		}
		codec, ok := chooseCodec(codecs, name, profile)
		if !ok {
			// Nothing we can echo on this m-line (pion rejects it), or
			// not the codec asked for: no echo, as Janus rejects it.
			continue
		}
		prefs := []webrtc.RTPCodecParameters(nil)
		if name != "" || profile != "" {
			// The answer keeps only this codec (and its RTX).
			prefs = withRTX(codec, codecs)
		}
		if tr.Kind() == webrtc.RTPCodecTypeAudio && req.OpusRED != nil && *req.OpusRED && strings.EqualFold(codec.MimeType, webrtc.MimeTypeOpus) {
			// Janus's "opusred": RED around Opus first, if offered, so
			// that the client sends it and gets it back.
			for _, c := range codecs {
				if strings.EqualFold(c.MimeType, ianua.MimeTypeRED) {
					prefs = []webrtc.RTPCodecParameters{c, codec}
					codec = c
					break
				}
			}
		}
		if prefs != nil {
			if err := tr.SetCodecPreferences(prefs); err != nil {
				return fmt.Errorf("echotest: codec preferences: %w", err)
			}
		}
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			mime := codecName(codec.MimeType)
			if simulcast[tr.Mid()] || mime == "vp9" || mime == "av1" {
				l, err := e.newLayered(pc, tr, codec, simulcast[tr.Mid()])
				if err != nil {
					return err
				}
				e.mu.Lock()
				e.layered[tr] = l
				e.mu.Unlock()
				continue
			}
		}
		track := newEchoTrack(codec.RTPCodecCapability, "echo-"+tr.Mid(), "ianua-echotest")
		sender, err := pc.AddTrack(track)
		if err != nil {
			return fmt.Errorf("echotest: add echo track: %w", err)
		}
		e.remember(pc, sender, track)
	}
	return nil
}

func (e *Echo) remember(pc *webrtc.PeerConnection, sender *webrtc.RTPSender, track *echoTrack) {
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == sender {
			e.mu.Lock()
			e.echoes[tr] = track
			e.mu.Unlock()
			return
		}
	}
}

// chooseCodec picks the codec an m-line's echo uses: the first real media
// codec the client offered (not RTX, RED or FEC), or, when name is set,
// the first of that name (and profile: a VP9 profile-id or an H.264
// profile-level-id).
func chooseCodec(codecs []webrtc.RTPCodecParameters, name, profile string) (webrtc.RTPCodecParameters, bool) {
	for _, c := range codecs {
		mime := strings.ToLower(c.MimeType)
		if strings.HasSuffix(mime, "/rtx") || strings.HasSuffix(mime, "/red") ||
			strings.HasSuffix(mime, "/ulpfec") || strings.HasSuffix(mime, "/flexfec-03") ||
			strings.HasSuffix(mime, "/telephone-event") {
			continue
		}
		if name != "" && codecName(mime) != name {
			continue
		}
		if profile != "" && !hasProfile(codecName(mime), c.SDPFmtpLine, profile) {
			continue
		}
		return c, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// hasProfile says whether an fmtp line is of this VP9 or H.264 profile
// (RFC 9628 profile-id, absent meaning 0; RFC 6184 profile-level-id).
func hasProfile(codec, fmtp, profile string) bool {
	params := map[string]string{}
	for _, p := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[strings.ToLower(k)] = v
	}
	switch codec {
	case "vp9":
		id, ok := params["profile-id"]
		if !ok {
			id = "0"
		}
		return id == profile
	case "h264":
		return strings.EqualFold(params["profile-level-id"], profile)
	}
	return true // other codecs have no profile to choose
}

// withRTX returns codec and the RTX codec that repairs it, if offered.
func withRTX(codec webrtc.RTPCodecParameters, offered []webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	out := []webrtc.RTPCodecParameters{codec}
	apt := fmt.Sprintf("apt=%d", codec.PayloadType)
	for _, c := range offered {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && strings.Contains(c.SDPFmtpLine, apt) {
			out = append(out, c)
		}
	}
	return out
}

// offer makes (or renegotiates) a plugin offer with the requested streams.
func (e *Echo) offer(ctx context.Context, req Request) (*ianua.JSEP, error) {
	pc, err := e.h.PeerConnection()
	if err != nil {
		return nil, err
	}
	want := map[webrtc.RTPCodecType]int{webrtc.RTPCodecTypeAudio: 1, webrtc.RTPCodecTypeVideo: 1}
	if req.AudioStreams != nil {
		want[webrtc.RTPCodecTypeAudio] = *req.AudioStreams
	}
	if req.VideoStreams != nil {
		want[webrtc.RTPCodecTypeVideo] = *req.VideoStreams
	}
	have := map[webrtc.RTPCodecType]int{}
	for _, tr := range pc.GetTransceivers() {
		have[tr.Kind()]++
	}
	audioName, videoName := "opus", "vp8"
	if req.AudioCodec != "" {
		audioName = req.AudioCodec
	}
	if req.VideoCodec != "" {
		videoName = req.VideoCodec
	}
	ac, _ := audioCodec(audioName) // validated by ParseRequest
	vc, _ := videoCodec(videoName)
	codecs := map[webrtc.RTPCodecType]webrtc.RTPCodecCapability{webrtc.RTPCodecTypeAudio: ac, webrtc.RTPCodecTypeVideo: vc}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		for i := have[kind]; i < want[kind]; i++ {
			track := newEchoTrack(codecs[kind], fmt.Sprintf("echo-%s-%d", kind, i), "ianua-echotest")
			tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
			if err != nil {
				return nil, fmt.Errorf("echotest: add transceiver: %w", err)
			}
			e.mu.Lock()
			e.echoes[tr] = track
			e.mu.Unlock()
		}
	}
	if (req.Data == nil || *req.Data) && pc.SCTP().State() != webrtc.SCTPTransportStateConnected && !e.hasData(pc) {
		if err := e.h.CreateDataChannel("JanusDataChannel"); err != nil {
			return nil, err
		}
	}
	return e.h.Offer(ctx, ianua.OfferOptions{ICERestart: req.Restart})
}

func (e *Echo) hasData(pc *webrtc.PeerConnection) bool {
	ld := pc.LocalDescription()
	return ld != nil && strings.Contains(ld.SDP, "m=application")
}

func setPlayout(sub *ianua.Subscription, d *playoutdelay.Delay) {
	if d == nil {
		_ = sub.SetPlayoutDelay(-1, -1)
		return
	}
	_ = sub.SetPlayoutDelay(int(d.Min), int(d.Max))
}

// playoutExtension returns the playout-delay extension to put on the
// echoed video, and its id on the sender; ok false when none.
func (e *Echo) playoutExtension(sender *webrtc.RTPSender) (id uint8, b [3]byte, ok bool) {
	e.mu.Lock()
	d := e.playout
	e.mu.Unlock()
	if d == nil || sender == nil {
		return 0, b, false
	}
	for _, x := range sender.GetParameters().HeaderExtensions {
		if x.URI == playoutdelay.URI {
			id = uint8(x.ID)
		}
	}
	if id == 0 {
		return 0, b, false
	}
	b, err := d.Marshal()
	return id, b, err == nil
}

// layeredFor returns the layered echo of what arrives on rcv, or nil.
func (e *Echo) layeredFor(rcv *webrtc.RTPReceiver) *layered {
	e.mu.Lock()
	defer e.mu.Unlock()
	for tr, l := range e.layered {
		if tr.Receiver() == rcv {
			return l
		}
	}
	return nil
}

// echoFor returns the local track that echoes what arrives on receiver.
func (e *Echo) echoFor(rcv *webrtc.RTPReceiver) (*echoTrack, *webrtc.RTPSender, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for tr, track := range e.echoes {
		if tr.Receiver() == rcv {
			return track, tr.Sender(), tr.Mid()
		}
	}
	return nil, nil, ""
}

// HandleTrack implements ianua.TrackHandler: it reads the client's stream
// and writes it back on the paired local track, with sequence numbers kept
// contiguous across the packets it drops while a kind is switched off.
func (e *Echo) HandleTrack(remote *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	if l := e.layeredFor(rcv); l != nil {
		e.readLayered(l, remote, rcv)
		return
	}
	local, sender, mid := e.echoFor(rcv)
	if local == nil {
		drain(remote)
		return
	}
	ssrc := uint32(remote.SSRC())
	var wg sync.WaitGroup
	if sender != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.readRTCP(sender, ssrc)
		}()
	}
	defer wg.Wait()

	video := remote.Kind() == webrtc.RTPCodecTypeVideo
	if video {
		_ = e.h.RequestKeyframe(ssrc)
	}
	fwd := forwarder{}
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	var lastREMB time.Time
	seenKeyframe := e.keyframe.Load()
	var rec *ianua.Recording
	seenRecord := uint32(0)
	// The playout delay to write, looked up again when the request
	// changes it (playoutGen).
	var playoutID uint8
	var playout [3]byte
	playoutOn := false
	seenPlayout := ^uint32(0)
	defer func() {
		if rec != nil {
			rec.Stop()
		}
	}()
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			return
		}
		if g := e.recordGen.Load(); g != seenRecord {
			seenRecord = g
			rec = e.syncRecording(rec, remote, mid)
		}
		on := e.audio.Load()
		if video {
			on = e.video.Load()
			if k := e.keyframe.Load(); k != seenKeyframe {
				seenKeyframe = k
				_ = e.h.RequestKeyframe(ssrc)
			}
			if b := e.bitrate.Load(); b > 0 {
				if now := time.Now(); now.Sub(lastREMB) >= rembInterval {
					lastREMB = now
					_ = e.h.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(b), SSRCs: []uint32{ssrc}}})
				}
			}
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		if rec != nil {
			// What the client sends, before the echo's rewriting.
			_ = rec.WriteRTP(&pkt)
		}
		if !fwd.process(&pkt, on) {
			continue
		}
		if video {
			if g := e.playoutGen.Load(); g != seenPlayout {
				seenPlayout = g
				playoutID, playout, playoutOn = e.playoutExtension(sender)
			}
			if playoutOn {
				_ = pkt.SetExtension(playoutID, playout[:])
			}
		}
		if err := local.WriteRTP(&pkt); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return
		}
	}
}

// readRTCP reads what the client says about our echo: a keyframe request
// for it becomes a keyframe request for the client's own stream.
func (e *Echo) readRTCP(sender *webrtc.RTPSender, ssrc uint32) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				_ = e.h.RequestKeyframe(ssrc)
			}
		}
	}
}

func drain(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

// sendREMB sends the bitrate cap now for every video stream.
func (e *Echo) sendREMB() {
	b := e.bitrate.Load()
	if b == 0 {
		return
	}
	ssrcs := e.videoSSRCs()
	if len(ssrcs) == 0 {
		return
	}
	_ = e.h.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(b), SSRCs: ssrcs}})
}

func (e *Echo) requestKeyframes() {
	for _, ssrc := range e.videoSSRCs() {
		_ = e.h.RequestKeyframe(ssrc)
	}
}

func (e *Echo) videoSSRCs() []uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []uint32
	trs := make([]*webrtc.RTPTransceiver, 0, len(e.echoes)+len(e.layered))
	for tr := range e.echoes {
		trs = append(trs, tr)
	}
	for tr := range e.layered {
		trs = append(trs, tr)
	}
	for _, tr := range trs {
		if tr.Kind() != webrtc.RTPCodecTypeVideo || tr.Receiver() == nil {
			continue
		}
		for _, t := range tr.Receiver().Tracks() {
			if s := uint32(t.SSRC()); s != 0 {
				out = append(out, s)
			}
		}
	}
	return out
}

// HandleData implements ianua.DataHandler: data comes back as it came.
func (e *Echo) HandleData(m ianua.DataMessage) {
	if err := e.h.SendData(m.Label, m.Data, m.IsString); err != nil {
		e.h.Logger().Debug("echotest: data echo", "err", err)
	}
}

// SlowLink implements ianua.SlowLinkHandler. Like Janus EchoTest, the
// client hears of the losses of its own packets on the way in, naming the
// media, and for video with the bitrate cap in force, so that it may send
// less; losses on the way back are the core's to repair with
// retransmissions. "mid" and "lost" are ianua's additions.
func (e *Echo) SlowLink(l ianua.SlowLink) {
	if !l.Uplink {
		return
	}
	ev := map[string]any{"echotest": "event", "event": "slow_link", "media": l.Kind, "mid": l.MID, "lost": l.Lost}
	if l.Kind == "video" {
		ev["current-bitrate"] = e.bitrate.Load()
	}
	_ = e.h.PushEvent("", ev, nil)
}

// HangupMedia implements ianua.HangupHandler: like Janus, say "done".
func (e *Echo) HangupMedia(string) {
	e.e2ee.Store(false)
	e.mu.Lock()
	clear(e.echoes)
	streams := e.layeredLocked()
	clear(e.layered)
	e.mu.Unlock()
	for _, l := range streams {
		l.close()
	}
	_ = e.h.PushEvent("", map[string]any{"echotest": "event", "result": "done"}, nil)
}
