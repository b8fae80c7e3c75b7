package sipgw

import (
	"context"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// Requests inside a call's dialog, both ways: BYE, ACK, INFO, and the
// client requests that make them. re-INVITEs are in reinvite.go.

func (p *Plugin) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := p.callOf(req)
	if c == nil {
		if rc := p.rooms.callOf(req); rc != nil {
			rc.onAck(req, tx)
		}
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
		if rc := p.rooms.callOf(req); rc != nil {
			rc.onBye(req, tx)
			return
		}
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
	if !c.endRemote(sip.StatusOK, "BYE") {
		if rc := c.movedTo(); rc != nil {
			// It crossed the move into a room: the room call ends.
			rc.end(true)
		}
	}
}

// onInfo reports an INFO as Janus does ("info"), and a DTMF one
// (application/dtmf-relay) also as "dtmf", like an RFC 4733 key press.
func (p *Plugin) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := p.callOf(req)
	if c == nil {
		if rc := p.rooms.callOf(req); rc != nil {
			// A room call has nobody to tell (DTMF included).
			p.respond(req, tx, sip.StatusOK, "OK")
			return
		}
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

// hangup handles {"request":"hangup"}: CANCEL while calling, BYE in a call.
// Janus ignores it in other states (an incoming call is declined), and so
// do we.
func (a *Agent) hangup(transaction string, req Request) error {
	headers, err := customHeaders(req.Headers)
	if err != nil {
		return err
	}
	a.mu.Lock()
	rc := a.room
	a.mu.Unlock()
	if rc != nil {
		if rc.hangup(headers) {
			a.push(transaction, rc.id, map[string]any{"event": "hangingup"}, nil)
		}
		return nil
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
