package sipgw

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
)

// guest registers h without a REGISTER, enough to call.
func (e *env) guest(h *ianua.Handle, log *testpeer.EventLog) {
	e.t.Helper()
	e.must(h, map[string]any{"request": "register", "type": "guest", "username": "sip:alice@127.0.0.1", "display_name": "Alice"}, nil)
	e.wait(log, h, "registered")
}

func TestCallEcho(t *testing.T) {
	for _, codec := range []string{"opus", "pcmu"} {
		t.Run(codec, func(t *testing.T) {
			e := newEnv(t)
			u := newUAS(e, uasOptions{codec: codec})
			e.guest(e.h, e.log)
			b := newBrowser(t, e.h, e.log, codec)
			e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo"), "headers": map[string]string{"X-Call": "1"}}, b.offer())
			b.flush()
			calling := e.wait(e.log, e.h, "calling")
			if resultOf(calling)["call_id"] == "" {
				t.Errorf("calling: %v", resultOf(calling))
			}
			e.wait(e.log, e.h, "ringing")
			acc := e.wait(e.log, e.h, "accepted")
			b.apply(acc.JSEP)
			if n := strings.Count(acc.JSEP.SDP, "a=rtpmap:"); n > 2 {
				t.Errorf("answer keeps %d codecs, want the SIP one (+ telephone-event):\n%s", n, acc.JSEP.SDP)
			}
			offer := u.offerBodies()[0]
			if !strings.Contains(offer, "RTP/AVP") || !strings.Contains(offer, "telephone-event") {
				t.Errorf("SIP offer:\n%s", offer)
			}
			b.sendAudio()
			waitPackets(t, "echo through the gateway", func() bool { return u.echoed.Load() > 25 && b.received.Load() > 25 })
			if want := testCodecs[codec].MimeType; !strings.EqualFold(b.remoteMime(), want) {
				t.Errorf("browser receives %s, want %s", b.remoteMime(), want)
			}
			st := e.h.Attachment().(*Agent).Status()
			if st.CallStatus != "incall" || st.PacketsToPeer == 0 || st.PacketsFromPeer == 0 {
				t.Errorf("status %+v", st)
			}
			t.Logf("%s: browser sent %d, SIP peer echoed %d, browser got %d back", codec, b.sent.Load(), u.echoed.Load(), b.received.Load())

			e.must(e.h, map[string]any{"request": "hangup"}, nil)
			e.wait(e.log, e.h, "hangingup")
			ev := e.wait(e.log, e.h, "hangup")
			if r := resultOf(ev); r["code"] != float64(200) {
				t.Errorf("hangup: %v", r)
			}
			testpeer.WaitFor(t, 5*time.Second, "BYE", func() bool { return u.byes.Load() == 1 })
			e.log.Wait(t, 5*time.Second, "core hangup", testpeer.Type(ianua.EventHangup, e.h.ID()))
			if st := e.h.Attachment().(*Agent).Status(); st.CallStatus != "idle" {
				t.Errorf("after hangup: %+v", st)
			}
		})
	}
}

func TestCallRemoteBye(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	u := newUAS(e, uasOptions{codec: "pcmu"})
	e.register(e.h, e.log, reg, "alice")
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo")}, b.offer())
	b.flush()
	b.apply(e.wait(e.log, e.h, "accepted").JSEP)
	b.sendAudio()
	waitPackets(t, "echo", func() bool { return b.received.Load() > 10 })
	u.bye(t)
	ev := e.wait(e.log, e.h, "hangup")
	if r := resultOf(ev); r["code"] != float64(200) || r["reason"] != "BYE" {
		t.Errorf("hangup: %v", r)
	}
	// The handle may call again at once.
	b2 := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo")}, b2.offer())
	b2.flush()
	mark := e.log.Len()
	e.log.WaitFrom(t, mark, 10*time.Second, "second accepted", sipEvent(e.h.ID(), "accepted"))
}

func TestCallFailures(t *testing.T) {
	testCases := []struct {
		name   string
		opts   uasOptions
		code   float64
		action func(e *env)
	}{
		{"busy", uasOptions{reject: 486}, 486, nil},
		{"no common codec", uasOptions{codec: "g729"}, 488, nil},
		{"never answers", uasOptions{silent: true}, 408, nil},
		{"cancel while ringing", uasOptions{ringOnly: true}, 487, func(e *env) {
			e.wait(e.log, e.h, "ringing")
			e.must(e.h, map[string]any{"request": "hangup"}, nil)
		}},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			u := newUAS(e, tc.opts)
			e.guest(e.h, e.log)
			b := newBrowser(t, e.h, e.log, "pcmu")
			e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo")}, b.offer())
			b.flush()
			if tc.action != nil {
				tc.action(e)
			}
			ev := e.log.Wait(t, 15*time.Second, "hangup", sipEvent(e.h.ID(), "hangup"))
			if r := resultOf(ev); r["code"] != tc.code {
				t.Errorf("hangup %v, want code %v", r, tc.code)
			}
			if tc.opts.ringOnly {
				testpeer.WaitFor(t, 5*time.Second, "CANCEL at the callee", func() bool { return u.cancels.Load() == 1 })
			}
			if e.log.Count(sipEvent(e.h.ID(), "accepted")) != 0 {
				t.Error("accepted")
			}
		})
	}
}

func TestCallDetachWhileRinging(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{ringOnly: true})
	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo")}, b.offer())
	b.flush()
	e.wait(e.log, e.h, "ringing")
	if err := e.h.Detach(); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 5*time.Second, "CANCEL at the callee", func() bool { return u.cancels.Load() == 1 })
}

func TestCallBadInput(t *testing.T) {
	e := newEnv(t)
	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "pcmu")
	offer := b.offer()
	videoOnly := testpeer.NewClient(t, testpeer.Options{})
	vt, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "v")
	if _, err := videoOnly.AddTrack(vt); err != nil {
		t.Fatal(err)
	}
	vo, _ := videoOnly.CreateOffer(nil)
	testCases := []struct {
		name string
		body map[string]any
		jsep *ianua.JSEP
		code int
	}{
		{"no jsep", map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1"}, nil, ErrorMissingSDP},
		{"no uri", map[string]any{"request": "call"}, offer, ErrorMissingElement},
		{"uri injection", map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1\r\nX-Evil: 1"}, offer, ErrorInvalidAddress},
		{"header injection", map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "headers": map[string]string{"X-A": "a\r\nX-Evil: 1"}}, offer, ErrorInvalidElement},
		{"header name injection", map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "headers": map[string]string{"X-Evil: 1\r\nX-A": "a"}}, offer, ErrorInvalidElement},
		{"call_id injection", map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "call_id": "a\r\nX: b"}, offer, ErrorInvalidElement},
		{"srtp bogus", map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "srtp": "yes"}, offer, ErrorInvalidElement},
		{"srtp profile bogus", map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1", "srtp": "sdes_optional", "srtp_profile": "ROT13"}, offer, ErrorInvalidElement},
		{"video only", map[string]any{"request": "call", "uri": "sip:bob@127.0.0.1"}, &ianua.JSEP{Type: "offer", SDP: vo.SDP}, ErrorMissingSDP},
		{"hold idle", map[string]any{"request": "dtmf_info", "digit": "1"}, nil, ErrorWrongState},
		{"bad hold direction", map[string]any{"request": "hold", "direction": "sideways"}, nil, ErrorInvalidElement},
		{"bad digit", map[string]any{"request": "dtmf_info", "digit": "12"}, nil, ErrorInvalidElement},
	}
	for _, tc := range testCases {
		if _, err := e.send(e.h, tc.body, tc.jsep); codeOf(err) != tc.code {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.code)
		}
	}
	if e.h.HasPeerConnection() {
		t.Error("a refused call left a PeerConnection")
	}
	_ = videoOnly.Close()
}

// The SIP peer starts a new stream mid-call (another SSRC, its numbers
// 1000 back, as a PBX bridging the call elsewhere): the browser goes on
// receiving, numbered on from the old stream (RFC 3550 section 8.2), not
// as old packets its SRTP would drop as replays.
func TestCallPeerNewStream(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{codec: "pcmu", newStreamAfter: 30})
	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo")}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	b.sendAudio()
	waitPackets(t, "the echo's second stream", func() bool { return u.echoed.Load() > 90 && b.received.Load() > 80 })
	t.Logf("browser sent %d, SIP peer echoed %d (a new stream after 30), browser got %d back", b.sent.Load(), u.echoed.Load(), b.received.Load())
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.backJumps != 0 {
		t.Errorf("the browser's sequence numbers went back %d times", b.backJumps)
	}
}
