package sipgw

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// Renegotiation in the middle of a call, from either side: the browser's
// new offer ("update" with an offer: an ICE restart, a direction change)
// becomes a re-INVITE on the SIP side; the peer's re-INVITE, when the
// client asked for autoaccept_reinvites false, becomes an "updatingcall"
// offer to the browser, answered with "update". The call keeps its codec
// and its RTP ports, and the relay its track, so that SSRC, sequence
// numbers and timestamps go on across the renegotiation.

// relayTimeout bounds how long a re-INVITE of the peer waits for the
// browser's answer to "updatingcall".
const relayTimeout = 30 * time.Second

// update handles {"request":"update"}. With a JSEP offer the SIP side gets
// a re-INVITE with our SDP for it ("updating" at once), and the browser
// its answer once the peer took it ("accepted" with the JSEP answer, as
// Janus reports the answer to a re-INVITE). With a JSEP answer it answers
// an "updatingcall" ("updated").
func (a *Agent) update(msg ianua.Message) error {
	if msg.JSEP == nil {
		return perr(ErrorMissingSDP, ErrMissingSDP, "Missing SDP update")
	}
	c, err := a.inCall()
	if err != nil {
		return err
	}
	if msg.JSEP.Type == "answer" {
		return a.updateAnswer(msg.Transaction, c)
	}
	return a.updateOffer(msg.Transaction, c, msg.JSEP)
}

// updateOffer starts the re-INVITE for the browser's new offer.
func (a *Agent) updateOffer(transaction string, c *call, jsep *ianua.JSEP) error {
	if strings.Contains(jsep.SDP, "m=application") {
		return perr(ErrorMissingSDP, ErrMissingSDP, "The SIP plugin does not support DataChannels")
	}
	browser, err := parseAudio([]byte(jsep.SDP))
	if err != nil {
		return perr(ErrorMissingSDP, ErrMissingSDP, "No audio in the offer: %v", err)
	}
	c.mu.Lock()
	neg, busy := c.neg, c.updating || c.relay != nil
	c.mu.Unlock()
	if _, ok := findCodec(browser.Codecs, neg.Media); !ok {
		return perr(ErrorMissingSDP, ErrMissingSDP, "The offer drops the call's codec (%s)", neg.Media.Name)
	}
	if busy {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (an update is in progress)")
	}
	if !a.p.track() {
		return perr(ErrorSIPStack, ErrClosed, "Plugin closed")
	}
	c.mu.Lock()
	c.updating = true
	c.mu.Unlock()
	a.push(transaction, c.id, map[string]any{"event": "updating"}, nil)
	go func() {
		defer a.p.wg.Done()
		c.runUpdate(transaction, browser.Dir)
	}()
	return nil
}

// runUpdate sends the re-INVITE of an update and answers the browser. A
// refusal leaves the SIP side as it was (RFC 3261 section 14.1), but the
// browser still gets an answer, with an error event, so that its side
// (an ICE restart) goes through.
func (c *call) runUpdate(transaction string, browserDir direction) {
	defer func() {
		c.mu.Lock()
		c.updating = false
		c.mu.Unlock()
	}()
	if !c.acquireOffer() {
		return // the call is over, and the PeerConnection with it
	}
	defer c.releaseOffer()
	c.mu.Lock()
	prevBrowser, prevSent := c.browserDir, c.sentDir
	c.mu.Unlock()
	res, err := c.sendOffer(func() []byte {
		c.browserDir = browserDir
		want := c.wantDir()
		c.sentDir = want
		c.local.setDir(want)
		c.local.Version++
		return c.local.marshal()
	}, nil)
	ok := c.offerDone(res, err)
	if c.isEnded() {
		return
	}
	if !ok {
		c.mu.Lock()
		c.browserDir, c.sentDir = prevBrowser, prevSent
		c.local.setDir(prevSent)
		c.mu.Unlock()
	}
	jsep, aerr := c.a.answerUpdate(c.ctx, c)
	if aerr != nil {
		c.a.log.Info("sipgw: cannot answer the browser's update", "call", c.id, "err", aerr)
		c.a.pushError(transaction, ErrorUnknown, fmt.Sprintf("Error answering the update: %v", aerr))
		return
	}
	if ok {
		c.a.push(transaction, c.id, map[string]any{"event": "accepted", "username": c.peer}, jsep)
		return
	}
	code, reason := failure(res, err)
	data := map[string]any{"sip": "event", "call_id": c.id, "error_code": ErrorSIPStack,
		"error": fmt.Sprintf("The peer refused the update (%d %s); the SIP side is unchanged", code, reason)}
	if err := c.a.h.PushEvent(transaction, data, jsep); err != nil {
		c.a.log.Debug("sipgw: push error", "err", err)
	}
}

// answerUpdate answers the browser's new offer with the call's codec.
func (a *Agent) answerUpdate(ctx context.Context, c *call) (*ianua.JSEP, error) {
	if err := a.restrictToCall(c); err != nil {
		return nil, err
	}
	return a.h.Answer(ctx)
}

// restrictToCall keeps the relay's transceiver on the call's codecs, so
// that a renegotiation does not bring back others the SIP side did not
// take.
func (a *Agent) restrictToCall(c *call) error {
	if !a.h.HasPeerConnection() {
		return ianua.ErrNoPeerConnection
	}
	pc, err := a.h.PeerConnection()
	if err != nil {
		return err
	}
	c.mu.Lock()
	track, neg, vtrack, vneg, vBrowser := c.track, c.neg, c.vtrack, c.vneg, c.vBrowser
	c.mu.Unlock()
	found := false
	for _, tr := range pc.GetTransceivers() {
		s := tr.Sender()
		if s == nil {
			continue
		}
		switch {
		case track != nil && s.Track() == webrtc.TrackLocal(track):
			if err := restrict(tr, neg.codecs()); err != nil {
				return err
			}
			found = true
		case vtrack != nil && vneg != nil && s.Track() == webrtc.TrackLocal(vtrack):
			if err := restrict(tr, []codec{vBrowser}); err != nil {
				return err
			}
		}
	}
	if !found {
		return fmt.Errorf("%w: the relay's transceiver is gone", ErrMissingSDP)
	}
	return nil
}

// updateAnswer hands the browser's answer to the "updatingcall" that
// waits for it.
func (a *Agent) updateAnswer(transaction string, c *call) error {
	c.mu.Lock()
	ch := c.relay
	c.mu.Unlock()
	if ch == nil {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (no updatingcall to answer)")
	}
	select {
	case ch <- struct{}{}:
	default:
		return perr(ErrorWrongState, ErrCallState, "Wrong state (updatingcall already answered)")
	}
	a.push(transaction, c.id, map[string]any{"event": "updated"}, nil)
	return nil
}

// relayReinvite asks the browser about the peer's re-offer, for a call
// with autoaccept_reinvites false: the plugin offers the browser a
// renegotiation ("updatingcall") and answers the peer once the browser
// answered ("update"). The WebRTC leg keeps its codec and directions (the
// relay gates what flows), and the peer gets 500 when the browser does
// not answer in time.
func (c *call) relayReinvite(req *sip.Request, tx sip.ServerTransaction, offer mediaDesc, n negotiated) {
	p := c.a.p
	answered := make(chan struct{}, 1)
	c.mu.Lock()
	c.relay = answered
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.relay = nil
		c.mu.Unlock()
	}()
	err := c.a.restrictToCall(c)
	var jsep *ianua.JSEP
	if err == nil {
		jsep, err = c.a.h.Offer(c.ctx, ianua.OfferOptions{})
	}
	if err != nil {
		c.a.log.Info("sipgw: cannot offer the peer's re-INVITE to the browser", "call", c.id, "err", err)
		p.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	ev := map[string]any{"event": "updatingcall", "username": c.peer, "call_id": c.id}
	addCaller(ev, req)
	c.push(ev, jsep)
	timer := time.NewTimer(relayTimeout)
	defer timer.Stop()
	select {
	case <-answered:
	case <-timer.C:
		p.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	case <-tx.Done():
		return // CANCELled (the transaction layer answered 487)
	case <-c.ctx.Done():
		return
	}
	body, err := c.acceptOffer(offer, n, req.Body())
	if err != nil {
		p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	c.respondUntilAck(req, tx, body)
}

// addCaller sets "displayname" and "callee" of an incoming call's event
// from its From and To.
func addCaller(ev map[string]any, req *sip.Request) {
	if f := req.From(); f != nil && f.DisplayName != "" {
		ev["displayname"] = f.DisplayName
	}
	if t := req.To(); t != nil {
		ev["callee"] = t.Address.String()
	}
}
