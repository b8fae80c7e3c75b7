package sipgw

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// onInvite routes an INVITE: a re-INVITE to its call, a new one to the
// handle registered for the Request-URI's user (or the To's).
func (p *Plugin) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if c := p.callOf(req); c != nil {
		c.onReinvite(req, tx)
		return
	}
	if rc := p.rooms.callOf(req); rc != nil {
		rc.onReinvite(req, tx)
		return
	}
	if to := req.To(); to != nil && to.Params.Has("tag") {
		// In a dialog we do not know (RFC 3261 section 12.2.2).
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if t, ok := p.rooms.route(req); ok {
		p.dialIn(req, tx, t)
		return
	}
	a := p.userAgent(req.Recipient.User)
	if a == nil && req.To() != nil {
		a = p.userAgent(req.To().Address.User)
	}
	if a == nil {
		p.respond(req, tx, sip.StatusNotFound, "Not Found")
		return
	}
	a.incoming(req, tx)
}

// incoming owns an incoming call, on the INVITE handler's goroutine: it
// rings the browser with an offer of the caller's codecs, waits for
// accept, decline, CANCEL or the handle going away, and then for the end
// of the call.
func (a *Agent) incoming(req *sip.Request, tx sip.ServerTransaction) {
	if !hasSDP(req) {
		// An offerless INVITE would need the browser to offer: not yet.
		a.p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	offer, err := parseAudio(req.Body())
	codecs := pickOffer(offer)
	remoteKey, hasKey := pickCrypto(offer.Crypto)
	if err != nil || len(codecs) == 0 || (offer.Proto != "RTP/AVP" && offer.Proto != "RTP/SAVP") ||
		(offer.Proto == "RTP/SAVP" && !hasKey) {
		// Nothing we can carry untouched, or SRTP without a key we can
		// use (RFC 3264 section 6: 488 when no media is acceptable).
		a.p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	caller, callee, display := "", "", ""
	if f := req.From(); f != nil {
		caller, display = f.Address.String(), f.DisplayName
	}
	if t := req.To(); t != nil {
		callee = t.Address.String()
	}
	callID := req.CallID().Value()

	a.mu.Lock()
	busy, gone, acct := a.call != nil || a.room != nil, a.detached || a.acct == nil, a.acct
	a.mu.Unlock()
	if gone {
		a.p.respond(req, tx, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
		return
	}
	if busy {
		// One call per handle, as in Janus: the caller hears busy and
		// the browser learns it missed a call.
		a.p.respond(req, tx, sip.StatusBusyHere, "Busy Here")
		ev := map[string]any{"event": "missed_call", "caller": caller, "callee": callee}
		if display != "" {
			ev["displayname"] = display
		}
		a.push("", callID, ev, nil)
		return
	}
	// The caller's video, if it offers a format we carry, is offered to
	// the browser too; else its m=video line is answered with port 0.
	var vOffer *mediaDesc
	var vcodecs []codec
	if vd, err := parseVideo(req.Body()); err == nil {
		vOffer, vcodecs = &vd, pickVideoOffer(vd)
	}
	m, err := newMedia(a.log, &a.p.ports, a.p.p.LocalIP)
	if err != nil {
		a.log.Warn("sipgw: no RTP ports for an incoming call", "err", err)
		a.p.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	var vm *media
	if len(vcodecs) > 0 {
		if vm, err = newMedia(a.log, &a.p.ports, a.p.p.LocalIP); err != nil {
			m.close()
			a.log.Warn("sipgw: no RTP ports for an incoming call", "err", err)
			a.p.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
			return
		}
	}
	c := newCall(a, callID, false, caller, "", acct, m)
	c.offer = offer
	c.video, c.vOffer = vm, vOffer
	c.tp, c.conn = transportOfRequest(req), req.Source()
	dlg, err := a.p.stackOf(c.tp).dua.ReadInvite(req, tx)
	if err != nil {
		c.cancel()
		c.closeMedia()
		a.p.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	// ReadInvite picked our tag; requests in the dialog carry it.
	c.localTag, _ = dlg.InviteRequest.To().Params.Get("tag")
	c.dlg = dlg
	if ct := req.Contact(); ct != nil {
		c.target = ct.Address
	}
	a.mu.Lock()
	if a.call != nil || a.detached {
		a.mu.Unlock()
		c.cancel()
		c.closeMedia()
		_ = dlg.Respond(sip.StatusBusyHere, "Busy Here", nil)
		return
	}
	a.call = c
	a.mu.Unlock()
	a.p.addCall(c)
	code, reason := 0, ""
	defer func() { c.finish(code, reason) }()

	_ = dlg.Respond(sip.StatusRinging, "Ringing", nil, a.p.contact(acct.uri.User, c.tp))

	jsep, leg, err := a.offerBrowser(c.ctx, codecs, vcodecs, vm)
	if err != nil {
		a.log.Info("sipgw: cannot offer an incoming call to the browser", "call", callID, "err", err)
		code, reason = sip.StatusNotAcceptableHere, "Not Acceptable Here"
		_ = dlg.Respond(code, reason, nil)
		c.endRemote(code, reason)
		return
	}
	ev := map[string]any{"event": "incomingcall", "username": caller, "callee": callee, "call_id": callID}
	if display != "" {
		ev["displayname"] = display
	}
	// A call that follows a transfer (RFC 3892, RFC 3891), reported as
	// Janus does.
	if h := req.GetHeader("Referred-By"); h != nil {
		ev["referred_by"] = h.Value()
	}
	if h := req.GetHeader("Replaces"); h != nil {
		id, _, _ := strings.Cut(h.Value(), ";")
		ev["replaces"] = strings.TrimSpace(id)
	}
	// Janus reports SDES when either stream has a key.
	var vKey sdesKey
	vHasKey := false
	if vOffer != nil && len(vcodecs) > 0 {
		vKey, vHasKey = pickCrypto(vOffer.Crypto)
	}
	switch {
	case offer.Proto == "RTP/SAVP" || vHasKey && vOffer.Proto == "RTP/SAVP":
		ev["srtp"] = srtpMandatory.String()
	case hasKey || vHasKey:
		ev["srtp"] = srtpOptional.String()
	}
	c.push(ev, jsep)

	var d decision
	select {
	case d = <-c.decision:
	case <-dlg.Context().Done():
		// CANCEL (the transaction layer answered it and sent 487), or
		// the transaction ended.
		code, reason = sip.StatusRequestTerminated, "Request Terminated"
		c.endRemote(code, reason)
		return
	case <-c.ctx.Done():
		code, reason = defaultEnd(callInvited)
		_ = dlg.Respond(code, reason, nil)
		return
	}
	if !d.accept {
		code, reason = d.code, d.reason
		_ = dlg.Respond(code, reason, nil, d.headers...)
		c.endLocal(code, reason)
		return
	}

	if hasKey {
		// The caller's key means SRTP (Janus answers SDES whenever the
		// offer has it): our own key, same tag and suite (RFC 4568
		// section 5.1.2), on the offer's profile.
		local, err := newKey(remoteKey.Tag, remoteKey.Suite)
		if err == nil {
			c.mu.Lock()
			c.local.Crypto, c.local.Proto, c.srtp = &local, offer.Proto, srtpOptional
			c.mu.Unlock()
			err = c.applyCrypto(offer)
		}
		if err != nil {
			code, reason = sip.StatusNotAcceptableHere, "Not Acceptable Here"
			_ = dlg.Respond(code, reason, nil)
			c.endRemote(code, reason)
			return
		}
	}
	c.mu.Lock()
	c.local.Codecs = d.neg.codecs()
	videoKey := false
	if vOffer != nil {
		// Our answer has an m=video line for the caller's, rejected
		// (port 0) unless the browser took one of its formats.
		c.local.Video = rejectedVideo(*vOffer, offer.Index)
		if d.vneg != nil && vm != nil {
			rtpPort, rtcpPort := vm.localPorts()
			c.local.Video.Port, c.local.Video.RTCPPort = rtpPort, rtcpPort
			c.local.Video.Dir = d.vDir & vOffer.Dir.reverse()
			videoKey = vHasKey
		}
	}
	c.mu.Unlock()
	if videoKey {
		// The video's key is its own (RFC 4568 keys are per stream).
		local, err := newKey(vKey.Tag, vKey.Suite)
		if err == nil {
			c.mu.Lock()
			c.local.Video.Crypto = &local
			if c.srtp == srtpOff {
				c.srtp = srtpOptional
			}
			c.mu.Unlock()
			err = c.applyVideoCrypto(*vOffer)
		}
		if err != nil {
			code, reason = sip.StatusNotAcceptableHere, "Not Acceptable Here"
			_ = dlg.Respond(code, reason, nil)
			c.endRemote(code, reason)
			return
		}
	}
	c.mu.Lock()
	c.answered = true
	body := c.local.marshal()
	c.mu.Unlock()
	c.startMedia(offer, d.neg, leg.audio)
	if d.vneg != nil && vm != nil && leg.video != nil {
		c.startVideo(*vOffer, *d.vneg, d.vBrowser, leg.video)
	}
	c.setState(callInCall)
	// "accepted" once in the call, so that the client may act on it at
	// once (hold, update, transfer).
	a.push(d.transaction, c.id, map[string]any{"event": "accepted", "username": c.peer}, nil)
	res := sip.NewSDPResponseFromRequest(dlg.InviteRequest, body)
	res.AppendHeader(a.p.contact(acct.uri.User, c.tp))
	res.AppendHeader(sip.NewHeader("User-Agent", a.p.p.UserAgent))
	for _, h := range d.headers {
		res.AppendHeader(sip.HeaderClone(h))
	}
	// WriteResponse retransmits the 200 until the ACK (RFC 3261 section
	// 13.3.1.4); without one the call is over.
	if err := dlg.WriteResponse(res); err != nil {
		if c.ctx.Err() == nil {
			a.log.Info("sipgw: no ACK for our 200", "call", callID, "err", err)
			c.bye()
			code, reason = sip.StatusRequestTimeout, "Request Timeout"
			c.endRemote(code, reason)
			return
		}
	}

	<-c.ctx.Done()
	if remote, _, _ := c.endInfo(0, ""); !remote && c.movedTo() == nil {
		c.bye()
	}
	code, reason = defaultEnd(callInCall)
}

// accept handles {"request":"accept"} with the browser's answer to our
// offer: the 200 goes to the caller with the codec the browser chose.
func (a *Agent) accept(msg ianua.Message, req Request) error {
	c := a.currentCall()
	if c == nil || c.outgoing || c.getState() != callInvited || c.isEnded() {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (not invited)")
	}
	if msg.JSEP == nil || msg.JSEP.Type != "answer" {
		return perr(ErrorMissingSDP, ErrMissingSDP, "Missing SDP (an answer to the incomingcall offer)")
	}
	headers, err := customHeaders(req.Headers)
	if err != nil {
		return err
	}
	mode, ok := parseSRTPMode(req.SRTP)
	if !ok {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (srtp can only be sdes_optional or sdes_mandatory)")
	}
	answer, err := parseAudio([]byte(msg.JSEP.SDP))
	if err != nil {
		return perr(ErrorMissingSDP, ErrMissingSDP, "No audio in the answer: %v", err)
	}
	var chosen codec
	for _, co := range answer.Codecs {
		if !co.isDTMF() && supported(co) {
			chosen = co
			break
		}
	}
	c.mu.Lock()
	offer := c.offer
	c.mu.Unlock()
	if _, hasKey := pickCrypto(offer.Crypto); mode == srtpMandatory && !hasKey {
		return perr(ErrorTooStrict, ErrCallState, "Can't accept the call: SDES-SRTP required, but caller didn't offer it")
	}
	c.mu.Lock()
	vOffer := c.vOffer
	c.mu.Unlock()
	if vOffer != nil && c.video != nil && mode == srtpMandatory {
		// Janus requires a key of every stream the caller offers.
		if _, hasKey := pickCrypto(vOffer.Crypto); !hasKey {
			return perr(ErrorTooStrict, ErrCallState, "Can't accept the call: SDES-SRTP required, but caller didn't offer it for video")
		}
	}
	neg, err := answerFor(offer, chosen)
	if err != nil {
		return perr(ErrorMissingSDP, ErrMissingSDP, "The answer has none of the caller's codecs")
	}
	dec := decision{accept: true, neg: neg, headers: headers, transaction: msg.Transaction}
	if vOffer != nil && c.video != nil {
		// The browser's video: the first format it took, unless it
		// rejected the stream (or did not receive, send, anything).
		if vd, err := parseVideo([]byte(msg.JSEP.SDP)); err == nil && vd.Port != 0 && vd.Dir != dirInactive {
			for _, co := range vd.Codecs {
				if !supportedVideo(co) {
					continue
				}
				if peer, err := answerVideoFor(*vOffer, co); err == nil {
					dec.vneg, dec.vBrowser, dec.vDir = &negotiated{Media: peer}, co, vd.Dir
					break
				}
			}
		}
	}
	if req.AutoacceptReinvites != nil {
		c.mu.Lock()
		c.autoaccept = *req.AutoacceptReinvites
		c.mu.Unlock()
	}
	select {
	case c.decision <- dec:
	default:
		return perr(ErrorWrongState, ErrCallState, "Wrong state (already answered)")
	}
	return nil
}

// decline handles {"request":"decline"}: the caller gets code (486 Busy
// Here by default, as the Janus documentation says). A decline when no
// call rings is ignored, as in Janus.
func (a *Agent) decline(transaction string, req Request) error {
	headers, err := customHeaders(req.Headers)
	if err != nil {
		return err
	}
	if req.ReferID != nil {
		return a.declineTransfer(transaction, *req.ReferID, req.Code)
	}
	c := a.currentCall()
	if c == nil || c.outgoing || c.getState() != callInvited || c.isEnded() {
		return nil
	}
	code := sip.StatusBusyHere
	if req.Code != nil && *req.Code >= 400 && *req.Code < 700 {
		code = *req.Code
	}
	select {
	case c.decision <- decision{code: code, reason: reasonPhrase(code), headers: headers}:
	default:
		return perr(ErrorWrongState, ErrCallState, "Wrong state (already answered)")
	}
	a.push(transaction, c.id, map[string]any{"event": "declining", "code": code}, nil)
	return nil
}

// reasonPhrase is the RFC 3261 section 21 phrase of a final failure code.
func reasonPhrase(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	case 604:
		return "Does Not Exist Anywhere"
	case 606:
		return "Not Acceptable"
	}
	return "Declined"
}
