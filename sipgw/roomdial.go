package sipgw

import (
	"context"
	"errors"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/sfu"
)

// RoomDial is a call a handle places into a room of the router's
// video-room plugin (sfu): the callee joins the room as a remote
// publisher and hears its active speaker, as a dial-in caller does. It is
// the Go form of {"request":"call","uri":...,"room":...} (no JSEP).
type RoomDial struct {
	// URI is the callee (sip: or sips:).
	URI string
	// Room is the room's id; PIN its PIN, if it has one.
	Room uint64
	PIN  string
	// Display is the callee's name in the room; its user part when
	// empty.
	Display string
	// Headers, CallID, SRTP and SRTPProfile are as in a call.
	Headers     map[string]string
	CallID      string
	SRTP        string
	SRTPProfile string
}

// CallRoom places the call d from the handle's account, as the call
// request with "room" does; its events ("calling", "proceeding",
// "ringing", "accepted", "hangup") come as the handle's events with
// transaction. Bad input is refused at once with a *ianua.PluginError
// carrying a Janus SIP code. ctx bounds the wait for a call of the handle
// that is ending.
func (a *Agent) CallRoom(ctx context.Context, transaction string, d RoomDial) error {
	out, err := a.prepareDial(ctx, d.URI, d.Headers, d.SRTP, d.SRTPProfile, d.CallID)
	if err != nil {
		return err
	}
	if err := safeText("display", d.Display); err != nil {
		return err
	}
	acct, target, tp, callID := out.acct, out.target, out.tp, out.callID
	router := a.h.Router()
	room, params, err := a.roomFor(d.Room, d.PIN)
	if err != nil {
		return err
	}
	offered, err := roomOffer(params.AudioCodec)
	if err != nil {
		return perr(ErrorMissingSDP, ErrMissingSDP, "No audio codec of room %d the SIP side can carry (%s)", d.Room, params.AudioCodec)
	}
	m, err := newMedia(a.log, &a.p.ports, a.p.p.LocalIP)
	if err != nil {
		return perr(ErrorIO, ErrNoPorts, "Could not allocate RTP/RTCP ports: %v", err)
	}
	rc := &roomCall{p: a.p, id: callID, localTag: sip.GenerateTagN(16), caller: target.String(), display: d.Display,
		room: room, media: m, target: target, tp: tp, interval: a.p.rooms.switchInterval(), wake: make(chan struct{}, 1),
		a: a, acct: acct, transaction: transaction, finished: make(chan struct{})}
	if rc.display == "" {
		rc.display = target.User
	}
	rc.w.m = m
	rc.ctx, rc.cancel = context.WithCancel(a.p.ctx)
	rtpPort, rtcpPort := m.localPorts()
	rc.local = localSDP{SessionID: sessionID(), Version: 1, IP: a.p.p.LocalIP, Port: rtpPort, RTCPPort: rtcpPort, Codecs: offered, Dir: dirSendRecv}
	keys, err := out.keys(1)
	if err != nil {
		rc.cancel()
		m.close()
		return err
	}
	if keys != nil {
		rc.local.Crypto, rc.local.Proto = &keys[0], out.proto()
	}
	invite := a.p.newInvite(acct, target, tp, callID, rc.localTag, rc.local.marshal(), out.headers)

	if err := a.claim(func() { a.room = rc }); err != nil {
		rc.cancel()
		m.close()
		return err
	}
	rc.push(map[string]any{"event": "calling", "call_id": callID, "room": d.Room})
	go func() {
		defer a.p.wg.Done()
		rc.dial(invite, offered, out.mode, router)
	}()
	return nil
}

// roomFor finds a room of the handle's router that a SIP call may join:
// it exists, the pin is its PIN, and it has room for a publisher.
func (a *Agent) roomFor(id uint64, pin string) (*sfu.Room, sfu.RoomParams, error) {
	pl, _ := a.h.Router().Plugin(sfu.Name)
	rooms, _ := pl.(*sfu.Plugin)
	if rooms == nil {
		return nil, sfu.RoomParams{}, perr(ErrorInvalidRequest, ErrNotSupported, "No video room plugin (%s) on this router", sfu.Name)
	}
	room, err := rooms.Room(id)
	if err != nil {
		return nil, sfu.RoomParams{}, perr(ErrorInvalidElement, sfu.ErrNoSuchRoom, "No such room (%d)", id)
	}
	params := room.Params()
	if params.PIN != "" && params.PIN != pin {
		return nil, params, perr(ErrorInvalidElement, sfu.ErrUnauthorized, "Unauthorized (wrong pin)")
	}
	if publishers(room) >= params.Publishers {
		return nil, params, perr(ErrorWrongState, sfu.ErrPublishersFull, "Maximum number of publishers reached (room %d)", id)
	}
	return room, params, nil
}

// callRoom handles {"request":"call"} with "room".
func (a *Agent) callRoom(ctx context.Context, msg ianua.Message, req Request) error {
	if msg.JSEP != nil {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (a call into a room takes no JSEP: the room is its media)")
	}
	if req.ReferID != nil {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (refer_id with room)")
	}
	return a.CallRoom(ctx, msg.Transaction, RoomDial{URI: req.URI, Room: *req.Room, PIN: req.PIN, Display: req.Display,
		Headers: req.Headers, CallID: req.CallID, SRTP: req.SRTP, SRTPProfile: req.SRTPProfile})
}

// roomOffer is the offer of a call into a room: the room's audio codecs
// that cross untranscoded, in the room's order, with telephone-event.
func roomOffer(roomCodecs string) ([]codec, error) {
	var cs []codec
	for _, name := range strings.Split(roomCodecs, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "opus":
			cs = append(cs, codec{Name: "opus", PT: 111, Clock: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"})
		case "pcmu":
			cs = append(cs, codec{Name: "pcmu", PT: 0, Clock: 8000, Channels: 1})
		case "pcma":
			cs = append(cs, codec{Name: "pcma", PT: 8, Clock: 8000, Channels: 1})
		case "g722":
			cs = append(cs, codec{Name: "g722", PT: 9, Clock: 8000, Channels: 1})
		}
	}
	return offerCodecs(cs)
}

// push sends an event of a call the handle placed.
func (rc *roomCall) push(result map[string]any) {
	rc.a.push(rc.transaction, rc.id, result, nil)
}

// dial owns a call placed into a room: the INVITE, the answer, the room,
// and the end ("hangup").
func (rc *roomCall) dial(invite *sip.Request, offered []codec, mode srtpMode, router *ianua.MediaRouter) {
	code, reason := 0, ""
	defer func() { rc.hungUp(code, reason) }()
	dlg, err := rc.p.stackOf(rc.tp).dua.WriteInvite(rc.ctx, invite)
	if err != nil {
		code, reason = failure(nil, err)
		return
	}
	rc.dlg = dlg
	proceeding := false
	err = dlg.WaitAnswer(rc.ctx, sipgo.AnswerOptions{
		Username: rc.acct.authUser,
		Password: rc.acct.secret,
		OnResponse: func(res *sip.Response) error {
			if res.StatusCode <= 100 || res.StatusCode >= 200 {
				return nil
			}
			if !proceeding {
				proceeding = true
				rc.push(map[string]any{"event": "proceeding", "code": res.StatusCode})
			}
			if res.StatusCode == sip.StatusRinging || res.StatusCode == sip.StatusSessionInProgress {
				// Early media is not relayed: the room hears the
				// callee once it answers.
				rc.push(map[string]any{"event": "ringing"})
			}
			return nil
		},
	})
	if err != nil {
		if rc.ctx.Err() != nil {
			// Hung up while it rang; the CANCEL went out. A 200 that
			// crossed it is ACKed and BYEd (RFC 3261 section 9.1).
			if r := dlg.InviteResponse; r != nil && r.IsSuccess() {
				_ = dlg.Ack(context.Background())
				rc.setTarget(r)
				rc.bye()
			}
			code, reason = sip.StatusRequestTerminated, "Request Terminated"
			return
		}
		var rejected *sipgo.ErrDialogResponse
		if errors.As(err, &rejected) {
			code, reason = rejected.Res.StatusCode, rejected.Res.Reason
		} else {
			code, reason = failure(nil, err)
		}
		return
	}
	if err := dlg.Ack(rc.ctx); err != nil {
		rc.p.log.Debug("sipgw: ACK", "call", rc.id, "err", err)
	}
	rc.setTarget(dlg.InviteResponse)
	answer, c, r := rc.answered(dlg.InviteResponse, offered, mode, router)
	if c != 0 {
		rc.a.log.Info("sipgw: room call refused after the answer", "call", rc.id, "room", rc.room.ID(), "code", c, "reason", r)
		rc.bye()
		code, reason = c, r
		return
	}
	rc.p.rooms.add(rc)
	rc.start(answer)
	rc.mu.Lock()
	rc.inCall = true
	rc.mu.Unlock()
	rc.a.log.Info("sipgw: callee joined the room", "call", rc.id, "room", rc.room.ID(), "id", rc.pid, "codec", rc.neg.Media.Name)
	rc.push(map[string]any{"event": "accepted", "username": rc.caller, "room": rc.room.ID(), "id": rc.pid, "codec": rc.neg.Media.Name})
	rc.stay()
	code, reason = sip.StatusOK, "BYE"
}

// answered reads the callee's 200: a codec of the offer (488 without
// one), its key when SRTP is on, and joins the room (404 when the room
// is gone meanwhile, 486 when full). A code of 0 means in the room.
func (rc *roomCall) answered(res *sip.Response, offered []codec, mode srtpMode, router *ianua.MediaRouter) (mediaDesc, int, string) {
	const notAcceptable = "Not Acceptable Here"
	if !hasSDP(res) {
		return mediaDesc{}, sip.StatusNotAcceptableHere, notAcceptable
	}
	d, err := parseAudio(res.Body())
	if err != nil {
		return d, sip.StatusNotAcceptableHere, notAcceptable
	}
	n, err := pickAnswer(offered, d)
	if err != nil {
		return d, sip.StatusNotAcceptableHere, notAcceptable
	}
	rc.mu.Lock()
	local := rc.local.Crypto
	rc.mu.Unlock()
	if local != nil {
		k, ok := pickCrypto(d.Crypto)
		switch {
		case !ok && mode == srtpOptional && d.Proto == "RTP/AVP":
			// sdes_optional: the callee has no SRTP.
			rc.mu.Lock()
			rc.local.Crypto = nil
			rc.mu.Unlock()
		case !ok || k.Suite != local.Suite:
			return d, sip.StatusNotAcceptableHere, notAcceptable
		default:
			if err := rc.keys(k, local); err != nil {
				return d, sip.StatusNotAcceptableHere, notAcceptable
			}
		}
	}
	rc.neg = n
	rc.mu.Lock()
	rc.local.Codecs = n.codecs()
	rc.mu.Unlock()
	params := rc.room.Params()
	if publishers(rc.room) >= params.Publishers {
		return d, sip.StatusBusyHere, "Busy Here (room full)"
	}
	if err := rc.join(router, params); err != nil {
		if errors.Is(err, sfu.ErrNoSuchRoom) {
			return d, sip.StatusNotFound, "Not Found (no such room)"
		}
		return d, sip.StatusServiceUnavailable, "Service Unavailable"
	}
	return d, 0, ""
}

// setTarget takes the remote target from the answer's Contact (RFC 3261
// section 12.1.2).
func (rc *roomCall) setTarget(res *sip.Response) {
	if ct := res.Contact(); ct != nil {
		rc.target = ct.Address
	}
}

// hungUp is the last step of a call the handle placed: out of the room,
// the handle free for another call, then "hangup".
func (rc *roomCall) hungUp(code int, reason string) {
	rc.finish()
	a := rc.a
	a.mu.Lock()
	if a.room == rc {
		a.room = nil
	}
	a.mu.Unlock()
	rc.push(map[string]any{"event": "hangup", "code": code, "reason": reason, "room": rc.room.ID()})
	close(rc.finished)
}

// hangup ends a call the handle placed (CANCEL while it rings, BYE in the
// room); it reports whether this ended it.
func (rc *roomCall) hangup(headers []sip.Header) bool {
	rc.mu.Lock()
	rc.byeHeaders = headers
	rc.mu.Unlock()
	return rc.end(false)
}

// state is the call's state as Status names it.
func (rc *roomCall) state() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch {
	case rc.ended:
		return callEnded.String()
	case rc.inCall:
		return callInCall.String()
	}
	return callInviting.String()
}

func (rc *roomCall) isEnded() bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.ended
}
