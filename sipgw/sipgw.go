package sipgw

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
)

// Name is the plugin's package name, the one Janus clients attach to.
const Name = "janus.plugin.sip"

// cleanupTimeout bounds what is sent on the way out (BYE, CANCEL,
// un-REGISTER) when a handle is detached or the plugin closed.
const cleanupTimeout = 5 * time.Second

// Plugin is the SIP gateway. It owns one SIP stack (sipgo user agent) on
// one UDP socket, and a TCP and a TLS listener when configured, shared by
// every handle: each handle is a user agent of its own (an Agent) as far
// as its peers can tell, by its From and Contact.
// Requests that start a dialog are routed to the handle registered for
// the Request-URI's user; requests inside a dialog by their Call-ID.
//
// A host must Close the plugin after closing the router.
type Plugin struct {
	p   Params
	log *slog.Logger

	conn net.PacketConn
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	// udp, tcp and tls send requests over their transport; tcp and tls
	// are nil when not enabled.
	udp, tcp, tls *stack
	laddr         sip.Addr // our UDP socket, the source of every UDP request
	host          string   // Contact host and port
	port          int      // of UDP and TCP
	tlsPort       int
	tlsAddr       net.Addr
	// listeners are the TCP and TLS ones; serving counts the goroutines
	// that accept on them.
	listeners []net.Listener
	serving   sync.WaitGroup
	ports     portRange
	// glareUnit is the 10 ms of RFC 3261 section 14.1's retry timer;
	// tests shorten it before the first call.
	glareUnit time.Duration
	// onGlare, set by tests before the first call, sees each wait before
	// a re-INVITE refused with 491 is sent again.
	onGlare func(wait time.Duration)

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // every goroutine the plugin owns
	serveDone chan struct{}
	closeDone chan struct{} // closed when Close has finished

	mu     sync.Mutex
	closed bool
	users  map[string]*Agent // registered user part -> agent
	// guests marks the users held by guest handles (a registered handle
	// takes a user over from a guest, not the other way).
	guests map[string]bool
	calls  map[string]*call // Call-ID -> call
	// transfers are the REFERs we accepted, by refer_id.
	transfers map[uint32]*transfer

	// rooms is the dial-in of calls to video rooms (dialin.go).
	rooms roomGateway
}

// New opens the SIP sockets and starts serving them.
func New(params Params) (*Plugin, error) {
	params, err := params.withDefaults()
	if err != nil {
		return nil, err
	}
	conn, tcpLn, err := listen(params.ListenAddr, params.TCP)
	if err != nil {
		return nil, fmt.Errorf("sipgw: SIP listen on %s: %w", params.ListenAddr, err)
	}
	var tlsLn net.Listener
	if params.TLSConfig != nil {
		if tlsLn, err = listenTLS(params.TLSListenAddr, params.TLSConfig); err != nil {
			_ = conn.Close()
			if tcpLn != nil {
				_ = tcpLn.Close()
			}
			return nil, fmt.Errorf("sipgw: SIP TLS listen on %s: %w", params.TLSListenAddr, err)
		}
	}
	local := conn.LocalAddr().(*net.UDPAddr)
	p := &Plugin{
		p:         params,
		log:       params.Logger,
		conn:      conn,
		laddr:     sip.Addr{IP: local.IP, Port: local.Port, Hostname: local.IP.String()},
		host:      params.LocalIP,
		port:      local.Port,
		ports:     portRange{min: params.RTPPortMin, max: params.RTPPortMax},
		glareUnit: defaultGlareUnit,
		serveDone: make(chan struct{}),
		closeDone: make(chan struct{}),
		users:     make(map[string]*Agent),
		calls:     make(map[string]*call),
		transfers: make(map[uint32]*transfer),
	}
	if tlsLn != nil {
		p.tlsAddr = tlsLn.Addr()
		p.tlsPort = tlsLn.Addr().(*net.TCPAddr).Port
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	fail := func(err error) (*Plugin, error) {
		if p.ua != nil {
			_ = p.ua.Close()
		}
		_ = conn.Close()
		for _, ln := range []net.Listener{tcpLn, tlsLn} {
			if ln != nil {
				_ = ln.Close()
			}
		}
		return nil, err
	}
	sipLog := params.Logger.With("component", "sipgo")
	p.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(params.UserAgent),
		sipgo.WithUserAgentHostname(params.LocalIP),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			// Retransmitted 2xx we already acknowledged; nothing to do.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				sipLog.Debug("sipgw: unmatched response", "response", r.StartLine())
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		// Outgoing TLS connections verify the peer with it.
		sipgo.WithUserAgenTLSConfig(params.TLSConfig),
	)
	if err != nil {
		return fail(fmt.Errorf("sipgw: SIP user agent: %w", err))
	}
	if p.srv, err = sipgo.NewServer(p.ua, sipgo.WithServerLogger(sipLog)); err != nil {
		return fail(fmt.Errorf("sipgw: SIP server: %w", err))
	}
	// Every UDP request leaves from our one socket, so that responses and
	// in-dialog requests come back to it and Via/Contact tell the truth.
	// TCP and TLS requests go over a connection to the peer (one it
	// opened, or a new one), their Via naming our listener.
	if p.udp, err = p.newStack(tpUDP, local.Port, sipgo.WithClientConnectionAddr(local.String())); err != nil {
		return fail(fmt.Errorf("sipgw: SIP client: %w", err))
	}
	if tcpLn != nil {
		if p.tcp, err = p.newStack(tpTCP, local.Port); err != nil {
			return fail(fmt.Errorf("sipgw: SIP client: %w", err))
		}
	}
	if tlsLn != nil {
		if p.tls, err = p.newStack(tpTLS, p.tlsPort); err != nil {
			return fail(fmt.Errorf("sipgw: SIP client: %w", err))
		}
	}

	p.srv.OnInvite(p.serve(p.onInvite))
	p.srv.OnAck(p.serve(p.onAck))
	p.srv.OnBye(p.serve(p.onBye))
	p.srv.OnCancel(p.serve(p.onCancel))
	p.srv.OnInfo(p.serve(p.onInfo))
	p.srv.OnOptions(p.serve(p.onOptions))
	p.srv.OnMessage(p.serve(p.onMessage))
	p.srv.OnRefer(p.serve(p.onRefer))
	p.srv.OnNotify(p.serve(p.onNotify))

	go func() {
		defer close(p.serveDone)
		_ = p.srv.ServeUDP(conn)
	}()
	if tcpLn != nil {
		p.serveStream(tcpLn, p.srv.ServeTCP)
	}
	if tlsLn != nil {
		p.serveStream(tlsLn, p.srv.ServeTLS)
	}
	// ServeUDP registers the socket in sipgo's connection pool from its
	// goroutine; a request sent before that would try to bind the port a
	// second time.
	deadline := time.Now().Add(2 * time.Second)
	for {
		if c, err := p.ua.TransportLayer().GetConnection("udp", local.String()); err == nil && c != nil {
			break
		}
		if time.Now().After(deadline) {
			_ = p.Close(context.Background())
			return nil, fmt.Errorf("sipgw: SIP socket %s not served", local)
		}
		time.Sleep(time.Millisecond)
	}
	p.log.Info("sipgw: SIP listening", "addr", local.String(), "tcp", tcpLn != nil, "tls", p.tlsAddr)
	return p, nil
}

// Name implements ianua.Plugin.
func (*Plugin) Name() string { return Name }

// Attach implements ianua.Plugin.
func (p *Plugin) Attach(h *ianua.Handle) (ianua.Attachment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	return newAgent(p, h), nil
}

// Addr is the address of the SIP socket (UDP, and TCP with Params.TCP).
func (p *Plugin) Addr() net.Addr { return p.conn.LocalAddr() }

// TLSAddr is the address of the TLS listener, nil without TLS.
func (p *Plugin) TLSAddr() net.Addr { return p.tlsAddr }

// Close ends every call and registration (best effort: BYE, CANCEL,
// un-REGISTER), waits for the plugin's goroutines or ctx, and closes the
// SIP stack and socket. Close the router first: it detaches the handles.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		// Closed, or closing on another goroutine: wait for it.
		select {
		case <-p.closeDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.closed = true
	p.mu.Unlock()
	defer close(p.closeDone)
	p.cancel()

	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	// No new connections; then closing the stack terminates what is left
	// of the transactions, which lets the stragglers return, and closes
	// the connections.
	p.closeListeners()
	_ = p.ua.Close()
	_ = p.conn.Close()
	<-done
	<-p.serveDone
	sweep(p.ua)
	return err
}

// sweep closes the connections sipgo made while it was closing: a message
// read just before the socket closed is handled on a goroutine of its own,
// and when the pool is already empty the reply goes out on a new socket,
// whose reader nothing would stop (sipgo v1.7.3 TransportLayer.Close does
// not refuse new connections). settle is ample for those goroutines.
func sweep(ua *sipgo.UserAgent) {
	const settle = 50 * time.Millisecond
	time.Sleep(settle)
	_ = ua.TransportLayer().Close()
}

// track counts one more goroutine owned by the plugin, unless it is closed.
func (p *Plugin) track() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// goOwned runs f on a goroutine owned by the plugin.
func (p *Plugin) goOwned(f func()) bool {
	if !p.track() {
		return false
	}
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// serve wraps a request handler so that the plugin owns its goroutine and
// Close waits for it.
func (p *Plugin) serve(h func(*sip.Request, sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !p.track() {
			if !req.IsAck() {
				_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil))
			}
			return
		}
		defer p.wg.Done()
		h(req, tx)
	}
}

func (p *Plugin) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string) {
	if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		p.log.Debug("sipgw: respond", "code", code, "err", err)
	}
}

// setUser routes new dialogs for user to a.
func (p *Plugin) setUser(user string, a *Agent) {
	p.mu.Lock()
	p.users[user] = a
	delete(p.guests, user)
	p.mu.Unlock()
}

// setGuestUser routes new dialogs for user to a guest, unless a handle
// that registered the user holds it: a guest is reached on the
// gateway's own address (Janus gives each guest a socket of its own).
func (p *Plugin) setGuestUser(user string, a *Agent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.users[user]; cur != nil && cur != a && !p.guests[user] {
		return
	}
	p.users[user] = a
	if p.guests == nil {
		p.guests = map[string]bool{}
	}
	p.guests[user] = true
}

// dropUser stops routing user to a (if it still is a's).
func (p *Plugin) dropUser(user string, a *Agent) {
	p.mu.Lock()
	if p.users[user] == a {
		delete(p.users, user)
		delete(p.guests, user)
	}
	p.mu.Unlock()
}

func (p *Plugin) userAgent(user string) *Agent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.users[user]
}

// dialogKey identifies one of our dialogs by its Call-ID and our tag (RFC
// 3261 section 12): the Call-ID alone is not enough when the gateway calls
// itself, one handle's INVITE reaching another with the same Call-ID.
func dialogKey(callID, localTag string) string { return callID + "\x00" + localTag }

func (p *Plugin) addCall(c *call) {
	p.mu.Lock()
	p.calls[dialogKey(c.id, c.localTag)] = c
	p.mu.Unlock()
}

func (p *Plugin) dropCall(c *call) {
	key := dialogKey(c.id, c.localTag)
	p.mu.Lock()
	if p.calls[key] == c {
		delete(p.calls, key)
	}
	p.mu.Unlock()
}

// requestKey is the dialog key of a request inside one of our dialogs:
// its To tag is ours (RFC 3261 section 12.2.2). A request without one
// starts a dialog: false.
func requestKey(req *sip.Request) (string, bool) {
	id, to := req.CallID(), req.To()
	if id == nil || to == nil {
		return "", false
	}
	tag, ok := to.Params.Get("tag")
	if !ok || tag == "" {
		return "", false
	}
	return dialogKey(id.Value(), tag), true
}

// callOf finds the call of a request inside one of our dialogs.
func (p *Plugin) callOf(req *sip.Request) *call {
	key, ok := requestKey(req)
	if !ok {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[key]
}

func (p *Plugin) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	p.respond(req, tx, sip.StatusOK, "OK")
}

// onCancel sees only the CANCELs that match no INVITE transaction (the
// transaction layer answers the others, RFC 3261 section 9.2).
func (p *Plugin) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}
