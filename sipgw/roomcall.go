package sipgw

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/sfu"
)

// hearPoll is how often a room call looks at who speaks in its room.
const hearPoll = 250 * time.Millisecond

// roomCall is a SIP call in a room: a caller let in by DialIn, or a
// call a handle placed into a room (roomdial.go). One goroutine owns it
// from the INVITE to the end (the handler of the caller's INVITE, or the
// handle's dialling goroutine); its two other goroutines, the feed of the
// peer's RTP into its source and the choice of what the peer hears, end
// before the owner returns.
type roomCall struct {
	p        *Plugin
	id       string // Call-ID
	localTag string
	caller   string // the peer's URI: the From of a caller, the callee's
	display  string
	room     *sfu.Room
	pid      uint64 // participant id in the room
	neg      negotiated
	media    *media
	src      *ianua.Source
	dlg      roomDialog
	target   sip.Uri // the peer's Contact
	// tp is the transport the INVITE came over, and conn the address of
	// its connection (TCP, TLS).
	tp       transport
	conn     string
	user     string // the Request-URI user, our Contact's
	interval time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// wake makes the hearing loop look again at once: what it forwarded
	// went away.
	wake chan struct{}
	w    peerWriter

	mu          sync.Mutex
	local       localSDP
	remoteKey   *sdesKey
	hearing     uint64
	sub         *ianua.Subscription
	ended       bool
	endedRemote bool

	// A call placed by a handle: its agent and account, the request's
	// transaction (for the events), whether it is answered, the headers
	// of hangup's BYE, and finished, closed once the agent is free.
	a           *Agent
	acct        *account
	transaction string
	inCall      bool
	byeHeaders  []sip.Header
	finished    chan struct{}
}

// roomDialog is what a room call does in its dialog, as callee
// (sipgo.DialogServerSession) or caller (sipgo.DialogClientSession).
type roomDialog interface {
	ReadRequest(req *sip.Request, tx sip.ServerTransaction) error
	ReadBye(req *sip.Request, tx sip.ServerTransaction) error
	WriteBye(ctx context.Context, bye *sip.Request) error
}

// dialIn takes an INVITE that a dial-in rule sends to a room: the caller
// joins it, or is refused with 404 (no such room), 403 (a PIN room by
// Prefix), 488 (no codec of the room, or SRTP without a usable key), 486
// (the room has its maximum of publishers) or 503 (no RTP ports).
func (p *Plugin) dialIn(req *sip.Request, tx sip.ServerTransaction, t dialInTarget) {
	log := p.log.With("call", req.CallID().Value(), "room", t.room)
	room, err := t.rooms.Room(t.room)
	if err != nil {
		p.respond(req, tx, sip.StatusNotFound, "Not Found")
		return
	}
	params := room.Params()
	if t.prefixed && params.PIN != "" {
		p.respond(req, tx, sip.StatusForbidden, "Forbidden")
		return
	}
	if !hasSDP(req) {
		p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	offer, err := parseAudio(req.Body())
	remoteKey, hasKey := pickCrypto(offer.Crypto)
	if err != nil || (offer.Proto != "RTP/AVP" && offer.Proto != "RTP/SAVP") || (offer.Proto == "RTP/SAVP" && !hasKey) {
		p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	n, ok := roomCodec(offer, params.AudioCodec)
	if !ok {
		log.Info("sipgw: caller has none of the room's audio codecs", "room_codecs", params.AudioCodec)
		p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	if publishers(room) >= params.Publishers {
		p.respond(req, tx, sip.StatusBusyHere, "Busy Here")
		return
	}
	m, err := newMedia(p.log, &p.ports, p.p.LocalIP)
	if err != nil {
		log.Warn("sipgw: no RTP ports for a room call", "err", err)
		p.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	tp := transportOfRequest(req)
	dlg, err := p.stackOf(tp).dua.ReadInvite(req, tx)
	if err != nil {
		m.close()
		p.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	rc := &roomCall{p: p, id: req.CallID().Value(), room: room, neg: n, media: m, dlg: dlg,
		user: req.Recipient.User, interval: t.interval, wake: make(chan struct{}, 1), tp: tp, conn: req.Source()}
	rc.localTag, _ = dlg.InviteRequest.To().Params.Get("tag")
	rc.ctx, rc.cancel = context.WithCancel(p.ctx)
	defer rc.cancel()
	rc.w.m = m
	if f := req.From(); f != nil {
		rc.caller, rc.display = f.Address.String(), f.DisplayName
		if rc.display == "" {
			rc.display = f.Address.User
		}
	}
	if ct := req.Contact(); ct != nil {
		rc.target = ct.Address
	}
	rtpPort, rtcpPort := m.localPorts()
	rc.local = localSDP{SessionID: sessionID(), Version: 1, IP: p.p.LocalIP, Port: rtpPort, RTCPPort: rtcpPort,
		Codecs: n.codecs(), Dir: dirSendRecv & offer.Dir.reverse(), Proto: offer.Proto}
	if hasKey {
		if err := rc.keys(remoteKey, nil); err != nil {
			m.close()
			_ = dlg.Respond(sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
			return
		}
	}

	if err := rc.join(t.router, params); err != nil {
		log.Info("sipgw: caller cannot join the room", "err", err)
		m.close()
		code, reason := sip.StatusServiceUnavailable, "Service Unavailable"
		if errors.Is(err, sfu.ErrNoSuchRoom) {
			code, reason = sip.StatusNotFound, "Not Found"
		}
		_ = dlg.Respond(code, reason, nil)
		return
	}
	p.rooms.add(rc)
	rc.start(offer)
	defer rc.finish()

	rc.mu.Lock()
	body := rc.local.marshal()
	rc.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(dlg.InviteRequest, body)
	res.AppendHeader(p.contact(rc.user, rc.tp))
	res.AppendHeader(sip.NewHeader("User-Agent", p.p.UserAgent))
	// WriteResponse retransmits the 200 until the ACK (RFC 3261 section
	// 13.3.1.4); a CANCEL that came first, or no ACK, ends the call.
	if err := dlg.WriteResponse(res); err != nil {
		log.Info("sipgw: room call not established", "err", err)
		if rc.ctx.Err() == nil && dlg.LoadState() == sip.DialogStateEstablished {
			// Our 200 went out but no ACK came: end the session with a
			// BYE (section 13.3.1.4); after a CANCEL there is none.
			rc.bye()
		}
		rc.end(true)
		return
	}
	log.Info("sipgw: caller joined the room", "caller", rc.caller, "id", rc.pid, "codec", n.Media.Name)
	rc.stay()
}

// start points the call's media at the peer (d, its SDP) and starts the
// feed of its RTP into the room and the choice of what it hears.
func (rc *roomCall) start(d mediaDesc) {
	rc.media.setPeer(d, rc.neg, dirSendRecv)
	rc.run()
}

// run starts the feed of the peer's RTP into the room and the choice of
// what it hears, on media already pointed at the peer.
func (rc *roomCall) run() {
	m := rc.media
	m.wg.Add(1)
	go m.drainRTCP()
	rc.wg.Add(2)
	go rc.feed()
	go rc.hear()
}

// stay keeps the established call in the room until it ends, and sends
// the BYE unless the peer hung up.
func (rc *roomCall) stay() {
	select {
	case <-rc.ctx.Done():
		// The peer hung up, the handle did, or the plugin closes.
	case <-rc.src.Done():
		// Removed from the room (RemoveRemotePublisher), or the room
		// was destroyed.
	}
	rc.end(false)
	rc.mu.Lock()
	remote := rc.endedRemote
	rc.mu.Unlock()
	if !remote {
		rc.bye()
	}
}

// roomCodec is the first of the room's audio codecs (in the room's order
// of preference, the one browsers publish with) that the caller offers and
// that crosses untranscoded, with telephone-event at its clock if offered.
func roomCodec(offer mediaDesc, roomCodecs string) (negotiated, bool) {
	for _, name := range strings.Split(roomCodecs, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		for _, c := range offer.Codecs {
			if c.Name == name && !c.isDTMF() && supported(c) {
				n, err := answerFor(offer, c)
				return n, err == nil
			}
		}
	}
	return negotiated{}, false
}

// publishers counts the room's participants that publish.
func publishers(room *sfu.Room) int {
	n := 0
	for _, pt := range room.Participants() {
		if pt.Publishing() {
			n++
		}
	}
	return n
}

// keys sets up SDES-SRTP with the caller's key (RFC 4568): our own key of
// the same suite under the caller's tag, or the one we have when only the
// caller's changed (a re-INVITE).
func (rc *roomCall) keys(remote sdesKey, local *sdesKey) error {
	if local == nil {
		k, err := newKey(remote.Tag, remote.Suite)
		if err != nil {
			return err
		}
		local = &k
	}
	pair, err := newSRTPPair(*local, remote)
	if err != nil {
		return err
	}
	ours := *local
	ours.Tag = remote.Tag
	rc.mu.Lock()
	rc.local.Crypto, rc.remoteKey = &ours, &remote
	rc.mu.Unlock()
	rc.media.srtp.Store(pair)
	return nil
}

// join makes the caller's source and adds it to the room as a remote
// publisher.
func (rc *roomCall) join(router *ianua.MediaRouter, params sfu.RoomParams) error {
	for range 5 {
		id := randomParticipantID()
		src, err := router.NewSource(ianua.SourceParams{ID: fmt.Sprintf("%d/0", id), Kind: webrtc.RTPCodecTypeAudio, Codec: rtpParams(rc.neg.Media)})
		if err != nil {
			return err
		}
		_, err = rc.room.AddRemotePublisher(sfu.RemotePublisherParams{ID: id, Display: rc.display,
			Streams: []sfu.Stream{{MID: "0", Kind: "audio", Codec: rc.neg.Media.Name, Description: "SIP", Source: src}}})
		if errors.Is(err, sfu.ErrIDExists) {
			src.Close()
			continue
		}
		if err != nil {
			src.Close()
			return err
		}
		rc.pid, rc.src = id, src
		return nil
	}
	return fmt.Errorf("sipgw: no free participant id in room %d", params.ID)
}

// randomParticipantID is a random id that fits in a JavaScript number, as
// the room's own ones.
func randomParticipantID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]) & (1<<53 - 1); id != 0 {
			return id
		}
	}
}

// rtpParams is a codec of ours as pion names it, for the caller's source.
func rtpParams(c codec) webrtc.RTPCodecParameters {
	mime := "audio/" + c.Name
	ch := c.Channels
	switch c.Name {
	case "opus":
		mime, ch = webrtc.MimeTypeOpus, 2 // always /2 in SDP (RFC 7587 section 7)
	case "pcmu":
		mime = webrtc.MimeTypePCMU
	case "pcma":
		mime = webrtc.MimeTypePCMA
	case "g722":
		mime = webrtc.MimeTypeG722
	}
	return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: c.Clock, Channels: ch, SDPFmtpLine: c.Fmtp}, PayloadType: webrtc.PayloadType(c.PT)}
}

// end marks the call ended (remote: by the caller) and stops it; it
// reports whether this call ended it.
func (rc *roomCall) end(remote bool) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.ended {
		return false
	}
	rc.ended, rc.endedRemote = true, remote
	rc.cancel()
	return true
}

// finish is the owner's last step: out of the room ("unpublished" and
// "leaving" for everyone), the RTP sockets closed, the goroutines waited
// for, then the hearing subscription closed (the hearing loop, which
// makes it, is over by then).
func (rc *roomCall) finish() {
	rc.cancel()
	if rc.src != nil {
		if err := rc.room.RemoveRemotePublisher(rc.pid); err != nil {
			// Removed already, with the room or by the host.
			rc.src.Close()
		}
	}
	rc.media.close()
	rc.wg.Wait()
	rc.mu.Lock()
	sub := rc.sub
	rc.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
	rc.p.rooms.drop(rc)
	rc.p.log.Info("sipgw: caller left the room", "call", rc.id, "room", rc.room.ID(), "id", rc.pid)
}

// bye ends the established dialog from our side.
func (rc *roomCall) bye() {
	req := sip.NewRequest(sip.BYE, rc.target)
	rc.p.inDialog(req, rc.tp, rc.conn)
	rc.mu.Lock()
	headers := rc.byeHeaders
	rc.mu.Unlock()
	rc.p.addCommonHeaders(req, rc.acct, headers)
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := rc.dlg.WriteBye(ctx, req); err != nil {
		rc.p.log.Debug("sipgw: BYE", "call", rc.id, "err", err)
	}
}

// feed reads the caller's RTP into the source until the socket closes or
// the source does. Only the call's codec goes in: telephone-event and
// comfort noise are not for the room.
func (rc *roomCall) feed() {
	defer rc.wg.Done()
	m := rc.media
	enc := make([]byte, 1500)
	_, _ = rc.src.ReadPackets(0, func(b []byte) (int, error) {
		for {
			n, _, err := m.rtp.ReadFromUDP(enc)
			if err != nil {
				return 0, err
			}
			if n < 12 || enc[0]>>6 != 2 || isRTCP(enc[:n]) {
				continue
			}
			raw := enc[:n]
			if s := m.srtp.Load(); s != nil {
				if raw, err = s.in.DecryptRTP(b[:0], raw, nil); err != nil {
					continue
				}
			} else {
				raw = b[:copy(b, raw)]
			}
			m.fromPeer.Add(1)
			if raw[1]&0x7f != rc.neg.Media.PT || !m.recv.Load() {
				continue
			}
			return len(raw), nil
		}
	})
}

// hear keeps the caller hearing the room: the active speaker, or else who
// it hears already, or else the first other publisher of its codec.
func (rc *roomCall) hear() {
	defer rc.wg.Done()
	t := time.NewTicker(hearPoll)
	defer t.Stop()
	var since time.Time // of the last change
	for {
		since = rc.pick(since)
		select {
		case <-rc.ctx.Done():
			return
		case <-rc.wake:
		case <-t.C:
		}
	}
}

// pick applies the choice once; since is when the heard publisher last
// changed, and the result its new value.
func (rc *roomCall) pick(since time.Time) time.Time {
	var ids []uint64
	srcs := map[uint64]*ianua.Source{}
	for _, pt := range rc.room.Participants() {
		if pt.ID() == rc.pid || !pt.Publishing() {
			continue
		}
		for _, st := range pt.Streams() {
			if st.Kind == "audio" && codecOf(st.Source.Codec()).same(rc.neg.Media) {
				ids = append(ids, pt.ID())
				srcs[pt.ID()] = st.Source
				break
			}
		}
	}
	speaker, hasSpeaker := rc.room.ActiveSpeaker()
	rc.mu.Lock()
	cur, sub := rc.hearing, rc.sub
	rc.mu.Unlock()
	live := sub != nil && sub.Source() != nil
	next, ok := chooseHeard(ids, cur, speaker, hasSpeaker)
	switch {
	case !ok || (next == cur && live):
		return since
	case live && time.Since(since) < rc.interval:
		// Not so often: a phone cannot follow a ping-pong.
		return since
	}
	src := srcs[next]
	var err error
	if sub == nil {
		sub, err = src.SubscribeWriter(ianua.SubscribeWriterParams{Writer: &rc.w, ID: fmt.Sprintf("sip/%d", rc.pid), PayloadType: rc.neg.Media.PT, OnSourceClosed: rc.heardGone})
	} else {
		err = sub.Switch(src)
	}
	if err != nil {
		// It went away meanwhile: the next look will do.
		return since
	}
	rc.mu.Lock()
	rc.hearing, rc.sub = next, sub
	rc.mu.Unlock()
	return time.Now()
}

// heardGone is the subscription's OnSourceClosed: look again at once. It
// runs on the goroutine that closed the source and must not block.
func (rc *roomCall) heardGone(*ianua.Subscription) {
	select {
	case rc.wake <- struct{}{}:
	default:
	}
}

// chooseHeard picks the publisher a room caller hears among cands (the
// others that publish audio of the call's codec, in id order): the active
// speaker if it is one of them, else the one heard now if it still is,
// else the first. Without mixing a caller hears one voice, and the
// speaker's is the one that matters.
func chooseHeard(cands []uint64, current, speaker uint64, hasSpeaker bool) (uint64, bool) {
	has := func(id uint64) bool {
		for _, c := range cands {
			if c == id {
				return true
			}
		}
		return false
	}
	switch {
	case hasSpeaker && has(speaker):
		return speaker, true
	case current != 0 && has(current):
		return current, true
	case len(cands) > 0:
		return cands[0], true
	}
	return 0, false
}

// info is the call as RoomCalls reports it.
func (rc *roomCall) info() RoomCall {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return RoomCall{CallID: rc.id, Room: rc.room.ID(), ID: rc.pid, Caller: rc.caller, Display: rc.display,
		Codec: rc.neg.Media.Name, SRTP: rc.local.Crypto != nil, Hearing: rc.hearing,
		PacketsFromPeer: rc.media.fromPeer.Load(), PacketsToPeer: rc.media.toPeer.Load()}
}

// onAck confirms the dialog (the ACK of our 200, or of a re-INVITE's).
func (rc *roomCall) onAck(req *sip.Request, tx sip.ServerTransaction) {
	uas, ok := rc.dlg.(*sipgo.DialogServerSession)
	if !ok {
		// The ACK of a re-INVITE's 200 in a call we placed.
		return
	}
	if err := uas.ReadAck(req, tx); err != nil {
		rc.p.log.Debug("sipgw: ACK", "call", rc.id, "err", err)
	}
}

// onBye ends the call: the caller hung up.
func (rc *roomCall) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := rc.dlg.ReadBye(req, tx); err != nil {
		rc.p.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	rc.end(true)
}

// onReinvite answers a re-INVITE of the caller (a hold, a new address, a
// session refresh): the call's codec (488 without it, since nothing is
// transcoded), the new address and key, the direction that mirrors the
// offer's. Our 200 is sent once: over UDP a lost one is answered again
// when the caller retransmits its INVITE.
func (rc *roomCall) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	if err := rc.dlg.ReadRequest(req, tx); err != nil {
		rc.p.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	if hasSDP(req) {
		offer, err := parseAudio(req.Body())
		var n negotiated
		if err == nil {
			n, err = answerFor(offer, rc.neg.Media)
		}
		if err == nil && n.Media.PT != rc.neg.Media.PT {
			// The feed and the hearing subscription use the first
			// payload type.
			err = errNoCodec
		}
		if err == nil {
			err = rc.rekey(offer)
		}
		if err != nil {
			rc.p.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			return
		}
		rc.mu.Lock()
		rc.local.Dir = dirSendRecv & offer.Dir.reverse()
		rc.mu.Unlock()
		rc.media.setPeer(offer, n, dirSendRecv)
	}
	rc.mu.Lock()
	rc.local.Version++
	body := rc.local.marshal()
	rc.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(rc.p.contact(rc.user, rc.tp))
	if err := tx.Respond(res); err != nil {
		rc.p.log.Debug("sipgw: re-INVITE answer", "call", rc.id, "err", err)
	}
}

// rekey follows the caller's key in a re-offer: a call with SRTP keeps
// it (the same suite), one without stays plain.
func (rc *roomCall) rekey(offer mediaDesc) error {
	rc.mu.Lock()
	local, remote := rc.local.Crypto, rc.remoteKey
	rc.mu.Unlock()
	k, ok := pickCrypto(offer.Crypto)
	switch {
	case local == nil && !ok && offer.Proto == "RTP/AVP":
		return nil
	case local == nil || !ok || k.Suite != local.Suite:
		return errNoCrypto
	case string(k.Key) == string(remote.Key):
		return nil
	}
	return rc.keys(k, local)
}

// peerWriter sends the hearing subscription's packets to the caller from
// the call's RTP socket (the caller may expect them from the port of our
// SDP: symmetric RTP, RFC 4961).
type peerWriter struct {
	m *media

	mu  sync.Mutex
	buf [1500]byte
	enc [1500 + 16]byte
}

// WriteRTP implements webrtc.TrackLocalWriter.
func (w *peerWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	m := w.m
	addr := m.remote.Load()
	if !m.send.Load() || addr == nil {
		return 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := h.MarshalTo(w.buf[:])
	if err != nil {
		return 0, err
	}
	if n+len(payload) > len(w.buf) {
		return 0, fmt.Errorf("sipgw: RTP packet of %d bytes", n+len(payload))
	}
	n += copy(w.buf[n:], payload)
	out := w.buf[:n]
	if s := m.srtp.Load(); s != nil {
		if out, err = s.out.EncryptRTP(w.enc[:0], out, nil); err != nil {
			return 0, err
		}
	}
	if _, err := m.rtp.WriteToUDP(out, addr); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return 0, err
		}
		return 0, nil
	}
	m.toPeer.Add(1)
	return len(payload), nil
}

// Write implements webrtc.TrackLocalWriter.
func (w *peerWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return w.WriteRTP(&p.Header, p.Payload)
}
