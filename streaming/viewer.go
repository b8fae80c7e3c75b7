package streaming

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// request is the union of the Janus Streaming requests' fields.
type request struct {
	Request   string        `json:"request"`
	ID        *uint64       `json:"id,omitempty"`
	PIN       string        `json:"pin,omitempty"`
	Secret    string        `json:"secret,omitempty"`
	AdminKey  string        `json:"admin_key,omitempty"`
	Type      string        `json:"type,omitempty"`
	Desc      string        `json:"description,omitempty"`
	IsPrivate bool          `json:"is_private,omitempty"`
	Media     []MediaParams `json:"media,omitempty"`
	// Legacy single audio/video mountpoint fields.
	Audio          bool   `json:"audio,omitempty"`
	AudioPort      int    `json:"audioport,omitempty"`
	AudioPT        uint8  `json:"audiopt,omitempty"`
	AudioCodec     string `json:"audiortpmap,omitempty"`
	AudioCodecName string `json:"audiocodec,omitempty"` // Janus 1.x: "opus"
	VideoCodecName string `json:"videocodec,omitempty"` // Janus 1.x: "vp8"
	Video          bool   `json:"video,omitempty"`
	VideoPort      int    `json:"videoport,omitempty"`
	VideoPT        uint8  `json:"videopt,omitempty"`
	VideoCodec     string `json:"videortpmap,omitempty"`
	VideoFmtp      string `json:"videofmtp,omitempty"`
	VideoSimulcast bool   `json:"videosimulcast,omitempty"`
	VideoPort2     int    `json:"videoport2,omitempty"`
	VideoPort3     int    `json:"videoport3,omitempty"`
	VideoBufferKF  *bool  `json:"videobufferkf,omitempty"`
	Data           bool   `json:"data,omitempty"`
	DataPort       int    `json:"dataport,omitempty"`
	DataType       string `json:"datatype,omitempty"`
	DataBufferMsg  bool   `json:"databuffermsg,omitempty"`
	SRTPSuite      int    `json:"srtpsuite,omitempty"`
	SRTPCrypto     string `json:"srtpcrypto,omitempty"`
	// RTSP mountpoints (type "rtsp").
	URL                string `json:"url,omitempty"`
	RTSPUser           string `json:"rtsp_user,omitempty"`
	RTSPPassword       string `json:"rtsp_pwd,omitempty"`
	RTSPTransport      string `json:"rtsp_transport,omitempty"`       // ianua: "udp", "tcp"; default both
	RTSPReconnectDelay int    `json:"rtsp_reconnect_delay,omitempty"` // seconds
	// configure: per stream, or (legacy) for every video stream.
	Streams []struct {
		MID       string `json:"mid"`
		Send      *bool  `json:"send,omitempty"`
		Substream *int   `json:"substream,omitempty"`
		Temporal  *int   `json:"temporal,omitempty"`
	} `json:"streams,omitempty"`
	Substream *int `json:"substream,omitempty"`
	Temporal  *int `json:"temporal,omitempty"`
}

func parseRequest(body json.RawMessage) (request, error) {
	var req request
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return req, perr(ErrorNoMessage, ianua.ErrMalformedBody, "No message??")
	}
	if trimmed[0] != '{' {
		return req, perr(ErrorInvalidJSON, ianua.ErrMalformedBody, "JSON error: not an object")
	}
	if err := json.Unmarshal(trimmed, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return req, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element type (%s should be %s)", typeErr.Field, typeErr.Type)
		}
		return req, perr(ErrorInvalidJSON, ianua.ErrMalformedBody, "JSON error: %v", err)
	}
	if req.Request == "" {
		return req, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (request)")
	}
	return req, nil
}

// viewer is the plugin's state for one handle.
type viewer struct {
	p *Plugin
	h *ianua.Handle

	mu     sync.Mutex
	mp     *Mountpoint
	subs   []*ianua.Subscription
	paused bool
}

// PeerConfig implements ianua.PeerConfigurer: NACKs come from the
// sources' caches.
func (*viewer) PeerConfig() ianua.PeerConfig {
	return ianua.PeerConfig{NoNACKResponder: true, SendOnly: true}
}

func status(s string) map[string]any {
	return map[string]any{"streaming": "event", "result": map[string]any{"status": s}}
}

// HandleMessage implements ianua.Attachment.
func (v *viewer) HandleMessage(ctx context.Context, msg ianua.Message) (ianua.Reply, error) {
	req, err := parseRequest(msg.Body)
	if err != nil {
		return ianua.Reply{}, err
	}
	if isManagement(req.Request) {
		data, err := v.p.manage(req)
		if err != nil {
			return ianua.Reply{}, err
		}
		b, _ := json.Marshal(data)
		return ianua.Reply{Data: b}, nil
	}
	switch req.Request {
	case "watch":
		err = v.watch(ctx, msg.Transaction, req)
	case "start":
		err = v.start(msg)
	case "pause":
		v.setPaused(true)
		err = v.h.PushEvent(msg.Transaction, status("pausing"), nil)
	case "stop":
		v.stop()
		v.h.Hangup("stop")
		err = v.h.PushEvent(msg.Transaction, status("stopping"), nil)
	case "switch":
		err = v.switchTo(msg.Transaction, req)
	case "configure":
		err = v.configure(msg.Transaction, req)
	default:
		return ianua.Reply{}, perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Unknown request '%s'", req.Request)
	}
	if err != nil {
		return ianua.Reply{}, err
	}
	return ianua.Reply{Async: true}, nil
}

func (v *viewer) watch(ctx context.Context, tx string, req request) error {
	if req.ID == nil {
		return perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (id)")
	}
	v.mu.Lock()
	watching := v.mp != nil
	v.mu.Unlock()
	if watching {
		return perr(ErrorInvalidRequest, ianua.ErrWrongState, "Already watching a stream")
	}
	mp, err := v.p.Mountpoint(*req.ID)
	if err != nil {
		return err
	}
	if mp.params.PIN != "" && mp.params.PIN != req.PIN {
		return perr(ErrorUnauthorized, ErrUnauthorized, "Unauthorized (wrong pin)")
	}
	pc, err := v.h.PeerConnection()
	if err != nil {
		return err
	}
	var subs []*ianua.Subscription
	fail := func(err error) error {
		for _, s := range subs {
			s.Close()
		}
		v.h.Hangup("watch failed")
		return err
	}
	if mp.hasData() {
		// Opened by us, so it is in the offer; janus.js takes it
		// through ondatachannel.
		if err := v.h.CreateDataChannel("JanusDataChannel"); err != nil {
			return fail(err)
		}
	}
	// The offer's m-lines take the streams' mids, as in Janus: what the
	// viewer sees in its SDP (janus.js's onremotetrack) is what
	// "configure" and "info" name.
	useMids := offerMids(mp)
	for _, m := range mp.media {
		if m.isData() {
			continue
		}
		sub, err := m.src.Subscribe(ianua.SubscribeParams{
			Handle: v.h, TrackID: m.params.MID, StreamID: fmt.Sprintf("mountpoint-%d", mp.ID()),
			OnSourceClosed: v.sourceClosed,
		})
		if err != nil {
			return fail(perr(ErrorNoSuchMountpoint, err, "Mountpoint %d is gone", mp.ID()))
		}
		subs = append(subs, sub)
		tr, err := pc.AddTransceiverFromTrack(sub, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fail(fmt.Errorf("streaming: add transceiver: %w", err))
		}
		if useMids {
			if err := tr.SetMid(m.params.MID); err != nil {
				return fail(fmt.Errorf("streaming: mid %q: %w", m.params.MID, err))
			}
		}
		sub.Start(tr.Sender())
	}
	jsep, err := v.h.Offer(ctx, ianua.OfferOptions{})
	if err != nil {
		return fail(err)
	}
	mp.mu.Lock()
	if mp.closed {
		mp.mu.Unlock()
		return fail(perr(ErrorNoSuchMountpoint, ErrNoSuchMountpoint, "Mountpoint %d is gone", mp.ID()))
	}
	mp.viewers[v] = struct{}{}
	mp.mu.Unlock()
	v.mu.Lock()
	v.mp, v.subs = mp, subs
	v.mu.Unlock()
	return v.h.PushEvent(tx, status("preparing"), jsep)
}

// offerMids says whether the offer can use the mountpoint's mids: they
// must differ from each other and from the data m-line's, which pion
// numbers after the audio and video ones. Otherwise pion numbers them
// all.
func offerMids(mp *Mountpoint) bool {
	seen := map[string]bool{}
	for _, m := range mp.media {
		if !m.isData() {
			if seen[m.params.MID] {
				return false
			}
			seen[m.params.MID] = true
		}
	}
	return !mp.hasData() || !seen[strconv.Itoa(len(seen))]
}

func (v *viewer) start(msg ianua.Message) error {
	v.mu.Lock()
	watching := v.mp != nil
	v.mu.Unlock()
	if !watching {
		return perr(ErrorInvalidRequest, ErrNotWatching, "Not watching a stream")
	}
	v.setPaused(false)
	return v.h.PushEvent(msg.Transaction, status("starting"), nil)
}

// WebRTCUp implements ianua.WebRTCUpHandler: Janus says "started".
func (v *viewer) WebRTCUp() {
	_ = v.h.PushEvent("", status("started"), nil)
}

func (v *viewer) setPaused(paused bool) {
	v.mu.Lock()
	v.paused = paused
	subs := v.subs
	v.mu.Unlock()
	for _, s := range subs {
		s.SetPaused(paused)
	}
}

// switchTo moves every stream to another mountpoint's stream of the same
// kind, without renegotiation.
func (v *viewer) switchTo(tx string, req request) error {
	if req.ID == nil {
		return perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (id)")
	}
	to, err := v.p.Mountpoint(*req.ID)
	if err != nil {
		return err
	}
	v.mu.Lock()
	from, subs := v.mp, v.subs
	v.mu.Unlock()
	if from == nil {
		return perr(ErrorInvalidRequest, ErrNotWatching, "Not watching a stream")
	}
	// Check first: a switch that cannot be complete changes nothing.
	targets := make([]*ianua.Source, len(subs))
	used := map[*mpMedia]bool{}
	for i, s := range subs {
		for _, m := range to.media {
			if !used[m] && !m.isData() && m.kind == s.Kind() {
				targets[i] = m.src
				used[m] = true
				break
			}
		}
		if targets[i] == nil {
			return perr(ErrorCantSwitch, ErrCantSwitch, "Can't switch: mountpoint %d has no %s stream", to.ID(), s.Kind())
		}
	}
	for i, s := range subs {
		if err := s.Switch(targets[i]); err != nil {
			return perr(ErrorCantSwitch, ErrCantSwitch, "Can't switch: %v", err)
		}
	}
	from.mu.Lock()
	delete(from.viewers, v)
	from.mu.Unlock()
	to.mu.Lock()
	to.viewers[v] = struct{}{}
	to.mu.Unlock()
	v.mu.Lock()
	v.mp = to
	v.mu.Unlock()
	return v.h.PushEvent(tx, map[string]any{"streaming": "event", "result": map[string]any{"switched": "ok", "id": to.ID()}}, nil)
}

func (v *viewer) configure(tx string, req request) error {
	v.mu.Lock()
	subs := v.subs
	v.mu.Unlock()
	// Check every stream first: a configure with an error changes nothing.
	find := func(mid string) *ianua.Subscription {
		for _, s := range subs {
			if s.ID() == mid {
				return s
			}
		}
		return nil
	}
	for _, st := range req.Streams {
		if find(st.MID) == nil {
			return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "No such mid %q", st.MID)
		}
	}
	for _, l := range []*int{req.Substream, req.Temporal} {
		if l != nil && (*l < 0 || *l > 2) {
			return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (substream and temporal are 0 to 2)")
		}
	}
	layers := func(s *ianua.Subscription, substream, temporal *int) {
		if s.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		if substream != nil {
			_ = s.SetLayer(*substream)
		}
		if temporal != nil {
			_ = s.SetTemporalLayer(*temporal)
		}
	}
	for _, s := range subs {
		layers(s, req.Substream, req.Temporal)
	}
	for _, st := range req.Streams {
		s := find(st.MID)
		if st.Send != nil {
			s.SetPaused(!*st.Send)
		}
		layers(s, st.Substream, st.Temporal)
	}
	return v.h.PushEvent(tx, map[string]any{"streaming": "event", "result": map[string]any{"event": "configured"}}, nil)
}

// DataReady implements ianua.DataReadyHandler: a new viewer's channel is
// open, it gets the buffered messages (Janus's buffermsg).
func (v *viewer) DataReady(string) {
	v.mu.Lock()
	mp := v.mp
	v.mu.Unlock()
	if mp == nil {
		return
	}
	msgs, text := mp.bufferedData()
	for i, msg := range msgs {
		_ = v.h.SendData("", msg, text[i])
	}
}

// sourceClosed: the mountpoint went away; Janus tells viewers "stopped"
// and hangs up.
func (v *viewer) sourceClosed(*ianua.Subscription) {
	v.mu.Lock()
	had := v.mp != nil
	v.mu.Unlock()
	if !had {
		return
	}
	v.stop()
	_ = v.h.PushEvent("", status("stopped"), nil)
	v.h.Hangup("mountpoint destroyed")
}

// stop ends the viewing.
func (v *viewer) stop() {
	v.mu.Lock()
	mp, subs := v.mp, v.subs
	v.mp, v.subs = nil, nil
	v.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
	if mp != nil {
		mp.mu.Lock()
		delete(mp.viewers, v)
		mp.mu.Unlock()
	}
}

// HangupMedia implements ianua.HangupHandler.
func (v *viewer) HangupMedia(string) { v.stop() }

// Detached implements ianua.DetachHandler.
func (v *viewer) Detached() { v.stop() }
