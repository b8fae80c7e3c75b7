package sipgw

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/internal/testsip"
)

// SIP over TCP and TLS: SIPp over TCP (this SIPp has no TLS), baresip
// over TLS, and sipgo peers in process for TLS registration.

// testCert is a self-signed certificate for 127.0.0.1, its own CA, so
// that both ends of a test connection trust it: the gateway's config,
// and a PEM file (certificate and key) for baresip.
func testCert(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12}, file
}

// TestSIPpRegistrarTCP registers over TCP with SIPp (-t t1: it takes
// TCP only) as the digest registrar: a proxy URI with ;transport=tcp,
// then force_tcp with a plain one.
func TestSIPpRegistrarTCP(t *testing.T) {
	e := newEnvWith(t, Params{TCP: true})
	port := testsip.FreeUDPAndTCPPort(t)
	sipp := runSIPp(t, "-sf", testsip.Scenario(t, "sipp-registrar.xml"), "-t", "t1", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "2")
	testsip.WaitBound(t, port, true)
	proxy := "sip:127.0.0.1:" + strconv.Itoa(port)

	_, h2, log2 := e.newHandle()
	e.must(h2, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "wrong", "proxy": proxy + ";transport=tcp"}, nil)
	if r := resultOf(e.wait(log2, h2, "registration_failed")); r["code"] != float64(403) {
		t.Errorf("registration_failed: %v", r)
	}

	e.must(e.h, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "s3cret", "proxy": proxy, "force_tcp": true}, nil)
	if r := resultOf(e.wait(e.log, e.h, "registered")); r["username"] != "alice" || r["register_sent"] != true {
		t.Errorf("registered: %v", r)
	}
	e.must(e.h, map[string]any{"request": "unregister"}, nil)
	e.wait(e.log, e.h, "unregistered")
	sipp.Check(t, 10*time.Second)
}

// TestRegisterTCPConnection registers over TCP with a sipgo registrar
// that grants 1 s: the refreshes and the un-REGISTER go over the
// connection of the first REGISTER, with a Contact of transport tcp, and
// a call the registrar's side sends over that connection reaches the
// handle.
func TestRegisterTCPConnection(t *testing.T) {
	e := newEnvWith(t, Params{TCP: true})
	reg := newRegistrar(e, "alice", "pw", 1)
	addr := reg.listenStream(e, nil)
	e.must(e.h, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "pw",
		"proxy": "sip:" + addr + ";transport=tcp"}, nil)
	e.wait(e.log, e.h, "registered")
	testpeer.WaitFor(t, 5*time.Second, "two refreshes", func() bool { n, _, _ := reg.counts(); return n >= 3 })
	_, _, contact := reg.counts()
	if want := fmt.Sprintf("sip:alice@%s;transport=tcp", e.gw.Addr()); contact != want {
		t.Errorf("Contact %s, want %s", contact, want)
	}
	e.must(e.h, map[string]any{"request": "unregister"}, nil)
	e.wait(e.log, e.h, "unregistered")
	reg.mu.Lock()
	sources := append([]string(nil), reg.sources...)
	reg.mu.Unlock()
	for _, s := range sources {
		if s != sources[0] || !strings.HasPrefix(s, "TCP ") {
			t.Errorf("REGISTERs came from %v, want one TCP connection", sources)
			break
		}
	}
	t.Logf("%d REGISTERs over %s", len(sources), sources[0])
}

// TestSIPpUASTCP calls SIPp over TCP (;transport=tcp in the URI), with
// hold and unhold (re-INVITEs in the dialog), RTP echoed both ways, and
// the browser's hangup (our BYE, over the dialog's connection).
func TestSIPpUASTCP(t *testing.T) {
	e := newEnvWith(t, Params{TCP: true})
	port, media := testsip.FreeUDPAndTCPPort(t), testsip.FreePort(t, true)
	sipp := runSIPp(t, "-sf", testsip.Scenario(t, "sipp-uas-hold.xml"), "-t", "t1", "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-p", strconv.Itoa(port), "-mp", strconv.Itoa(media), "-m", "1")
	testsip.WaitBound(t, port, true)

	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "call", "uri": "sip:echo@127.0.0.1:" + strconv.Itoa(port) + ";transport=tcp"}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	b.sendAudio()
	a := e.h.Attachment().(*Agent)
	waitPackets(t, "RTP echoed by SIPp", func() bool { return b.received.Load() > 25 && a.Status().PacketsToPeer > 25 })
	if c := a.currentCall(); c == nil || c.tp != tpTCP {
		t.Fatalf("call transport: %+v", c)
	}

	e.must(e.h, map[string]any{"request": "hold", "direction": "inactive"}, nil)
	e.wait(e.log, e.h, "holding")
	testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return a.currentCall().reinvitingDone() })
	resumed := b.received.Load()
	e.must(e.h, map[string]any{"request": "unhold"}, nil)
	e.wait(e.log, e.h, "resuming")
	waitPackets(t, "echo after unhold", func() bool { return b.received.Load() > resumed+25 })
	st := a.Status()
	t.Logf("browser sent %d, got %d; gateway: %d to SIPp, %d from it", b.sent.Load(), b.received.Load(), st.PacketsToPeer, st.PacketsFromPeer)

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	sipp.Check(t, 10*time.Second)
	legsEnded(t, e, b, 0)
}

// TestSIPpUACTCP takes a call from SIPp over TCP (-t t1 to the
// gateway's address), which echoes RTP and hangs up (its BYE over TCP).
func TestSIPpUACTCP(t *testing.T) {
	e := newEnvWith(t, Params{TCP: true})
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	media := testsip.FreePort(t, true)
	sipp := runSIPp(t, "-sn", "uac", "-t", "t1", "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(media),
		"-p", strconv.Itoa(testsip.FreeUDPAndTCPPort(t)), "-s", "alice", "-d", "3000", "-m", "1", e.gw.Addr().String())

	ev := e.wait(e.log, e.h, "incomingcall")
	a := e.h.Attachment().(*Agent)
	if c := a.currentCall(); c == nil || c.tp != tpTCP {
		t.Fatalf("call transport: %+v", c)
	}
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "accept"}, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")
	b.sendAudio()
	waitPackets(t, "RTP echoed by SIPp", func() bool { return b.received.Load() > 25 && a.Status().PacketsToPeer > 25 })
	st := a.Status()
	t.Logf("browser sent %d, got %d; gateway: %d to SIPp, %d from it", b.sent.Load(), b.received.Load(), st.PacketsToPeer, st.PacketsFromPeer)
	if r := resultOf(e.log.Wait(t, 15*time.Second, "hangup", sipEvent(e.h.ID(), "hangup"))); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	sipp.Check(t, 10*time.Second)
	legsEnded(t, e, b, 0)
}

// TestRegisterTLS registers over TLS with a sipgo registrar (SIPp here
// has no TLS, baresip is no registrar), by a sips: proxy URI, and
// un-registers over the same connection.
func TestRegisterTLS(t *testing.T) {
	conf, _ := testCert(t)
	e := newEnvWith(t, Params{TLSConfig: conf})
	reg := newRegistrar(e, "alice", "pw", 60)
	addr := reg.listenStream(e, conf)
	e.must(e.h, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "pw", "proxy": "sips:" + addr}, nil)
	e.wait(e.log, e.h, "registered")
	_, _, contact := reg.counts()
	if want := fmt.Sprintf("sips:alice@%s", e.gw.TLSAddr()); contact != want {
		t.Errorf("Contact %s, want %s", contact, want)
	}
	e.must(e.h, map[string]any{"request": "unregister"}, nil)
	e.wait(e.log, e.h, "unregistered")
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if len(reg.sources) != 4 || reg.sources[0] != reg.sources[3] || !strings.HasPrefix(reg.sources[0], "TLS ") {
		t.Errorf("REGISTERs came from %v, want 4 over one TLS connection", reg.sources)
	}
}

// TestBaresipTLS calls baresip over TLS (it answers by itself; the
// browser hangs up), then takes a call from it over TLS (baresip hangs
// up): RTP both ways each time.
func TestBaresipTLS(t *testing.T) {
	conf, pemFile := testCert(t)
	e := newEnvWith(t, Params{TLSConfig: conf})
	peer := testsip.StartBaresip(t, testsip.BaresipOptions{User: "carol", Codecs: "PCMU/8000", Answer: true, Ctrl: true, TLS: pemFile})
	ctrl := dialCtrl(t, peer)
	a := e.h.Attachment().(*Agent)
	e.must(e.h, map[string]any{"request": "register", "type": "guest", "username": "sip:alice@127.0.0.1"}, nil)
	e.wait(e.log, e.h, "registered")

	flows := func(b *browser) {
		t.Helper()
		if c := a.currentCall(); c == nil || c.tp.name != "tls" {
			t.Fatalf("call transport: %+v", c)
		}
		b.sendAudio()
		waitPackets(t, "baresip's sine at the browser", func() bool { return b.received.Load() > 25 })
		waitPackets(t, "browser audio to baresip", func() bool { return a.Status().PacketsToPeer > 25 })
		st := a.Status()
		t.Logf("gateway: %d packets to baresip, %d from it; browser got %d", st.PacketsToPeer, st.PacketsFromPeer, b.received.Load())
	}

	// To baresip, at its TLS port; the browser hangs up.
	ctrlMark := ctrl.mark()
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "call", "uri": fmt.Sprintf("sip:carol@127.0.0.1:%d;transport=tls", peer.Port+1)}, b.offer())
	b.flush()
	b.apply(e.wait(e.log, e.h, "accepted").JSEP)
	flows(b)
	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	ctrl.waitEvent(t, ctrlMark, "CALL_CLOSED")
	legsEnded(t, e, b, 0)
	testpeer.WaitFor(t, 5*time.Second, "the handle free", func() bool { return a.currentCall() == nil })

	// From baresip, to the gateway's TLS listener; baresip hangs up.
	mark, ctrlMark := e.log.Len(), ctrl.mark()
	ctrl.command(t, "dial", fmt.Sprintf("sip:alice@%s;transport=tls", e.gw.TLSAddr()))
	ev := e.log.WaitFrom(t, mark, 10*time.Second, "incomingcall", sipEvent(e.h.ID(), "incomingcall"))
	b = newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "accept"}, b.answer(ev.JSEP))
	b.flush()
	e.log.WaitFrom(t, mark, 10*time.Second, "accepted", sipEvent(e.h.ID(), "accepted"))
	ctrl.waitEvent(t, ctrlMark, "CALL_ESTABLISHED")
	flows(b)
	ctrl.command(t, "hangup", "")
	if r := resultOf(e.log.WaitFrom(t, mark, 10*time.Second, "hangup", sipEvent(e.h.ID(), "hangup"))); r["code"] != float64(200) {
		t.Errorf("hangup by baresip: %v", r)
	}
	legsEnded(t, e, b, mark)
}

// TestTransportBadInput: transports the plugin does not have or know are
// refused at once with ErrTransportUnavailable.
func TestTransportBadInput(t *testing.T) {
	e := newEnv(t) // UDP only
	testCases := []struct {
		name string
		body map[string]any
		code int
		err  error
	}{
		{"force_tcp", map[string]any{"request": "register", "username": "sip:a@127.0.0.1", "secret": "x", "force_tcp": true}, ErrorInvalidElement, ErrTransportUnavailable},
		{"force both", map[string]any{"request": "register", "username": "sip:a@127.0.0.1", "secret": "x", "force_tcp": true, "force_udp": true}, ErrorInvalidElement, ianua.ErrInvalidElement},
		{"proxy tcp", map[string]any{"request": "register", "username": "sip:a@127.0.0.1", "secret": "x", "proxy": "sip:127.0.0.1;transport=tcp"}, ErrorInvalidAddress, ErrTransportUnavailable},
		{"proxy sips", map[string]any{"request": "register", "username": "sip:a@127.0.0.1", "secret": "x", "proxy": "sips:127.0.0.1"}, ErrorInvalidAddress, ErrTransportUnavailable},
		{"proxy sctp", map[string]any{"request": "register", "username": "sip:a@127.0.0.1", "secret": "x", "proxy": "sip:127.0.0.1;transport=sctp"}, ErrorInvalidAddress, ErrTransportUnavailable},
		{"outbound ws", map[string]any{"request": "register", "username": "sip:a@127.0.0.1", "secret": "x", "outbound_proxy": "sip:127.0.0.1;transport=ws"}, ErrorInvalidAddress, ErrTransportUnavailable},
		{"force_udp sips", map[string]any{"request": "register", "username": "sip:a@127.0.0.1", "secret": "x", "proxy": "sips:127.0.0.1", "force_udp": true}, ErrorInvalidElement, ianua.ErrInvalidElement},
		{"sips over udp", map[string]any{"request": "register", "username": "sip:a@127.0.0.1", "secret": "x", "proxy": "sips:127.0.0.1;transport=udp"}, ErrorInvalidAddress, ErrTransportUnavailable},
	}
	for _, tc := range testCases {
		_, err := e.send(e.h, tc.body, nil)
		var pe *ianua.PluginError
		if !errors.As(err, &pe) || pe.Code != tc.code || !errors.Is(err, tc.err) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "pcmu")
	offer := b.offer()
	for _, uri := range []string{"sip:bob@127.0.0.1;transport=tcp", "sips:bob@127.0.0.1", "sip:bob@127.0.0.1;transport=foo"} {
		_, err := e.send(e.h, map[string]any{"request": "call", "uri": uri}, offer)
		var pe *ianua.PluginError
		if !errors.As(err, &pe) || pe.Code != ErrorInvalidAddress || !errors.Is(err, ErrTransportUnavailable) {
			t.Errorf("call %s: %v", uri, err)
		}
		_, err = e.send(e.h, map[string]any{"request": "message", "uri": uri, "content": "hi"}, nil)
		if !errors.Is(err, ErrTransportUnavailable) {
			t.Errorf("message %s: %v", uri, err)
		}
	}
	if e.gw.TLSAddr() != nil {
		t.Errorf("TLSAddr without TLS: %v", e.gw.TLSAddr())
	}
}

// TestTCPBadPeers: a TCP peer that sends garbage is disconnected, one
// that closes the connection before answering a REGISTER makes it fail
// (registration_failed), and neither leaves goroutines or sockets behind
// (checkLeaks, and the gateway still serves).
func TestTCPBadPeers(t *testing.T) {
	e := newEnvWith(t, Params{TCP: true})

	// Garbage: the gateway closes the connection.
	conn, err := net.Dial("tcp4", e.gw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.Write([]byte("HELLO\x00\x01\x02 NOT SIP\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Errorf("garbage: the gateway did not close the connection: %v", err)
	}

	// A "registrar" that takes the connection and closes it.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 4096)
		_, _ = c.Read(buf) // the REGISTER
		_ = c.Close()
	}()
	defer func() { _ = ln.Close(); <-accepted }()
	e.must(e.h, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "pw",
		"proxy": "sip:" + ln.Addr().String() + ";transport=tcp"}, nil)
	r := resultOf(e.log.Wait(t, 10*time.Second, "registration_failed", sipEvent(e.h.ID(), "registration_failed")))
	t.Logf("registration_failed: %v", r)
	if code, _ := r["code"].(float64); code != 408 && code != 503 {
		t.Errorf("registration_failed: %v", r)
	}

	// A registrar that is not there: the connection is refused.
	_, h2, log2 := e.newHandle()
	e.must(h2, map[string]any{"request": "register", "username": "sip:bob@127.0.0.1", "secret": "pw",
		"proxy": fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", testsip.FreeTCPPort(t))}, nil)
	if r := resultOf(e.wait(log2, h2, "registration_failed")); r["code"] != float64(503) {
		t.Errorf("refused connection: %v", r)
	}

	// The gateway still serves TCP: a registration with a real registrar.
	reg := newRegistrar(e, "alice", "pw", 60)
	addr := reg.listenStream(e, nil)
	e.must(e.h, map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "secret": "pw",
		"proxy": "sip:" + addr + ";transport=tcp"}, nil)
	e.wait(e.log, e.h, "registered")
}

// TestHandleToHandleTCP: a handle calls another of the same gateway over
// TCP while a stranger holds a TCP connection to the gateway: the INVITE
// must reach the gateway, not the stranger (sipgo files accepted
// connections under the listener's address too); the callee hangs up.
func TestHandleToHandleTCP(t *testing.T) {
	e := newEnvWith(t, Params{TCP: true})
	stranger, err := net.Dial("tcp4", e.gw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		n, _ := io.Copy(io.Discard, stranger)
		got <- int(n)
	}()
	time.Sleep(100 * time.Millisecond) // accepted

	reg := newRegistrar(e, "alice", "pw", 60)
	_, hb, logB := e.newHandle()
	e.register(hb, logB, reg, "alice")
	e.guest(e.h, e.log)
	caller := newBrowser(t, e.h, e.log, "opus")
	e.must(e.h, map[string]any{"request": "call", "uri": e.gwURI("alice") + ";transport=tcp"}, caller.offer())
	caller.flush()
	ev := e.wait(logB, hb, "incomingcall")
	callee := newBrowser(t, hb, logB, "opus")
	e.must(hb, map[string]any{"request": "accept"}, callee.answer(ev.JSEP))
	callee.flush()
	caller.apply(e.wait(e.log, e.h, "accepted").JSEP)
	caller.sendAudio()
	callee.sendAudio()
	waitPackets(t, "audio between the handles", func() bool { return caller.received.Load() > 25 && callee.received.Load() > 25 })
	// The callee's BYE goes over the connection the INVITE came on.
	if c := hb.Attachment().(*Agent).currentCall(); c == nil || c.tp != tpTCP || c.conn == "" {
		t.Fatalf("callee's call: %+v", c)
	}
	e.must(hb, map[string]any{"request": "hangup"}, nil)
	e.wait(logB, hb, "hangup")
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("caller's hangup: %v", r)
	}
	_ = stranger.Close()
	if n := <-got; n != 0 {
		t.Errorf("the stranger got %d bytes", n)
	}
}

// TestIncomingTCPByeOverConnection: a caller over TCP whose Contact
// cannot be reached (behind NAT, say) still gets our BYE, over the
// connection its INVITE came on.
func TestIncomingTCPByeOverConnection(t *testing.T) {
	e := newEnvWith(t, Params{TCP: true})
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	c := newUAC(e)
	cli, err := sipgo.NewClient(c.ua, sipgo.WithClientLogger(testpeer.QuietLogger()), sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	unreachable := sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: testsip.FreeTCPPort(t), UriParams: sip.HeaderParams{{K: "transport", V: "tcp"}}}
	c.dua = &sipgo.DialogUA{Client: cli, ContactHDR: sip.ContactHeader{Address: unreachable}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dlg, err := c.invite(ctx, e.gwURI("alice")+";transport=tcp", c.offer())
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() { answered <- dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}) }()
	ev := e.wait(e.log, e.h, "incomingcall")
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "accept"}, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")
	if err := waitErr(t, answered); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if ct := dlg.InviteResponse.Contact(); ct == nil || !strings.HasSuffix(ct.Address.String(), ";transport=tcp") {
		t.Errorf("our Contact: %v", ct)
	}
	if err := dlg.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.sendAudio(dlg.InviteResponse.Body())
	b.sendAudio()
	waitPackets(t, "media both ways", func() bool { return c.received.Load() > 10 && b.received.Load() > 10 })

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	if c.byes.Load() != 1 {
		t.Errorf("the caller got %d BYEs", c.byes.Load())
	}
	legsEnded(t, e, b, 0)
}
