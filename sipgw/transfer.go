package sipgw

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Call transfers (RFC 3515 REFER, RFC 3891 Replaces), both ways, as the
// Janus SIP plugin does them: the plugin sends and takes REFERs, and the
// client decides. A REFER from the peer becomes a "transfer" event; the
// client calls the target with its refer_id (or declines it), and the
// plugin reports that call's progress to the transferor in NOTIFYs with
// message/sipfrag bodies (RFC 3420) in the REFER's dialog.

// transfer is a REFER we accepted: its implicit subscription (RFC 3515
// section 2.4.4) lives until its final NOTIFY. One goroutine sends its
// NOTIFYs in order.
type transfer struct {
	id       uint32
	call     *call  // the dialog the REFER came in
	referSeq uint32 // the REFER's CSeq, the id of its "refer" event package
	referTo  string
	// invite is what the INVITE to the target carries: Referred-By, and
	// the Replaces of an attended transfer.
	invite []sip.Header

	mu       sync.Mutex
	queue    []sipfrag
	finalSet bool
	wake     chan struct{}
	stop     chan struct{} // closed when the handle that got the REFER goes
	stopOnce sync.Once
}

// sipfrag is one status line reported to the transferor.
type sipfrag struct {
	code   int
	reason string
	final  bool
}

// subscriptionExpiry is the lifetime announced for a REFER's implicit
// subscription while it is active (RFC 6665 section 4.2.2).
const subscriptionExpiry = 180

// transfer handles {"request":"transfer"}: a REFER in the call's dialog
// asks the peer to call uri (blind transfer); with "replace", the Call-ID
// of another call of the same account, the Refer-To carries a Replaces
// for it (attended transfer, RFC 3891). "transferring" at once; the
// REFER's answer comes as "referred" {code, reason} (not in Janus), the
// peer's NOTIFYs as "notify" events, as in Janus.
func (a *Agent) transfer(transaction string, req Request) error {
	if _, err := parseUserURI("uri", req.URI); err != nil {
		return err
	}
	headers, err := customHeaders(req.Headers)
	if err != nil {
		return err
	}
	if req.Replace != "" && !isCallID(req.Replace) {
		return perr(ErrorInvalidElement, ErrHeaderInjection, "Invalid element (replace)")
	}
	c, err := a.inCall()
	if err != nil {
		return err
	}
	// The URI is free of CR, LF, spaces, quotes and angle brackets
	// (parseURI): it can sit between < and > as it is.
	referTo := "<" + req.URI + ">"
	if req.Replace != "" {
		replaces, ok := a.p.replacesFor(req.Replace, c.acct)
		if !ok {
			return perr(ErrorNoSuchCallID, ErrCallState, "No such call-ID %s", req.Replace)
		}
		sep := "?"
		if strings.Contains(req.URI, "?") {
			sep = "&"
		}
		referTo = "<" + req.URI + sep + "Replaces=" + url.QueryEscape(replaces) + ">"
	}
	refer, dlg := c.newInDialog(sip.REFER)
	if dlg == nil {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (no dialog)")
	}
	refer.AppendHeader(sip.NewHeader("Refer-To", referTo))
	refer.AppendHeader(sip.NewHeader("Referred-By", "<"+c.acct.uri.String()+">"))
	refer.AppendHeader(a.p.contact(c.acct.uri.User, c.tp))
	a.p.addCommonHeaders(refer, c.acct, headers)
	ok := a.p.goOwned(func() {
		ctx, cancel := context.WithTimeout(c.ctx, 64*sip.T1)
		defer cancel()
		res, err := dlg.Do(ctx, refer)
		if err != nil && c.ctx.Err() != nil {
			return
		}
		code, reason := failure(res, err)
		a.push(transaction, c.id, map[string]any{"event": "referred", "code": code, "reason": reason}, nil)
	})
	if !ok {
		return perr(ErrorSIPStack, ErrClosed, "Plugin closed")
	}
	a.push(transaction, c.id, map[string]any{"event": "transferring"}, nil)
	return nil
}

// replacesFor is the Replaces value (RFC 3891 section 6.1) of the call
// with Call-ID id among the calls of acct's account: the target's tag as
// to-tag, ours as from-tag, as the target sees its dialog with us.
func (p *Plugin) replacesFor(id string, acct *account) (string, bool) {
	p.mu.Lock()
	var found []*call
	for _, c := range p.calls {
		if c.id == id && sameAccount(c.acct, acct) {
			found = append(found, c)
		}
	}
	p.mu.Unlock()
	for _, c := range found {
		if c.getState() != callInCall || c.isEnded() {
			continue
		}
		if remote := c.remoteTag(); remote != "" {
			return fmt.Sprintf("%s;to-tag=%s;from-tag=%s", c.id, remote, c.localTag), true
		}
	}
	return "", false
}

// sameAccount says whether two accounts are the same SIP identity (the
// handles of one user, the closest there is to Janus's helper sessions).
func sameAccount(x, y *account) bool {
	return x != nil && y != nil && x.uri.User == y.uri.User && x.uri.Host == y.uri.Host && x.uri.Port == y.uri.Port
}

// remoteTag is the peer's tag in the call's dialog.
func (c *call) remoteTag() string {
	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	var tag string
	switch d := dlg.(type) {
	case *sipgo.DialogClientSession:
		if d.InviteResponse != nil && d.InviteResponse.To() != nil {
			tag, _ = d.InviteResponse.To().Params.Get("tag")
		}
	case *sipgo.DialogServerSession:
		if f := d.InviteRequest.From(); f != nil {
			tag, _ = f.Params.Get("tag")
		}
	}
	return tag
}

// onRefer takes a REFER in one of our calls (RFC 3515): 202, a first
// NOTIFY "100 Trying", and a "transfer" event {refer_id, refer_to,
// referred_by, replaces} for the client to act on.
func (p *Plugin) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	c := p.callOf(req)
	if c == nil {
		if to := req.To(); to != nil && to.Params.Has("tag") {
			p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
		// A REFER outside a dialog would need a dialog of its own for
		// the NOTIFYs: not supported.
		p.respond(req, tx, sip.StatusForbidden, "Forbidden")
		return
	}
	if c.getState() != callInCall || c.isEnded() {
		p.respond(req, tx, sip.StatusForbidden, "Forbidden")
		return
	}
	// Exactly one Refer-To (RFC 3515 section 2.4.1).
	hs := req.GetHeaders("Refer-To")
	if len(hs) != 1 || req.CSeq() == nil {
		p.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	var target sip.Uri
	params := sip.NewParams()
	if _, err := sip.ParseAddressValue(hs[0].Value(), &target, &params); err != nil || target.Host == "" {
		p.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	var invite []sip.Header
	replaces := ""
	if target.Headers != nil {
		if v, ok := target.Headers.Get("Replaces"); ok {
			// Escaped in the URI (RFC 3261 section 19.1.1); unescaped, it
			// must still be one header value.
			raw, err := url.QueryUnescape(v)
			if err != nil || safeText("Replaces", raw) != nil || raw == "" {
				p.respond(req, tx, sip.StatusBadRequest, "Bad Request")
				return
			}
			replaces, _, _ = strings.Cut(raw, ";")
			invite = append(invite, sip.NewHeader("Replaces", raw))
		}
	}
	target.Headers = nil
	referTo := target.String()
	referredBy := ""
	if h := req.GetHeader("Referred-By"); h != nil {
		referredBy = h.Value()
	} else if f := req.From(); f != nil {
		referredBy = f.Address.String()
	}
	if referredBy != "" {
		invite = append(invite, sip.NewHeader("Referred-By", referredBy))
	}
	t := &transfer{call: c, referSeq: req.CSeq().SeqNo, referTo: referTo, invite: invite,
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if !p.addTransfer(t) {
		p.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	p.respond(req, tx, sip.StatusAccepted, "Accepted")
	t.report(sip.StatusTrying, "Trying", false)
	ev := map[string]any{"event": "transfer", "refer_id": t.id, "refer_to": referTo}
	if referredBy != "" {
		ev["referred_by"] = referredBy
	}
	if replaces != "" {
		ev["replaces"] = replaces
	}
	c.push(ev, nil)
}

// addTransfer files t under a new refer_id and starts its NOTIFY sender.
func (p *Plugin) addTransfer(t *transfer) bool {
	p.mu.Lock()
	for t.id == 0 || p.transfers[t.id] != nil {
		t.id = rand.Uint32()
	}
	p.transfers[t.id] = t
	p.mu.Unlock()
	if !p.goOwned(func() { p.runTransfer(t) }) {
		p.dropTransfer(t)
		return false
	}
	return true
}

func (p *Plugin) dropTransfer(t *transfer) {
	p.mu.Lock()
	if p.transfers[t.id] == t {
		delete(p.transfers, t.id)
	}
	p.mu.Unlock()
}

// transferFor returns the transfer refer_id names, if the handle asking
// for it is of the same account as the one that got the REFER.
func (p *Plugin) transferFor(id uint32, acct *account) *transfer {
	p.mu.Lock()
	t := p.transfers[id]
	p.mu.Unlock()
	if t == nil || !sameAccount(t.call.acct, acct) {
		return nil
	}
	t.mu.Lock()
	done := t.finalSet
	t.mu.Unlock()
	if done {
		return nil
	}
	return t
}

// dropTransfers ends the transfers a's calls received, when a goes.
func (p *Plugin) dropTransfers(a *Agent) {
	p.mu.Lock()
	var gone []*transfer
	for id, t := range p.transfers {
		if t.call.a == a {
			gone = append(gone, t)
			delete(p.transfers, id)
		}
	}
	p.mu.Unlock()
	for _, t := range gone {
		t.stopOnce.Do(func() { close(t.stop) })
	}
}

// report queues a status line for the transferor; nothing is queued after
// the final one.
func (t *transfer) report(code int, reason string, final bool) {
	t.mu.Lock()
	if t.finalSet {
		t.mu.Unlock()
		return
	}
	t.finalSet = final
	t.queue = append(t.queue, sipfrag{code: code, reason: reason, final: final})
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// runTransfer sends t's NOTIFYs in order until the final one, the handle
// going or the plugin closing.
func (p *Plugin) runTransfer(t *transfer) {
	defer p.dropTransfer(t)
	for {
		select {
		case <-t.wake:
		case <-t.stop:
			return
		case <-p.ctx.Done():
			return
		}
		t.mu.Lock()
		queue := t.queue
		t.queue = nil
		t.mu.Unlock()
		for _, f := range queue {
			if !p.notify(t, f) || f.final {
				return
			}
		}
	}
}

// notify sends one NOTIFY of the "refer" event package (RFC 3515 section
// 2.4.4) in the REFER's dialog, whether or not its call is still up (the
// subscription shares the dialog, RFC 5057). It reports whether the
// subscription goes on.
func (p *Plugin) notify(t *transfer, f sipfrag) bool {
	c := t.call
	req, dlg := c.newInDialog(sip.NOTIFY)
	if dlg == nil {
		return false
	}
	state := fmt.Sprintf("active;expires=%d", subscriptionExpiry)
	if f.final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Event", fmt.Sprintf("refer;id=%d", t.referSeq)))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.AppendHeader(p.contact(c.acct.uri.User, c.tp))
	p.addCommonHeaders(req, c.acct, nil)
	req.SetBody(fmt.Appendf(nil, "SIP/2.0 %d %s\r\n", f.code, f.reason))
	ctx, cancel := context.WithTimeout(p.ctx, 64*sip.T1)
	defer cancel()
	res, err := dlg.Do(ctx, req)
	if err != nil {
		c.a.log.Info("sipgw: NOTIFY", "call", c.id, "err", err)
		return false
	}
	// 481: the transferor ended the subscription (RFC 6665 section
	// 4.2.2).
	return res.StatusCode != sip.StatusCallTransactionDoesNotExists
}

// onNotify reports a NOTIFY in one of our calls (the progress of a
// transfer we asked for) as Janus does: a "notify" event {notify,
// substate, content-type, content}, after a 200.
func (p *Plugin) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	c := p.callOf(req)
	if c == nil {
		p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	p.respond(req, tx, sip.StatusOK, "OK")
	if len(req.Body()) == 0 {
		return
	}
	ev := map[string]any{"event": "notify", "content": string(req.Body())}
	if h := req.GetHeader("Event"); h != nil {
		pkg, _, _ := strings.Cut(h.Value(), ";")
		ev["notify"] = strings.TrimSpace(pkg)
	}
	if h := req.GetHeader("Subscription-State"); h != nil {
		state, _, _ := strings.Cut(h.Value(), ";")
		ev["substate"] = strings.TrimSpace(state)
	}
	if ct := req.ContentType(); ct != nil {
		ev["content-type"] = strings.TrimSpace(ct.Value())
	}
	c.push(ev, nil)
}

// declineTransfer handles a decline with refer_id: the transferor hears
// the code (603 unless a failure code is given, as in Janus) in the final
// NOTIFY.
func (a *Agent) declineTransfer(transaction string, id uint32, code *int) error {
	a.mu.Lock()
	acct := a.acct
	a.mu.Unlock()
	t := a.p.transferFor(id, acct)
	if t == nil {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (no transfer?)")
	}
	status := 603 // Decline
	if code != nil && *code >= 400 && *code < 700 {
		status = *code
	}
	t.report(status, reasonPhrase(status), true)
	a.push(transaction, "", map[string]any{"event": "declining", "refer_id": id, "code": status}, nil)
	return nil
}
