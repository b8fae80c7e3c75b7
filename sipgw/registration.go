package sipgw

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// account is what a register request set up: who the handle is on the SIP
// side and how it authenticates.
type account struct {
	identity    string  // the SIP URI as given, "sip:alice@example.com"
	uri         sip.Uri // parsed
	authUser    string
	secret      string
	displayName string
	userAgent   string
	registrar   sip.Uri // Request-URI of REGISTER: proxy, else the domain
	outbound    string  // host:port every request goes to first, if set
	// tp is the transport of the account's requests: the outbound
	// proxy's, else the registrar's, else force_tcp's, else UDP.
	tp      transport
	headers []sip.Header
	ttl     time.Duration
	guest   bool
}

// from is our From header for a request of this account, with tag.
func (acct *account) from(tag string) *sip.FromHeader {
	f := &sip.FromHeader{DisplayName: quoteDisplayName(acct.displayName), Address: acct.uri, Params: sip.NewParams()}
	f.Params.Add("tag", tag)
	return f
}

// digest is what answers a challenge (RFC 3261 section 22.2) for acct.
func (acct *account) digest() sipgo.DigestAuth {
	return sipgo.DigestAuth{Username: acct.authUser, Password: acct.secret}
}

// registration is the goroutine that keeps an account registered: it
// sends REGISTER, refreshes it before it expires, and withdraws it.
type registration struct {
	acct   *account
	cancel context.CancelFunc
	// unreg asks for an un-REGISTER with the transaction of the request.
	unreg chan string
	// keep, set before stop, leaves the binding to the registration that
	// replaces this one (a refresh).
	keep atomic.Bool
	done chan struct{}
}

// stop ends the loop; it withdraws the registration quietly unless keep.
func (r *registration) stop() { r.cancel() }

// register handles {"request":"register"}.
func (a *Agent) register(transaction string, req Request) error {
	acct, err := a.parseAccount(req)
	if err != nil {
		return err
	}
	a.mu.Lock()
	if a.state != regNone && !req.Refresh {
		user := ""
		if a.acct != nil {
			user = a.acct.identity
		}
		a.mu.Unlock()
		return perr(ErrorAlreadyRegistered, ErrAlreadyRegistered, "Already registered (%s)", user)
	}
	if a.state == regUnregistering {
		a.mu.Unlock()
		return perr(ErrorWrongState, ErrCallState, "Wrong state (unregistering)")
	}
	old, oldAcct := a.reg, a.acct
	a.reg, a.acct = nil, acct
	if acct.guest {
		a.state = regGuest
	} else {
		a.state = regRegistering
	}
	a.mu.Unlock()
	// A refresh replaces the registration; the new one takes over the
	// binding of the same user, a different user's is withdrawn.
	if old != nil {
		old.keep.Store(oldAcct != nil && oldAcct.uri.User == acct.uri.User && oldAcct.registrar.String() == acct.registrar.String())
		old.stop()
	}
	if oldAcct != nil && oldAcct.uri.User != acct.uri.User {
		a.p.dropUser(oldAcct.uri.User, a)
	}

	if acct.guest {
		a.p.setGuestUser(acct.uri.User, a)
		a.push(transaction, "", map[string]any{"event": "registered", "username": acct.uri.User, "register_sent": false}, nil)
		return nil
	}
	ctx, cancel := context.WithCancel(a.p.ctx)
	r := &registration{acct: acct, cancel: cancel, unreg: make(chan string, 1), done: make(chan struct{})}
	if !a.p.track() {
		cancel()
		a.mu.Lock()
		a.state, a.acct = regNone, nil
		a.mu.Unlock()
		return perr(ErrorSIPStack, ErrClosed, "Plugin closed")
	}
	a.mu.Lock()
	a.reg = r
	a.mu.Unlock()
	a.push(transaction, "", map[string]any{"event": "registering"}, nil)
	go func() {
		defer a.p.wg.Done()
		a.runRegistration(ctx, r, transaction)
	}()
	return nil
}

// parseAccount validates the fields of a register request.
func (a *Agent) parseAccount(req Request) (*account, error) {
	acct := &account{identity: req.Username, authUser: req.AuthUser, secret: req.Secret,
		displayName: req.DisplayName, userAgent: req.UserAgent, ttl: a.p.p.RegisterTTL}
	switch req.Type {
	case "":
	case "guest":
		acct.guest = true
	case "helper":
		return nil, perr(ErrorHelper, ErrNotSupported, "Helper sessions not supported yet")
	default:
		// Janus ignores unknown types; so do we.
	}
	if req.SendRegister != nil {
		if *req.SendRegister && acct.guest {
			return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Conflicting elements: send_register cannot be true if guest is true")
		}
		if !*req.SendRegister {
			acct.guest = true
		}
	}
	if req.ForceTCP && req.ForceUDP {
		return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Conflicting elements: force_udp and force_tcp cannot both be true")
	}
	if req.MasterID != nil {
		return nil, perr(ErrorHelper, ErrNotSupported, "Helper sessions not supported yet")
	}
	if req.Username == "" {
		return nil, perr(ErrorMissingElement, ErrMissingElement, "Missing element (username)")
	}
	u, err := parseUserURI("user", req.Username)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "sips" && req.ForceUDP {
		return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Conflicting elements: force_udp and a sips: username")
	}
	acct.uri = sip.Uri{Scheme: u.Scheme, User: u.User, Host: u.Host, Port: u.Port}
	for field, v := range map[string]string{"display_name": req.DisplayName, "user_agent": req.UserAgent, "authuser": req.AuthUser, "secret": req.Secret} {
		if err := safeText(field, v); err != nil {
			return nil, err
		}
	}
	if acct.headers, err = customHeaders(req.Headers); err != nil {
		return nil, err
	}
	if req.Proxy != "" {
		if acct.registrar, err = parseURI("proxy", req.Proxy); err != nil {
			return nil, err
		}
	} else {
		acct.registrar = sip.Uri{Scheme: u.Scheme, Host: u.Host, Port: u.Port}
	}
	if acct.tp, err = a.accountTransport(req, acct); err != nil {
		return nil, err
	}
	if req.RegisterTTL != nil && *req.RegisterTTL > 0 {
		acct.ttl = time.Duration(*req.RegisterTTL) * time.Second
	}
	if acct.guest {
		return acct, nil
	}
	if req.HA1Secret != "" {
		return nil, perr(ErrorInvalidElement, ErrNotSupported, "ha1_secret not supported yet")
	}
	if req.Secret == "" {
		return nil, perr(ErrorMissingElement, ErrMissingElement, "Missing element (secret or ha1_secret)")
	}
	if acct.authUser == "" {
		acct.authUser = u.User
	}
	return acct, nil
}

// accountTransport picks the transport of an account's requests, as a
// Janus client expects: the one the outbound proxy's URI asks for (a
// transport parameter, sips:), else the registrar's, else TCP with
// force_tcp, else UDP; force_tcp and force_udp refuse a proxy that asks
// for the other. It also sets acct.outbound.
func (a *Agent) accountTransport(req Request, acct *account) (transport, error) {
	tp, explicit, err := uriTransport("proxy", acct.registrar)
	if err != nil {
		return tp, err
	}
	var ob sip.Uri
	if req.OutboundProxy != "" {
		if ob, err = parseURI("outbound_proxy", req.OutboundProxy); err != nil {
			return tp, err
		}
		obt, ok, err := uriTransport("outbound_proxy", ob)
		if err != nil {
			return tp, err
		}
		if ok {
			tp, explicit = obt, true
		}
	}
	switch {
	case !explicit && req.ForceTCP:
		tp = tpTCP
	case !explicit:
		tp = tpUDP
	case req.ForceTCP && tp.name == "udp":
		return tp, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Conflicting elements: force_tcp and a proxy over UDP")
	case req.ForceUDP && tp.name != "udp":
		return tp, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Conflicting elements: force_udp and a proxy over %s", tp.network())
	}
	if err := a.p.available(tp); err != nil {
		code := ErrorInvalidAddress
		if req.ForceTCP {
			code = ErrorInvalidElement
		}
		return tp, perr(code, err, "%v", err)
	}
	if req.OutboundProxy != "" {
		acct.outbound = hostPort(ob, tp)
	}
	return tp, nil
}

// unregister handles {"request":"unregister"}.
func (a *Agent) unregister(transaction string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state != regRegistered || a.reg == nil {
		// Guests too, as in Janus: nothing to withdraw.
		return perr(ErrorWrongState, ErrCallState, "Wrong state (not registered)")
	}
	a.state = regUnregistering
	select {
	case a.reg.unreg <- transaction:
	default:
	}
	a.push(transaction, "", map[string]any{"event": "unregistering"}, nil)
	return nil
}

// runRegistration registers, refreshes the registration at three quarters
// of the lifetime the registrar granted, and un-registers on request or,
// quietly, when the handle goes away.
func (a *Agent) runRegistration(ctx context.Context, r *registration, transaction string) {
	defer close(r.done)
	defer r.cancel()
	acct := r.acct
	callID := sip.GenerateTagN(24)
	// All REGISTERs of a binding share the Call-ID and count up the CSeq
	// (RFC 3261 section 10.2.4).
	cseq := uint32(1)
	registered := false
loop:
	for {
		res, granted, err := a.p.sendRegister(ctx, acct, callID, &cseq, acct.ttl)
		if ctx.Err() != nil {
			break
		}
		if err != nil || res.StatusCode != sip.StatusOK {
			code, reason := failure(res, err)
			a.p.dropUser(acct.uri.User, a)
			a.endRegistration(r)
			a.push(transaction, "", map[string]any{"event": "registration_failed", "code": code, "reason": reason}, nil)
			return
		}
		if !registered {
			registered = true
			a.mu.Lock()
			ok := a.reg == r && !a.detached
			if ok {
				a.state = regRegistered
			}
			a.mu.Unlock()
			if !ok {
				break
			}
			a.p.setUser(acct.uri.User, a)
			a.push(transaction, "", map[string]any{"event": "registered", "username": acct.uri.User, "register_sent": true}, nil)
		}
		refresh := time.NewTimer(max(granted*3/4, 500*time.Millisecond))
		select {
		case <-refresh.C:
			continue
		case tr := <-r.unreg:
			refresh.Stop()
			a.p.dropUser(acct.uri.User, a)
			uctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
			res, _, err := a.p.sendRegister(uctx, acct, callID, &cseq, 0)
			cancel()
			a.endRegistration(r)
			if err != nil || res.StatusCode != sip.StatusOK {
				code, reason := failure(res, err)
				a.push(tr, "", map[string]any{"event": "registration_failed", "code": code, "reason": reason}, nil)
				return
			}
			a.push(tr, "", map[string]any{"event": "unregistered", "username": acct.uri.User, "register_sent": true}, nil)
			return
		case <-ctx.Done():
			refresh.Stop()
			break loop
		}
	}
	// Detached, refreshed over, or the plugin is closing: withdraw the
	// binding if there is one, without events. The un-REGISTER does not
	// depend on ctx, which is done by now; Plugin.Close bounds it.
	a.endRegistration(r)
	if r.keep.Load() {
		return
	}
	a.p.dropUser(acct.uri.User, a)
	if registered {
		uctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_, _, _ = a.p.sendRegister(uctx, acct, callID, &cseq, 0)
	}
}

// endRegistration forgets r if it is still the agent's.
func (a *Agent) endRegistration(r *registration) {
	a.mu.Lock()
	if a.reg == r {
		a.reg = nil
		a.state = regNone
		a.acct = nil
	}
	a.mu.Unlock()
}

// failure turns a failed transaction into the code and reason of a
// registration_failed or hangup event.
func failure(res *sip.Response, err error) (int, string) {
	if res != nil {
		return res.StatusCode, res.Reason
	}
	if errors.Is(err, sip.ErrTransactionTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return sip.StatusRequestTimeout, "Request Timeout"
	}
	return sip.StatusServiceUnavailable, "Service Unavailable"
}

// sendRegister sends one REGISTER (RFC 3261 section 10.2) for expires,
// answering a digest challenge (RFC 3261 section 22.2) once. It returns
// the final response and the lifetime the registrar granted.
func (p *Plugin) sendRegister(ctx context.Context, acct *account, callID string, cseq *uint32, expires time.Duration) (*sip.Response, time.Duration, error) {
	req := sip.NewRequest(sip.REGISTER, acct.registrar)
	req.AppendHeader(acct.from(sip.GenerateTagN(16)))
	req.AppendHeader(&sip.ToHeader{Address: acct.uri})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: *cseq, MethodName: sip.REGISTER})
	req.AppendHeader(p.contact(acct.uri.User, acct.tp))
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	p.addCommonHeaders(req, acct, acct.headers)
	p.route(req, acct, acct.tp)
	*cseq++

	// Over TCP and TLS the connection stays open after the transaction
	// (sipgo keeps it idle): the refreshes go over it, and the registrar
	// may send our calls over it.
	cli := p.stackOf(acct.tp).cli
	res, err := cli.Do(ctx, req)
	if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) {
		res, err = cli.DoDigestAuth(ctx, req, res, acct.digest())
		if c := req.CSeq(); c != nil {
			*cseq = c.SeqNo + 1
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return res, grantedExpiry(res, p.contact(acct.uri.User, acct.tp), expires), nil
}

// grantedExpiry is the lifetime the registrar gave our binding: the
// expires parameter of our Contact in the 200, else the Expires header,
// else what we asked for (RFC 3261 section 10.2.4).
func grantedExpiry(res *sip.Response, ours *sip.ContactHeader, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.User != ours.Address.User || c.Address.Port != ours.Address.Port {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(h.Value()); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// addCommonHeaders adds the User-Agent, the request's custom headers and
// the outbound proxy.
func (p *Plugin) addCommonHeaders(req *sip.Request, acct *account, custom []sip.Header) {
	ua := p.p.UserAgent
	if acct != nil && acct.userAgent != "" {
		ua = acct.userAgent
	}
	req.AppendHeader(sip.NewHeader("User-Agent", ua))
	for _, h := range custom {
		req.AppendHeader(sip.HeaderClone(h))
	}
	if acct != nil && acct.outbound != "" {
		req.SetDestination(acct.outbound)
	}
}
