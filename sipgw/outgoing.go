package sipgw

import (
	"context"
	"errors"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// startCall handles {"request":"call"} with the browser's offer: it
// answers "calling" at once and sends the INVITE; the browser gets its
// answer with "accepted" (or "progress", for early media), once the SIP
// side has answered and its codec is known.
func (a *Agent) startCall(ctx context.Context, msg ianua.Message, req Request) error {
	if msg.JSEP == nil || msg.JSEP.Type != "offer" {
		return perr(ErrorMissingSDP, ErrMissingSDP, "Missing SDP")
	}
	d, err := a.prepareDial(ctx, req.URI, req.Headers, req.SRTP, req.SRTPProfile, req.CallID)
	if err != nil {
		return err
	}
	acct, target, tp, headers, callID := d.acct, d.target, d.tp, d.headers, d.callID
	var refer *transfer
	if req.ReferID != nil {
		// A call that follows a REFER: the transferor hears how it
		// goes, and the target who referred it (and whom it replaces).
		if refer = a.p.transferFor(*req.ReferID, acct); refer == nil {
			return perr(ErrorWrongState, ErrCallState, "Wrong state (no transfer %d?)", *req.ReferID)
		}
		headers = append(headers, refer.invite...)
	}
	if strings.Contains(msg.JSEP.SDP, "m=application") {
		return perr(ErrorMissingSDP, ErrMissingSDP, "The SIP plugin does not support DataChannels")
	}
	browser, err := parseAudio([]byte(msg.JSEP.SDP))
	if err != nil {
		return perr(ErrorMissingSDP, ErrMissingSDP, "No audio in the offer: %v", err)
	}
	offered, err := offerCodecs(browser.Codecs)
	if err != nil {
		return perr(ErrorMissingSDP, ErrMissingSDP, "No audio codec the SIP side can carry (Opus, G.722, PCMU, PCMA)")
	}
	// Video goes to the SIP side when the browser offers a format of it
	// we carry, with a key of its own under SRTP.
	var vOffered []codec
	if vd, err := parseVideo([]byte(msg.JSEP.SDP)); err == nil && vd.Port != 0 {
		vOffered = offerVideoCodecs(vd.Codecs)
	}
	m, err := newMedia(a.log, &a.p.ports, a.p.p.LocalIP)
	if err != nil {
		return perr(ErrorIO, ErrNoPorts, "Could not allocate RTP/RTCP ports: %v", err)
	}
	var vm *media
	if len(vOffered) > 0 {
		if vm, err = newMedia(a.log, &a.p.ports, a.p.p.LocalIP); err != nil {
			m.close()
			return perr(ErrorIO, ErrNoPorts, "Could not allocate RTP/RTCP ports: %v", err)
		}
	}
	c := newCall(a, callID, true, req.URI, msg.Transaction, acct, m)
	c.offered = offered
	c.local.Codecs = offered
	if vm != nil {
		c.video, c.vOffered = vm, vOffered
		rtpPort, rtcpPort := vm.localPorts()
		c.local.Video = &localVideo{Port: rtpPort, RTCPPort: rtcpPort, Codecs: vOffered, Dir: dirSendRecv}
	}
	c.target, c.tp = target, tp
	c.refer = refer
	if req.AutoacceptReinvites != nil {
		c.autoaccept = *req.AutoacceptReinvites
	}
	streams := 1
	if c.local.Video != nil {
		streams++
	}
	keys, err := d.keys(streams)
	if err != nil {
		c.cancel()
		c.closeMedia()
		return err
	}
	if keys != nil {
		c.srtp, c.local.Crypto, c.local.Proto = d.mode, &keys[0], d.proto()
		if c.local.Video != nil {
			c.local.Video.Crypto = &keys[1]
		}
	}
	c.localTag = sip.GenerateTagN(16)
	invite := a.p.newInvite(acct, target, tp, callID, c.localTag, c.local.marshal(), headers)

	if err := a.claim(func() { a.call = c }); err != nil {
		c.cancel()
		c.closeMedia()
		return err
	}
	a.p.addCall(c)
	c.push(map[string]any{"event": "calling", "call_id": callID}, nil)
	go func() {
		defer a.p.wg.Done()
		c.runOutgoing(invite)
	}()
	return nil
}

// claim takes the handle's one call for a call about to go out: set
// records it, under a.mu. It fails if the handle has a call (or a room
// call) or is detached, or the plugin is closed; on success the plugin
// counts the call's goroutine, which must end with a.p.wg.Done.
func (a *Agent) claim(set func()) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.call != nil || a.room != nil || a.detached {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (already in a call?)")
	}
	if !a.p.track() {
		return perr(ErrorSIPStack, ErrClosed, "Plugin closed")
	}
	set()
	return nil
}

// idleAccount returns the account to call from, once the handle is
// registered (or a guest) and not in a call. A call that is ending is
// waited for, so that a client that calls again right after "hangup" is
// not refused.
func (a *Agent) idleAccount(ctx context.Context) (*account, error) {
	for {
		a.mu.Lock()
		if a.state != regRegistered && a.state != regGuest {
			a.mu.Unlock()
			return nil, perr(ErrorWrongState, ErrCallState, "Wrong state (register first)")
		}
		c, rc, acct := a.call, a.room, a.acct
		a.mu.Unlock()
		if rc != nil {
			if !rc.isEnded() {
				return nil, perr(ErrorWrongState, ErrCallState, "Wrong state (already in a call? status=%s)", rc.state())
			}
			select {
			case <-rc.finished:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		if c == nil {
			return acct, nil
		}
		if !c.isEnded() {
			return nil, perr(ErrorWrongState, ErrCallState, "Wrong state (already in a call? status=%s)", c.stateName())
		}
		select {
		case <-c.finished:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// isCallID says whether s can be a Call-ID (RFC 3261 section 25.1: word
// ["@" word]), which keeps CR, LF and spaces out.
func isCallID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>,;", c) >= 0 {
			return false
		}
	}
	return true
}

// newInvite builds the initial INVITE (RFC 3261 section 13.2.1).
func (p *Plugin) newInvite(acct *account, target sip.Uri, tp transport, callID, tag string, sdp []byte, headers []sip.Header) *sip.Request {
	req := sip.NewRequest(sip.INVITE, target)
	req.AppendHeader(acct.from(tag))
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: target.Scheme, User: target.User, Host: target.Host, Port: target.Port}})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(p.contact(acct.uri.User, tp))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	p.addCommonHeaders(req, acct, headers)
	p.route(req, acct, tp)
	req.SetBody(sdp)
	return req
}

// runOutgoing owns an outgoing call: INVITE, answer or failure, the call,
// and its end.
func (c *call) runOutgoing(invite *sip.Request) {
	a := c.a
	code, reason := 0, ""
	defer func() { c.finish(code, reason) }()

	dlg, err := a.p.stackOf(c.tp).dua.WriteInvite(c.ctx, invite)
	if err != nil {
		code, reason = failure(nil, err)
		c.endRemote(code, reason)
		return
	}
	c.mu.Lock()
	c.dlg = dlg
	c.mu.Unlock()
	proceeding := false
	err = dlg.WaitAnswer(c.ctx, sipgo.AnswerOptions{
		Username: c.acct.authUser,
		Password: c.acct.secret,
		OnResponse: func(res *sip.Response) error {
			if res.StatusCode > 100 && res.StatusCode < 200 {
				c.provisional(res, &proceeding)
				if c.refer != nil {
					c.refer.report(res.StatusCode, res.Reason, false)
				}
			}
			return nil
		},
	})
	if err != nil {
		if c.ctx.Err() != nil {
			// We hung up while it rang; the CANCEL went out. If the
			// 200 crossed it, the call exists all the same: ACK and
			// BYE it (RFC 3261 section 9.1).
			if r := dlg.InviteResponse; r != nil && r.IsSuccess() {
				_ = dlg.Ack(context.Background())
				c.setTarget(r)
				c.bye()
			}
			code, reason = defaultEnd(callInviting)
			return
		}
		var rejected *sipgo.ErrDialogResponse
		if errors.As(err, &rejected) {
			code, reason = rejected.Res.StatusCode, rejected.Res.Reason
		} else {
			code, reason = failure(nil, err)
		}
		c.endRemote(code, reason)
		return
	}
	if err := dlg.Ack(c.ctx); err != nil {
		a.log.Debug("sipgw: ACK", "call", c.id, "err", err)
	}
	c.setTarget(dlg.InviteResponse)
	// In the call before "accepted" goes out, so that the client may act
	// on it at once (hold, update, transfer).
	c.setState(callInCall)
	if err := c.answered200(dlg.InviteResponse); err != nil {
		a.log.Info("sipgw: unusable answer", "call", c.id, "err", err)
		c.bye()
		code, reason = sip.StatusNotAcceptableHere, "Not Acceptable Here"
		c.endRemote(code, reason)
		return
	}
	if c.refer != nil {
		c.refer.report(dlg.InviteResponse.StatusCode, dlg.InviteResponse.Reason, true)
	}

	<-c.ctx.Done()
	if remote, _, _ := c.endInfo(0, ""); !remote && c.movedTo() == nil {
		c.bye()
	}
	code, reason = defaultEnd(callInCall)
}

// setTarget takes the remote target of in-dialog requests from the
// answer's Contact (RFC 3261 section 12.1.2).
func (c *call) setTarget(res *sip.Response) {
	if ct := res.Contact(); ct != nil {
		c.mu.Lock()
		c.target = ct.Address
		c.mu.Unlock()
	}
}

// provisional reports a 1xx as Janus does: "proceeding" once, then
// "ringing" for a 180 or 183 without SDP, or "progress" with the
// browser's answer for one with SDP (early media, RFC 3960).
func (c *call) provisional(res *sip.Response, proceeding *bool) {
	if !*proceeding {
		*proceeding = true
		c.push(map[string]any{"event": "proceeding", "code": res.StatusCode}, nil)
	}
	if res.StatusCode != sip.StatusRinging && res.StatusCode != sip.StatusSessionInProgress {
		return
	}
	if hasSDP(res) {
		c.mu.Lock()
		answered := c.answered
		c.mu.Unlock()
		if !answered {
			jsep, err := c.negotiate(res.Body())
			if err == nil {
				c.push(map[string]any{"event": "progress", "username": c.peer}, jsep)
				return
			}
			c.a.log.Debug("sipgw: early media not usable", "call", c.id, "err", err)
		}
	}
	c.push(map[string]any{"event": "ringing"}, nil)
}

// answered200 handles the 200's SDP: the browser gets its answer now, or
// got it with early media and the peer's address may have changed.
func (c *call) answered200(res *sip.Response) error {
	c.mu.Lock()
	answered, neg, dir := c.answered, c.neg, c.wantDir()
	c.mu.Unlock()
	if answered {
		if hasSDP(res) {
			if d, err := parseAudio(res.Body()); err == nil {
				if err := c.applyCrypto(d); err != nil {
					return err
				}
				c.media.setPeer(d, neg, dir)
				if err := c.applyVideoAnswer(res.Body()); err != nil {
					return err
				}
			}
		}
		c.push(map[string]any{"event": "accepted", "username": c.peer}, nil)
		return nil
	}
	if !hasSDP(res) {
		return errors.New("no SDP in the 200")
	}
	jsep, err := c.negotiate(res.Body())
	if err != nil {
		return err
	}
	c.push(map[string]any{"event": "accepted", "username": c.peer}, jsep)
	return nil
}

// negotiate reads the peer's SDP answer, answers the browser with the
// same codec and starts the media.
func (c *call) negotiate(body []byte) (*ianua.JSEP, error) {
	d, err := parseAudio(body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	offered := c.offered
	c.mu.Unlock()
	n, err := pickAnswer(offered, d)
	if err != nil {
		return nil, err
	}
	if err := c.applyCrypto(d); err != nil {
		return nil, err
	}
	// The peer's video, if it took some: a format we offered, else the
	// stream is rejected on both legs and the call goes on with audio.
	var vd mediaDesc
	var vneg *negotiated
	var vBrowser *codec
	if c.video != nil {
		var verr error
		vd, verr = parseVideo(body)
		var peer, browser codec
		if verr == nil {
			peer, browser, verr = pickVideoAnswer(c.vOffered, vd)
		}
		if verr == nil {
			// Video taken without a usable key under SRTP fails the
			// call, as audio's would (Janus checks both streams).
			if err := c.applyVideoCrypto(vd); err != nil {
				return nil, err
			}
		}
		if verr == nil {
			vneg, vBrowser = &negotiated{Media: peer}, &browser
		} else {
			c.a.log.Debug("sipgw: no video from the SIP peer", "call", c.id, "err", verr)
			c.mu.Lock()
			c.stopVideo()
			c.mu.Unlock()
		}
	}
	jsep, leg, err := c.a.answerBrowser(c.ctx, n, vBrowser, c.video)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	c.startMedia(d, n, leg.audio)
	if vneg != nil && leg.video != nil {
		c.startVideo(vd, *vneg, *vBrowser, leg.video)
	}
	return jsep, nil
}

// hasSDP says whether a message carries a session description.
func hasSDP(m interface {
	Body() []byte
	ContentType() *sip.ContentTypeHeader
}) bool {
	ct := m.ContentType()
	return len(m.Body()) > 0 && ct != nil && strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp")
}

// callOptions checks a call's srtp, srtp_profile and call_id fields (of a
// call to the browser or into a room): the SRTP mode, the crypto suite to
// offer (default AES_CM_128_HMAC_SHA1_80), and the Call-ID, made up when
// none is given.
func callOptions(srtpField, profile, callID string) (srtpMode, string, string, error) {
	mode, ok := parseSRTPMode(srtpField)
	if !ok {
		return 0, "", "", perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (srtp can only be sdes_optional or sdes_mandatory)")
	}
	suite := suite80
	if profile != "" {
		if _, ok := suiteProfile(profile); !ok {
			return 0, "", "", perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (unsupported SRTP profile)")
		}
		suite = profile
	}
	if callID == "" {
		callID = sip.GenerateTagN(24)
	} else if !isCallID(callID) {
		return 0, "", "", perr(ErrorInvalidElement, ErrHeaderInjection, "Invalid element (call_id)")
	}
	return mode, suite, callID, nil
}
