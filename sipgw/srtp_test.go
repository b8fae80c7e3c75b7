package sipgw

import (
	"bytes"
	"context"
	"net"
	"strconv"
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

// TestVideoCallOutSRTP calls a SIP callee with video and sdes_mandatory:
// each m-line of the INVITE has a key of its own on RTP/SAVP, the callee
// answers with its own per stream and echoes video only when it decrypts
// it; a PLI of the browser reaches it as SRTCP, and its SRTCP PLI
// reaches the browser; hold and unhold keep the video key. A callee that
// answers video without a key fails the call (488), as in Janus.
func TestVideoCallOutSRTP(t *testing.T) {
	t.Run("both keyed", func(t *testing.T) {
		e := newEnv(t)
		u := newUAS(e, uasOptions{codec: "opus", video: "vp8", srtp: true})
		e.guest(e.h, e.log)
		b := newBrowser(t, e.h, e.log, "opus").withVideo("vp8")
		e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo"), "srtp": "sdes_mandatory"}, b.offer())
		b.flush()
		acc := e.wait(e.log, e.h, "accepted")
		b.apply(acc.JSEP)

		offer := u.offerBodies()[0]
		ad, _ := parseAudio([]byte(offer))
		vd, err := parseVideo([]byte(offer))
		if err != nil || vd.Proto != "RTP/SAVP" || len(vd.Crypto) != 1 || len(ad.Crypto) != 1 ||
			string(vd.Crypto[0].Key) == string(ad.Crypto[0].Key) {
			t.Fatalf("INVITE's SDP (%v):\n%s", err, offer)
		}
		if u.video.srtp.Load() == nil {
			t.Fatal("the callee took no video key")
		}

		b.sendAudio()
		b.sendVideo()
		v := u.video
		waitPackets(t, "SRTP video both ways", func() bool { return v.received.Load() > 30 && b.videoReceived.Load() > 30 })
		waitPackets(t, "SRTP audio both ways", func() bool { return u.echoed.Load() > 25 && b.received.Load() > 25 })
		a := e.h.Attachment().(*Agent)
		if vm := a.vmedia.Load(); vm == nil || vm.srtp.Load() == nil {
			t.Fatal("the gateway's video leg is not on SRTP")
		}

		b.askKeyframe()
		waitPackets(t, "the browser's PLI at the callee, as SRTCP", func() bool { return v.plis.Load() > 0 })
		plis := b.plis.Load()
		v.askKeyframe(rtcpAddr(t, offer))
		waitPackets(t, "the callee's SRTCP PLI at the browser", func() bool { return b.plis.Load() > plis })
		t.Logf("browser sent %d video, callee decrypted %d and echoed %d, browser got %d; %d PLIs at the callee, %d at the browser",
			b.videoSent.Load(), v.received.Load(), v.sent.Load(), b.videoReceived.Load(), v.plis.Load(), b.plis.Load())

		e.must(e.h, map[string]any{"request": "hold"}, nil)
		e.wait(e.log, e.h, "holding")
		testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return a.currentCall().reinvitingDone() })
		e.must(e.h, map[string]any{"request": "unhold"}, nil)
		e.wait(e.log, e.h, "resuming")
		testpeer.WaitFor(t, 5*time.Second, "unhold answered", func() bool { return a.currentCall().reinvitingDone() })
		offers := u.offerBodies()
		for _, re := range offers[1:] {
			if d, err := parseVideo([]byte(re)); err != nil || d.Port == 0 || d.Proto != "RTP/SAVP" || len(d.Crypto) != 1 ||
				string(d.Crypto[0].Key) != string(vd.Crypto[0].Key) {
				t.Errorf("re-INVITE's video does not keep its key:\n%s", re)
			}
		}
		got, sent := b.videoReceived.Load(), v.received.Load()
		waitPackets(t, "SRTP video after unhold", func() bool { return b.videoReceived.Load() > got+30 && v.received.Load() > sent+30 })
		e.must(e.h, map[string]any{"request": "hangup"}, nil)
		e.wait(e.log, e.h, "hangup")
	})
	t.Run("optional, video without a key", func(t *testing.T) {
		// Each stream falls back on its own: audio on SRTP, video plain.
		e := newEnv(t)
		u := newUAS(e, uasOptions{codec: "opus", video: "vp8", srtp: true, videoPlain: true})
		e.guest(e.h, e.log)
		b := newBrowser(t, e.h, e.log, "opus").withVideo("vp8")
		e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo"), "srtp": "sdes_optional"}, b.offer())
		b.flush()
		b.apply(e.wait(e.log, e.h, "accepted").JSEP)
		b.sendAudio()
		b.sendVideo()
		v := u.video
		waitPackets(t, "plain video both ways", func() bool { return v.received.Load() > 30 && b.videoReceived.Load() > 30 })
		waitPackets(t, "SRTP audio both ways", func() bool { return u.echoed.Load() > 25 && b.received.Load() > 25 })
		a := e.h.Attachment().(*Agent)
		if a.media.Load().srtp.Load() == nil || a.vmedia.Load().srtp.Load() != nil || u.srtp.Load() == nil {
			t.Error("want SRTP audio and plain video")
		}
		e.must(e.h, map[string]any{"request": "hold"}, nil)
		e.wait(e.log, e.h, "holding")
		testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return a.currentCall().reinvitingDone() })
		offers := u.offerBodies()
		if re := offers[len(offers)-1]; !strings.Contains(re, "a=crypto") || strings.Contains(videoSection(re), "a=crypto") {
			t.Errorf("re-INVITE: a key for audio only, want:\n%s", re)
		}
	})
	t.Run("mandatory, video without a key", func(t *testing.T) {
		e := newEnv(t)
		u := newUAS(e, uasOptions{codec: "opus", video: "vp8", srtp: true, videoPlain: true})
		e.guest(e.h, e.log)
		b := newBrowser(t, e.h, e.log, "opus").withVideo("vp8")
		e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo"), "srtp": "sdes_mandatory"}, b.offer())
		b.flush()
		if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(488) {
			t.Errorf("hangup %v", r)
		}
		testpeer.WaitFor(t, 5*time.Second, "BYE at the callee", func() bool { return u.byes.Load() == 1 })
	})
}

// TestVideoCallInSRTP: a caller offers audio and VP8 on RTP/SAVP, each
// with its key; accept with sdes_mandatory answers each with a key of
// ours, and SRTP video flows both ways, with the browser's PLI reaching
// the caller as SRTCP. A video offer without a key is refused by accept
// with sdes_mandatory (452), as in Janus.
func TestVideoCallInSRTP(t *testing.T) {
	e := newEnv(t)
	c := newUAC(e)
	c.video = newSIPVideo(e, false)
	key, _ := newKey(3, suite80)
	vkey, _ := newKey(4, suite32)
	c.key, c.vkey = &key, &vkey
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	dlg, answered, _ := ring(t, e, c, c.offer())
	ev := e.wait(e.log, e.h, "incomingcall")
	if r := resultOf(ev); r["srtp"] != "sdes_mandatory" {
		t.Errorf("incomingcall: %v", r)
	}
	if vs := videoSection(ev.JSEP.SDP); !strings.Contains(vs, "VP8/90000") {
		t.Fatalf("the plugin's offer's video:\n%s", vs)
	}
	b := newBrowser(t, e.h, e.log, "pcmu").withVideo("vp8")
	e.must(e.h, map[string]any{"request": "accept", "srtp": "sdes_mandatory"}, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")
	if err := waitErr(t, answered); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if err := dlg.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	ans := dlg.InviteResponse.Body()
	vd, err := parseVideo(ans)
	if err != nil || vd.Port == 0 || vd.Proto != "RTP/SAVP" || len(vd.Crypto) != 1 || vd.Crypto[0].Tag != 4 || vd.Crypto[0].Suite != suite32 {
		t.Fatalf("the gateway's answer's video (%v):\n%s", err, ans)
	}
	c.video.keyFrom(vkey, ans)
	c.sendAudio(ans)
	c.video.send(&net.UDPAddr{IP: net.IP(vd.IP.AsSlice()), Port: vd.Port}, 100)
	b.sendAudio()
	b.sendVideo()
	waitPackets(t, "SRTP video both ways", func() bool { return c.video.received.Load() > 30 && b.videoReceived.Load() > 30 })
	waitPackets(t, "SRTP audio both ways", func() bool { return c.received.Load() > 10 && b.received.Load() > 10 })
	b.askKeyframe()
	waitPackets(t, "the browser's PLI at the caller, as SRTCP", func() bool { return c.video.plis.Load() > 0 })
	t.Logf("caller sent %d video, browser got %d; browser sent %d, caller decrypted %d; %d PLIs at the caller",
		c.video.sent.Load(), b.videoReceived.Load(), b.videoSent.Load(), c.video.received.Load(), c.video.plis.Load())

	// The caller holds and resumes with its keys: the plugin's answers
	// keep the video's key, and SRTP video goes on.
	for _, dir := range []direction{dirSend, dirSendRecv} {
		res := c.reinvite(t, dir)
		if !res.IsSuccess() {
			t.Fatalf("re-INVITE %s: %d", dir, res.StatusCode)
		}
		if d, err := parseVideo(res.Body()); err != nil || d.Port == 0 || d.Proto != "RTP/SAVP" || len(d.Crypto) != 1 ||
			string(d.Crypto[0].Key) != string(vd.Crypto[0].Key) {
			t.Errorf("answer to the re-INVITE (%s) does not keep the video key:\n%s", dir, res.Body())
		}
	}
	got, sent := b.videoReceived.Load(), c.video.received.Load()
	waitPackets(t, "SRTP video after the re-INVITEs", func() bool { return b.videoReceived.Load() > got+30 && c.video.received.Load() > sent+30 })
	_ = dlg.Bye(t.Context())
	e.wait(e.log, e.h, "hangup")
}

func TestAcceptVideoTooStrict(t *testing.T) {
	e := newEnv(t)
	c := newUAC(e)
	c.video = newSIPVideo(e, false)
	key, _ := newKey(3, suite80)
	c.key = &key // audio keyed, video on RTP/SAVP... without one: no video offered
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	body := strings.Replace(string(c.offer()), "m=video "+strconv.Itoa(c.video.port())+" RTP/SAVP", "m=video "+strconv.Itoa(c.video.port())+" RTP/AVP", 1)
	_, answered, _ := ring(t, e, c, []byte(body))
	ev := e.wait(e.log, e.h, "incomingcall")
	b := newBrowser(t, e.h, e.log, "pcmu").withVideo("vp8")
	if _, err := e.send(e.h, map[string]any{"request": "accept", "srtp": "sdes_mandatory"}, b.answer(ev.JSEP)); codeOf(err) != ErrorTooStrict {
		t.Errorf("accept: %v, want %d", err, ErrorTooStrict)
	}
	e.must(e.h, map[string]any{"request": "decline"}, nil)
	if code := sipCode(waitErr(t, answered)); code != 486 {
		t.Errorf("caller: %d", code)
	}
}
