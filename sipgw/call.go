package sipgw

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// callState is where a call stands (Janus janus_sip_call_status, reduced).
type callState int

const (
	callInviting callState = iota // we sent the INVITE, no final answer yet
	callInvited                   // we got one and are ringing the browser
	callInCall
	callEnded
)

func (s callState) String() string {
	switch s {
	case callInviting:
		return "inviting"
	case callInvited:
		return "invited"
	case callInCall:
		return "incall"
	}
	return "closing"
}

// dialog is what sipgo's client and server dialog sessions share: the
// requests inside a dialog (RFC 3261 section 12.2).
type dialog interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	WriteRequest(req *sip.Request) error
	WriteBye(ctx context.Context, bye *sip.Request) error
}

// decision is the browser's answer to an incoming call.
type decision struct {
	accept bool
	code   int
	reason string
	neg    negotiated
	// vneg is the peer's video format the browser took, nil when it
	// took none; vBrowser that format as the browser numbers it.
	vneg     *negotiated
	vBrowser codec
	vDir     direction // the browser's video direction
	headers  []sip.Header
	// transaction is the accept's, for its "accepted" event.
	transaction string
}

// call is one SIP call of an Agent. One goroutine owns it from start to
// end (for an outgoing call one of ours, for an incoming one the handler of
// its INVITE); everything else ends it through endLocal or endRemote and
// lets the owner clean up in finish.
type call struct {
	a           *Agent
	id          string // Call-ID
	localTag    string // our tag: From of an outgoing call, To of an incoming one
	outgoing    bool
	peer        string // the other party's URI
	transaction string // of the request that started the call
	acct        *account
	// tp is the transport of the dialog; conn, for an incoming call over
	// TCP or TLS, the address of the connection its INVITE came on.
	tp   transport
	conn string

	ctx      context.Context
	cancel   context.CancelFunc
	finished chan struct{}

	media    *media
	decision chan decision
	// video is the call's video leg, nil without video; vm below tells
	// whether it is in use.
	video *media

	mu       sync.Mutex
	state    callState
	dlg      dialog
	target   sip.Uri // remote target of in-dialog requests
	local    localSDP
	offered  []codec    // outgoing: the codecs we offered
	offer    mediaDesc  // incoming: the peer's offer
	neg      negotiated // what the SIP side agreed on
	vOffered []codec    // outgoing: the video codecs we offered
	vOffer   *mediaDesc // incoming: the peer's video offer, if any
	// vneg is the video codec in use on the SIP side (the peer's payload
	// type), nil while video does not flow; vBrowser is the same format
	// as the browser numbers it.
	vneg        *negotiated
	vBrowser    codec
	vtrack      *relayTrack
	answered    bool // the browser has its answer
	ended       bool
	endedRemote bool
	code        int
	reason      string
	byeHeaders  []sip.Header
	holdDir     direction // our direction: sendrecv, or the hold one
	browserDir  direction // what the browser's last offer sends and receives
	sentDir     direction // the direction of our last offer
	srtp        srtpMode  // what the client asked for (outgoing calls)
	remoteKey   *sdesKey  // the peer's SDES key in use
	vRemoteKey  *sdesKey  // the same for video
	track       *relayTrack
	autoaccept  bool // answer the peer's re-INVITEs without the browser
	reinviting  bool // the hold loop runs
	updating    bool // an update of the browser is on its way
	// relay, while the browser is asked about the peer's re-INVITE
	// (updatingcall), takes its answer.
	relay     chan struct{}
	inviteOut bool // a re-INVITE of ours waits for its final response
	// inviteIn, while a re-INVITE of the peer is handled (until its ACK),
	// is closed when it is done.
	inviteIn chan struct{}
	ackWait  map[uint32]chan []byte // re-INVITE 2xx waiting for its ACK
	// offerSem is the one slot of our offers (hold loop, update).
	offerSem chan struct{}
	// refer, for a call made with a refer_id, is the transfer whose
	// transferor hears how the call goes.
	refer *transfer
	// moved is the room call that took the call's dialog and RTP over
	// (join_room): the call ends without a BYE, its sockets stay open.
	moved *roomCall
}

// movedTo is the room call the call moved into, nil if it did not.
func (c *call) movedTo() *roomCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.moved
}

func newCall(a *Agent, id string, outgoing bool, peer, transaction string, acct *account, m *media) *call {
	c := &call{
		a: a, id: id, outgoing: outgoing, peer: peer, transaction: transaction, acct: acct, media: m,
		finished:   make(chan struct{}),
		decision:   make(chan decision, 1),
		holdDir:    dirSendRecv,
		browserDir: dirSendRecv,
		sentDir:    dirSendRecv,
		autoaccept: true,
		ackWait:    map[uint32]chan []byte{},
		offerSem:   make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(a.p.ctx)
	c.state = callInvited
	if outgoing {
		c.state = callInviting
	}
	rtpPort, rtcpPort := m.localPorts()
	c.local = localSDP{SessionID: sessionID(), Version: 1, IP: a.p.p.LocalIP, Port: rtpPort, RTCPPort: rtcpPort, Dir: dirSendRecv}
	return c
}

// sessionID is a random o= session id (RFC 8866 section 5.2).
func sessionID() uint64 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return uint64(binary.BigEndian.Uint32(b[:]))
}

func (c *call) stateName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.String()
}

func (c *call) getState() callState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *call) setState(s callState) {
	c.mu.Lock()
	if c.state != callEnded {
		c.state = s
	}
	c.mu.Unlock()
}

// endLocal ends the call from our side (hangup, detach, the browser's
// PeerConnection gone). Code 0 lets the owner pick the code of the state
// the call was in. It reports whether this call ended it.
func (c *call) endLocal(code int, reason string) bool { return c.end(false, code, reason) }

// endRemote ends the call because the peer did (BYE, CANCEL, an error).
func (c *call) endRemote(code int, reason string) bool { return c.end(true, code, reason) }

func (c *call) end(remote bool, code int, reason string) bool {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return false
	}
	c.ended, c.endedRemote, c.code, c.reason = true, remote, code, reason
	c.mu.Unlock()
	c.cancel()
	return true
}

// endInfo returns how the call ended, filling in a default code.
func (c *call) endInfo(code int, reason string) (remote bool, endCode int, endReason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.ended, c.code, c.reason = true, code, reason
	}
	if c.code == 0 {
		c.code, c.reason = code, reason
	}
	return c.endedRemote, c.code, c.reason
}

// reinvitingDone says whether no re-INVITE of ours is out.
func (c *call) reinvitingDone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.reinviting
}

func (c *call) isEnded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

func (c *call) push(result map[string]any, jsep *ianua.JSEP) {
	c.a.push(c.transaction, c.id, result, jsep)
}

// finish is the owner's last step: media down, the PeerConnection closed
// (as Janus does when a SIP call ends), the agent free for another call,
// then the "hangup" event.
func (c *call) finish(defaultCode int, defaultReason string) {
	_, code, reason := c.endInfo(defaultCode, defaultReason)
	c.mu.Lock()
	c.state = callEnded
	c.mu.Unlock()
	c.cancel()
	a := c.a
	a.media.CompareAndSwap(c.media, nil)
	if c.video != nil {
		a.vmedia.CompareAndSwap(c.video, nil)
	}
	moved := c.movedTo()
	if moved == nil {
		c.closeMedia()
	} else if c.video != nil {
		// The room takes the audio only.
		c.video.close()
	}
	a.h.Hangup("SIP call ended")
	a.mu.Lock()
	if a.call == c {
		a.call = nil
	}
	a.mu.Unlock()
	a.p.dropCall(c)
	if c.refer != nil {
		// Ignored when the 2xx was reported already.
		c.refer.report(code, reason, true)
	}
	if moved == nil {
		c.push(map[string]any{"event": "hangup", "code": code, "reason": reason}, nil)
	}
	close(c.finished)
}

// closeMedia closes the call's RTP legs.
func (c *call) closeMedia() {
	c.media.close()
	if c.video != nil {
		c.video.close()
	}
}

// defaultEnd is the code a call ends with when our side ends it in state s.
func defaultEnd(s callState) (int, string) {
	switch s {
	case callInviting:
		return sip.StatusRequestTerminated, "Request Terminated"
	case callInvited:
		return sip.StatusTemporarilyUnavailable, "Temporarily Unavailable"
	}
	return sip.StatusOK, "BYE"
}

// errNoCrypto is the failure of an SRTP call whose peer sent no usable key.
var errNoCrypto = errors.New("sipgw: no usable a=crypto from the peer")

// applyCrypto reads the peer's SDES key from its SDP d, when we use SRTP
// (we sent a=crypto), and rekeys the inbound context if it changed. For an
// optional offer of ours that the peer answered without a key, the call
// falls back to plain RTP.
func (c *call) applyCrypto(d mediaDesc) error { return c.applyKey(d, false) }

// applyVideoCrypto is applyCrypto for the video stream, which has keys of
// its own (RFC 4568 section 4: a=crypto is a media-level attribute).
func (c *call) applyVideoCrypto(d mediaDesc) error { return c.applyKey(d, true) }

// applyKey is applyCrypto for the audio stream, or the video one.
func (c *call) applyKey(d mediaDesc, video bool) error {
	c.mu.Lock()
	local, remote, mode, m := c.local.Crypto, c.remoteKey, c.srtp, c.media
	if video {
		local, remote, m = nil, c.vRemoteKey, c.video
		if c.local.Video != nil {
			local = c.local.Video.Crypto
		}
	}
	c.mu.Unlock()
	if local == nil || m == nil {
		return nil
	}
	k, ok := pickCrypto(d.Crypto)
	switch {
	case !ok && mode == srtpOptional && remote == nil && d.Proto == "RTP/AVP":
		c.mu.Lock()
		if !video {
			c.local.Crypto = nil
		} else if c.local.Video != nil {
			c.local.Video.Crypto = nil
		}
		c.mu.Unlock()
		return nil
	case !ok, k.Suite != local.Suite:
		return errNoCrypto
	}
	if remote != nil && string(remote.Key) == string(k.Key) {
		return nil
	}
	var pair *srtpPair
	var err error
	if old := m.srtp.Load(); old != nil && remote != nil {
		// The peer rekeyed; our key stays, and so do its contexts.
		pair, err = rekeyed(old, k)
	} else {
		pair, err = newSRTPPair(*local, k)
	}
	if err != nil {
		return err
	}
	// An answer of ours carries the tag of the offer's line we took
	// (RFC 4568 section 5.1.2); the key stays ours.
	ours := *local
	ours.Tag = k.Tag
	c.mu.Lock()
	if !video {
		c.remoteKey = &k
		c.local.Crypto = &ours
	} else {
		c.vRemoteKey = &k
		if c.local.Video != nil {
			c.local.Video.Crypto = &ours
		}
	}
	c.mu.Unlock()
	m.srtp.Store(pair)
	return nil
}

// startMedia points the media at the negotiated peer and starts relaying.
func (c *call) startMedia(d mediaDesc, n negotiated, track *relayTrack) {
	c.mu.Lock()
	c.neg = n
	// Our re-offers carry the call's codec only: packets cross
	// untranscoded, so the codec cannot change mid-call.
	c.local.Codecs = n.codecs()
	c.track = track
	dir := c.wantDir()
	c.mu.Unlock()
	c.media.setPeer(d, n, dir)
	c.media.start(track, c.onDTMF, nil)
	c.a.media.Store(c.media)
}

// startVideo points the video leg at the peer's m=video section d, with
// codec n (browser its browser format), and starts relaying.
func (c *call) startVideo(d mediaDesc, n negotiated, browser codec, track *relayTrack) {
	c.mu.Lock()
	c.vneg, c.vBrowser, c.vtrack = &n, browser, track
	if c.local.Video != nil {
		c.local.Video.Codecs = []codec{n.Media}
	}
	dir := c.wantDir()
	c.mu.Unlock()
	c.video.setPeer(d, n, dir)
	c.video.start(track, nil, c.a.onVideoFeedback)
	c.a.vmedia.Store(c.video)
}

// applyVideoAnswer reads the video of the peer's SDP answer to an offer
// of ours: its address, key and direction, or the end of the stream
// (port 0). An unusable key is an error, the stream left as it was.
func (c *call) applyVideoAnswer(body []byte) error {
	c.mu.Lock()
	vneg, dir := c.vneg, c.wantDir()
	c.mu.Unlock()
	if vneg == nil {
		return nil
	}
	vd, err := parseVideo(body)
	if err != nil || vd.Port == 0 {
		c.mu.Lock()
		c.stopVideo()
		c.mu.Unlock()
		return nil
	}
	if err := c.applyVideoCrypto(vd); err != nil {
		return err
	}
	c.video.setPeer(vd, *vneg, dir)
	return nil
}

// stopVideo ends the video stream for good: the peer rejected or removed
// it (port 0), and our later SDPs keep its m= line with port 0 (RFC 3264
// section 8.2). c.mu must be held.
func (c *call) stopVideo() {
	c.vneg = nil
	if c.local.Video != nil {
		c.local.Video.Port = 0
	}
	if c.video != nil {
		c.video.setDirection(dirInactive)
	}
}

// onDTMF reports an RFC 4733 key press from the SIP peer (Janus "dtmf").
func (c *call) onDTMF(signal string, ms int) {
	c.push(map[string]any{"event": "dtmf", "sender": c.peer, "signal": signal, "duration": ms}, nil)
}

// newInDialog starts a request inside the call's dialog, from our socket.
func (c *call) newInDialog(method sip.RequestMethod) (*sip.Request, dialog) {
	c.mu.Lock()
	target, dlg := c.target, c.dlg
	c.mu.Unlock()
	req := sip.NewRequest(method, target)
	c.a.p.inDialog(req, c.tp, c.conn)
	return req, dlg
}

// bye ends an established dialog (RFC 3261 section 15.1.1).
func (c *call) bye() {
	req, dlg := c.newInDialog(sip.BYE)
	if dlg == nil {
		return
	}
	c.mu.Lock()
	headers := c.byeHeaders
	c.mu.Unlock()
	c.a.p.addCommonHeaders(req, c.acct, headers)
	// Not c.ctx, which is done by now. Plugin.Close bounds it by closing
	// the stack.
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := dlg.WriteBye(ctx, req); err != nil {
		c.a.log.Debug("sipgw: BYE", "call", c.id, "err", err)
	}
}
