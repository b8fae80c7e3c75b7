package sipgw

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// re-INVITEs both ways (RFC 3261 section 14): the peer's, answered by the
// plugin or relayed to the browser, and ours (hold, unhold, update), one
// INVITE transaction at a time in a dialog, with the glare rules of
// sections 14.1 and 14.2.

// defaultGlareUnit is the granule of RFC 3261 section 14.1's retry timer.
const defaultGlareUnit = 10 * time.Millisecond

// maxGlareRetries bounds how often a re-INVITE that keeps meeting 491 is
// sent again.
const maxGlareRetries = 5

// glareDelay is the wait before sending again a re-INVITE refused with 491
// (RFC 3261 section 14.1): 2.1 to 4 s when we own the dialog's Call-ID
// (we made the call), 0 to 2 s otherwise, in units of 10 ms. unit is the
// 10 ms, shortened by tests.
func glareDelay(owner bool, unit time.Duration) time.Duration {
	lo, hi := 0, 200
	if owner {
		lo, hi = 210, 400
	}
	return time.Duration(lo+rand.IntN(hi-lo+1)) * unit
}

// wantDir is the direction our side wants on the SIP leg: the hold
// direction the client asked for, narrowed by what the browser's last
// offer said it sends and receives. c.mu must be held.
func (c *call) wantDir() direction { return c.holdDir & c.browserDir }

// reinviteWait is how long a re-INVITE waits for the previous one's end
// before it gets 500.
const reinviteWait = time.Second

// onReinvite handles a re-INVITE of the peer. A re-INVITE that crosses
// ours gets 491 and one that arrives before our final answer to the
// previous one 500 (RFC 3261 section 14.2). The call keeps its codec: an
// offer without it is refused (488), since packets cross untranscoded and
// the browser's sender cannot change codec mid-call. The plugin answers
// itself, as Janus does by default (autoaccept_reinvites): the peer's new
// address, and the direction that mirrors the offer's, so that a sendonly
// offer (hold) gets recvonly. With autoaccept_reinvites false the browser
// is asked first (updatingcall).
func (c *call) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	p := c.a.p
	c.mu.Lock()
	switch {
	case c.state != callInCall || c.inviteOut:
		c.mu.Unlock()
		p.respond(req, tx, sip.StatusRequestPending, "Request Pending")
		return
	case c.inviteIn != nil:
		pending := c.inviteIn
		c.mu.Unlock()
		// The previous one is most often answered already, its ACK on
		// the way (a phone that holds and resumes at once): wait for it
		// a moment rather than refuse an INVITE that crosses nothing.
		select {
		case <-pending:
			c.onReinvite(req, tx)
			return
		case <-time.After(reinviteWait):
		}
		res := sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(rand.IntN(11))))
		_ = tx.Respond(res)
		return
	}
	done := make(chan struct{})
	c.inviteIn = done
	neg, dlg, autoaccept := c.neg, c.dlg, c.autoaccept
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inviteIn = nil
		c.mu.Unlock()
		close(done)
	}()
	if uas, ok := dlg.(*sipgo.DialogServerSession); ok {
		if err := uas.ReadRequest(req, tx); err != nil {
			p.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
			return
		}
	}
	if !hasSDP(req) {
		// Offerless: our current SDP is the offer, the ACK the answer.
		c.mu.Lock()
		c.local.Version++
		body := c.local.marshal()
		c.mu.Unlock()
		if ack, ok := c.respondUntilAck(req, tx, body); ok && len(ack) > 0 {
			c.applyAnswer(ack)
		}
		return
	}
	offer, err := parseAudio(req.Body())
	var n negotiated
	if err == nil {
		n, err = answerFor(offer, neg.Media)
	}
	if err != nil {
		p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	if !autoaccept {
		c.relayReinvite(req, tx, offer, n)
		return
	}
	body, err := c.acceptOffer(offer, n, req.Body())
	if err != nil {
		p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	c.respondUntilAck(req, tx, body)
}

// acceptOffer takes the peer's re-offer (raw, its audio offer with codecs
// n): the media goes to its new address, with its new key if it rekeyed,
// and our answer mirrors its direction (RFC 3264 section 6.1). Video goes
// on with the call's format if the offer keeps it, else ends; a video
// stream the call did not have is refused. It returns our answer.
func (c *call) acceptOffer(offer mediaDesc, n negotiated, raw []byte) ([]byte, error) {
	if err := c.applyCrypto(offer); err != nil {
		return nil, err
	}
	vd, verr := parseVideo(raw)
	c.mu.Lock()
	hasVideo := c.vneg != nil
	c.mu.Unlock()
	if verr == nil && hasVideo && vd.Port != 0 {
		if err := c.applyVideoCrypto(vd); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.neg = n
	c.local.Codecs = n.codecs()
	want := c.wantDir()
	c.local.Dir = want & offer.Dir.reverse()
	var vneg *negotiated
	if verr == nil {
		if c.vneg != nil {
			if vc, err := answerVideoFor(vd, c.vneg.Media); err == nil && vd.Port != 0 {
				vneg = &negotiated{Media: vc}
				c.vneg = vneg
				c.local.Video.Codecs = []codec{vc}
				c.local.Video.Dir = want & vd.Dir.reverse()
			} else {
				c.stopVideo()
			}
		} else if c.local.Video == nil {
			c.local.Video = rejectedVideo(vd, offer.Index)
		}
	}
	c.local.Version++
	body := c.local.marshal()
	c.mu.Unlock()
	c.media.setPeer(offer, n, want)
	if vneg != nil {
		c.video.setPeer(vd, *vneg, want)
	}
	return body, nil
}

// respondUntilAck sends the 2xx with our SDP to a re-INVITE and
// retransmits it until its ACK (RFC 3261 section 13.3.1.4), whose body it
// returns; false when no ACK came.
func (c *call) respondUntilAck(req *sip.Request, tx sip.ServerTransaction, body []byte) ([]byte, bool) {
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(c.a.p.contact(c.acct.uri.User, c.tp))
	seq := req.CSeq().SeqNo
	ack := c.expectAck(seq)
	if err := tx.Respond(res); err != nil {
		c.dropAck(seq)
		return nil, false
	}
	wait := sip.T1
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	for {
		t := time.NewTimer(wait)
		select {
		case body := <-ack:
			t.Stop()
			return body, true
		case <-t.C:
			_ = tx.Respond(res)
			wait = min(2*wait, sip.T2)
		case <-deadline.C:
			t.Stop()
			c.dropAck(seq)
			return nil, false
		case <-c.ctx.Done():
			t.Stop()
			c.dropAck(seq)
			return nil, false
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

// applyAnswer reads the peer's SDP answer to an offer of ours (the 2xx of
// our re-INVITE, or the ACK of an offerless one): its address, key and
// direction.
func (c *call) applyAnswer(body []byte) {
	d, err := parseAudio(body)
	if err == nil {
		err = c.applyCrypto(d)
	}
	if err != nil {
		c.a.log.Info("sipgw: unusable SDP answer", "call", c.id, "err", err)
		return
	}
	c.mu.Lock()
	n, dir := c.neg, c.wantDir()
	c.mu.Unlock()
	c.media.setPeer(d, n, dir)
	if err := c.applyVideoAnswer(body); err != nil {
		c.a.log.Info("sipgw: unusable video in the SDP answer", "call", c.id, "err", err)
	}
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
	start := !c.reinviting && c.sentDir != c.wantDir()
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
	for c.acquireOffer() {
		c.mu.Lock()
		if c.wantDir() == c.sentDir {
			c.reinviting = false
			c.mu.Unlock()
			c.releaseOffer()
			return
		}
		c.mu.Unlock()
		res, err := c.sendOffer(func() []byte {
			want := c.wantDir()
			c.sentDir = want
			c.local.setDir(want)
			c.local.Version++
			return c.local.marshal()
		}, headers)
		c.offerDone(res, err)
		c.releaseOffer()
	}
	c.mu.Lock()
	c.reinviting = false
	c.mu.Unlock()
}

// acquireOffer takes the call's one offer slot, so that hold, unhold and
// update send their re-INVITEs one after the other; false once the call
// is over.
func (c *call) acquireOffer() bool {
	if c.ctx.Err() != nil {
		return false
	}
	select {
	case c.offerSem <- struct{}{}:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func (c *call) releaseOffer() { <-c.offerSem }

// sendOffer sends our SDP in a re-INVITE and returns the final response,
// its 2xx acknowledged. build makes the body, with c.mu held, right before
// each attempt, so that a retry offers what is wanted then. None starts
// while a re-INVITE of the peer is in progress; one refused with 491 (the
// peer's crossed ours) is sent again after glareDelay (RFC 3261 section
// 14.1).
func (c *call) sendOffer(build func() []byte, headers []sip.Header) (*sip.Response, error) {
	for attempt := 0; ; attempt++ {
		body, err := c.startOffer(build)
		if err != nil {
			return nil, err
		}
		res, err := c.reinvite(body, headers)
		c.mu.Lock()
		c.inviteOut = false
		c.mu.Unlock()
		if err != nil || res.StatusCode != sip.StatusRequestPending || attempt == maxGlareRetries {
			return res, err
		}
		wait := glareDelay(c.outgoing, c.a.p.glareUnit)
		c.a.log.Debug("sipgw: re-INVITE glare, trying again", "call", c.id, "after", wait)
		if f := c.a.p.onGlare; f != nil {
			f(wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return nil, c.ctx.Err()
		}
	}
}

// startOffer waits until no re-INVITE of the peer is in progress, then
// marks ours as out and builds its body.
func (c *call) startOffer(build func() []byte) ([]byte, error) {
	for {
		c.mu.Lock()
		in := c.inviteIn
		if in == nil {
			c.inviteOut = true
			body := build()
			c.mu.Unlock()
			return body, nil
		}
		c.mu.Unlock()
		select {
		case <-in:
		case <-c.ctx.Done():
			return nil, c.ctx.Err()
		}
	}
}

// reinvite sends one re-INVITE with our SDP and returns the final
// response; a 2xx is acknowledged.
func (c *call) reinvite(body []byte, headers []sip.Header) (*sip.Response, error) {
	req, dlg := c.newInDialog(sip.INVITE)
	if dlg == nil {
		return nil, errNoDialog
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	c.a.p.addCommonHeaders(req, c.acct, headers)
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(c.ctx, 64*sip.T1)
	defer cancel()
	res, err := dlg.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.IsSuccess() {
		// The ACK of a 2xx is ours to send, with the re-INVITE's CSeq
		// (RFC 3261 section 13.2.2.4).
		ack, _ := c.newInDialog(sip.ACK)
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
		if err := dlg.WriteRequest(ack); err != nil {
			c.a.log.Debug("sipgw: ACK of re-INVITE", "call", c.id, "err", err)
		}
	}
	return res, nil
}

// errNoDialog is the failure of an in-dialog request before the dialog
// exists.
var errNoDialog = errors.New("sipgw: no dialog yet")

// offerDone applies the outcome of our re-INVITE and says whether the peer
// took the offer. A refusal leaves the session as it was (RFC 3261 section
// 14.1), but 481 and 408 end the call (section 12.2.1.2).
func (c *call) offerDone(res *sip.Response, err error) bool {
	switch {
	case err != nil:
		if c.ctx.Err() != nil {
			return false
		}
		c.a.log.Info("sipgw: re-INVITE", "call", c.id, "err", err)
		if errors.Is(err, sip.ErrTransactionTimeout) || errors.Is(err, context.DeadlineExceeded) {
			c.endLocal(sip.StatusRequestTimeout, "Request Timeout")
		}
		return false
	case res.IsSuccess():
		if hasSDP(res) {
			c.applyAnswer(res.Body())
		}
		return true
	case res.StatusCode == sip.StatusCallTransactionDoesNotExists:
		c.endRemote(res.StatusCode, res.Reason)
	case res.StatusCode == sip.StatusRequestTimeout:
		c.endLocal(res.StatusCode, res.Reason)
	default:
		c.a.log.Info("sipgw: re-INVITE refused", "call", c.id, "code", res.StatusCode)
	}
	return false
}
