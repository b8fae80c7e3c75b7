package sipgw

import (
	"context"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// Instant messages (RFC 3428): MESSAGE requests out of a dialog, to a URI,
// and inside the current call's dialog, both ways.

// maxMessageSize bounds the content of a MESSAGE we send: over UDP, RFC
// 3428 section 7 limits MESSAGE requests to 1300 bytes unless the path is
// known to take more; the body gets what the headers leave.
const maxMessageSize = 1300

// message handles {"request":"message"}: with "uri", a MESSAGE out of any
// dialog (registered or guest accounts), else one in the current call.
// The result is "messagesent" {call_id} at once, then "messagedelivery"
// {code, reason} with the peer's final answer, as in Janus.
func (a *Agent) message(transaction string, req Request) error {
	if req.Content == "" {
		return perr(ErrorMissingElement, ErrMissingElement, "Missing element (content)")
	}
	if len(req.Content) > maxMessageSize {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (content longer than %d bytes)", maxMessageSize)
	}
	contentType := req.ContentType
	if contentType == "" {
		contentType = "text/plain"
	}
	if err := safeText("content_type", contentType); err != nil {
		return err
	}
	if !validMediaType(contentType) {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (content_type)")
	}
	headers, err := customHeaders(req.Headers)
	if err != nil {
		return err
	}
	if req.URI == "" {
		if req.CallID != "" {
			return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (call_id is for messages out of a dialog, with uri)")
		}
		return a.messageInDialog(transaction, contentType, req.Content, headers)
	}
	target, err := parseUserURI("uri", req.URI)
	if err != nil {
		return err
	}
	callID := req.CallID
	if callID == "" {
		callID = sip.GenerateTagN(24)
	} else if !isCallID(callID) {
		return perr(ErrorInvalidElement, ErrHeaderInjection, "Invalid element (call_id)")
	}
	a.mu.Lock()
	acct, ok := a.acct, a.state == regRegistered || a.state == regGuest
	a.mu.Unlock()
	if !ok {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (not registered)")
	}
	tp, err := a.p.requestTransport("uri", acct, target)
	if err != nil {
		return err
	}
	msg := sip.NewRequest(sip.MESSAGE, target)
	msg.AppendHeader(acct.from(sip.GenerateTagN(16)))
	msg.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: target.Scheme, User: target.User, Host: target.Host, Port: target.Port}})
	cid := sip.CallIDHeader(callID)
	msg.AppendHeader(&cid)
	msg.AppendHeader(sip.NewHeader("Content-Type", contentType))
	a.p.addCommonHeaders(msg, acct, headers)
	a.p.route(msg, acct, tp)
	msg.SetBody([]byte(req.Content))
	cli := a.p.stackOf(tp).cli
	ok = a.p.goOwned(func() {
		ctx, cancel := context.WithTimeout(a.p.ctx, 64*sip.T1)
		defer cancel()
		res, err := cli.Do(ctx, msg)
		if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) && acct.secret != "" {
			// RFC 3428 section 4: a MESSAGE may be challenged like any
			// request; the account's credentials answer it once.
			res, err = cli.DoDigestAuth(ctx, msg, res, acct.digest())
		}
		a.messageDelivered(callID, res, err)
	})
	if !ok {
		return perr(ErrorSIPStack, ErrClosed, "Plugin closed")
	}
	a.push(transaction, callID, map[string]any{"event": "messagesent", "call_id": callID}, nil)
	return nil
}

// messageInDialog sends a MESSAGE inside the current call's dialog.
func (a *Agent) messageInDialog(transaction, contentType, content string, headers []sip.Header) error {
	c, err := a.inCall()
	if err != nil {
		return err
	}
	msg, dlg := c.newInDialog(sip.MESSAGE)
	if dlg == nil {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (no dialog)")
	}
	msg.AppendHeader(sip.NewHeader("Content-Type", contentType))
	a.p.addCommonHeaders(msg, c.acct, headers)
	msg.SetBody([]byte(content))
	ok := a.p.goOwned(func() {
		ctx, cancel := context.WithTimeout(c.ctx, 64*sip.T1)
		defer cancel()
		res, err := dlg.Do(ctx, msg)
		a.messageDelivered(c.id, res, err)
	})
	if !ok {
		return perr(ErrorSIPStack, ErrClosed, "Plugin closed")
	}
	a.push(transaction, c.id, map[string]any{"event": "messagesent", "call_id": c.id}, nil)
	return nil
}

// messageDelivered reports the final answer to a MESSAGE of ours.
func (a *Agent) messageDelivered(callID string, res *sip.Response, err error) {
	code, reason := failure(res, err)
	if err != nil {
		a.log.Info("sipgw: MESSAGE", "call_id", callID, "err", err)
	}
	a.push("", callID, map[string]any{"event": "messagedelivery", "code": code, "reason": reason}, nil)
}

// onMessage takes a MESSAGE from the SIP side: inside a call's dialog it
// goes to that call's handle, outside any to the handle registered for
// the Request-URI's user (or the To's), as INVITEs do. It is answered 200
// (RFC 3428 section 7) and reported as a "message" event.
func (p *Plugin) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	var a *Agent
	if c := p.callOf(req); c != nil {
		a = c.a
	} else if to := req.To(); to != nil && to.Params.Has("tag") {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	} else {
		a = p.agentFor(req)
	}
	if a == nil {
		p.respond(req, tx, sip.StatusNotFound, "Not Found")
		return
	}
	ct := req.ContentType()
	if ct == nil || len(req.Body()) == 0 {
		// Nothing to deliver (RFC 3428 section 5 allows empty bodies);
		// Janus reports nothing either.
		p.respond(req, tx, sip.StatusOK, "OK")
		return
	}
	p.respond(req, tx, sip.StatusOK, "OK")
	ev := map[string]any{"event": "message", "content_type": strings.TrimSpace(ct.Value()), "content": string(req.Body())}
	addSender(ev, req)
	callID := ""
	if id := req.CallID(); id != nil {
		callID = id.Value()
	}
	a.push("", callID, ev, nil)
}

// agentFor finds the handle a request that starts no dialog is for: the
// one registered for the Request-URI's user, else for the To's.
func (p *Plugin) agentFor(req *sip.Request) *Agent {
	if a := p.userAgent(req.Recipient.User); a != nil {
		return a
	}
	if to := req.To(); to != nil {
		return p.userAgent(to.Address.User)
	}
	return nil
}

// addSender sets "sender" and "displayname" of an event from the From of
// req, as Janus reports the senders of INFO and MESSAGE.
func addSender(ev map[string]any, req *sip.Request) {
	f := req.From()
	if f == nil {
		return
	}
	ev["sender"] = f.Address.String()
	if f.DisplayName != "" {
		ev["displayname"] = f.DisplayName
	}
}

// validMediaType says whether s looks like a media type, type "/" subtype
// with optional parameters (RFC 3261 section 20.15); the tokens keep
// anything but parameters out of the Content-Type header.
func validMediaType(s string) bool {
	mt, _, _ := strings.Cut(s, ";")
	typ, sub, ok := strings.Cut(strings.TrimSpace(mt), "/")
	return ok && isToken(typ) && isToken(sub)
}
