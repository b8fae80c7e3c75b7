package sipgw

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// transport is how a SIP request travels (RFC 3261 section 18): "udp",
// "tcp" or "tls". sips marks TLS reached by a sips: URI, whose dialog
// uses sips: URIs, our Contact included (RFC 3261 section 26.2.2).
type transport struct {
	name string
	sips bool
}

var (
	tpUDP = transport{name: "udp"}
	tpTCP = transport{name: "tcp"}
	tpTLS = transport{name: "tls"}
)

// network is sipgo's name of the transport.
func (t transport) network() string { return strings.ToUpper(t.name) }

// reliable says whether messages go over a connection (RFC 3261 section
// 18: TCP and TLS), which keeps no 1300-byte bound (section 18.1.1).
func (t transport) reliable() bool { return t.name != "udp" }

// transportOfRequest is the transport a request came over, for the
// dialog it starts.
func transportOfRequest(req *sip.Request) transport {
	switch strings.ToLower(req.Transport()) {
	case "tcp":
		return tpTCP
	case "tls":
		return transport{name: "tls", sips: req.Recipient.Scheme == "sips"}
	}
	return tpUDP
}

// uriTransport is the transport a URI asks for: its transport parameter,
// TLS for a sips: URI (RFC 3261 section 19.1). ok is false when it asks
// for none. A transport the plugin does not know (ws, sctp, anything
// else) is refused with ErrTransportUnavailable.
func uriTransport(field string, u sip.Uri) (t transport, ok bool, err error) {
	param := ""
	if u.UriParams != nil {
		param, _ = u.UriParams.Get("transport")
		param = strings.ToLower(param)
	}
	if u.Scheme == "sips" {
		// sips over TCP is TLS; over UDP it is a contradiction.
		if param == "" || param == "tls" || param == "tcp" {
			return transport{name: "tls", sips: true}, true, nil
		}
		return t, false, perr(ErrorInvalidAddress, ErrTransportUnavailable, "Invalid %s address (sips: over %s)", field, param)
	}
	switch param {
	case "":
		return t, false, nil
	case "udp":
		return tpUDP, true, nil
	case "tcp":
		return tpTCP, true, nil
	case "tls":
		return tpTLS, true, nil
	}
	return t, false, perr(ErrorInvalidAddress, ErrTransportUnavailable, "Unsupported transport %q in %s address", param, field)
}

// available refuses a transport the plugin does not listen on.
func (p *Plugin) available(t transport) error {
	switch {
	case t.name == "tcp" && p.tcp == nil:
		return fmt.Errorf("%w: TCP is not enabled (Params.TCP)", ErrTransportUnavailable)
	case t.name == "tls" && p.tls == nil:
		return fmt.Errorf("%w: TLS is not enabled (Params.TLSConfig)", ErrTransportUnavailable)
	}
	return nil
}

// requestTransport is the transport of a request of acct outside a dialog
// to target (a call, a MESSAGE): the outbound proxy's when there is one,
// every request going there first; else the one target asks for; else
// the account's.
func (p *Plugin) requestTransport(field string, acct *account, target sip.Uri) (transport, error) {
	t, ok, err := uriTransport(field, target)
	if err != nil {
		return t, err
	}
	if !ok || acct.outbound != "" {
		t = acct.tp
	}
	if err := p.available(t); err != nil {
		return t, perr(ErrorInvalidAddress, err, "Invalid %s address (%v)", field, err)
	}
	return t, nil
}

// stack is what sends requests over one transport: a client whose Via
// names our listener of that transport, and its dialogs.
type stack struct {
	cli *sipgo.Client
	dua *sipgo.DialogUA
}

// newStack makes the stack of t, whose listener is on port.
func (p *Plugin) newStack(t transport, port int, opts ...sipgo.ClientOption) (*stack, error) {
	opts = append([]sipgo.ClientOption{
		sipgo.WithClientLogger(p.log.With("component", "sipgo")),
		sipgo.WithClientHostname(p.host),
		sipgo.WithClientPort(port),
	}, opts...)
	cli, err := sipgo.NewClient(p.ua, opts...)
	if err != nil {
		return nil, err
	}
	return &stack{cli: cli, dua: &sipgo.DialogUA{Client: cli, ContactHDR: *p.contact("", t)}}, nil
}

// stackOf is the stack that sends over t.
func (p *Plugin) stackOf(t transport) *stack {
	switch t.name {
	case "tcp":
		if p.tcp != nil {
			return p.tcp
		}
	case "tls":
		if p.tls != nil {
			return p.tls
		}
	}
	return p.udp
}

// route sends req, a request outside a dialog, over t: to the outbound
// proxy when acct has one, else to the Request-URI's host.
func (p *Plugin) route(req *sip.Request, acct *account, t transport) {
	req.SetTransport(t.network())
	if acct != nil && acct.outbound != "" {
		req.SetDestination(acct.outbound)
	}
}

// inDialog sends req inside a dialog over t: with connections, over the
// one the dialog came on (src) while it is open, as the peer may not be
// reachable at its Contact (behind NAT, RFC 5626 section 5.3), else by
// the dialog's route; over UDP, from our socket.
func (p *Plugin) inDialog(req *sip.Request, t transport, src string) {
	if !t.reliable() {
		req.Laddr = p.laddr
		return
	}
	if src == "" {
		return
	}
	if c, err := p.ua.TransportLayer().GetConnection(t.network(), src); err == nil && c != nil {
		_, _ = c.TryClose() // GetConnection took a reference
		req.SetDestination(src)
	}
}

// contact is our Contact for user reached over t (RFC 3261 section 8.1.1.8).
func (p *Plugin) contact(user string, t transport) *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: user, Host: p.host, Port: p.port}
	switch {
	case t.sips:
		u.Scheme, u.Port = "sips", p.tlsPort
	case t.name == "tls":
		u.Port = p.tlsPort
		u.UriParams = sip.HeaderParams{{K: "transport", V: "tls"}}
	case t.name == "tcp":
		u.UriParams = sip.HeaderParams{{K: "transport", V: "tcp"}}
	}
	return &sip.ContactHeader{Address: u}
}

// hostPort is where a URI sends requests over t: its host and port (5060,
// 5061 for TLS, when absent: RFC 3263 section 4.2 without the DNS
// look-ups).
func hostPort(u sip.Uri, t transport) string {
	port := u.Port
	if port == 0 {
		port = sip.DefaultPort(t.name)
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port))
}

// streamListener keeps the listener's address out of sipgo's connection
// pool. sipgo files an accepted connection under its remote address and
// its local one, the listener's: a request of ours to the listener's
// address (a handle calling another over TCP) would go over whichever
// connection came last, a stranger's. Accepted connections say port 0
// is theirs, an address no request goes to.
type streamListener struct{ net.Listener }

func (l streamListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return acceptedConn{c}, nil
}

type acceptedConn struct{ net.Conn }

func (c acceptedConn) LocalAddr() net.Addr {
	a, ok := c.Conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return c.Conn.LocalAddr()
	}
	return &net.TCPAddr{IP: a.IP, Zone: a.Zone}
}

// listen opens the SIP sockets: UDP on addr and, with tcp, TCP on the
// same address and port (an ephemeral port is one that both have free).
func listen(addr string, tcp bool) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	tries := 1
	if port == "0" && tcp {
		tries = 20
	}
	var err error
	for range tries {
		var conn net.PacketConn
		if conn, err = net.ListenPacket("udp4", addr); err != nil {
			return nil, nil, err
		}
		if !tcp {
			return conn, nil, nil
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp4", conn.LocalAddr().String()); err == nil {
			return conn, streamListener{ln}, nil
		}
		_ = conn.Close()
	}
	return nil, nil, err
}

// listenTLS opens the TLS listener.
func listenTLS(addr string, conf *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(streamListener{ln}, conf), nil
}

// serveStream serves a TCP or TLS listener on a goroutine that ends when
// the listener is closed.
func (p *Plugin) serveStream(ln net.Listener, serve func(net.Listener) error) {
	p.listeners = append(p.listeners, ln)
	p.serving.Add(1)
	go func() {
		defer p.serving.Done()
		_ = serve(ln)
	}()
}

// closeListeners stops accepting connections and waits for the
// accepting goroutines; the connections accepted close with the
// transport layer.
func (p *Plugin) closeListeners() {
	for _, ln := range p.listeners {
		_ = ln.Close()
	}
	p.serving.Wait()
}
