package sipgw

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/ianua/ianua/internal/testpeer"
)

// The SIP peers of the tests, in process, with sipgo: a registrar with
// digest authentication, a callee that echoes RTP, and a caller.

// sipPeer is a sipgo stack on its own loopback socket.
type sipPeer struct {
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	cli  *sipgo.Client
	conn net.PacketConn
	addr *net.UDPAddr
	done chan struct{}
}

func newSIPPeer(e *env, name string) *sipPeer {
	t := e.t
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &sipPeer{conn: conn, addr: conn.LocalAddr().(*net.UDPAddr), done: make(chan struct{})}
	quiet := testpeer.QuietLogger()
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgent(name),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet))); err != nil {
		t.Fatal(err)
	}
	if p.srv, err = sipgo.NewServer(p.ua, sipgo.WithServerLogger(quiet)); err != nil {
		t.Fatal(err)
	}
	if p.cli, err = sipgo.NewClient(p.ua, sipgo.WithClientLogger(quiet), sipgo.WithClientHostname("127.0.0.1"),
		sipgo.WithClientPort(p.addr.Port), sipgo.WithClientConnectionAddr(p.addr.String())); err != nil {
		t.Fatal(err)
	}
	return p
}

// serve starts serving once the handlers are set; the peer stops at the
// end of the test, before the gateway.
func (p *sipPeer) serve(e *env) {
	t := e.t
	go func() {
		defer close(p.done)
		_ = p.srv.ServeUDP(p.conn)
	}()
	testpeer.WaitFor(t, 2*time.Second, "peer socket", func() bool {
		c, err := p.ua.TransportLayer().GetConnection("udp", p.addr.String())
		return err == nil && c != nil
	})
	e.afterGateway(func() {
		_ = p.ua.Close()
		_ = p.conn.Close()
		<-p.done
		sweep(p.ua)
	})
}

// listenStream also serves SIP over TCP, or TLS with conf, on an
// ephemeral port of 127.0.0.1, and returns its address.
func (p *sipPeer) listenStream(e *env, conf *tls.Config) string {
	t := e.t
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve := p.srv.ServeTCP
	if conf != nil {
		ln, serve = tls.NewListener(ln, conf), p.srv.ServeTLS
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = serve(ln)
	}()
	e.afterGateway(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

func (p *sipPeer) uri(user string) string { return fmt.Sprintf("sip:%s@%s", user, p.addr) }

// registrar is a registrar for one user with digest authentication (RFC
// 3261 section 22.4, without qop, RFC 2617 section 3.2.2.1).
type registrar struct {
	*sipPeer
	user, password, realm string
	expires               int // lifetime granted, seconds

	mu        sync.Mutex
	registers int    // REGISTERs accepted with a non-zero lifetime
	removed   int    // REGISTERs with Expires: 0
	contact   string // current binding
	failures  []int
	// sources are the transport and source address of each REGISTER.
	sources []string
}

func newRegistrar(e *env, user, password string, expires int) *registrar {
	r := &registrar{sipPeer: newSIPPeer(e, "registrar"), user: user, password: password, realm: "ianua.test", expires: expires}
	r.srv.OnRegister(r.onRegister)
	r.serve(e)
	return r
}

func (r *registrar) uri() string { return fmt.Sprintf("sip:%s", r.addr) }

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (r *registrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	const nonce = "a1b2c3"
	r.mu.Lock()
	r.sources = append(r.sources, req.Transport()+" "+req.Source())
	r.mu.Unlock()
	auth := req.GetHeader("Authorization")
	if auth == nil {
		res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5`, r.realm, nonce)))
		_ = tx.Respond(res)
		return
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(strings.TrimPrefix(auth.Value(), "Digest "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		params[k] = strings.Trim(v, `"`)
	}
	ha1 := md5hex(r.user + ":" + r.realm + ":" + r.password)
	ha2 := md5hex("REGISTER:" + params["uri"])
	want := md5hex(ha1 + ":" + nonce + ":" + ha2)
	if params["username"] != r.user || params["response"] != want {
		r.mu.Lock()
		r.failures = append(r.failures, sip.StatusForbidden)
		r.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
		return
	}
	exp := r.expires
	if h := req.GetHeader("Expires"); h != nil && h.Value() == "0" {
		exp = 0
	}
	r.mu.Lock()
	if exp == 0 {
		r.removed++
		r.contact = ""
	} else {
		r.registers++
		r.contact = req.Contact().Address.String()
	}
	r.mu.Unlock()
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if exp > 0 {
		res.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<%s>;expires=%d", req.Contact().Address.String(), exp)))
	}
	_ = tx.Respond(res)
}

func (r *registrar) counts() (registers, removed int, contact string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registers, r.removed, r.contact
}

// uasOptions tune the callee.
type uasOptions struct {
	codec    string // the codec it answers with ("pcmu", "opus", "g729")
	reject   int    // a final failure code instead of answering
	ringOnly bool   // 180 and nothing more
	silent   bool   // no response at all
	sendDTMF bool   // send an RFC 4733 key press ("7") once media flows
	srtp     bool   // answer an offered a=crypto with SDES-SRTP
	// video, for an offer with video: "vp8" or "h264" answers that
	// format and echoes the video, "reject" answers port 0.
	video string
	// videoPlain answers the video of an SRTP offer without a key.
	videoPlain bool
	// newStreamAfter, if set, makes the echo a new stream after that
	// many packets (another SSRC, numbers 1000 back), as a PBX does when
	// it bridges the call elsewhere.
	newStreamAfter int64
}

// uas is a callee that answers INVITEs with SDP and echoes the RTP it
// gets back to where it came from.
type uas struct {
	*sipPeer
	t    *testing.T
	opts uasOptions
	ds   *sipgo.DialogServerCache
	rtp  *net.UDPConn

	invites  atomic.Int32
	echoed   atomic.Int64
	byes     atomic.Int32
	cancels  atomic.Int32
	mu       sync.Mutex
	infos    []string
	messages []*sip.Request  // MESSAGEs received
	refers   []*sip.Request  // REFERs received
	offers   []string        // SDP bodies received (INVITEs and re-INVITEs)
	ssrcs    map[uint32]bool // of the RTP received
	lastDlg  *sipgo.DialogServerSession
	dtmfSent atomic.Bool
	// srtp is the SRTP state of the current call, when it uses SDES.
	srtp atomic.Pointer[srtpPair]
	hook atomic.Pointer[reinviteHook]
	// video echoes video (uasOptions.video); vOffer is the video of the
	// last offer.
	video  *sipVideo
	vOffer atomic.Pointer[mediaDesc]
	stop   chan struct{} // closed at the end of the test
	wg     sync.WaitGroup
}

func newUAS(e *env, opts uasOptions) *uas {
	t := e.t
	u := &uas{sipPeer: newSIPPeer(e, "uas"), t: t, opts: opts, stop: make(chan struct{})}
	var err error
	if u.rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	u.ds = sipgo.NewDialogServerCache(u.cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "echo", Host: "127.0.0.1", Port: u.addr.Port}})
	u.srv.OnInvite(u.onInvite)
	u.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = u.ds.ReadAck(req, tx) })
	u.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		u.byes.Add(1)
		if err := u.ds.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "No", nil))
		}
	})
	u.srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		u.mu.Lock()
		u.infos = append(u.infos, string(req.Body()))
		u.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	u.srv.OnRefer(u.onRefer)
	u.srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		u.mu.Lock()
		u.messages = append(u.messages, req)
		u.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	if opts.video != "" && opts.video != "reject" {
		u.video = newSIPVideo(e, true)
	}
	u.serve(e)
	u.wg.Add(1)
	go u.echo()
	e.afterGateway(func() {
		close(u.stop)
		_ = u.rtp.Close()
		u.wg.Wait()
	})
	return u
}

func (u *uas) echo() {
	defer u.wg.Done()
	buf, plain, enc := make([]byte, 1500), make([]byte, 1500), make([]byte, 1500)
	var pkt rtp.Packet
	seq := uint16(0)
	for {
		n, from, err := u.rtp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		out := buf[:n]
		if n >= 12 {
			u.mu.Lock()
			if u.ssrcs == nil {
				u.ssrcs = map[uint32]bool{}
			}
			u.ssrcs[binary.BigEndian.Uint32(buf[8:12])] = true
			u.mu.Unlock()
		}
		if s := u.srtp.Load(); s != nil {
			// Decrypt with the gateway's key, encrypt with ours: an
			// echo only when both ends agree on the keys.
			if out, err = s.in.DecryptRTP(plain, out, nil); err != nil {
				continue
			}
			if out, err = s.out.EncryptRTP(enc[:0], out, nil); err != nil {
				continue
			}
		}
		if a := u.opts.newStreamAfter; a > 0 && u.echoed.Load() >= a && len(out) >= 12 && u.srtp.Load() == nil {
			binary.BigEndian.PutUint32(out[8:12], 0x0badcafe)
			binary.BigEndian.PutUint16(out[2:4], binary.BigEndian.Uint16(out[2:4])-1000)
		}
		if _, err := u.rtp.WriteToUDP(out, from); err == nil {
			u.echoed.Add(1)
		}
		if u.opts.sendDTMF && u.echoed.Load() > 20 && !u.dtmfSent.Swap(true) {
			// Key 7 for 100 ms: two progress packets, three end ones.
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			pt := u.dtmfPT()
			for i, end := range []bool{false, false, true, true, true} {
				payload := []byte{7, 10, 0, 160 * byte(i+1)}
				if end {
					payload[1] |= 0x80
					payload[2], payload[3] = 0x03, 0x20 // 800 samples
				}
				seq++
				p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: 40000 + seq, Timestamp: 123456, SSRC: 99, Marker: i == 0}, Payload: payload}
				raw, _ := p.Marshal()
				_, _ = u.rtp.WriteToUDP(raw, from)
			}
		}
	}
}

// dtmfPT is the telephone-event payload type of the last offer.
func (u *uas) dtmfPT() uint8 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.offers) == 0 {
		return 101
	}
	d, _ := parseAudio([]byte(u.offers[0]))
	for _, c := range d.Codecs {
		if c.Name == dtmf && c.Clock == 8000 {
			return c.PT
		}
	}
	return 101
}

func (u *uas) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	u.mu.Lock()
	u.offers = append(u.offers, string(req.Body()))
	u.mu.Unlock()
	if vd, err := parseVideo(req.Body()); err == nil {
		u.vOffer.Store(&vd)
	}
	if to := req.To(); to != nil && to.Params.Has("tag") {
		if h := u.hook.Load(); h != nil && (*h)(req, tx) {
			return
		}
		// re-INVITE: answer with the mirrored direction.
		d, _ := parseAudio(req.Body())
		body := u.sdp(d, d.Dir.reverse())
		res := sip.NewSDPResponseFromRequest(req, body)
		_ = tx.Respond(res)
		return
	}
	u.invites.Add(1)
	if u.opts.silent {
		select {
		case <-tx.Done():
		case <-u.stop:
		}
		return
	}
	dlg, err := u.ds.ReadInvite(req, tx)
	if err != nil {
		return
	}
	defer dlg.Close()
	_ = dlg.Respond(sip.StatusTrying, "Trying", nil)
	_ = dlg.Respond(sip.StatusRinging, "Ringing", nil)
	if u.opts.ringOnly {
		select {
		case <-dlg.Context().Done():
			u.cancels.Add(1)
		case <-u.stop:
		}
		return
	}
	// Ring a little: sipgo hands each message to its own goroutine, so a
	// 200 right behind the 180 may overtake it.
	select {
	case <-time.After(100 * time.Millisecond):
	case <-u.stop:
		return
	}
	if u.opts.reject != 0 {
		_ = dlg.Respond(u.opts.reject, "Rejected", nil)
		return
	}
	d, err := parseAudio(req.Body())
	if err != nil {
		_ = dlg.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		return
	}
	body := u.sdp(d, dirSendRecv)
	u.mu.Lock()
	u.lastDlg = dlg
	u.mu.Unlock()
	if err := dlg.RespondSDP(body); err != nil {
		return
	}
	select {
	case <-dlg.Context().Done():
	case <-u.stop:
	}
}

// sdp answers offer d with the configured codec (and telephone-event).
func (u *uas) sdp(d mediaDesc, dir direction) []byte {
	want := codec{Name: u.opts.codec, Clock: 8000}
	if u.opts.codec == "opus" {
		want.Clock = 48000
	}
	var cs []codec
	if c, ok := findCodec(d.Codecs, want); ok {
		cs = append(cs, c)
		if te, ok := findCodec(d.Codecs, codec{Name: dtmf, Clock: c.Clock}); ok {
			cs = append(cs, te)
		}
	} else {
		// What the test asked for, although not offered (a broken peer).
		cs = append(cs, codec{Name: u.opts.codec, PT: 18, Clock: 8000})
	}
	l := localSDP{SessionID: 1, Version: 1, IP: "127.0.0.1", Port: u.rtp.LocalAddr().(*net.UDPAddr).Port, Codecs: cs, Dir: dir}
	if vd := u.vOffer.Load(); vd != nil && u.opts.video != "" {
		want := codec{Name: u.opts.video, Clock: 90000, Fmtp: "packetization-mode=1;profile-level-id=42e01f"}
		if c, ok := findCodec(vd.Codecs, want); ok && u.video != nil && vd.Port != 0 {
			l.Video = u.video.section(c, dir)
			// The video's own key (RFC 4568 keys are per stream).
			if k, ok := pickCrypto(vd.Crypto); ok && u.opts.srtp && !u.opts.videoPlain {
				local, _ := newKey(k.Tag, k.Suite)
				if pair, err := newSRTPPair(local, k); err == nil {
					u.video.srtp.Store(pair)
					l.Video.Crypto, l.Video.Proto = &local, vd.Proto
				}
			} else if vd.Proto == "RTP/SAVP" {
				l.Video.Proto = vd.Proto
			}
		} else {
			l.Video = rejectedVideo(*vd, d.Index)
		}
	}
	if k, ok := pickCrypto(d.Crypto); ok && u.opts.srtp {
		local, _ := newKey(k.Tag, k.Suite)
		if pair, err := newSRTPPair(local, k); err == nil {
			u.srtp.Store(pair)
			l.Crypto, l.Proto = &local, d.Proto
		}
	} else if d.Proto == "RTP/SAVP" {
		l.Proto = d.Proto // an answer without a key: refused by the offerer
	}
	return l.marshal()
}

// bye hangs up the last call from the callee's side.
func (u *uas) bye(t *testing.T) {
	u.mu.Lock()
	dlg := u.lastDlg
	u.mu.Unlock()
	if dlg == nil {
		t.Fatal("uas: no call to hang up")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := dlg.Bye(ctx); err != nil {
		t.Fatalf("uas: BYE: %v", err)
	}
}

// onRefer accepts a REFER and reports, in NOTIFYs, a transfer that
// succeeds: "100 Trying", then "200 OK" (RFC 3515 section 2.4.4).
func (u *uas) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	u.mu.Lock()
	u.refers = append(u.refers, req)
	dlg := u.lastDlg
	u.mu.Unlock()
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusAccepted, "Accepted", nil))
	if dlg == nil {
		return
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for _, f := range []struct {
			state, body string
		}{{"active;expires=60", "SIP/2.0 100 Trying"}, {"terminated;reason=noresource", "SIP/2.0 200 OK"}} {
			n := sip.NewRequest(sip.NOTIFY, dlg.InviteRequest.Contact().Address)
			n.AppendHeader(sip.NewHeader("Event", "refer"))
			n.AppendHeader(sip.NewHeader("Subscription-State", f.state))
			n.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag"))
			n.SetBody([]byte(f.body))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := dlg.Do(ctx, n)
			cancel()
			if err != nil {
				return
			}
		}
	}()
}

func (u *uas) referRequests() []*sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*sip.Request(nil), u.refers...)
}

// request sends a request of method in the last call's dialog.
func (u *uas) request(t *testing.T, method sip.RequestMethod, contentType string, body []byte, headers ...sip.Header) *sip.Response {
	t.Helper()
	u.mu.Lock()
	dlg := u.lastDlg
	u.mu.Unlock()
	if dlg == nil {
		t.Fatal("uas: no call")
	}
	req := sip.NewRequest(method, dlg.InviteRequest.Contact().Address)
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	for _, h := range headers {
		req.AppendHeader(h)
	}
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := dlg.Do(ctx, req)
	if err != nil {
		t.Fatalf("uas: %s: %v", method, err)
	}
	return res
}

func (u *uas) messageRequests() []*sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*sip.Request(nil), u.messages...)
}

// rtpSSRCs counts the SSRCs of the RTP the callee received.
func (u *uas) rtpSSRCs() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.ssrcs)
}

func (u *uas) infoBodies() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.infos...)
}

func (u *uas) offerBodies() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.offers...)
}

// reinviteHook, when a test sets one on a peer, sees the re-INVITEs the
// peer gets; it returns true when it answered, false for the peer's usual
// answer (the mirrored direction).
type reinviteHook func(req *sip.Request, tx sip.ServerTransaction) bool

func (h reinviteHook) set(p *atomic.Pointer[reinviteHook]) { p.Store(&h) }

// uac is a caller: it calls the gateway's registered user, sends RTP
// (PCMU) and counts what comes back.
type uac struct {
	*sipPeer
	t   *testing.T
	dua *sipgo.DialogUA
	rtp *net.UDPConn

	received atomic.Int64
	sent     atomic.Int64
	byes     atomic.Int32
	// key, when set, makes the offer RTP/SAVP with it; srtp is then set
	// from the answer.
	key      *sdesKey
	vkey     *sdesKey // the video's key, with key and video
	srtp     atomic.Pointer[srtpPair]
	hook     atomic.Pointer[reinviteHook]
	mu       sync.Mutex
	dlg      *sipgo.DialogClientSession
	offers   []string       // re-INVITE bodies received
	notifies []*sip.Request // NOTIFYs received
	// video, when set, makes the offer one of audio and VP8 (PT 100).
	video *sipVideo
	stop  chan struct{}
	wg    sync.WaitGroup
}

// uacVP8 is the caller's video format.
var uacVP8 = codec{Name: "vp8", PT: 100, Clock: 90000, FB: []string{"nack pli"}}

func newUAC(e *env) *uac {
	t := e.t
	c := &uac{sipPeer: newSIPPeer(e, "uac"), t: t, stop: make(chan struct{})}
	var err error
	if c.rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	c.dua = &sipgo.DialogUA{Client: c.cli, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: c.addr.Port}}}
	c.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		c.byes.Add(1)
		c.mu.Lock()
		dlg := c.dlg
		c.mu.Unlock()
		if dlg != nil {
			_ = dlg.ReadBye(req, tx)
		}
	})
	c.srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	c.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if to := req.To(); to == nil || !to.Params.Has("tag") {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBusyHere, "Busy Here", nil))
			return
		}
		c.mu.Lock()
		c.offers = append(c.offers, string(req.Body()))
		c.mu.Unlock()
		if h := c.hook.Load(); h != nil && (*h)(req, tx) {
			return
		}
		d, _ := parseAudio(req.Body())
		_ = tx.Respond(sip.NewSDPResponseFromRequest(req, c.sdp(d.Dir.reverse(), 3)))
	})
	c.srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	c.srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		c.mu.Lock()
		c.notifies = append(c.notifies, req)
		c.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	c.serve(e)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf, plain := make([]byte, 1500), make([]byte, 1500)
		for {
			n, _, err := c.rtp.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if s := c.srtp.Load(); s != nil {
				if _, err := s.in.DecryptRTP(plain, buf[:n], nil); err != nil {
					continue
				}
			}
			c.received.Add(1)
		}
	}()
	e.afterGateway(func() {
		select {
		case <-c.stop:
		default:
			close(c.stop)
		}
		_ = c.rtp.Close()
		c.wg.Wait()
	})
	return c
}

// sdp is the caller's SDP in the call: PCMU and telephone-event.
func (c *uac) sdp(dir direction, version uint64) []byte {
	l := localSDP{SessionID: 2, Version: version, IP: "127.0.0.1", Port: c.rtp.LocalAddr().(*net.UDPAddr).Port, Dir: dir,
		Codecs: []codec{{Name: "pcmu", PT: 0, Clock: 8000}, {Name: dtmf, PT: 101, Clock: 8000, Fmtp: "0-16"}}}
	if c.key != nil {
		l.Proto, l.Crypto = "RTP/SAVP", c.key
	}
	if c.video != nil {
		l.Video = c.video.section(uacVP8, dir)
		l.Video.Crypto = c.vkey
	}
	return l.marshal()
}

func (c *uac) notifyRequests() []*sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*sip.Request(nil), c.notifies...)
}

// refer sends a REFER in the call with the given Refer-To values (none,
// one, or more for a broken one) and headers.
func (c *uac) refer(t *testing.T, referTo []string, headers ...sip.Header) *sip.Response {
	t.Helper()
	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	req := sip.NewRequest(sip.REFER, dlg.InviteResponse.Contact().Address)
	for _, v := range referTo {
		req.AppendHeader(sip.NewHeader("Refer-To", v))
	}
	for _, h := range headers {
		req.AppendHeader(h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := dlg.Do(ctx, req)
	if err != nil {
		t.Fatalf("REFER: %v", err)
	}
	return res
}

func (c *uac) offerBodies() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.offers...)
}

// offer is the caller's SDP: PCMU, PCMA and telephone-event.
func (c *uac) offer() []byte {
	l := localSDP{SessionID: 2, Version: 1, IP: "127.0.0.1", Port: c.rtp.LocalAddr().(*net.UDPAddr).Port, Dir: dirSendRecv,
		Codecs: []codec{{Name: "pcmu", PT: 0, Clock: 8000}, {Name: "pcma", PT: 8, Clock: 8000}, {Name: dtmf, PT: 101, Clock: 8000, Fmtp: "0-16"}}}
	if c.key != nil {
		l.Proto, l.Crypto = "RTP/SAVP", c.key
	}
	if c.video != nil {
		l.Video = c.video.section(uacVP8, dirSendRecv)
		l.Video.Crypto = c.vkey
	}
	return l.marshal()
}

// invite sends an INVITE to target with body and returns the dialog
// without waiting for the answer.
func (c *uac) invite(ctx context.Context, target string, body []byte) (*sipgo.DialogClientSession, error) {
	var u sip.Uri
	if err := sip.ParseUri(target, &u); err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.INVITE, u)
	from := &sip.FromHeader{DisplayName: "Bob", Address: sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: u})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	dlg, err := c.dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.dlg = dlg
	c.mu.Unlock()
	return dlg, nil
}

// sendAudio sends PCMU to the address of the gateway's answer.
func (c *uac) sendAudio(answer []byte) {
	d, err := parseAudio(answer)
	if err != nil {
		c.t.Errorf("uac: answer: %v", err)
		return
	}
	pt := d.Codecs[0].PT
	dst := &net.UDPAddr{IP: net.IP(d.IP.AsSlice()), Port: d.Port}
	if c.key != nil {
		k, ok := pickCrypto(d.Crypto)
		if !ok {
			c.t.Errorf("uac: no key in the answer:\n%s", answer)
			return
		}
		pair, err := newSRTPPair(*c.key, k)
		if err != nil {
			c.t.Error(err)
			return
		}
		c.srtp.Store(pair)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: 77}, Payload: make([]byte, 160)}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		enc := make([]byte, 1500)
		for i := 0; ; i++ {
			pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i)*160
			raw, _ := pkt.Marshal()
			if s := c.srtp.Load(); s != nil {
				raw, _ = s.out.EncryptRTP(enc[:0], raw, nil)
			}
			if _, err := c.rtp.WriteToUDP(raw, dst); err != nil {
				return
			}
			c.sent.Add(1)
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// info sends an INFO in the call.
func (c *uac) info(contentType string, body []byte) error {
	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	if dlg == nil {
		return errors.New("no call")
	}
	req := sip.NewRequest(sip.INFO, dlg.InviteResponse.Contact().Address)
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := dlg.Do(ctx, req)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("INFO: %d", res.StatusCode)
	}
	return nil
}

// newReinvite builds a re-INVITE of the current call with direction dir.
func (c *uac) newReinvite(dir direction) (*sip.Request, error) {
	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	if dlg == nil {
		return nil, errors.New("no call")
	}
	req := sip.NewRequest(sip.INVITE, dlg.InviteResponse.Contact().Address)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(c.sdp(dir, 2))
	return req, nil
}

// inDialog is what both sipgo dialog sessions offer for requests in a
// dialog.
type inDialog interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	WriteRequest(req *sip.Request) error
}

// sendReinvite sends a re-INVITE with body to target in dlg and ACKs a
// 2xx (RFC 3261 section 13.2.2.4).
func sendReinvite(t *testing.T, dlg inDialog, target sip.Uri, body []byte) *sip.Response {
	t.Helper()
	req := sip.NewRequest(sip.INVITE, target)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := dlg.Do(ctx, req)
	if err != nil {
		t.Fatalf("re-INVITE: %v", err)
	}
	if res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, target)
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
		if err := dlg.WriteRequest(ack); err != nil {
			t.Fatalf("ACK: %v", err)
		}
	}
	return res
}

// reinvite sends a re-INVITE from the callee offering the call's codec
// with direction dir.
func (u *uas) reinvite(t *testing.T, dir direction) *sip.Response {
	t.Helper()
	u.mu.Lock()
	dlg := u.lastDlg
	first := u.offers[0]
	u.mu.Unlock()
	d, _ := parseAudio([]byte(first))
	return sendReinvite(t, dlg, dlg.InviteRequest.Contact().Address, u.sdp(d, dir))
}

// reinvite sends a re-INVITE from the caller with direction dir.
func (c *uac) reinvite(t *testing.T, dir direction) *sip.Response {
	t.Helper()
	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	return sendReinvite(t, dlg, dlg.InviteResponse.Contact().Address, c.sdp(dir, 3))
}
