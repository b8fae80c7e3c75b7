package ianua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/loopback"
	"github.com/ianua/ianua/internal/sdpcheck"
)

// maxQueuedCandidates bounds the candidates kept while no remote
// description has been applied yet.
const maxQueuedCandidates = 64

// Handle is one attachment of a session to a plugin, with at most one
// PeerConnection at a time. The host calls Message, Trickle, Hangup and
// Detach on behalf of its client; the plugin uses the rest to negotiate,
// push events and move media.
type Handle struct {
	id     uint64
	s      *Session
	plugin Plugin
	log    *slog.Logger

	msgSem chan struct{} // serialises Message

	mu       sync.Mutex
	att      Attachment
	peer     *peer
	hungUp   bool // the last PeerConnection was hung up and none replaced it
	detached bool
	gone     bool                      // detached and the plugin told: no more events
	pending  []webrtc.ICECandidateInit // candidates that came before the SDP
	bg       sync.WaitGroup            // hang-ups started from pion callbacks
	// deferred is a renegotiation offer the plugin is deciding on
	// (deferredOffer), during Message.
	deferred *deferredOffer
}

// deferredOffer is a renegotiation offer applied only once the plugin
// touches the PeerConnection (PeerConnection, Answer) or accepts the
// message: pion cannot roll a remote offer back (SetRemoteDescription of a
// rollback fails), so an offer applied and then refused would leave the
// PeerConnection in have-remote-offer, refusing every later offer. A
// plugin that refuses before touching it changes nothing.
type deferredOffer struct {
	j       *JSEP
	once    sync.Once
	applied atomic.Bool
	undo    func()
	err     error
}

// apply applies the offer, once.
func (d *deferredOffer) apply(h *Handle) error {
	d.once.Do(func() {
		d.undo, d.err = h.applyRemote(d.j)
		d.applied.Store(d.err == nil)
	})
	return d.err
}

// applyDeferred applies a renegotiation offer the plugin is deciding on,
// before it looks at the PeerConnection.
func (h *Handle) applyDeferred() error {
	h.mu.Lock()
	d := h.deferred
	h.mu.Unlock()
	if d == nil {
		return nil
	}
	return d.apply(h)
}

func newHandle(s *Session, id uint64, p Plugin) *Handle {
	return &Handle{
		id:     id,
		s:      s,
		plugin: p,
		log:    s.r.log.With("session", s.id, "handle", id, "plugin", p.Name()),
		msgSem: make(chan struct{}, 1),
	}
}

func (h *Handle) setAttachment(a Attachment) {
	h.mu.Lock()
	h.att = a
	h.mu.Unlock()
}

// Attachment is the plugin's state for this handle, for hosts that use a
// plugin's typed Go API (for example *echotest.Echo).
func (h *Handle) Attachment() Attachment { return h.attachment() }

func (h *Handle) attachment() Attachment {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.att
}

// ID is the handle's id, unique in its session and safe for JavaScript.
func (h *Handle) ID() uint64 { return h.id }

// Session is the session the handle belongs to.
func (h *Handle) Session() *Session { return h.s }

// Router is the media router; plugins use it to reach the shared engine.
func (h *Handle) Router() *MediaRouter { return h.s.r }

// PluginName is the name of the plugin the handle is attached to.
func (h *Handle) PluginName() string { return h.plugin.Name() }

// Logger is a logger that names the session, the handle and the plugin.
func (h *Handle) Logger() *slog.Logger { return h.log }

// Message hands a client message to the plugin. A JSEP in it is applied to
// the PeerConnection first (created on the first offer) and undone if the
// plugin returns an error, so a refused message changes nothing. Messages
// of one handle are handled one at a time, in order.
func (h *Handle) Message(ctx context.Context, msg Message) (Reply, error) {
	select {
	case h.msgSem <- struct{}{}:
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
	defer func() { <-h.msgSem }()

	h.mu.Lock()
	detached, att := h.detached, h.att
	h.mu.Unlock()
	if detached || att == nil {
		return Reply{}, ErrHandleDetached
	}
	h.s.touch()

	var undo func()
	var d *deferredOffer
	if msg.JSEP != nil {
		if p := h.currentPeer(); p != nil && msg.JSEP.Type == "offer" && p.hasRemote() {
			if err := h.checkOffer(p, msg.JSEP); err != nil {
				return Reply{}, err
			}
			d = &deferredOffer{j: msg.JSEP}
			h.mu.Lock()
			h.deferred = d
			h.mu.Unlock()
		} else {
			var err error
			if undo, err = h.applyRemote(msg.JSEP); err != nil {
				return Reply{}, err
			}
		}
	}
	reply, err := att.HandleMessage(ctx, msg)
	if d != nil {
		var aerr error
		if err == nil {
			// Accepted without a look at the PeerConnection: apply now,
			// while a goroutine the plugin started (to answer later)
			// still finds the offer pending and waits for it.
			aerr = d.apply(h)
		}
		h.mu.Lock()
		if h.deferred == d {
			h.deferred = nil
		}
		h.mu.Unlock()
		if aerr != nil {
			return Reply{}, aerr
		}
		if err != nil && d.applied.Load() {
			d.once.Do(func() {}) // wait for an apply in flight; undo is set by then
			undo = d.undo
		}
	}
	if err != nil && undo != nil {
		undo()
	}
	return reply, err
}

// checkOffer validates a renegotiation offer without applying it.
func (h *Handle) checkOffer(p *peer, j *JSEP) error {
	if _, err := sdpcheck.Check(j.SDP, h.s.r.supported); err != nil {
		return sdpError(err)
	}
	if st := p.pc.SignalingState(); st != webrtc.SignalingStateStable && st != webrtc.SignalingStateHaveRemoteOffer {
		return fmt.Errorf("%w: an offer arrived in signaling state %s", ErrWrongState, st)
	}
	return nil
}

// applyRemote validates and applies a remote description. The returned
// undo reverts a remote offer.
func (h *Handle) applyRemote(j *JSEP) (undo func(), err error) {
	var p *peer
	switch j.Type {
	case "offer":
		if _, err := sdpcheck.Check(j.SDP, h.s.r.supported); err != nil {
			return nil, sdpError(err)
		}
		var created bool
		if p, created, err = h.ensurePeer(); err != nil {
			return nil, err
		}
		if st := p.pc.SignalingState(); st != webrtc.SignalingStateStable && st != webrtc.SignalingStateHaveRemoteOffer {
			return nil, fmt.Errorf("%w: an offer arrived in signaling state %s", ErrWrongState, st)
		}
		if err := p.pc.SetRemoteDescription(j.sessionDescription()); err != nil {
			if created {
				h.dropPeer(p)
			}
			return nil, fmt.Errorf("%w: %v", ErrInvalidSDP, err)
		}
		undo = func() {
			if created {
				h.dropPeer(p)
				return
			}
			_ = p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
		}
		p.mu.Lock()
		p.trickle = j.trickle()
		p.mu.Unlock()
	case "answer":
		p = h.currentPeer()
		if p == nil || p.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			return nil, ErrNoPendingOffer
		}
		if _, err := sdpcheck.Check(j.SDP, nil); err != nil {
			return nil, sdpError(err)
		}
		if err := p.pc.SetRemoteDescription(j.sessionDescription()); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidSDP, err)
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrInvalidJSEP, j.Type)
	}

	p.mu.Lock()
	p.remoteSet = true
	p.mu.Unlock()
	h.mu.Lock()
	queued := h.pending
	h.pending = nil
	h.mu.Unlock()
	for _, c := range queued {
		if err := p.pc.AddICECandidate(c); err != nil {
			h.log.Debug("queued candidate refused", "candidate", c.Candidate, "err", err)
		}
	}
	h.observe(Event{Type: EventRemoteJSEP, JSEP: j})
	return undo, nil
}

func sdpError(err error) error {
	if errors.Is(err, sdpcheck.ErrNoCodec) {
		return fmt.Errorf("%w: %v", ErrNoCommonCodec, err)
	}
	return fmt.Errorf("%w: %v", ErrInvalidSDP, err)
}

// ensurePeer returns the handle's PeerConnection, creating it if needed.
func (h *Handle) ensurePeer() (p *peer, created bool, err error) {
	h.mu.Lock()
	if h.detached {
		h.mu.Unlock()
		return nil, false, ErrHandleDetached
	}
	if h.peer != nil {
		p = h.peer
		h.mu.Unlock()
		return p, false, nil
	}
	h.mu.Unlock()

	np, err := newPeer(h)
	if err != nil {
		return nil, false, fmt.Errorf("ianua: new PeerConnection: %w", err)
	}
	h.mu.Lock()
	switch {
	case h.detached:
		h.mu.Unlock()
		np.close()
		return nil, false, ErrHandleDetached
	case h.peer != nil: // another goroutine won
		p = h.peer
		h.mu.Unlock()
		np.close()
		return p, false, nil
	}
	h.peer = np
	h.hungUp = false
	h.mu.Unlock()
	return np, true, nil
}

// remoteDescription is the PeerConnection's current remote description.
func (h *Handle) remoteDescription() *webrtc.SessionDescription {
	p := h.currentPeer()
	if p == nil {
		return nil
	}
	return p.pc.RemoteDescription()
}

func (h *Handle) currentPeer() *peer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peer
}

// dropPeer closes a PeerConnection that never got anywhere, without events.
func (h *Handle) dropPeer(p *peer) {
	h.mu.Lock()
	if h.peer == p {
		h.peer = nil
	}
	h.mu.Unlock()
	p.close()
}

// BandwidthEstimate is the send-side estimate of the bandwidth towards the
// client, bits per second, when the attachment asked for one
// (PeerConfig.BandwidthEstimation) and a PeerConnection exists.
func (h *Handle) BandwidthEstimate() (int, bool) {
	p := h.currentPeer()
	if p == nil {
		return 0, false
	}
	return p.estimate()
}

// HasPeerConnection says whether the handle has a PeerConnection now.
func (h *Handle) HasPeerConnection() bool { return h.currentPeer() != nil }

// PeerConnection returns the handle's PeerConnection, creating it if there
// is none, so that a plugin can add tracks and transceivers before Offer.
func (h *Handle) PeerConnection() (*webrtc.PeerConnection, error) {
	if err := h.applyDeferred(); err != nil {
		return nil, err
	}
	p, _, err := h.ensurePeer()
	if err != nil {
		return nil, err
	}
	return p.pc, nil
}

// Answer answers the pending remote offer and returns the answer for the
// plugin to push. If the client said it does not trickle, Answer waits for
// candidate gathering so that the SDP carries our candidates.
func (h *Handle) Answer(ctx context.Context) (*JSEP, error) {
	if err := h.applyDeferred(); err != nil {
		return nil, err
	}
	p := h.currentPeer()
	if p == nil {
		return nil, ErrNoPeerConnection
	}
	if p.pc.SignalingState() != webrtc.SignalingStateHaveRemoteOffer {
		return nil, ErrNoPendingOffer
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return nil, fmt.Errorf("ianua: create answer: %w", err)
	}
	p.mu.Lock()
	wait := !p.trickle
	p.mu.Unlock()
	return h.setLocal(ctx, p, answer, wait)
}

// OfferOptions tunes Handle.Offer.
type OfferOptions struct {
	// ICERestart makes new ICE credentials (RFC 8445 section 9).
	ICERestart bool
	// WaitForCandidates puts our candidates in the SDP (for clients that
	// do not trickle); they are trickled as events in any case.
	WaitForCandidates bool
}

// Offer makes an offer from the PeerConnection's transceivers (creating the
// PeerConnection if needed) and returns it for the plugin to push; the
// client's answer comes back as the JSEP of a later Message.
func (h *Handle) Offer(ctx context.Context, opts OfferOptions) (*JSEP, error) {
	p, _, err := h.ensurePeer()
	if err != nil {
		return nil, err
	}
	if st := p.pc.SignalingState(); st == webrtc.SignalingStateHaveRemoteOffer {
		return nil, fmt.Errorf("%w: cannot offer in signaling state %s", ErrWrongState, st)
	}
	offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: opts.ICERestart})
	if err != nil {
		return nil, fmt.Errorf("ianua: create offer: %w", err)
	}
	return h.setLocal(ctx, p, offer, opts.WaitForCandidates)
}

func (h *Handle) setLocal(ctx context.Context, p *peer, desc webrtc.SessionDescription, wait bool) (*JSEP, error) {
	var gathered <-chan struct{}
	// With only the shared mux socket and no STUN/TURN server, gathering
	// is local and immediate: put the candidates in the SDP as well as
	// trickling them (Janus's half-trickle), so that a client that loses
	// an early trickle event still connects.
	if wait || h.s.r.instantGathering() {
		gathered = webrtc.GatheringCompletePromise(p.pc)
	}
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return nil, fmt.Errorf("ianua: set local %s: %w", desc.Type, err)
	}
	if gathered != nil {
		select {
		case <-gathered:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	j := &JSEP{Type: desc.Type.String(), SDP: p.pc.LocalDescription().SDP}
	h.observe(Event{Type: EventLocalJSEP, JSEP: j})
	return j, nil
}

// Trickle adds a remote ICE candidate (RFC 8838). Candidates that arrive
// before the session description are kept and applied with it. An empty
// candidate means end-of-candidates.
func (h *Handle) Trickle(c webrtc.ICECandidateInit) error {
	if c.Candidate == "" {
		return h.TrickleCompleted()
	}
	if _, err := ice.UnmarshalCandidate(strings.TrimPrefix(c.Candidate, "candidate:")); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidCandidate, err)
	}
	if h.s.r.loopbackOnly && !loopback.Candidate(c.Candidate) {
		// Our socket talks to loopback only; checks to this address
		// would be refused anyway.
		h.log.Debug("non-loopback candidate ignored", "candidate", c.Candidate)
		return nil
	}
	h.mu.Lock()
	if h.detached {
		h.mu.Unlock()
		return ErrHandleDetached
	}
	h.s.touch()
	p := h.peer
	ready := false
	if p != nil {
		p.mu.Lock()
		ready = p.remoteSet
		p.mu.Unlock()
	}
	if !ready {
		defer h.mu.Unlock()
		if p == nil && h.hungUp {
			return ErrNoPeerConnection
		}
		if len(h.pending) >= maxQueuedCandidates {
			return ErrTooManyCandidates
		}
		h.pending = append(h.pending, c)
		return nil
	}
	h.mu.Unlock()
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidCandidate, err)
	}
	return nil
}

// TrickleCompleted tells that the client has no more candidates. pion
// needs nothing for it; it is checked for the handle's state only.
func (h *Handle) TrickleCompleted() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.detached {
		return ErrHandleDetached
	}
	if h.peer == nil && h.hungUp {
		return ErrNoPeerConnection
	}
	h.s.touch()
	return nil
}

// PushEvent sends a plugin event to the client, with an optional JSEP.
// data is marshalled to JSON unless it is already json.RawMessage.
func (h *Handle) PushEvent(transaction string, data any, jsep *JSEP) error {
	h.mu.Lock()
	gone := h.gone
	h.mu.Unlock()
	if gone {
		return ErrHandleDetached
	}
	var raw json.RawMessage
	switch d := data.(type) {
	case nil:
	case json.RawMessage:
		raw = d
	default:
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("ianua: push event: %w", err)
		}
		raw = b
	}
	h.emit(Event{Type: EventPlugin, Transaction: transaction, Data: raw, JSEP: jsep})
	return nil
}

// WriteRTCP sends RTCP packets on the handle's PeerConnection.
func (h *Handle) WriteRTCP(pkts []rtcp.Packet) error {
	p := h.currentPeer()
	if p == nil {
		return ErrNoPeerConnection
	}
	return p.pc.WriteRTCP(pkts)
}

// RequestKeyframe asks the client to send a keyframe on the stream with
// this SSRC, with a PLI (RFC 4585 section 6.3.1).
func (h *Handle) RequestKeyframe(ssrc uint32) error {
	return h.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

// SendData sends a message on the open data channel with this label (the
// first open one if label is empty).
func (h *Handle) SendData(label string, data []byte, isString bool) error {
	p := h.currentPeer()
	if p == nil {
		return ErrNoPeerConnection
	}
	dc := p.channel(label)
	if dc == nil {
		return ErrNoDataChannel
	}
	if isString {
		return dc.SendText(string(data))
	}
	return dc.Send(data)
}

// CreateDataChannel opens a data channel from our side (for offers the
// plugin makes); its messages reach the plugin's DataHandler.
func (h *Handle) CreateDataChannel(label string) error {
	p, _, err := h.ensurePeer()
	if err != nil {
		return err
	}
	dc, err := p.pc.CreateDataChannel(label, nil)
	if err != nil {
		return fmt.Errorf("ianua: create data channel: %w", err)
	}
	p.addChannel(dc)
	return nil
}

// Hangup closes the PeerConnection, if any; the handle stays attached and
// may negotiate again. The plugin is told (HangupHandler) and the client
// gets EventHangup.
func (h *Handle) Hangup(reason string) {
	p := h.currentPeer()
	if p != nil {
		h.hangup(p, reason)
	}
}

func (h *Handle) hangup(p *peer, reason string) {
	h.mu.Lock()
	if h.peer != p {
		h.mu.Unlock()
		return
	}
	h.peer = nil
	h.hungUp = true
	h.pending = nil
	att := h.att
	h.mu.Unlock()
	p.close()
	h.emit(Event{Type: EventHangup, Reason: reason})
	if hh, ok := att.(HangupHandler); ok {
		hh.HangupMedia(reason)
	}
}

// hangupAsync hangs up from a pion callback, where closing the
// PeerConnection inline would wait for the callback itself.
func (h *Handle) hangupAsync(p *peer, reason string) {
	h.mu.Lock()
	if h.detached || h.peer != p {
		h.mu.Unlock()
		return
	}
	h.bg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.bg.Done()
		h.hangup(p, reason)
	}()
}

// Detach closes the PeerConnection, tells the plugin (DetachHandler), sends
// EventDetached and removes the handle from its session.
func (h *Handle) Detach() error {
	if !h.detach("detach") {
		return ErrHandleDetached
	}
	return nil
}

func (h *Handle) detach(reason string) bool {
	h.mu.Lock()
	if h.detached {
		h.mu.Unlock()
		return false
	}
	h.detached = true
	p := h.peer
	h.peer = nil
	h.pending = nil
	att := h.att
	h.mu.Unlock()

	if p != nil {
		p.close()
		h.emit(Event{Type: EventHangup, Reason: reason})
		if hh, ok := att.(HangupHandler); ok {
			hh.HangupMedia(reason)
		}
	}
	h.bg.Wait()
	if d, ok := att.(DetachHandler); ok {
		d.Detached()
	}
	h.mu.Lock()
	h.gone = true
	h.mu.Unlock()
	h.emit(Event{Type: EventDetached, Reason: reason})
	h.s.removeHandle(h.id)
	return true
}

func (h *Handle) isDetached() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.detached
}

func (h *Handle) emit(e Event) {
	e.HandleID = h.id
	e.Plugin = h.plugin.Name()
	h.s.emit(e)
}

func (h *Handle) observe(e Event) {
	e.SessionID = h.s.id
	e.HandleID = h.id
	e.Plugin = h.plugin.Name()
	h.s.r.observe(e)
}

func (h *Handle) mediaState(m MediaState) {
	h.emit(Event{Type: EventMedia, Media: &m})
	if mh, ok := h.attachment().(MediaHandler); ok {
		mh.MediaState(m)
	}
}

func (h *Handle) slowLink(l SlowLink) {
	h.emit(Event{Type: EventSlowLink, SlowLink: &l})
	if sh, ok := h.attachment().(SlowLinkHandler); ok {
		sh.SlowLink(l)
	}
}
