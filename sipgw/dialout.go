package sipgw

import (
	"context"

	"github.com/emiago/sipgo/sip"
)

// dialOut is what every call a handle places starts from, whether its
// media is the browser's or a room's: the account it goes from, the
// callee and the transport to it, the custom headers, the SRTP mode and
// suite, and the Call-ID.
type dialOut struct {
	acct    *account
	target  sip.Uri
	tp      transport
	headers []sip.Header
	mode    srtpMode
	suite   string
	callID  string
}

// prepareDial checks the fields every outgoing call has ("uri", "headers",
// "srtp", "srtp_profile", "call_id"), once the handle has no call: ctx
// bounds the wait for one that is ending.
func (a *Agent) prepareDial(ctx context.Context, uri string, headers map[string]string, srtp, profile, callID string) (dialOut, error) {
	var d dialOut
	var err error
	if d.acct, err = a.idleAccount(ctx); err != nil {
		return d, err
	}
	if d.target, err = parseUserURI("uri", uri); err != nil {
		return d, err
	}
	if d.tp, err = a.p.requestTransport("uri", d.acct, d.target); err != nil {
		return d, err
	}
	if d.headers, err = customHeaders(headers); err != nil {
		return d, err
	}
	d.mode, d.suite, d.callID, err = callOptions(srtp, profile, callID)
	return d, err
}

// keys makes the SDES keys of the offer, one per media stream (RFC 4568
// section 6.1), or none without SRTP.
func (d dialOut) keys(streams int) ([]sdesKey, error) {
	if d.mode == srtpOff {
		return nil, nil
	}
	keys := make([]sdesKey, streams)
	for i := range keys {
		k, err := newKey(1, d.suite)
		if err != nil {
			return nil, perr(ErrorUnknown, err, "SRTP key: %v", err)
		}
		keys[i] = k
	}
	return keys, nil
}

// proto is the offer's transport profile: RTP/SAVP when SRTP is
// mandatory; else RTP/AVP (sdes_optional offers the key on RTP/AVP, as
// Janus does, so that a peer without SRTP can still answer).
func (d dialOut) proto() string {
	if d.mode == srtpMandatory {
		return "RTP/SAVP"
	}
	return ""
}
