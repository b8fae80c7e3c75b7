package sfu

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/audiolevel"
)

// rembInterval is how often a publisher's bitrate cap is repeated: REMB is
// a standing estimate that browsers expect to be refreshed.
const rembInterval = time.Second

// Participant is a publisher of a room (Janus: a handle joined with ptype
// "publisher"): it may publish any number of streams, or none and only
// get the room's events.
type Participant struct {
	p         *Plugin
	h         *ianua.Handle
	room      *Room
	id        uint64
	privateID uint64
	// remote: a publisher of another node (AddRemotePublisher), without
	// a handle.
	remote bool

	mu         sync.Mutex
	display    string
	publishing bool // a publish negotiation happened and was not torn down
	active     bool // the PeerConnection is up: announced to the room
	left       bool
	streams    []*pubStream
	bitrate    uint32
	// e2ee: the publisher said its media is end-to-end encrypted; until
	// it unpublishes, as in Janus.
	e2ee       bool
	stopREMB   chan struct{}
	wg         sync.WaitGroup
	record     bool   // record every published stream
	filename   string // base name of the recordings
	recordings map[string]*ianua.Recording
}

// pubStream is one published m-line.
type pubStream struct {
	mid         string
	mindex      int
	kind        string // audio, video, data
	codec       string
	description string
	tr          *webrtc.RTPTransceiver
	negotiated  webrtc.RTPCodecParameters // the answer's codec, for subscribers bound before the first packet
	src         *ianua.Source
	simulcast   bool
	moderated   bool
	muted       bool // "send": false from the publisher
	talking     bool
	level       int // last window's average, 127 = silent
}

// ID is the participant's id in the room.
func (pt *Participant) ID() uint64 { return pt.id }

// E2EE says whether the participant's media is end-to-end encrypted (its
// offer said "e2ee"): subscribers then get it with "e2ee" in their offer.
func (pt *Participant) E2EE() bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.e2ee
}

// Display is the participant's display name.
func (pt *Participant) Display() string {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.display
}

// Handle is the participant's handle.
func (pt *Participant) Handle() *ianua.Handle { return pt.h }

// Publishing says whether the participant has an active publication.
func (pt *Participant) Publishing() bool { return pt.isActive() }

func (pt *Participant) isActive() bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.active
}

// Sources returns the participant's published audio and video sources.
func (pt *Participant) Sources() []*ianua.Source {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	var out []*ianua.Source
	for _, s := range pt.streams {
		if s.src != nil {
			out = append(out, s.src)
		}
	}
	return out
}

func (pt *Participant) stream(mid string) (*pubStream, bool) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, s := range pt.streams {
		if s.mid == mid {
			return s, true
		}
	}
	return nil, false
}

// info is the participant as Janus lists publishers.
func (pt *Participant) info() map[string]any {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	streams := make([]map[string]any, 0, len(pt.streams))
	talking := false
	for _, s := range pt.streams {
		st := map[string]any{"type": s.kind, "mindex": s.mindex, "mid": s.mid}
		if s.codec != "" {
			st["codec"] = s.codec
		}
		if s.description != "" {
			st["description"] = s.description
		}
		if s.moderated {
			st["moderated"] = true
		}
		if s.simulcast {
			st["simulcast"] = true
		}
		if s.kind == "audio" {
			st["talking"] = s.talking
			talking = talking || s.talking
		}
		streams = append(streams, st)
	}
	out := map[string]any{"id": pt.id, "streams": streams, "talking": talking}
	if pt.display != "" {
		out["display"] = pt.display
	}
	return out
}

// publish answers a publisher's offer: only the room's codecs are
// accepted, one per m-line, and every audio and video m-line becomes a
// source of the router.
//
// e2ee is the offer's "e2ee": once said, the publisher's media is taken
// as end-to-end encrypted (Janus keeps it so until the publisher goes).
func (pt *Participant) publish(ctx context.Context, tx string, req request, renegotiate, e2ee bool) error {
	room := pt.room
	if !renegotiate && room.activePublishers() >= room.Params().Publishers {
		return perr(ErrorPublishersFull, ErrPublishersFull, "Maximum number of publishers (%d) reached", room.Params().Publishers)
	}
	e2ee, err := pt.checkE2EE(e2ee)
	if err != nil {
		return err
	}
	pc, err := pt.h.PeerConnection()
	if err != nil {
		return err
	}
	params := room.Params()
	chosen := map[string]string{}
	for _, tr := range pc.GetTransceivers() {
		kind := tr.Kind()
		if tr.Mid() == "" || (kind != webrtc.RTPCodecTypeAudio && kind != webrtc.RTPCodecTypeVideo) {
			continue
		}
		allowed := codecList(params.AudioCodec)
		if kind == webrtc.RTPCodecTypeVideo {
			allowed = codecList(params.VideoCodec)
		}
		prefs, name := pickCodec(tr.Receiver().GetParameters().Codecs, allowed)
		if name == "" {
			// Nothing the room allows: refuse this m-line (port 0).
			_ = tr.Stop()
			continue
		}
		if err := tr.SetCodecPreferences(prefs); err != nil {
			return perr(ErrorInvalidSDP, ianua.ErrInvalidSDP, "Error setting codecs: %v", err)
		}
		chosen[kind.String()] = name
	}
	jsep, err := pt.h.Answer(ctx)
	if err != nil {
		return perr(ErrorInvalidSDP, ianua.ErrInvalidSDP, "Error answering: %v", err)
	}
	jsep.E2EE = e2ee
	pt.updateStreams(pc, jsep.SDP, req.Descriptions)
	pt.mu.Lock()
	pt.publishing = true
	pt.e2ee = e2ee
	if req.Display != nil {
		pt.display = *req.Display
	}
	if req.RecordReq != nil {
		pt.record = *req.RecordReq
	}
	if req.Filename != "" {
		pt.filename = req.Filename
	}
	if req.BitrateReq != nil {
		pt.bitrate = *req.BitrateReq
	} else if pt.bitrate == 0 {
		pt.bitrate = params.Bitrate
	}
	active := pt.active
	pt.mu.Unlock()

	pt.syncRecordings()
	ev := map[string]any{"videoroom": "event", "room": room.ID(), "configured": "ok", "streams": pt.info()["streams"]}
	if c, ok := chosen["audio"]; ok {
		ev["audio_codec"] = c
	}
	if c, ok := chosen["video"]; ok {
		ev["video_codec"] = c
	}
	if err := pt.h.PushEvent(tx, ev, jsep); err != nil {
		return err
	}
	if active {
		// A renegotiation of a live publisher: tell the room what it
		// publishes now.
		room.notify(map[string]any{"videoroom": "event", "room": room.ID(), "publishers": []any{pt.info()}}, pt)
		pt.observe(true, false)
	}
	return nil
}

// checkE2EE returns whether the publisher's media is end-to-end encrypted
// once an offer saying e2ee is taken, or Janus's error when the room
// requires it and the publisher never said so.
func (pt *Participant) checkE2EE(e2ee bool) (bool, error) {
	pt.mu.Lock()
	e2ee = e2ee || pt.e2ee
	pt.mu.Unlock()
	if pt.room.Params().RequireE2EE && !e2ee {
		return false, perr(ErrorUnauthorized, ErrE2EERequired, "Room requires end-to-end encrypted media")
	}
	return e2ee, nil
}

// pickCodec returns the receiver codecs of the first allowed codec name
// (with its RTX), in the room's order of preference.
func pickCodec(have []webrtc.RTPCodecParameters, allowed []string) ([]webrtc.RTPCodecParameters, string) {
	for _, name := range allowed {
		for _, c := range have {
			if codecName(c.MimeType) != name {
				continue
			}
			out := []webrtc.RTPCodecParameters{c}
			for _, r := range have {
				if strings.EqualFold(r.MimeType, webrtc.MimeTypeRTX) && strings.Contains(r.SDPFmtpLine, fmt.Sprintf("apt=%d", c.PayloadType)) {
					out = append(out, r)
				}
			}
			return out, name
		}
	}
	return nil, ""
}

// updateStreams rebuilds the stream list from the negotiated transceivers,
// keeping the sources of m-lines that stay and closing the others.
func (pt *Participant) updateStreams(pc *webrtc.PeerConnection, answer string, descs []description) {
	mindexes := mindexByMID(answer)
	// Before pt.mu: Room.activePublishers takes each participant's mu
	// under room.mu.
	params := pt.room.Params()
	pt.mu.Lock()
	old := map[string]*pubStream{}
	for _, s := range pt.streams {
		old[s.mid] = s
	}
	var next []*pubStream
	for _, tr := range pc.GetTransceivers() {
		mid := tr.Mid()
		idx, ok := mindexes[mid]
		if mid == "" || !ok {
			continue
		}
		kind := tr.Kind()
		if kind != webrtc.RTPCodecTypeAudio && kind != webrtc.RTPCodecTypeVideo {
			continue
		}
		if tr.Direction() == webrtc.RTPTransceiverDirectionInactive || tr.Direction() == webrtc.RTPTransceiverDirectionSendonly {
			continue
		}
		if s, ok := old[mid]; ok && s.tr == tr {
			delete(old, mid)
			s.mindex = idx
			next = append(next, s)
			continue
		}
		s := &pubStream{mid: mid, mindex: idx, kind: kind.String(), tr: tr, simulcast: hasSimulcast(answer, mid), level: audiolevel.Silence}
		if codecs := tr.Receiver().GetParameters().Codecs; len(codecs) > 0 {
			s.codec = codecName(codecs[0].MimeType)
			s.negotiated = codecs[0]
		}
		next = append(next, s)
	}
	if idx, mid, ok := applicationSection(answer); ok {
		if s, ok := old[mid]; ok && s.kind == "data" {
			delete(old, mid)
			next = append(next, s)
		} else {
			next = append(next, &pubStream{mid: mid, mindex: idx, kind: "data"})
		}
	}
	for _, d := range descs {
		for _, s := range next {
			if s.mid == d.MID {
				s.description = d.Description
			}
		}
	}
	slices.SortFunc(next, func(a, b *pubStream) int { return a.mindex - b.mindex })
	pt.streams = next
	var toPublish []*pubStream
	for _, s := range next {
		if s.src == nil && s.kind != "data" {
			toPublish = append(toPublish, s)
		}
	}
	pt.mu.Unlock()

	for _, s := range toPublish {
		sp := ianua.SourceParams{
			Handle:      pt.h,
			Transceiver: s.tr,
			Codec:       s.negotiated,
			ID:          fmt.Sprintf("%d/%s", pt.id, s.mid),
			Talking:     audiolevel.Params{ActivePackets: params.AudioActivePackets, TalkingLevel: params.AudioLevelAverage},
		}
		if s.kind == "audio" {
			sp.OnTalking = pt.onTalking
			sp.OnLevel = pt.onLevel
		}
		src, err := pt.h.Router().Publish(sp)
		if err != nil {
			pt.h.Logger().Warn("sfu: publish source", "mid", s.mid, "err", err)
			continue
		}
		pt.mu.Lock()
		s.src = src
		pt.mu.Unlock()
	}
	for _, s := range old {
		if s.src != nil {
			s.src.Close()
		}
	}
}

func (pt *Participant) onTalking(src *ianua.Source, talking bool, level int) {
	mid := src.MID()
	pt.mu.Lock()
	for _, s := range pt.streams {
		if s.src == src {
			mid = s.mid
		}
	}
	pt.mu.Unlock()
	pt.setTalking(mid, talking, level)
	pt.p.talkObs.notify(TalkingEvent{Room: pt.room, Participant: pt, MID: mid, Talking: talking, Level: level})
}

// setTalking records a stream's talking state and tells the room.
func (pt *Participant) setTalking(mid string, talking bool, level int) {
	pt.mu.Lock()
	for _, s := range pt.streams {
		if s.mid == mid {
			s.talking = talking
			if pt.remote {
				// A remote publisher's levels are not here: its
				// talking level stands for them (active speaker).
				s.level = audiolevel.Silence
				if talking {
					s.level = level
				}
			}
		}
	}
	pt.mu.Unlock()
	if pt.remote {
		pt.room.updateSpeaker()
	}
	params := pt.room.Params()
	if !params.AudioLevelEvent {
		return
	}
	name := "stopped-talking"
	if talking {
		name = "talking"
	}
	pt.room.notify(map[string]any{"videoroom": name, "room": pt.room.ID(), "id": pt.id, "mid": mid, "audio-level-dBov-avg": level}, nil)
}

func (pt *Participant) onLevel(src *ianua.Source, level int) {
	pt.mu.Lock()
	for _, s := range pt.streams {
		if s.src == src {
			s.level = level
		}
	}
	pt.mu.Unlock()
	pt.room.updateSpeaker()
}

// loudest is the participant's loudest audio stream's last average.
func (pt *Participant) loudest() int {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	l := audiolevel.Silence
	for _, s := range pt.streams {
		if s.kind == "audio" && s.src != nil && s.level < l {
			l = s.level
		}
	}
	return l
}

// webrtcUp announces the publisher to the room and starts its bitrate cap.
func (pt *Participant) webrtcUp() {
	pt.mu.Lock()
	if !pt.publishing || pt.active || pt.left {
		pt.mu.Unlock()
		return
	}
	pt.active = true
	stop := make(chan struct{})
	pt.stopREMB = stop
	pt.wg.Add(1)
	pt.mu.Unlock()
	go pt.sendREMB(stop)
	pt.room.notify(map[string]any{"videoroom": "event", "room": pt.room.ID(), "publishers": []any{pt.info()}}, pt)
	pt.observe(true, false)
}

// sendREMB repeats the bitrate cap to the publisher until stop.
func (pt *Participant) sendREMB(stop chan struct{}) {
	defer pt.wg.Done()
	t := time.NewTicker(rembInterval)
	defer t.Stop()
	for {
		pt.mu.Lock()
		b := pt.bitrate
		var ssrcs []uint32
		for _, s := range pt.streams {
			if s.kind == "video" && s.tr.Receiver() != nil {
				for _, tr := range s.tr.Receiver().Tracks() {
					if ssrc := uint32(tr.SSRC()); ssrc != 0 {
						ssrcs = append(ssrcs, ssrc)
					}
				}
			}
		}
		pt.mu.Unlock()
		if b > 0 && len(ssrcs) > 0 {
			_ = pt.h.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(b), SSRCs: ssrcs}})
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// unpublish tears the publication down: sources closed (their
// subscribers are told), the room told, the REMB loop stopped.
func (pt *Participant) unpublish(notify bool) bool {
	pt.mu.Lock()
	was := pt.publishing
	active := pt.active
	leaving := pt.left
	pt.publishing, pt.active, pt.e2ee = false, false, false
	streams := pt.streams
	pt.streams = nil
	pt.recordings = nil // they end with their sources
	stop := pt.stopREMB
	pt.stopREMB = nil
	pt.mu.Unlock()
	if stop != nil {
		close(stop)
	}
	pt.wg.Wait()
	for _, s := range streams {
		if s.src != nil {
			s.src.Close()
		}
	}
	if active && notify {
		pt.room.notify(map[string]any{"videoroom": "event", "room": pt.room.ID(), "unpublished": pt.id}, pt)
	}
	if active && !leaving {
		pt.observe(false, false) // leave tells it left
	}
	return was
}

// leave removes the participant from the room; reason "" is a plain leave.
func (pt *Participant) leave(reason string, notify bool) {
	pt.mu.Lock()
	if pt.left {
		pt.mu.Unlock()
		return
	}
	pt.left = true
	pt.mu.Unlock()
	pt.unpublish(notify)
	if pt.h != nil {
		pt.h.Hangup(reason)
	}
	r := pt.room
	r.mu.Lock()
	delete(r.participants, pt.id)
	r.mu.Unlock()
	if notify {
		r.notify(map[string]any{"videoroom": "event", "room": r.ID(), "leaving": pt.id}, pt)
	}
	pt.observe(false, true)
}

// configure changes a publisher's settings without renegotiation.
func (pt *Participant) configure(req request) error {
	if req.MID != "" {
		if _, ok := pt.stream(req.MID); !ok {
			return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "No such mid %q", req.MID)
		}
	}
	pt.mu.Lock()
	if req.BitrateReq != nil {
		pt.bitrate = *req.BitrateReq
	}
	if req.Display != nil {
		pt.display = *req.Display
	}
	if req.RecordReq != nil {
		pt.record = *req.RecordReq
	}
	if req.Filename != "" {
		pt.filename = req.Filename
	}
	for _, d := range req.Descriptions {
		for _, s := range pt.streams {
			if s.mid == d.MID {
				s.description = d.Description
			}
		}
	}
	var mute []*pubStream
	if req.MID != "" && req.Send != nil {
		for _, s := range pt.streams {
			if s.mid == req.MID {
				s.muted = !*req.Send
				mute = append(mute, s)
			}
		}
	}
	var keyframe []*ianua.Source
	if req.Keyframe {
		for _, s := range pt.streams {
			if s.src != nil && s.kind == "video" {
				keyframe = append(keyframe, s.src)
			}
		}
	}
	pt.mu.Unlock()
	for _, s := range mute {
		pt.applyMute(s)
	}
	for _, src := range keyframe {
		src.RequestKeyframe(-1)
	}
	pt.syncRecordings()
	return nil
}

// syncRecordings starts or stops the recordings to match the publisher's
// and the room's record setting: one file per audio and video stream.
func (pt *Participant) syncRecordings() {
	params := pt.room.Params()
	dir := params.RecDir
	if dir == "" {
		dir = pt.p.params.RecordDir
	}
	pt.mu.Lock()
	want := pt.record || params.Record
	base := pt.filename
	if base == "" {
		base = fmt.Sprintf("videoroom-%d-user-%d-%d", params.ID, pt.id, time.Now().Unix())
	}
	if pt.recordings == nil {
		pt.recordings = map[string]*ianua.Recording{}
	}
	var start []*pubStream
	var stop []*ianua.Recording
	for _, s := range pt.streams {
		rec, on := pt.recordings[s.mid]
		switch {
		case want && !on && s.src != nil:
			start = append(start, s)
		case !want && on:
			stop = append(stop, rec)
			delete(pt.recordings, s.mid)
		}
	}
	pt.mu.Unlock()
	for _, r := range stop {
		r.Stop()
	}
	for _, s := range start {
		path := base + "-" + s.kind + "-" + s.mid
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		rec, err := s.src.Record(ianua.RecordParams{Path: path})
		if err != nil {
			pt.h.Logger().Warn("sfu: record", "mid", s.mid, "err", err)
			continue
		}
		pt.mu.Lock()
		pt.recordings[s.mid] = rec
		pt.mu.Unlock()
	}
}

// Recordings returns the participant's running recordings by mid.
func (pt *Participant) Recordings() map[string]*ianua.Recording {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	out := make(map[string]*ianua.Recording, len(pt.recordings))
	for k, v := range pt.recordings {
		out[k] = v
	}
	return out
}

// applyMute stops or resumes forwarding of a stream, for the publisher's
// own "send" and for moderation.
func (pt *Participant) applyMute(s *pubStream) {
	pt.mu.Lock()
	muted := s.muted || s.moderated
	src := s.src
	pt.mu.Unlock()
	if src != nil {
		src.SetMuted(muted)
	}
}

// moderate mutes or unmutes a stream of the participant (room admin).
func (pt *Participant) moderate(mid string, mute bool) error {
	s, ok := pt.stream(mid)
	if !ok {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "No such mid %q", mid)
	}
	pt.mu.Lock()
	s.moderated = mute
	pt.mu.Unlock()
	pt.applyMute(s)
	return nil
}

// relayData sends a publisher's data channel message to its subscribers.
func (pt *Participant) relayData(m ianua.DataMessage) {
	r := pt.room
	r.mu.Lock()
	subs := make([]*Subscriber, 0, len(r.subscribers))
	for s := range r.subscribers {
		subs = append(subs, s)
	}
	r.mu.Unlock()
	for _, s := range subs {
		if s.wantsData(pt) {
			_ = s.h.SendData("", m.Data, m.IsString)
		}
	}
}
