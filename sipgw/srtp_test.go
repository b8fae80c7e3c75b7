package sipgw

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
)

func TestCrypto(t *testing.T) {
	k, err := newKey(1, suite80)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseCrypto(k.attribute())
	if err != nil || got.Tag != 1 || got.Suite != suite80 || !bytes.Equal(got.Key, k.Key) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// RFC 4568 section 9.1's example, with a lifetime and an MKI.
	for _, bad := range []string{
		"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",
		"1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR KDR=1",
		"1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=",
		"x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
	} {
		if _, err := parseCrypto(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if k, err := parseCrypto("2 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20"); err != nil || k.Tag != 2 {
		t.Errorf("lifetime: %+v %v", k, err)
	}

	// Keys cross: what one side encrypts the other decrypts.
	a, _ := newKey(1, suite80)
	b, _ := newKey(1, suite80)
	pa, _ := newSRTPPair(a, b)
	pb, _ := newSRTPPair(b, a)
	plain := []byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4}
	enc, err := pa.out.EncryptRTP(nil, plain, nil)
	if err != nil || bytes.Equal(enc[12:16], plain[12:]) {
		t.Fatalf("encrypt: %v", err)
	}
	dec, err := pb.in.DecryptRTP(nil, enc, nil)
	if err != nil || !bytes.Equal(dec, plain) {
		t.Fatalf("decrypt: %v", err)
	}
}

func TestCallSRTP(t *testing.T) {
	testCases := []struct {
		name    string
		srtp    string
		peer    bool // the callee does SDES
		proto   string
		crypto  bool // the call ends up on SRTP
		failure float64
	}{
		{"mandatory", "sdes_mandatory", true, "RTP/SAVP", true, 0},
		{"mandatory, 32-bit tag", "sdes_mandatory", true, "RTP/SAVP", true, 0},
		{"optional, peer with SRTP", "sdes_optional", true, "RTP/AVP", true, 0},
		{"optional, peer without", "sdes_optional", false, "RTP/AVP", false, 0},
		{"mandatory, peer without", "sdes_mandatory", false, "RTP/SAVP", false, 488},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			u := newUAS(e, uasOptions{codec: "pcmu", srtp: tc.peer})
			e.guest(e.h, e.log)
			b := newBrowser(t, e.h, e.log, "pcmu")
			req := map[string]any{"request": "call", "uri": u.uri("echo"), "srtp": tc.srtp}
			suite := suite80
			if strings.Contains(tc.name, "32") {
				suite = suite32
				req["srtp_profile"] = suite
			}
			e.must(e.h, req, b.offer())
			b.flush()
			testpeer.WaitFor(t, 5*time.Second, "INVITE", func() bool { return len(u.offerBodies()) > 0 })
			offer := u.offerBodies()[0]
			if !strings.Contains(offer, "m=audio ") || !strings.Contains(offer, " "+tc.proto+" ") || !strings.Contains(offer, "a=crypto:1 "+suite+" inline:") {
				t.Errorf("offer:\n%s", offer)
			}
			if tc.failure != 0 {
				if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != tc.failure {
					t.Errorf("hangup %v", r)
				}
				return
			}
			b.apply(e.wait(e.log, e.h, "accepted").JSEP)
			b.sendAudio()
			waitPackets(t, "echo", func() bool { return b.received.Load() > 25 && u.echoed.Load() > 25 })
			if got := u.srtp.Load() != nil; got != tc.crypto {
				t.Errorf("SRTP at the callee: %v", got)
			}
			a := e.h.Attachment().(*Agent)
			if m := a.media.Load(); m == nil || (m.srtp.Load() != nil) != tc.crypto {
				t.Errorf("SRTP at the gateway: want %v", tc.crypto)
			}
			// Hold keeps the keys (a re-INVITE carries ours again).
			e.must(e.h, map[string]any{"request": "hold"}, nil)
			testpeer.WaitFor(t, 5*time.Second, "re-INVITE", func() bool { return len(u.offerBodies()) == 2 })
			if re := u.offerBodies()[1]; strings.Contains(re, "a=crypto") != tc.crypto {
				t.Errorf("re-INVITE:\n%s", re)
			}
			e.must(e.h, map[string]any{"request": "unhold"}, nil)
			testpeer.WaitFor(t, 5*time.Second, "second re-INVITE", func() bool { return len(u.offerBodies()) == 3 })
			n := b.received.Load()
			waitPackets(t, "echo after rekeying", func() bool { return b.received.Load() > n+10 })
		})
	}
}

func TestIncomingSRTP(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	c := newUAC(e)
	key, _ := newKey(7, suite32)
	c.key = &key
	dlg, answered, _ := ring(t, e, c, c.offer())
	ev := e.wait(e.log, e.h, "incomingcall")
	if r := resultOf(ev); r["srtp"] != "sdes_mandatory" {
		t.Errorf("incomingcall: %v", r)
	}
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "accept", "srtp": "sdes_mandatory"}, b.answer(ev.JSEP))
	b.flush()
	if err := waitErr(t, answered); err != nil {
		t.Fatal(err)
	}
	_ = dlg.Ack(t.Context())
	answer := string(dlg.InviteResponse.Body())
	if !strings.Contains(answer, "RTP/SAVP") || !strings.Contains(answer, "a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:") {
		t.Fatalf("answer:\n%s", answer)
	}
	c.sendAudio(dlg.InviteResponse.Body())
	b.sendAudio()
	waitPackets(t, "SRTP both ways", func() bool { return c.received.Load() > 25 && b.received.Load() > 25 })
	_ = dlg.Bye(t.Context())
	e.wait(e.log, e.h, "hangup")
}

func TestAcceptTooStrict(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	c := newUAC(e)
	_, answered, _ := ring(t, e, c, c.offer()) // plain RTP
	ev := e.wait(e.log, e.h, "incomingcall")
	if _, ok := resultOf(ev)["srtp"]; ok {
		t.Errorf("incomingcall: %v", resultOf(ev))
	}
	b := newBrowser(t, e.h, e.log, "pcmu")
	if _, err := e.send(e.h, map[string]any{"request": "accept", "srtp": "sdes_mandatory"}, b.answer(ev.JSEP)); codeOf(err) != ErrorTooStrict {
		t.Errorf("accept: %v, want %d", err, ErrorTooStrict)
	}
	e.must(e.h, map[string]any{"request": "decline"}, nil)
	if code := sipCode(waitErr(t, answered)); code != 486 {
		t.Errorf("caller: %d", code)
	}
}
