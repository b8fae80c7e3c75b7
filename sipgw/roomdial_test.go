package sipgw

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/internal/testsip"
	"github.com/ianua/ianua/sfu"
)

// Calls a handle places into rooms (RoomDial): real SIPp callees, pion
// participants of the room.

// dialHandle is a guest handle of e, for calls into rooms.
func (e *roomEnv) dialHandle() (*ianua.Handle, *testpeer.EventLog) {
	e.t.Helper()
	_, h, log := e.newHandle()
	e.guest(h, log)
	return h, log
}

// roomIdle waits until the room has only the given participants and the
// gateway no room call.
func (e *roomEnv) roomIdle(t *testing.T, id uint64, participants int) {
	t.Helper()
	testpeer.WaitFor(t, 5*time.Second, "room calls gone", func() bool { return len(e.gw.RoomCalls()) == 0 })
	room, err := e.sfu.Room(id)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(room.Participants()); n != participants {
		t.Errorf("room %d has %d participants, want %d", id, n, participants)
	}
}

// A handle calls SIPp (its uas, PCMU, echoing RTP) into a PCMU room: the
// room sees it publish, it hears the room's publisher a (what SIPp echoes
// reaches b, a subscriber of the SIP participant: publisher, gateway,
// SIPp, gateway, subscriber), a second call is refused while it is up,
// and hangup on the handle sends the BYE and takes it out of the room.
func TestRoomDialSIPp(t *testing.T) {
	e := newRoomEnv(t, sfu.RoomParams{ID: 1, AudioCodec: "pcmu"})
	a := joinRoom(t, e.r, 1, 'A', "pcmu")
	b := joinRoom(t, e.r, 1, 'B', "")
	port := testsip.FreePort(t, false)
	sipp := runSIPp(t, "-sn", "uas", "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(testsip.FreePort(t, true)),
		"-p", strconv.Itoa(port), "-m", "1")
	testsip.WaitBound(t, port, false)
	h, log := e.dialHandle()

	uri := "sip:bob@127.0.0.1:" + strconv.Itoa(port)
	e.must(h, map[string]any{"request": "call", "uri": uri, "room": 1, "display": "Bob Phone"}, nil)
	if r := resultOf(e.wait(log, h, "calling")); r["room"] != float64(1) || r["call_id"] == nil {
		t.Errorf("calling: %v", r)
	}
	e.wait(log, h, "ringing")
	acc := resultOf(e.wait(log, h, "accepted"))
	if acc["codec"] != "pcmu" || acc["room"] != float64(1) || acc["username"] != uri {
		t.Errorf("accepted: %v", acc)
	}
	sipID := b.sipPublisher(t, "Bob Phone")
	if acc["id"] != float64(sipID) {
		t.Errorf("accepted id %v, the room's %d", acc["id"], sipID)
	}
	if id := a.sipPublisher(t, "Bob Phone"); id != sipID {
		t.Errorf("members see different ids: %d, %d", sipID, id)
	}
	b.subscribe(sipID)
	waitPackets(t, "a's audio echoed by SIPp", func() bool { return b.received('A') > 25 })
	b.checkMime(webrtc.MimeTypePCMU)
	calls := e.gw.RoomCalls()
	if len(calls) != 1 || calls[0].Room != 1 || calls[0].ID != sipID || calls[0].Hearing != a.id || calls[0].Caller != uri ||
		calls[0].PacketsToPeer == 0 || calls[0].PacketsFromPeer == 0 {
		t.Errorf("RoomCalls: %+v (a is %d)", calls, a.id)
	}
	ag := h.Attachment().(*Agent)
	if st := ag.Status(); st.CallStatus != "incall" || st.Room != 1 || st.PacketsToPeer == 0 {
		t.Errorf("status: %+v", st)
	}
	t.Logf("b got %d of a's packets back through SIPp: %+v", b.received('A'), calls)

	// One call at a time: a room call, or a normal one.
	if _, err := e.send(h, map[string]any{"request": "call", "uri": uri, "room": 1}, nil); codeOf(err) != ErrorWrongState {
		t.Errorf("second room call: %v", err)
	}

	e.must(h, map[string]any{"request": "hangup"}, nil)
	e.wait(log, h, "hangingup")
	if r := resultOf(e.wait(log, h, "hangup")); r["code"] != float64(200) || r["room"] != float64(1) {
		t.Errorf("hangup: %v", r)
	}
	a.gone(t, sipID)
	b.gone(t, sipID)
	// SIPp's uas fails unless it got the BYE.
	sipp.Check(t, 10*time.Second)
	e.roomIdle(t, 1, 2)
	if st := ag.Status(); st.CallStatus != "idle" || st.Room != 0 {
		t.Errorf("status after the call: %+v", st)
	}
}

// SIPp answers a call into a PCMA room (the room's codec offered, not
// Opus) and hangs up itself after 4 s: the handle gets "hangup", the room
// "unpublished" and "leaving"; then the handle can call again.
func TestRoomDialSIPpCalleeHangsUp(t *testing.T) {
	e := newRoomEnv(t, sfu.RoomParams{ID: 5, AudioCodec: "pcma"})
	a := joinRoom(t, e.r, 5, 'A', "pcma")
	port := testsip.FreePort(t, false)
	sipp := runSIPp(t, "-sf", testsip.Scenario(t, "sipp-uas-bye.xml"), "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-mp", strconv.Itoa(testsip.FreePort(t, true)), "-p", strconv.Itoa(port), "-m", "1")
	testsip.WaitBound(t, port, false)
	h, log := e.dialHandle()

	e.must(h, map[string]any{"request": "call", "uri": "sip:carol@127.0.0.1:" + strconv.Itoa(port), "room": 5}, nil)
	if r := resultOf(e.wait(log, h, "accepted")); r["codec"] != "pcma" {
		t.Errorf("accepted: %v", r)
	}
	// Without display, the callee's user part.
	sipID := a.sipPublisher(t, "carol")
	a.subscribe(sipID)
	waitPackets(t, "a's audio echoed by SIPp", func() bool { return a.received('A') > 25 })
	a.checkMime(webrtc.MimeTypePCMA)

	if r := resultOf(log.Wait(t, 15*time.Second, "hangup", sipEvent(h.ID(), "hangup"))); r["code"] != float64(200) || r["reason"] != "BYE" {
		t.Errorf("hangup: %v", r)
	}
	a.gone(t, sipID)
	sipp.Check(t, 10*time.Second)
	e.roomIdle(t, 5, 1)

	// The handle is free: a call to nobody there fails on its own.
	mark := log.Len()
	e.must(h, map[string]any{"request": "call", "uri": "sip:carol@127.0.0.1:" + strconv.Itoa(port), "room": 5}, nil)
	if r := resultOf(log.WaitFrom(t, mark, 15*time.Second, "second hangup", sipEvent(h.ID(), "hangup"))); r["code"] == float64(200) {
		t.Errorf("second call: %v", r)
	}
	e.roomIdle(t, 5, 1)
}

// Calls into rooms that cannot be: refused at once with Janus SIP codes,
// or ended by the callee's answer with a hangup that says why; nothing
// stays in the room.
func TestRoomDialRefused(t *testing.T) {
	e := newRoomEnv(t,
		sfu.RoomParams{ID: 1}, // Opus
		sfu.RoomParams{ID: 2, AudioCodec: "pcmu", PIN: "4321"},
		sfu.RoomParams{ID: 3, AudioCodec: "pcma", Publishers: 1},
	)
	joinRoom(t, e.r, 3, 'F', "pcma")
	h, log := e.dialHandle()
	_, unreg, _ := e.newHandle()
	pc := testpeer.NewClient(t, testpeer.Options{})
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	sdp, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	offer := &ianua.JSEP{Type: "offer", SDP: sdp.SDP}
	for _, tc := range []struct {
		name     string
		h        *ianua.Handle
		body     map[string]any
		jsep     *ianua.JSEP
		code     int
		sentinel error
	}{
		{"no such room", h, map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "room": 42}, nil, ErrorInvalidElement, sfu.ErrNoSuchRoom},
		{"room with a JSEP", h, map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "room": 1}, offer, ErrorInvalidElement, ianua.ErrInvalidElement},
		{"wrong pin", h, map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "room": 2, "pin": "1"}, nil, ErrorInvalidElement, sfu.ErrUnauthorized},
		{"room full", h, map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "room": 3}, nil, ErrorWrongState, sfu.ErrPublishersFull},
		{"not registered", unreg, map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "room": 1}, nil, ErrorWrongState, ErrCallState},
		{"bad uri", h, map[string]any{"request": "call", "uri": "sip:bob @127.0.0.1", "room": 1}, nil, ErrorInvalidAddress, ErrInvalidAddress},
		{"display injection", h, map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "room": 1, "display": "B\r\nX: 1"}, nil, ErrorInvalidElement, ErrHeaderInjection},
		{"room not a number", h, map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "room": "1"}, nil, ErrorInvalidElement, ianua.ErrInvalidElement},
		{"refer_id with room", h, map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "room": 1, "refer_id": 1}, nil, ErrorInvalidElement, ianua.ErrInvalidElement},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.send(tc.h, tc.body, tc.jsep)
			if codeOf(err) != tc.code || !errors.Is(err, tc.sentinel) {
				t.Errorf("%v: %v, want %d (%v)", tc.body, err, tc.code, tc.sentinel)
			}
		})
	}

	if h.HasPeerConnection() {
		t.Error("the refused JSEP left a PeerConnection")
	}

	// The callee's answers: 488, a codec we did not offer, ringing
	// until hung up.
	for _, tc := range []struct {
		name   string
		opts   uasOptions
		hangup bool
		code   float64
	}{
		{"callee refuses with 488", uasOptions{reject: 488}, false, 488},
		{"callee answers a codec not offered", uasOptions{codec: "g729"}, false, 488},
		{"hung up while ringing", uasOptions{ringOnly: true}, true, 487},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUAS(e.env, tc.opts)
			mark, accepted := log.Len(), log.Count(sipEvent(h.ID(), "accepted"))
			e.must(h, map[string]any{"request": "call", "uri": u.uri("bob"), "room": 1}, nil)
			if tc.hangup {
				log.WaitFrom(t, mark, 10*time.Second, "ringing", sipEvent(h.ID(), "ringing"))
				e.must(h, map[string]any{"request": "hangup"}, nil)
			}
			r := resultOf(log.WaitFrom(t, mark, 10*time.Second, "hangup", sipEvent(h.ID(), "hangup")))
			if r["code"] != tc.code {
				t.Errorf("hangup: %v, want %v", r, tc.code)
			}
			switch {
			case tc.hangup:
				testpeer.WaitFor(t, 5*time.Second, "CANCEL at the callee", func() bool { return u.cancels.Load() == 1 })
			case tc.opts.codec != "":
				testpeer.WaitFor(t, 5*time.Second, "BYE at the callee", func() bool { return u.byes.Load() == 1 })
			}
			if n := log.Count(sipEvent(h.ID(), "accepted")); n != accepted {
				t.Errorf("%d accepted events", n-accepted)
			}
			e.roomIdle(t, 1, 0)
			if st := h.Attachment().(*Agent).Status(); st.CallStatus != "idle" {
				t.Errorf("status: %+v", st)
			}
		})
	}
}

// A browser's call to SIPp (PCMU, echoing RTP) moves into a PCMU room
// with join_room: the browser's PeerConnection is hung up, SIPp's leg
// goes on in the same dialog (no re-INVITE: its scenario has none) as a
// publisher of the room that hears a; the handle's hangup sends the BYE.
// Refused before: join_room without a call, into a room of another
// codec, into no room.
func TestRoomMoveCall(t *testing.T) {
	e := newRoomEnv(t, sfu.RoomParams{ID: 1, AudioCodec: "pcmu"}, sfu.RoomParams{ID: 2})
	a := joinRoom(t, e.r, 1, 'A', "pcmu")
	b := joinRoom(t, e.r, 1, 'B', "")
	port := testsip.FreePort(t, false)
	sipp := runSIPp(t, "-sn", "uas", "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(testsip.FreePort(t, true)),
		"-p", strconv.Itoa(port), "-m", "1")
	testsip.WaitBound(t, port, false)
	h, log := e.dialHandle()
	if _, err := e.send(h, map[string]any{"request": "join_room", "room": 1}, nil); codeOf(err) != ErrorWrongState {
		t.Errorf("join_room without a call: %v", err)
	}

	br := newBrowser(t, h, log, "pcmu")
	e.must(h, map[string]any{"request": "call", "uri": "sip:echo@127.0.0.1:" + strconv.Itoa(port)}, br.offer())
	br.flush()
	br.apply(e.wait(log, h, "accepted").JSEP)
	br.sendAudio()
	waitPackets(t, "RTP echoed by SIPp", func() bool { return br.received.Load() > 25 })

	for _, tc := range []struct {
		name string
		body map[string]any
		code int
	}{
		{"no such room", map[string]any{"request": "join_room", "room": 42}, ErrorInvalidElement},
		{"room of another codec", map[string]any{"request": "join_room", "room": 2}, ErrorMissingSDP},
		{"no room", map[string]any{"request": "join_room"}, ErrorMissingElement},
	} {
		if _, err := e.send(h, tc.body, nil); codeOf(err) != tc.code {
			t.Errorf("%s: %v, want %d", tc.name, err, tc.code)
		}
	}
	if n := len(e.gw.RoomCalls()); n != 0 {
		t.Fatalf("%d room calls after refused join_room", n)
	}

	mark := log.Len()
	e.must(h, map[string]any{"request": "join_room", "room": 1, "display": "Echo"}, nil)
	joined := resultOf(log.WaitFrom(t, mark, 10*time.Second, "room_joined", sipEvent(h.ID(), "room_joined")))
	if joined["room"] != float64(1) || joined["codec"] != "pcmu" {
		t.Errorf("room_joined: %v", joined)
	}
	log.WaitFrom(t, mark, 10*time.Second, "WebRTC hangup", testpeer.Type(ianua.EventHangup, h.ID()))
	testpeer.WaitFor(t, 10*time.Second, "browser PeerConnection closed", func() bool {
		return br.pc.ConnectionState() == webrtc.PeerConnectionStateClosed
	})
	if n := log.Count(sipEvent(h.ID(), "hangup")); n != 0 {
		t.Errorf("%d hangup events for a call that goes on", n)
	}
	sipID := b.sipPublisher(t, "Echo")
	if joined["id"] != float64(sipID) {
		t.Errorf("room_joined id %v, the room's %d", joined["id"], sipID)
	}
	b.subscribe(sipID)
	waitPackets(t, "a's audio echoed by SIPp", func() bool { return b.received('A') > 25 })
	if calls := e.gw.RoomCalls(); len(calls) != 1 || calls[0].Hearing != a.id {
		t.Errorf("RoomCalls: %+v", calls)
	}
	if st := h.Attachment().(*Agent).Status(); st.CallStatus != "incall" || st.Room != 1 {
		t.Errorf("status: %+v", st)
	}

	e.must(h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(log, h, "hangup")); r["code"] != float64(200) || r["room"] != float64(1) {
		t.Errorf("hangup: %v", r)
	}
	a.gone(t, sipID)
	sipp.Check(t, 10*time.Second)
	e.roomIdle(t, 1, 2)
}
