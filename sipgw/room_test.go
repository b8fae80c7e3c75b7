package sipgw

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/internal/testsip"
	"github.com/ianua/ianua/sfu"
)

// SIP callers in video rooms (DialIn): real SIPp callers and pion
// participants of the room, through the videoroom plugin's own API.

// roomEnv is a gateway and a videoroom plugin on one router, with dial-in
// rules: user "conf" to room 1, "ghost" to room 999 (none), prefix
// "room-" for any room.
type roomEnv struct {
	*env
	sfu *sfu.Plugin
}

func newRoomEnv(t *testing.T, rooms ...sfu.RoomParams) *roomEnv {
	t.Helper()
	checkLeaks(t)
	gw, err := New(Params{Logger: testpeer.QuietLogger(), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, gw: gw}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := gw.Close(ctx); err != nil {
			t.Errorf("gateway close: %v", err)
		}
		for i := len(e.peers) - 1; i >= 0; i-- {
			e.peers[i]()
		}
	})
	sp, err := sfu.New(sfu.Params{Rooms: rooms, Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.r = testpeer.NewRouter(t, nil, sp, gw)
	if err := gw.SetDialIn(DialIn{Router: e.r, Users: map[string]uint64{"conf": 1, "ghost": 999}, Prefix: "room-"}); err != nil {
		t.Fatal(err)
	}
	return &roomEnv{env: e, sfu: sp}
}

// member is a pion client in a room: a publisher handle that sends audio
// whose payload starts with its marker, and optionally a subscriber
// handle that counts what it gets by marker.
type member struct {
	t      *testing.T
	room   uint64
	marker byte
	s      *ianua.Session
	log    *testpeer.EventLog
	pubH   *ianua.Handle
	pubPC  *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticRTP
	clock  uint32
	id     uint64
	pvt    uint64
	stop   chan struct{}
	wg     sync.WaitGroup

	subH  *ianua.Handle
	subPC *webrtc.PeerConnection
	mu    sync.Mutex
	got   map[byte]int
	mime  string // of the subscribed track
	level byte   // RFC 6464 level sent, 0 loud .. 127 silent
}

func roomData(e ianua.Event) map[string]any {
	var d map[string]any
	_ = json.Unmarshal(e.Data, &d)
	return d
}

func roomMessage(t *testing.T, h *ianua.Handle, body any, jsep *ianua.JSEP) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.Message(ctx, ianua.Message{Body: testpeer.JSON(body), JSEP: jsep, Transaction: "tx"}); err != nil {
		t.Fatalf("%v: %v", body, err)
	}
}

// joinRoom makes a member join as a publisher and publish audio of codec
// ("opus", "pcmu", "pcma"; "": nothing) with RFC 6464 levels.
func joinRoom(t *testing.T, r *ianua.MediaRouter, room uint64, marker byte, codec string) *member {
	t.Helper()
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	m := &member{t: t, room: room, marker: marker, s: s, log: testpeer.Watch(s), stop: make(chan struct{}), got: map[byte]int{}, level: 127}
	t.Cleanup(m.close)
	if m.pubH, err = s.Attach(sfu.Name); err != nil {
		t.Fatal(err)
	}
	roomMessage(t, m.pubH, map[string]any{"request": "join", "ptype": "publisher", "room": room, "display": string(marker)}, nil)
	d := roomData(m.log.Wait(t, 5*time.Second, "joined", testpeer.Plugin(m.pubH.ID(), "videoroom", "joined", "")))
	m.id, m.pvt = uint64(d["id"].(float64)), uint64(d["private_id"].(float64))
	if codec == "" {
		return m
	}

	m.pubPC = testpeer.NewClient(t, testpeer.Options{AudioLevel: true})
	cc := testCodecs[codec]
	m.clock = cc.ClockRate
	if m.track, err = webrtc.NewTrackLocalStaticRTP(cc, "audio", "pub"); err != nil {
		t.Fatal(err)
	}
	tr, err := m.pubPC.AddTransceiverFromTrack(m.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := tr.Sender().ReadRTCP(); err != nil {
				return
			}
		}
	}()
	testpeer.TrickleTo(t, m.pubPC, m.pubH)
	offer, err := m.pubPC.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.pubPC.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	mark := m.log.Len()
	roomMessage(t, m.pubH, map[string]any{"request": "publish"}, &ianua.JSEP{Type: "offer", SDP: offer.SDP})
	ev := m.log.WaitFrom(t, mark, 5*time.Second, "configured", testpeer.Plugin(m.pubH.ID(), "configured", "ok", "answer"))
	if err := m.pubPC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	testpeer.TrickleFrom(m.log, m.pubH.ID(), m.pubPC, m.stop)
	m.log.Wait(t, 10*time.Second, "publisher webrtcup", testpeer.Type(ianua.EventWebRTCUp, m.pubH.ID()))
	var levelID uint8
	for _, e := range tr.Sender().GetParameters().HeaderExtensions {
		if e.URI == "urn:ietf:params:rtp-hdrext:ssrc-audio-level" {
			levelID = uint8(e.ID)
		}
	}
	m.wg.Add(1)
	go m.send(levelID)
	return m
}

// send sends a 20 ms audio packet every 20 ms, with the current level.
func (m *member) send(levelID uint8) {
	defer m.wg.Done()
	size, step := 160, uint32(160)
	if m.clock == 48000 {
		size, step = 60, 960
	}
	payload := make([]byte, size)
	payload[0] = m.marker
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: payload}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		m.mu.Lock()
		level := m.level
		m.mu.Unlock()
		pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i)*step
		if levelID != 0 {
			_ = pkt.SetExtension(levelID, []byte{0x80 | level})
		}
		if err := m.track.WriteRTP(pkt); err != nil {
			return
		}
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
	}
}

func (m *member) setLevel(l byte) {
	m.mu.Lock()
	m.level = l
	m.mu.Unlock()
}

// subscribe subscribes to the audio of feed and counts its packets by
// their first payload byte.
func (m *member) subscribe(feed uint64) {
	t := m.t
	t.Helper()
	var err error
	if m.subH, err = m.s.Attach(sfu.Name); err != nil {
		t.Fatal(err)
	}
	m.subPC = testpeer.NewClient(t, testpeer.Options{})
	m.subPC.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		m.mu.Lock()
		m.mime = tr.Codec().MimeType
		m.mu.Unlock()
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) == 0 {
				continue
			}
			m.mu.Lock()
			m.got[pkt.Payload[0]]++
			m.mu.Unlock()
		}
	})
	testpeer.TrickleTo(t, m.subPC, m.subH)
	mark := m.log.Len()
	roomMessage(t, m.subH, map[string]any{"request": "join", "ptype": "subscriber", "room": m.room, "private_id": m.pvt, "streams": []any{map[string]any{"feed": feed}}}, nil)
	ev := m.log.WaitFrom(t, mark, 5*time.Second, "attached", testpeer.Plugin(m.subH.ID(), "videoroom", "attached", "offer"))
	if err := m.subPC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	ans, err := m.subPC.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.subPC.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	roomMessage(t, m.subH, map[string]any{"request": "start", "room": m.room}, &ianua.JSEP{Type: "answer", SDP: ans.SDP})
	testpeer.TrickleFrom(m.log, m.subH.ID(), m.subPC, m.stop)
	m.log.Wait(t, 10*time.Second, "subscriber webrtcup", testpeer.Type(ianua.EventWebRTCUp, m.subH.ID()))
}

// checkMime checks the codec of the subscribed track.
func (m *member) checkMime(mime string) {
	m.t.Helper()
	m.mu.Lock()
	got := m.mime
	m.mu.Unlock()
	if !strings.EqualFold(got, mime) {
		m.t.Errorf("subscribed with %q, want %s", got, mime)
	}
}

func (m *member) received(marker byte) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got[marker]
}

func (m *member) close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.wg.Wait()
}

// sipPublisher waits for the "publishers" event that lists a publisher
// with this display name and returns its id.
func (m *member) sipPublisher(t *testing.T, display string) uint64 {
	t.Helper()
	var id uint64
	m.log.Wait(t, 10*time.Second, "publishers "+display, func(e ianua.Event) bool {
		if e.Type != ianua.EventPlugin || e.HandleID != m.pubH.ID() {
			return false
		}
		pubs, _ := roomData(e)["publishers"].([]any)
		for _, p := range pubs {
			p, _ := p.(map[string]any)
			if p["display"] == display {
				id = uint64(p["id"].(float64))
				streams, _ := p["streams"].([]any)
				if len(streams) != 1 || streams[0].(map[string]any)["type"] != "audio" {
					t.Errorf("SIP publisher's streams: %v", p["streams"])
				}
				return true
			}
		}
		return false
	})
	return id
}

// gone waits for "unpublished" and "leaving" of participant id.
func (m *member) gone(t *testing.T, id uint64) {
	t.Helper()
	for _, key := range []string{"unpublished", "leaving"} {
		m.log.Wait(t, 10*time.Second, key, func(e ianua.Event) bool {
			v, ok := roomData(e)[key].(float64)
			return e.Type == ianua.EventPlugin && e.HandleID == m.pubH.ID() && ok && uint64(v) == id
		})
	}
}

// A SIPp caller (PCMU, echoing its RTP) dials into a PCMU room: every
// member sees it as a publisher; it hears the room's publisher (what it
// echoes reaches a subscriber of the SIP participant, so the audio made
// the whole round trip: publisher, gateway, SIPp, gateway, subscriber);
// when it hangs up the room is told.
func TestRoomDialInSIPpPCMU(t *testing.T) {
	e := newRoomEnv(t, sfu.RoomParams{ID: 1, AudioCodec: "pcmu"})
	a := joinRoom(t, e.r, 1, 'A', "pcmu")
	b := joinRoom(t, e.r, 1, 'B', "")

	sipp := runSIPp(t, "-sn", "uac", "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(testsip.FreePort(t, true)),
		"-p", strconv.Itoa(testsip.FreePort(t, false)), "-s", "conf", "-d", "6000", "-m", "1", e.gw.Addr().String())
	sipID := a.sipPublisher(t, "sipp")
	if id := b.sipPublisher(t, "sipp"); id != sipID {
		t.Errorf("members see different ids: %d, %d", sipID, id)
	}
	b.subscribe(sipID)
	// Nobody talks: the caller hears the first other publisher, a.
	waitPackets(t, "a's audio echoed by SIPp", func() bool { return b.received('A') > 25 })
	b.checkMime(webrtc.MimeTypePCMU)
	calls := e.gw.RoomCalls()
	if len(calls) != 1 || calls[0].Room != 1 || calls[0].ID != sipID || calls[0].Codec != "pcmu" || calls[0].Hearing != a.id ||
		calls[0].PacketsToPeer == 0 || calls[0].PacketsFromPeer == 0 {
		t.Errorf("RoomCalls: %+v (a is %d)", calls, a.id)
	}
	t.Logf("b got %d of a's packets back through SIPp: %+v", b.received('A'), calls)

	// SIPp hangs up after its pause.
	a.gone(t, sipID)
	if err := sipp.Wait(); err != nil {
		t.Errorf("sipp: %v\n%s", err, sipp.Output())
	}
	testpeer.WaitFor(t, 5*time.Second, "room call gone", func() bool { return len(e.gw.RoomCalls()) == 0 })
	room, _ := e.sfu.Room(1)
	if _, ok := room.Participant(sipID); ok {
		t.Error("the SIP participant is still in the room")
	}
}

// opusCaller is a SIPp scenario: an Opus call that the other side ends.
const opusCaller = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="opus caller hung up by the gateway">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Alice Phone" <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:alice@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=alice 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 107 101
a=rtpmap:0 PCMU/8000
a=rtpmap:107 opus/48000/2
a=fmtp:107 useinbandfec=1
a=rtpmap:101 telephone-event/8000
a=sendrecv

]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Alice Phone" <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:alice@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:alice@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
</scenario>
`

// A SIPp caller offering PCMU and Opus dials into an Opus room by prefix
// (the room's codec is chosen); the caller hears the active speaker,
// which changes from a to b when they take turns (and the echo follows);
// destroying the room hangs the caller up.
func TestRoomDialInSIPpOpusSpeaker(t *testing.T) {
	e := newRoomEnv(t, sfu.RoomParams{ID: 7, Publishers: 6, AudioActivePackets: 10, AudioLevelAverage: 25})
	a := joinRoom(t, e.r, 7, 'A', "opus")
	b := joinRoom(t, e.r, 7, 'B', "opus")
	c := joinRoom(t, e.r, 7, 'C', "")
	// b talks first.
	b.setLevel(10)

	dir := t.TempDir()
	path := filepath.Join(dir, "opus.xml")
	if err := os.WriteFile(path, []byte(opusCaller), 0o644); err != nil {
		t.Fatal(err)
	}
	sipp := runSIPp(t, "-sf", path, "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(testsip.FreePort(t, true)),
		"-p", strconv.Itoa(testsip.FreePort(t, false)), "-s", "room-7", "-m", "1", e.gw.Addr().String())
	sipID := c.sipPublisher(t, "Alice Phone")
	c.subscribe(sipID)
	waitPackets(t, "b's audio echoed by SIPp", func() bool { return c.received('B') > 25 })
	c.checkMime(webrtc.MimeTypeOpus)
	if calls := e.gw.RoomCalls(); len(calls) != 1 || calls[0].Codec != "opus" || calls[0].Hearing != b.id {
		t.Errorf("RoomCalls: %+v (b is %d)", calls, b.id)
	}

	// a takes over: after the room's hold the caller hears a.
	b.setLevel(127)
	a.setLevel(5)
	testpeer.WaitFor(t, 10*time.Second, "the caller hears a", func() bool {
		calls := e.gw.RoomCalls()
		return len(calls) == 1 && calls[0].Hearing == a.id
	})
	n := c.received('A')
	waitPackets(t, "a's audio echoed by SIPp", func() bool { return c.received('A') > n+25 })

	if err := e.sfu.DestroyRoom(7); err != nil {
		t.Fatal(err)
	}
	if err := sipp.Wait(); err != nil {
		t.Errorf("sipp (hung up by the room's end): %v\n%s", err, sipp.Output())
	}
	testpeer.WaitFor(t, 5*time.Second, "room call gone", func() bool { return len(e.gw.RoomCalls()) == 0 })
}

// roomInvite makes c call user at the gateway with an SDP of codecs and
// returns the dialog and the final status.
func roomInvite(t *testing.T, e *roomEnv, c *uac, user string, codecs []codec) (*sipgo.DialogClientSession, int) {
	t.Helper()
	l := localSDP{SessionID: 2, Version: 1, IP: "127.0.0.1", Port: c.rtp.LocalAddr().(*net.UDPAddr).Port, Dir: dirSendRecv, Codecs: codecs}
	if c.key != nil {
		l.Proto, l.Crypto = "RTP/SAVP", c.key
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dlg, err := c.invite(ctx, e.gwURI(user), l.marshal())
	if err != nil {
		t.Fatal(err)
	}
	err = dlg.WaitAnswer(ctx, sipgo.AnswerOptions{})
	if err != nil {
		return dlg, sipCode(err)
	}
	return dlg, dlg.InviteResponse.StatusCode
}

var (
	pcmuOnly = []codec{{Name: "pcmu", PT: 0, Clock: 8000}}
	opusOnly = []codec{{Name: "opus", PT: 111, Clock: 48000, Channels: 2}}
)

// Calls the rules cannot put in a room are refused with the SIP code that
// says why, and nothing joins any room.
func TestRoomDialInRefused(t *testing.T) {
	e := newRoomEnv(t,
		sfu.RoomParams{ID: 1}, // Opus
		sfu.RoomParams{ID: 2, AudioCodec: "pcmu", PIN: "4321"},   // PIN
		sfu.RoomParams{ID: 3, AudioCodec: "pcma", Publishers: 1}, // full below
	)
	joinRoom(t, e.r, 3, 'F', "pcma")
	c := newUAC(e.env)
	for _, tc := range []struct {
		name   string
		user   string
		codecs []codec
		want   int
	}{
		{"no such room", "ghost", opusOnly, 404},
		{"no such room by prefix", "room-42", opusOnly, 404},
		{"no rule: no registered user either", "room-x", opusOnly, 404},
		{"codec mismatch", "conf", pcmuOnly, 488},
		{"only telephone-event", "conf", []codec{{Name: dtmf, PT: 101, Clock: 48000}}, 488},
		{"PIN room by prefix", "room-2", pcmuOnly, 403},
		{"room full", "room-3", []codec{{Name: "pcma", PT: 8, Clock: 8000}}, 486},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, code := roomInvite(t, e, c, tc.user, tc.codecs); code != tc.want {
				t.Errorf("%s: %d, want %d", tc.user, code, tc.want)
			}
		})
	}
	if n := len(e.gw.RoomCalls()); n != 0 {
		t.Errorf("%d room calls", n)
	}
	for _, id := range []uint64{1, 2} {
		room, _ := e.sfu.Room(id)
		if n := len(room.Participants()); n != 0 {
			t.Errorf("room %d has %d participants", id, n)
		}
	}
	if err := e.gw.SetDialIn(DialIn{Users: map[string]uint64{"x": 1}}); err == nil {
		t.Error("dial-in without a router was accepted")
	}
	if err := e.gw.SetDialIn(DialIn{Router: e.r, Users: map[string]uint64{"a@b": 1}}); err == nil {
		t.Error("a user with @ was accepted")
	}
}

// An in-process caller with SDES-SRTP (RTP/SAVP): its audio reaches a
// subscriber of the room decrypted, the room's audio reaches it
// encrypted with our key; a re-INVITE that holds is answered recvonly
// with the call's codec, one without it gets 488; the caller's BYE takes
// it out of the room.
func TestRoomDialInSRTPReinviteBye(t *testing.T) {
	e := newRoomEnv(t, sfu.RoomParams{ID: 1, AudioCodec: "pcmu"})
	a := joinRoom(t, e.r, 1, 'A', "pcmu")
	c := newUAC(e.env)
	key, err := newKey(1, "AES_CM_128_HMAC_SHA1_80")
	if err != nil {
		t.Fatal(err)
	}
	c.key = &key
	dlg, code := roomInvite(t, e, c, "conf", pcmuOnly)
	if code != 200 {
		t.Fatalf("INVITE: %d", code)
	}
	if err := dlg.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	answer := dlg.InviteResponse.Body()
	if d, err := parseAudio(answer); err != nil || d.Proto != "RTP/SAVP" || len(d.Crypto) != 1 || d.Codecs[0].Name != "pcmu" {
		t.Fatalf("answer %v:\n%s", err, answer)
	}
	sipID := a.sipPublisher(t, "Bob")
	a.subscribe(sipID)
	c.sendAudio(answer) // payload of zeros: marker 0
	waitPackets(t, "media both ways", func() bool { return a.received(0) > 25 && c.received.Load() > 25 })
	a.checkMime(webrtc.MimeTypePCMU)
	if calls := e.gw.RoomCalls(); len(calls) != 1 || !calls[0].SRTP {
		t.Errorf("RoomCalls: %+v", calls)
	}

	// Hold: a sendonly re-offer with the key, and one without the codec.
	hold := localSDP{SessionID: 2, Version: 2, IP: "127.0.0.1", Port: c.rtp.LocalAddr().(*net.UDPAddr).Port, Dir: dirSend,
		Codecs: pcmuOnly, Proto: "RTP/SAVP", Crypto: c.key}
	res := sendReinvite(t, dlg, dlg.InviteResponse.Contact().Address, hold.marshal())
	if d, err := parseAudio(res.Body()); res.StatusCode != 200 || err != nil || d.Dir != dirRecv || d.Codecs[0].Name != "pcmu" {
		t.Errorf("hold: %d %v\n%s", res.StatusCode, err, res.Body())
	}
	hold.Version, hold.Codecs = 3, []codec{{Name: "pcma", PT: 8, Clock: 8000}}
	if res := sendReinvite(t, dlg, dlg.InviteResponse.Contact().Address, hold.marshal()); res.StatusCode != 488 {
		t.Errorf("re-INVITE without the call's codec: %d", res.StatusCode)
	}

	if err := dlg.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.gone(t, sipID)
	testpeer.WaitFor(t, 5*time.Second, "room call gone", func() bool { return len(e.gw.RoomCalls()) == 0 })
}

// The choice of whom a room caller hears, without a network.
func TestChooseHeard(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cands      []uint64
		current    uint64
		speaker    uint64
		hasSpeaker bool
		want       uint64
		ok         bool
	}{
		{"nobody", nil, 0, 0, false, 0, false},
		{"the only one", []uint64{5}, 0, 0, false, 5, true},
		{"the speaker", []uint64{5, 6}, 5, 6, true, 6, true},
		{"the speaker is not a candidate (the caller itself)", []uint64{5, 6}, 6, 9, true, 6, true},
		{"keep the current one", []uint64{5, 6}, 6, 0, false, 6, true},
		{"the current one left", []uint64{5, 6}, 7, 0, false, 5, true},
	} {
		got, ok := chooseHeard(tc.cands, tc.current, tc.speaker, tc.hasSpeaker)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %d %v, want %d %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// The codec of a room call is the room's first that the caller offers.
func TestRoomCodec(t *testing.T) {
	offer := mediaDesc{Codecs: []codec{{Name: "pcmu", PT: 0, Clock: 8000}, {Name: "opus", PT: 107, Clock: 48000, Channels: 2},
		{Name: dtmf, PT: 101, Clock: 8000}, {Name: dtmf, PT: 102, Clock: 48000}}}
	for _, tc := range []struct {
		room string
		want string
		pt   uint8
		dtmf uint8
	}{
		{"opus", "opus", 107, 102},
		{"pcmu,opus", "pcmu", 0, 101},
		{" PCMA , opus", "opus", 107, 102},
		{"pcma,g722", "", 0, 0},
	} {
		n, ok := roomCodec(offer, tc.room)
		if tc.want == "" {
			if ok {
				t.Errorf("%q: %+v", tc.room, n)
			}
			continue
		}
		if !ok || n.Media.Name != tc.want || n.Media.PT != tc.pt || n.DTMF == nil || n.DTMF.PT != tc.dtmf {
			t.Errorf("%q: %+v %v", tc.room, n, ok)
		}
	}
}

// A host that removes the SIP participant from the room
// (RemoveRemotePublisher, as a moderator's kick) hangs the caller up.
func TestRoomDialInRemovedByHost(t *testing.T) {
	e := newRoomEnv(t, sfu.RoomParams{ID: 1, AudioCodec: "pcmu"})
	a := joinRoom(t, e.r, 1, 'A', "")
	c := newUAC(e.env)
	dlg, code := roomInvite(t, e, c, "conf", pcmuOnly)
	if code != 200 {
		t.Fatalf("INVITE: %d", code)
	}
	if err := dlg.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	sipID := a.sipPublisher(t, "Bob")
	room, _ := e.sfu.Room(1)
	if err := room.RemoveRemotePublisher(sipID); err != nil {
		t.Fatal(err)
	}
	a.gone(t, sipID)
	testpeer.WaitFor(t, 5*time.Second, "BYE to the caller", func() bool { return c.byes.Load() == 1 })
	testpeer.WaitFor(t, 5*time.Second, "room call gone", func() bool { return len(e.gw.RoomCalls()) == 0 })
}
