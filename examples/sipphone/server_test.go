package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
)

// wsPhone is a phone page played by a test: the signaling of README.md
// over a WebSocket, and a pion PeerConnection per call in place of the
// browser's.
type wsPhone struct {
	t      *testing.T
	name   string
	c      *websocket.Conn
	handle uint64
	sip    string // the gateway's SIP address, from "attached"
	txSeq  atomic.Int64

	mu        sync.Mutex
	msgs      []serverMsg // every message but the trickles, in order
	pc        *webrtc.PeerConnection
	remoteSet bool
	queued    []webrtc.ICECandidateInit // server candidates before the remote description
	readDone  chan struct{}

	track    *webrtc.TrackLocalStaticRTP
	received atomic.Int64 // RTP packets of the call's remote audio
	stop     chan struct{}
	wg       sync.WaitGroup
}

// dialPhone opens a phone's WebSocket and waits for its handle.
func dialPhone(t *testing.T, addr, name string) *wsPhone {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	p := &wsPhone{t: t, name: name, c: c, readDone: make(chan struct{}), stop: make(chan struct{})}
	go p.read()
	t.Cleanup(func() {
		close(p.stop)
		p.wg.Wait()
		c.CloseNow()
		<-p.readDone
	})
	m := p.wait(10*time.Second, "attached", 0, func(m serverMsg) bool { return m.Type == "attached" })
	if m.HandleID == 0 || m.SessionID == 0 || m.SIP == "" {
		t.Fatalf("%s: attached %+v, want a session, a handle and the SIP address", name, m)
	}
	p.handle, p.sip = m.HandleID, m.SIP
	return p
}

// read keeps the server's messages and feeds its candidates to the call's
// PeerConnection, until the socket closes.
func (p *wsPhone) read() {
	defer close(p.readDone)
	for {
		_, data, err := p.c.Read(context.Background())
		if err != nil {
			return
		}
		var m serverMsg
		if err := json.Unmarshal(data, &m); err != nil {
			p.t.Errorf("%s: bad server message %s: %v", p.name, data, err)
			continue
		}
		p.mu.Lock()
		switch {
		case m.Type == "trickle" && m.Candidate != nil:
			if p.pc != nil && p.remoteSet {
				_ = p.pc.AddICECandidate(*m.Candidate)
			} else {
				p.queued = append(p.queued, *m.Candidate)
			}
		case m.Type != "trickle":
			p.msgs = append(p.msgs, m)
		}
		p.mu.Unlock()
	}
}

// mark is the number of messages so far, to wait for later ones.
func (p *wsPhone) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

// wait returns the first message from index from on that ok accepts.
func (p *wsPhone) wait(timeout time.Duration, what string, from int, ok func(serverMsg) bool) serverMsg {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		for _, m := range p.msgs[min(from, len(p.msgs)):] {
			if ok(m) {
				p.mu.Unlock()
				return m
			}
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			p.mu.Lock()
			msgs := fmt.Sprintf("%+v", p.msgs)
			p.mu.Unlock()
			p.t.Fatalf("%s: no %s within %v; messages: %s", p.name, what, timeout, msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// result is the "result" of a SIP plugin event, nil for other messages.
func result(m serverMsg) map[string]any {
	if m.Type != "event" {
		return nil
	}
	var d struct {
		Result map[string]any `json:"result"`
	}
	_ = json.Unmarshal(m.Data, &d)
	return d.Result
}

// event waits for the SIP plugin event name after the mark from.
func (p *wsPhone) event(from int, name string) serverMsg {
	p.t.Helper()
	return p.wait(10*time.Second, name+" event", from, func(m serverMsg) bool { return result(m)["event"] == name })
}

// send writes one raw message.
func (p *wsPhone) send(v any) {
	p.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		p.t.Fatalf("%s: write: %v", p.name, err)
	}
}

// request sends a SIP plugin request and returns the server's reply to it
// (ack, success or error).
func (p *wsPhone) request(body map[string]any, jsep *webrtc.SessionDescription) serverMsg {
	p.t.Helper()
	tx := fmt.Sprintf("%s-%d", p.name, p.txSeq.Add(1))
	msg := map[string]any{"type": "message", "tx": tx, "body": body}
	if jsep != nil {
		msg["jsep"] = map[string]string{"type": jsep.Type.String(), "sdp": jsep.SDP}
	}
	from := p.mark()
	p.send(msg)
	return p.wait(10*time.Second, "reply to "+tx, from, func(m serverMsg) bool {
		return m.Tx == tx && (m.Type == "ack" || m.Type == "success" || m.Type == "error")
	})
}

// must sends a request that the plugin must take ("ack").
func (p *wsPhone) must(body map[string]any, jsep *webrtc.SessionDescription) {
	p.t.Helper()
	if m := p.request(body, jsep); m.Type != "ack" {
		p.t.Fatalf("%s: %v: %+v, want ack", p.name, body, m)
	}
}

// newPeer makes the call's PeerConnection; the browser's audio is Opus.
func (p *wsPhone) newPeer() *webrtc.PeerConnection {
	p.t.Helper()
	pc := testpeer.NewClient(p.t, testpeer.Options{})
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", p.name)
	if err != nil {
		p.t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			p.received.Add(1)
		}
	})
	p.mu.Lock()
	p.pc, p.track = pc, track
	p.mu.Unlock()
	return pc
}

// local sets a local description and returns it with every candidate
// (gathering on loopback is quick), so that only the server trickles.
func (p *wsPhone) local(pc *webrtc.PeerConnection, d webrtc.SessionDescription) *webrtc.SessionDescription {
	p.t.Helper()
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		p.t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription()
}

// remote applies the server's description and the candidates that came
// before it.
func (p *wsPhone) remote(pc *webrtc.PeerConnection, j *ianua.JSEP, typ webrtc.SDPType) {
	p.t.Helper()
	if j == nil || j.Type != typ.String() {
		p.t.Fatalf("%s: JSEP %+v, want an %s", p.name, j, typ)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: typ, SDP: j.SDP}); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.remoteSet = true
	queued := p.queued
	p.queued = nil
	p.mu.Unlock()
	for _, c := range queued {
		_ = pc.AddICECandidate(c)
	}
}

// offer is the browser's offer for an outgoing call.
func (p *wsPhone) offer() *webrtc.SessionDescription {
	p.t.Helper()
	pc := p.newPeer()
	if _, err := pc.AddTransceiverFromTrack(p.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		p.t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.local(pc, o)
}

// answer answers the plugin's offer of an incoming call.
func (p *wsPhone) answer(j *ianua.JSEP) *webrtc.SessionDescription {
	p.t.Helper()
	pc := p.newPeer()
	p.remote(pc, j, webrtc.SDPTypeOffer)
	if _, err := pc.AddTrack(p.track); err != nil {
		p.t.Fatal(err)
	}
	a, err := pc.CreateAnswer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.local(pc, a)
}

// sendAudio sends a 20 ms Opus packet every 20 ms until the test ends.
func (p *wsPhone) sendAudio() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 60)}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i)*960
			if err := p.track.WriteRTP(pkt); err != nil {
				return
			}
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// stalled says whether count stops growing: a settling pause for packets
// in flight, then at most 2 more in 500 ms (25 when flowing).
func stalled(count func() int64) bool {
	time.Sleep(300 * time.Millisecond)
	n := count()
	time.Sleep(500 * time.Millisecond)
	return count()-n <= 2
}

// registrar is a SIP registrar for one user on a loopback UDP socket, with
// digest authentication (RFC 3261 section 22.4, without qop): just enough
// for a phone to register and to be called through the gateway.
type registrar struct {
	conn           net.PacketConn
	user, password string
	done           chan struct{}

	mu       sync.Mutex
	bound    int // REGISTERs accepted with a lifetime
	removed  int // REGISTERs accepted with Expires: 0
	refusals int // wrong digests
}

const (
	testRealm = "ianua.test"
	testNonce = "5ca1ab1e"
)

func newRegistrar(t *testing.T, user, password string) *registrar {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &registrar{conn: conn, user: user, password: password, done: make(chan struct{})}
	go r.serve()
	t.Cleanup(func() {
		_ = conn.Close()
		<-r.done
	})
	return r
}

func (r *registrar) uri() string { return "sip:" + r.conn.LocalAddr().String() }

func (r *registrar) serve() {
	defer close(r.done)
	buf := make([]byte, 65535)
	for {
		n, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		req, ok := msg.(*sip.Request)
		if err != nil || !ok || req.Method != sip.REGISTER {
			continue
		}
		_, _ = r.conn.WriteTo([]byte(r.answer(req).String()), from)
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// answer challenges a REGISTER without credentials and checks the digest
// of one with them.
func (r *registrar) answer(req *sip.Request) *sip.Response {
	auth := req.GetHeader("Authorization")
	if auth == nil {
		res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5`, testRealm, testNonce)))
		return res
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(strings.TrimPrefix(auth.Value(), "Digest "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		params[k] = strings.Trim(v, `"`)
	}
	ha1 := md5hex(r.user + ":" + testRealm + ":" + r.password)
	ha2 := md5hex("REGISTER:" + params["uri"])
	r.mu.Lock()
	defer r.mu.Unlock()
	if params["username"] != r.user || params["response"] != md5hex(ha1+":"+testNonce+":"+ha2) {
		r.refusals++
		return sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil)
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if h := req.GetHeader("Expires"); h != nil && strings.TrimSpace(h.Value()) == "0" {
		r.removed++
		return res
	}
	r.bound++
	res.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<%s>;expires=3600", req.Contact().Address.String())))
	return res
}

func (r *registrar) counts() (bound, removed, refusals int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bound, r.removed, r.refusals
}

// TestSignaling speaks the protocol of README.md: the handle and the SIP
// address on connect, keepalive, refused messages with their codes, a
// guest registration, and a wrong secret.
func TestSignaling(t *testing.T) {
	reg := newRegistrar(t, "carol", "right")
	at, _ := startServer(t, nil)
	p := dialPhone(t, at.HTTP, "carol")
	if p.sip != at.SIP {
		t.Errorf("attached says SIP %q, the server listens on %q", p.sip, at.SIP)
	}

	// Keepalive, and malformed messages: Janus API codes.
	from := p.mark()
	p.send(map[string]any{"type": "keepalive", "tx": "k1"})
	p.wait(5*time.Second, "keepalive ack", from, func(m serverMsg) bool { return m.Type == "ack" && m.Tx == "k1" })
	for _, c := range []struct {
		name string
		raw  string
		code int
	}{
		{"not JSON", `{"type":`, codeInvalidJSON},
		{"unknown type", `{"type":"attach","tx":"u1"}`, codeUnknownRequest},
	} {
		from := p.mark()
		if err := p.c.Write(context.Background(), websocket.MessageText, []byte(c.raw)); err != nil {
			t.Fatal(err)
		}
		m := p.wait(5*time.Second, c.name+" error", from, func(m serverMsg) bool { return m.Type == "error" })
		if m.Code != c.code {
			t.Errorf("%s: error %d (%s), want %d", c.name, m.Code, m.Error, c.code)
		}
	}

	// Bad requests: the SIP plugin's own codes. A hold outside a call is
	// taken and ignored, as in Janus (code 0: ack).
	testCases := []struct {
		name string
		body map[string]any
		code int
	}{
		{"unknown request", map[string]any{"request": "fly"}, 442},
		{"register without username", map[string]any{"request": "register"}, 443},
		{"register with a bad URI", map[string]any{"request": "register", "username": "alice"}, 446},
		{"call without an offer", map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1"}, 448},
		{"dtmf without a call", map[string]any{"request": "dtmf_info", "digit": "1"}, 447},
		{"bad DTMF digit", map[string]any{"request": "dtmf_info", "digit": "55"}, 444},
		{"hold without a call", map[string]any{"request": "hold"}, 0},
	}
	for _, tc := range testCases {
		m := p.request(tc.body, nil)
		switch {
		case tc.code == 0 && m.Type != "ack":
			t.Errorf("%s: %+v, want ack", tc.name, m)
		case tc.code != 0 && (m.Type != "error" || m.Code != tc.code):
			t.Errorf("%s: %+v, want error %d", tc.name, m, tc.code)
		}
	}

	// A wrong secret: the registrar refuses the digest.
	from = p.mark()
	p.must(map[string]any{"request": "register", "username": "sip:carol@127.0.0.1", "secret": "wrong", "proxy": reg.uri()}, nil)
	p.event(from, "registering")
	if r := result(p.event(from, "registration_failed")); r["code"] != float64(403) {
		t.Errorf("registration_failed %v, want code 403", r)
	}

	// A guest: "registered" without a REGISTER.
	from = p.mark()
	p.must(map[string]any{"request": "register", "username": "sip:carol@127.0.0.1", "type": "guest"}, nil)
	if r := result(p.event(from, "registered")); r["username"] != "carol" || r["register_sent"] != false {
		t.Errorf("guest registered %v", r)
	}
	if m := p.request(map[string]any{"request": "register", "username": "sip:carol@127.0.0.1", "type": "guest"}, nil); m.Code != 445 {
		t.Errorf("second register: %+v, want error 445 (already registered)", m)
	}
	if bound, _, refusals := reg.counts(); bound != 0 || refusals != 1 {
		t.Errorf("registrar: %d bindings, %d refusals; want 0 and 1", bound, refusals)
	}
}

// TestCallBetweenPhones: two phones of one server call each other through
// the gateway's SIP socket. Bob registers (digest) with a registrar,
// Alice calls him as a guest; audio flows both ways, a DTMF key goes by
// INFO, Alice holds (she stops hearing Bob, Bob still hears her) and
// resumes, Bob hangs up, and the shutdown withdraws Bob's registration.
func TestCallBetweenPhones(t *testing.T) {
	reg := newRegistrar(t, "bob", "s3cret")
	at, stop := startServer(t, nil)

	bob := dialPhone(t, at.HTTP, "bob")
	bob.must(map[string]any{"request": "register", "username": "sip:bob@127.0.0.1", "secret": "s3cret",
		"proxy": reg.uri(), "display_name": "Bob"}, nil)
	if r := result(bob.event(0, "registered")); r["username"] != "bob" || r["register_sent"] != true {
		t.Errorf("bob registered %v", r)
	}

	alice := dialPhone(t, at.HTTP, "alice")
	alice.must(map[string]any{"request": "register", "username": "sip:alice@127.0.0.1", "type": "guest", "display_name": "Alice"}, nil)
	alice.event(0, "registered")

	alice.must(map[string]any{"request": "call", "uri": "sip:bob@" + at.SIP}, alice.offer())
	alice.event(0, "calling")
	in := bob.event(0, "incomingcall")
	if r := result(in); !strings.Contains(fmt.Sprint(r["username"]), "alice") || r["displayname"] != "Alice" {
		t.Errorf("incomingcall %v, want one from Alice", r)
	}
	bob.must(map[string]any{"request": "accept"}, bob.answer(in.JSEP))
	acc := alice.event(0, "accepted")
	alice.remote(alice.pc, acc.JSEP, webrtc.SDPTypeAnswer)
	bob.event(0, "accepted")
	alice.sendAudio()
	bob.sendAudio()
	testpeer.WaitFor(t, 15*time.Second, "audio both ways", func() bool { return alice.received.Load() > 25 && bob.received.Load() > 25 })

	// DTMF by SIP INFO, reported to the other phone.
	from := bob.mark()
	alice.must(map[string]any{"request": "dtmf_info", "digit": "5"}, nil)
	alice.event(0, "dtmfsent")
	if r := result(bob.event(from, "dtmf")); r["signal"] != "5" {
		t.Errorf("dtmf %v, want signal 5", r)
	}

	// Hold: Alice's re-INVITE says sendonly, so Bob's audio stops
	// reaching her while hers still reaches him.
	from = alice.mark()
	alice.must(map[string]any{"request": "hold"}, nil)
	alice.event(from, "holding")
	testpeer.WaitFor(t, 10*time.Second, "Alice hears nothing while holding", func() bool { return stalled(alice.received.Load) })
	if stalled(bob.received.Load) {
		t.Error("Bob stopped hearing Alice while she holds")
	}
	resumed := alice.received.Load()
	alice.must(map[string]any{"request": "unhold"}, nil)
	alice.event(from, "resuming")
	testpeer.WaitFor(t, 10*time.Second, "Alice hears Bob again", func() bool { return alice.received.Load() > resumed+25 })

	// Bob hangs up: a BYE to Alice's leg; both PeerConnections close.
	aliceFrom, bobFrom := alice.mark(), bob.mark()
	bob.must(map[string]any{"request": "hangup"}, nil)
	for _, p := range []*wsPhone{alice, bob} {
		from := aliceFrom
		if p == bob {
			from = bobFrom
		}
		if r := result(p.event(from, "hangup")); r["code"] != float64(200) {
			t.Errorf("%s: hangup %v, want code 200", p.name, r)
		}
		p.wait(10*time.Second, "PeerConnection hangup", from, func(m serverMsg) bool { return m.Type == "hangup" })
	}

	// The shutdown closes the sockets, destroys the sessions and so
	// withdraws Bob's binding before the gateway closes.
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if bound, removed, _ := reg.counts(); bound != 1 || removed != 1 {
		t.Errorf("registrar: %d bindings, %d removals; want 1 and 1", bound, removed)
	}
}

// TestStartupFailures: a taken SIP or HTTP address fails run cleanly.
func TestStartupFailures(t *testing.T) {
	taken, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenTCP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer takenTCP.Close()
	testCases := []struct {
		name string
		opts options
	}{
		{"SIP address taken", options{Addr: "127.0.0.1:0", SIP: taken.LocalAddr().String(), ICEUDP: "127.0.0.1:0"}},
		{"HTTP address taken", options{Addr: takenTCP.Addr().String(), SIP: "127.0.0.1:0", ICEUDP: "127.0.0.1:0"}},
		{"bad STUN URL", options{Addr: "127.0.0.1:0", SIP: "127.0.0.1:0", ICEUDP: "127.0.0.1:0", STUN: []string{"turn:x"}}},
		{"bad RTP range", options{Addr: "127.0.0.1:0", SIP: "127.0.0.1:0", ICEUDP: "127.0.0.1:0", RTPPortMin: 20000}},
	}
	for _, tc := range testCases {
		tc.opts.Logger = testpeer.QuietLogger()
		err := run(context.Background(), tc.opts, func(listening) { t.Errorf("%s: run started", tc.name) })
		if err == nil {
			t.Errorf("%s: run returned no error", tc.name)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	testCases := []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{
		{"", 0, 0, true},
		{"10000-10100", 10000, 10100, true},
		{" 20000 - 20001 ", 20000, 20001, true},
		{"10000", 0, 0, false},
		{"10100-10000", 0, 0, false},
		{"0-100", 0, 0, false},
		{"1-70000", 0, 0, false},
		{"a-b", 0, 0, false},
	}
	for _, tc := range testCases {
		lo, hi, err := parsePortRange(tc.in)
		if (err == nil) != tc.ok || lo != tc.lo || hi != tc.hi {
			t.Errorf("parsePortRange(%q) = %d, %d, %v", tc.in, lo, hi, err)
		}
	}
}

func TestSIPAddr(t *testing.T) {
	testCases := []struct {
		sock, localIP, want string
	}{
		{"127.0.0.1:5070", "", "127.0.0.1:5070"},
		{"0.0.0.0:5070", "", "127.0.0.1:5070"},
		{"0.0.0.0:5070", "192.0.2.7", "192.0.2.7:5070"},
	}
	for _, tc := range testCases {
		addr, err := net.ResolveUDPAddr("udp4", tc.sock)
		if err != nil {
			t.Fatal(err)
		}
		if got := sipAddr(addr, tc.localIP); got != tc.want {
			t.Errorf("sipAddr(%s, %q) = %s, want %s", tc.sock, tc.localIP, got, tc.want)
		}
	}
}

// TestErrorMsg: core errors map to Janus API codes, plugin errors keep theirs.
func TestErrorMsg(t *testing.T) {
	if m := errorMsg("t", fmt.Errorf("x: %w", ianua.ErrNoPeerConnection)); m.Code != codeWebRTCState {
		t.Errorf("ErrNoPeerConnection: %d", m.Code)
	}
	if m := errorMsg("t", &ianua.PluginError{Code: 447, Reason: "Wrong state"}); m.Code != 447 || m.Error != "Wrong state" {
		t.Errorf("plugin error: %+v", m)
	}
	if m := errorMsg("t", errors.New("other")); m.Code != codeUnknown {
		t.Errorf("other: %d", m.Code)
	}
}
