package sipgw

import (
	"context"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// Requests inside a call's dialog, both ways: BYE, ACK, INFO, re-INVITE
// (hold), and the client requests that make them.

func (p *Plugin) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := p.callOf(req)
	if c == nil {
		return
	}
	if cseq := req.CSeq(); cseq != nil && c.ackReinvite(cseq.SeqNo, req.Body()) {
		return
	}
	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	if uas, ok := dlg.(*sipgo.DialogServerSession); ok {
		if err := uas.ReadAck(req, tx); err != nil {
			p.log.Debug("sipgw: ACK", "call", c.id, "err", err)
		}
	}
}

func (p *Plugin) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := p.callOf(req)
	if c == nil {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	var err error
	switch d := dlg.(type) {
	case *sipgo.DialogClientSession:
		err = d.ReadBye(req, tx)
	case *sipgo.DialogServerSession:
		err = d.ReadBye(req, tx)
	default:
		p.respond(req, tx, sip.StatusOK, "OK")
	}
	if err != nil {
		p.log.Debug("sipgw: BYE", "call", c.id, "err", err)
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.endRemote(sip.StatusOK, "BYE")
}

// onInfo reports an INFO as Janus does ("info"), and a DTMF one
// (application/dtmf-relay) also as "dtmf", like an RFC 4733 key press.
func (p *Plugin) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := p.callOf(req)
	if c == nil {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	p.respond(req, tx, sip.StatusOK, "OK")
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.TrimSpace(h.Value())
	}
	sender := c.peer
	if f := req.From(); f != nil {
		sender = f.Address.String()
	}
	if ct == "" || len(req.Body()) == 0 {
		return
	}
	c.push(map[string]any{"event": "info", "sender": sender, "type": ct, "content": string(req.Body())}, nil)
	if strings.EqualFold(strings.Split(ct, ";")[0], "application/dtmf-relay") {
		if sig, ms, ok := parseDTMFRelay(req.Body()); ok {
			c.push(map[string]any{"event": "dtmf", "sender": sender, "signal": sig, "duration": ms}, nil)
		}
	}
}

// onReinvite answers a re-INVITE of the peer (RFC 3261 section 14.2)
// itself, as Janus does by default (autoaccept_reinvites): same codec, the
// peer's new address, and the direction that mirrors the offer's, so that
// a sendonly offer (hold) gets recvonly.
func (c *call) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	p := c.a.p
	c.mu.Lock()
	state, busy, neg, dlg := c.state, c.reinviting, c.neg, c.dlg
	c.mu.Unlock()
	if state != callInCall || busy {
		// RFC 3261 section 14.2: 491 for a re-INVITE crossing ours.
		p.respond(req, tx, sip.StatusRequestPending, "Request Pending")
		return
	}
	if uas, ok := dlg.(*sipgo.DialogServerSession); ok {
		if err := uas.ReadRequest(req, tx); err != nil {
			p.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
			return
		}
	}
	var body []byte
	if hasSDP(req) {
		offer, err := parseAudio(req.Body())
		if err != nil {
			p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
		n, err := answerFor(offer, neg.Media)
		if err == nil {
			err = c.applyCrypto(offer)
		}
		if err != nil {
			p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
		c.mu.Lock()
		c.neg = n
		c.local.Codecs = n.codecs()
		c.local.Dir = c.holdDir & offer.Dir.reverse()
		c.local.Version++
		body = c.local.marshal()
		dir := c.holdDir
		c.mu.Unlock()
		c.media.setPeer(offer, n, dir)
	} else {
		// Offerless: our current SDP is the offer, the ACK the answer.
		c.mu.Lock()
		c.local.Version++
		body = c.local.marshal()
		c.mu.Unlock()
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(p.contact(c.acct.uri.User))
	ack := c.expectAck(req.CSeq().SeqNo)
	if err := tx.Respond(res); err != nil {
		c.dropAck(req.CSeq().SeqNo)
		return
	}
	// Retransmit the 2xx until its ACK (RFC 3261 section 13.3.1.4).
	wait := sip.T1
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	for {
		t := time.NewTimer(wait)
		select {
		case body := <-ack:
			t.Stop()
			if len(body) > 0 {
				if d, err := parseAudio(body); err == nil && c.applyCrypto(d) == nil {
					c.mu.Lock()
					n, dir := c.neg, c.holdDir
					c.mu.Unlock()
					c.media.setPeer(d, n, dir)
				}
			}
			return
		case <-t.C:
			_ = tx.Respond(res)
			wait = min(2*wait, sip.T2)
		case <-deadline.C:
			c.dropAck(req.CSeq().SeqNo)
			return
		case <-c.ctx.Done():
			t.Stop()
			c.dropAck(req.CSeq().SeqNo)
			return
		}
	}
}

func (c *call) expectAck(cseq uint32) chan []byte {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.ackWait[cseq] = ch
	c.mu.Unlock()
	return ch
}

func (c *call) dropAck(cseq uint32) {
	c.mu.Lock()
	delete(c.ackWait, cseq)
	c.mu.Unlock()
}

// ackReinvite hands the ACK of a re-INVITE's 2xx to its waiter.
func (c *call) ackReinvite(cseq uint32, body []byte) bool {
	c.mu.Lock()
	ch, ok := c.ackWait[cseq]
	delete(c.ackWait, cseq)
	c.mu.Unlock()
	if ok {
		ch <- body
	}
	return ok
}

// hangup handles {"request":"hangup"}: CANCEL while calling, BYE in a call.
// Janus ignores it in other states (an incoming call is declined), and so
// do we.
func (a *Agent) hangup(transaction string, req Request) error {
	headers, err := customHeaders(req.Headers)
	if err != nil {
		return err
	}
	c := a.currentCall()
	if c == nil {
		return nil
	}
	if s := c.getState(); s != callInviting && s != callInCall {
		return nil
	}
	c.mu.Lock()
	c.byeHeaders = headers
	c.mu.Unlock()
	if c.endLocal(0, "") {
		a.push(transaction, c.id, map[string]any{"event": "hangingup"}, nil)
	}
	return nil
}

// inCall returns the established call, or a wrong-state error.
func (a *Agent) inCall() (*call, error) {
	c := a.currentCall()
	if c == nil || c.getState() != callInCall || c.isEnded() {
		return nil, perr(ErrorWrongState, ErrCallState, "Wrong state (not in a call?)")
	}
	return c, nil
}

// hold handles {"request":"hold"} and {"request":"unhold"}: a re-INVITE
// with the hold direction (sendonly unless "direction" says recvonly or
// inactive), or back to sendrecv. Only the SIP side is renegotiated, as in
// Janus; the result is "holding" or "resuming" at once.
func (a *Agent) hold(transaction string, req Request, hold bool) error {
	dir := dirSendRecv
	if hold {
		dir = dirSend
		if req.Direction != "" {
			d, ok := parseDirection(req.Direction)
			if !ok || d == dirSendRecv {
				return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid direction (can only be sendonly, recvonly or inactive)")
			}
			dir = d
		}
	}
	headers, err := customHeaders(req.Headers)
	if err != nil {
		return err
	}
	c := a.currentCall()
	if c == nil || c.getState() != callInCall {
		return nil // as in Janus
	}
	// A hold or unhold while a re-INVITE is out waits for it: the loop
	// sends what is wanted last (RFC 3261 section 14.1: one re-INVITE at a
	// time in a dialog).
	c.mu.Lock()
	c.holdDir = dir
	start := !c.reinviting && c.sentDir != dir
	if start {
		c.reinviting = true
	}
	c.mu.Unlock()
	event := "resuming"
	if hold {
		event = "holding"
	}
	a.push(transaction, c.id, map[string]any{"event": event}, nil)
	if start && !a.p.goOwned(func() { c.reinviteLoop(headers) }) {
		c.mu.Lock()
		c.reinviting = false
		c.mu.Unlock()
	}
	return nil
}

// reinviteLoop offers the wanted direction in re-INVITEs until the last
// one offered is the wanted one.
func (c *call) reinviteLoop(headers []sip.Header) {
	for c.ctx.Err() == nil {
		c.mu.Lock()
		want := c.holdDir
		if want == c.sentDir {
			c.reinviting = false
			c.mu.Unlock()
			return
		}
		c.sentDir = want
		c.local.Dir = want
		c.local.Version++
		body := c.local.marshal()
		c.mu.Unlock()
		c.reinvite(body, headers)
	}
	c.mu.Lock()
	c.reinviting = false
	c.mu.Unlock()
}

// reinvite sends our new SDP in a re-INVITE and applies the answer.
func (c *call) reinvite(body []byte, headers []sip.Header) {
	req, dlg := c.newInDialog(sip.INVITE)
	if dlg == nil {
		return
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	c.a.p.addCommonHeaders(req, c.acct, headers)
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(c.ctx, 64*sip.T1)
	defer cancel()
	res, err := dlg.Do(ctx, req)
	if err != nil {
		c.a.log.Info("sipgw: re-INVITE", "call", c.id, "err", err)
		return
	}
	if !res.IsSuccess() {
		c.a.log.Info("sipgw: re-INVITE refused", "call", c.id, "code", res.StatusCode)
		return
	}
	// The ACK of a 2xx is ours to send, with the re-INVITE's CSeq (RFC
	// 3261 section 13.2.2.4).
	ack, _ := c.newInDialog(sip.ACK)
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
	if err := dlg.WriteRequest(ack); err != nil {
		c.a.log.Debug("sipgw: ACK of re-INVITE", "call", c.id, "err", err)
	}
	if hasSDP(res) {
		if d, err := parseAudio(res.Body()); err == nil && c.applyCrypto(d) == nil {
			c.mu.Lock()
			n, dir := c.neg, c.holdDir
			c.mu.Unlock()
			c.media.setPeer(d, n, dir)
		}
	}
}

// dtmfInfo handles {"request":"dtmf_info"}: the key goes in an INFO
// (application/dtmf-relay); the result is "dtmfsent" at once.
func (a *Agent) dtmfInfo(transaction string, req Request) error {
	if req.Digit == "" {
		return perr(ErrorMissingElement, ErrMissingElement, "Missing element (digit)")
	}
	if !validDigit(req.Digit) {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (digit should be one character)")
	}
	ms := 0
	if req.Duration != nil {
		if *req.Duration < 0 {
			return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (duration should be positive)")
		}
		ms = *req.Duration
	}
	return a.sendInfo(transaction, "dtmfsent", "application/dtmf-relay", dtmfRelayBody(req.Digit, ms), req.Headers)
}

// info handles {"request":"info"}: an INFO with the given content type and
// content; the result is "infosent" at once.
func (a *Agent) info(transaction string, req Request) error {
	if req.Type == "" || req.Content == "" {
		return perr(ErrorMissingElement, ErrMissingElement, "Missing element (type and content)")
	}
	if err := safeText("type", req.Type); err != nil {
		return err
	}
	return a.sendInfo(transaction, "infosent", req.Type, []byte(req.Content), req.Headers)
}

func (a *Agent) sendInfo(transaction, event, contentType string, body []byte, custom map[string]string) error {
	headers, err := customHeaders(custom)
	if err != nil {
		return err
	}
	c, err := a.inCall()
	if err != nil {
		return err
	}
	req, dlg := c.newInDialog(sip.INFO)
	if dlg == nil {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (no dialog)")
	}
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	a.p.addCommonHeaders(req, c.acct, headers)
	req.SetBody(body)
	ok := a.p.goOwned(func() {
		ctx, cancel := context.WithTimeout(c.ctx, 64*sip.T1)
		defer cancel()
		if res, err := dlg.Do(ctx, req); err != nil || !res.IsSuccess() {
			a.log.Info("sipgw: INFO not accepted", "call", c.id, "err", err)
		}
	})
	if !ok {
		return perr(ErrorSIPStack, ErrClosed, "Plugin closed")
	}
	a.push(transaction, c.id, map[string]any{"event": event}, nil)
	return nil
}
