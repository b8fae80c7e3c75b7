package sipgw

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/internal/testsip"
)

// videoCodecs by name, for browser cameras.
var videoCodecs = map[string]webrtc.RTPCodecCapability{
	"vp8":  {MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
	"h264": {MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
}

// withVideo gives the browser a camera of codec (offered or answered with
// its audio).
func (b *browser) withVideo(codec string) *browser {
	b.t.Helper()
	var err error
	if b.video, err = webrtc.NewTrackLocalStaticRTP(videoCodecs[codec], "camera", "browser"); err != nil {
		b.t.Fatal(err)
	}
	return b
}

// readFeedback counts the keyframe requests for the browser's video. It
// ends when the PeerConnection closes.
func (b *browser) readFeedback(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				b.plis.Add(1)
			}
		}
	}
}

// sendVideo sends a frame of one packet every 33 ms until stop.
func (b *browser) sendVideo() {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 2, Marker: true}, Payload: make([]byte, 800)}
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			pkt.SequenceNumber = uint16(i)
			pkt.Timestamp = uint32(i) * 3000
			// A VP8 payload descriptor and a frame header (RFC 7741):
			// S=1, partition 0; a keyframe every 30.
			pkt.Payload[0], pkt.Payload[1] = 0x10, 0x01
			if i%30 == 0 {
				pkt.Payload[1] = 0x00
			}
			if err := b.video.WriteRTP(pkt); err != nil {
				return
			}
			b.videoSent.Add(1)
			select {
			case <-b.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// askKeyframe sends a PLI for the remote video, as a browser does when it
// cannot decode.
func (b *browser) askKeyframe() {
	b.t.Helper()
	if err := b.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: b.videoSSRC.Load()}}); err != nil {
		b.t.Fatal(err)
	}
}

// sipVideo is a SIP peer's video: an RTP and an RTCP socket, echoing what
// it gets (a callee) or sending frames of its own (a caller), counting
// the RTP and the keyframe requests it gets.
type sipVideo struct {
	t         *testing.T
	rtp, rtcp *net.UDPConn
	echo      bool

	received atomic.Int64
	sent     atomic.Int64
	plis     atomic.Int64 // PLIs and FIRs received on the RTCP port
	// srtp, when set, is the video's SDES-SRTP state: what arrives is
	// counted only once it decrypts (SRTP, SRTCP), what goes is encrypted.
	srtp atomic.Pointer[srtpPair]
	mu   sync.Mutex
	ssrc uint32 // of the RTP received
	stop chan struct{}
	wg   sync.WaitGroup
}

func newSIPVideo(e *env, echo bool) *sipVideo {
	t := e.t
	v := &sipVideo{t: t, echo: echo, stop: make(chan struct{})}
	port := testsip.FreePort(t, true)
	var err error
	if v.rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
		t.Fatal(err)
	}
	if v.rtcp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1}); err != nil {
		t.Fatal(err)
	}
	v.wg.Add(2)
	go v.readRTP()
	go v.readRTCP()
	e.afterGateway(func() {
		close(v.stop)
		_ = v.rtp.Close()
		_ = v.rtcp.Close()
		v.wg.Wait()
	})
	return v
}

func (v *sipVideo) port() int { return v.rtp.LocalAddr().(*net.UDPAddr).Port }

// section is the m=video of the peer's SDP with codec c.
func (v *sipVideo) section(c codec, dir direction) *localVideo {
	return &localVideo{Port: v.port(), RTCPPort: v.port() + 1, Codecs: []codec{c}, Dir: dir}
}

// keyFrom sets the video's SRTP from our key and the other side's SDP.
func (v *sipVideo) keyFrom(local sdesKey, sdp []byte) {
	v.t.Helper()
	d, err := parseVideo(sdp)
	k, ok := pickCrypto(d.Crypto)
	if err != nil || !ok {
		v.t.Fatalf("no video key (%v):\n%s", err, sdp)
	}
	pair, err := newSRTPPair(local, k)
	if err != nil {
		v.t.Fatal(err)
	}
	v.srtp.Store(pair)
}

func (v *sipVideo) readRTP() {
	defer v.wg.Done()
	buf, plain, enc := make([]byte, 1500), make([]byte, 1500), make([]byte, 1500)
	for {
		n, from, err := v.rtp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n < 12 || isRTCP(buf[:n]) {
			continue
		}
		pkt := buf[:n]
		s := v.srtp.Load()
		if s != nil {
			if pkt, err = s.in.DecryptRTP(plain, pkt, nil); err != nil {
				continue
			}
		}
		v.mu.Lock()
		v.ssrc = binary.BigEndian.Uint32(pkt[8:12])
		v.mu.Unlock()
		v.received.Add(1)
		if v.echo {
			if s != nil {
				if pkt, err = s.out.EncryptRTP(enc[:0], pkt, nil); err != nil {
					continue
				}
			}
			if _, err := v.rtp.WriteToUDP(pkt, from); err == nil {
				v.sent.Add(1)
			}
		}
	}
}

func (v *sipVideo) readRTCP() {
	defer v.wg.Done()
	buf, plain := make([]byte, 1500), make([]byte, 1500)
	for {
		n, _, err := v.rtcp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		b := buf[:n]
		if s := v.srtp.Load(); s != nil {
			if b, err = s.decryptRTCP(plain[:0], b); err != nil {
				continue
			}
		}
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				v.plis.Add(1)
			}
		}
	}
}

// send sends a VP8 frame of one packet every 33 ms to dst with pt.
func (v *sipVideo) send(dst *net.UDPAddr, pt uint8) {
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: 0x5157, Marker: true}, Payload: make([]byte, 600)}
		pkt.Payload[0] = 0x10
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i)*3000
			raw, _ := pkt.Marshal()
			if s := v.srtp.Load(); s != nil {
				raw, _ = s.out.EncryptRTP(nil, raw, nil)
			}
			if _, err := v.rtp.WriteToUDP(raw, dst); err != nil {
				return
			}
			v.sent.Add(1)
			select {
			case <-v.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// askKeyframe sends a PLI to dst (the gateway's video RTCP address) for
// the stream it receives, as a SIP phone does when it cannot decode.
func (v *sipVideo) askKeyframe(dst *net.UDPAddr) {
	v.t.Helper()
	v.mu.Lock()
	ssrc := v.ssrc
	v.mu.Unlock()
	raw, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 0x5157}, &rtcp.PictureLossIndication{SenderSSRC: 0x5157, MediaSSRC: ssrc}})
	if err != nil {
		v.t.Fatal(err)
	}
	if s := v.srtp.Load(); s != nil {
		if raw, err = s.encryptRTCP(nil, raw); err != nil {
			v.t.Fatal(err)
		}
	}
	if _, err := v.rtcp.WriteToUDP(raw, dst); err != nil {
		v.t.Fatal(err)
	}
}

// rtcpAddr is where the gateway takes video RTCP, from its SDP.
func rtcpAddr(t *testing.T, sdp string) *net.UDPAddr {
	t.Helper()
	d, err := parseVideo([]byte(sdp))
	if err != nil || d.Port == 0 {
		t.Fatalf("no video in the gateway's SDP (%v):\n%s", err, sdp)
	}
	return &net.UDPAddr{IP: net.IP(d.IP.AsSlice()), Port: d.RTCPPort}
}

// videoSection is the m=video section of sdp, from the m= line on.
func videoSection(sdp string) string {
	i := strings.Index(sdp, "m=video")
	if i < 0 {
		return ""
	}
	s := sdp[i:]
	if j := strings.Index(s[1:], "\nm="); j >= 0 {
		s = s[:j+2]
	}
	return s
}

// TestVideoCallOut calls a SIP callee that takes video and echoes it:
// the browser's offer brings m=video to the INVITE with the browser's
// format, the callee's answer comes back as the browser's; video flows
// both ways; a PLI of the browser reaches the callee as RTCP PLI, and the
// callee's reaches the browser; hold and unhold renegotiate both m-lines.
func TestVideoCallOut(t *testing.T) {
	for _, vc := range []string{"vp8", "h264"} {
		t.Run(vc, func(t *testing.T) {
			e := newEnv(t)
			u := newUAS(e, uasOptions{codec: "opus", video: vc})
			e.guest(e.h, e.log)
			b := newBrowser(t, e.h, e.log, "opus").withVideo(vc)
			e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo")}, b.offer())
			b.flush()
			acc := e.wait(e.log, e.h, "accepted")
			b.apply(acc.JSEP)

			offer := videoSection(u.offerBodies()[0])
			name := strings.ToUpper(vc)
			if !strings.Contains(offer, "m=video ") || !strings.Contains(offer, name+"/90000") ||
				!strings.Contains(offer, "nack pli") || !strings.Contains(offer, "ccm fir") || strings.Contains(offer, "rtx/") {
				t.Errorf("SIP offer's video:\n%s", offer)
			}
			if vc == "h264" && !strings.Contains(offer, "packetization-mode=1;profile-level-id=42e01f") {
				t.Errorf("SIP offer's H.264 fmtp:\n%s", offer)
			}
			answer := videoSection(acc.JSEP.SDP)
			if !strings.Contains(answer, name+"/90000") || strings.Contains(answer, "a=inactive") || strings.Count(answer, "a=rtpmap:") != 1 {
				t.Errorf("browser's answer video:\n%s", answer)
			}

			b.sendAudio()
			b.sendVideo()
			v := u.video
			waitPackets(t, "video both ways", func() bool { return v.received.Load() > 30 && b.videoReceived.Load() > 30 })
			waitPackets(t, "audio both ways", func() bool { return u.echoed.Load() > 25 && b.received.Load() > 25 })
			a := e.h.Attachment().(*Agent)
			st := a.Status()
			if st.VideoPacketsToPeer == 0 || st.VideoPacketsFromPeer == 0 {
				t.Errorf("status %+v", st)
			}

			// Keyframe requests: the browser's to the callee, the callee's
			// to the browser.
			b.askKeyframe()
			waitPackets(t, "the browser's PLI at the SIP callee", func() bool { return v.plis.Load() > 0 })
			plis := b.plis.Load()
			v.askKeyframe(rtcpAddr(t, u.offerBodies()[0]))
			waitPackets(t, "the callee's PLI at the browser", func() bool { return b.plis.Load() > plis })
			t.Logf("%s: browser sent %d video, callee got %d and echoed %d, browser got %d back; %d PLIs at the callee, %d at the browser",
				vc, b.videoSent.Load(), v.received.Load(), v.sent.Load(), b.videoReceived.Load(), v.plis.Load(), b.plis.Load())

			// Hold: both m-lines sendonly, the callee answers recvonly and
			// its video stops; unhold brings it back.
			e.must(e.h, map[string]any{"request": "hold"}, nil)
			e.wait(e.log, e.h, "holding")
			testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return a.currentCall().reinvitingDone() })
			offers := u.offerBodies()
			held := offers[len(offers)-1]
			if vs := videoSection(held); !strings.Contains(vs, "a=sendonly") || !strings.Contains(held[:strings.Index(held, "m=video")], "a=sendonly") {
				t.Errorf("hold offer:\n%s", held)
			}
			if !stalled(b.videoReceived.Load) {
				t.Error("browser still receives video while held")
			}
			if stalled(v.received.Load) {
				t.Error("the browser's video stopped going to the callee while held (sendonly)")
			}
			got := b.videoReceived.Load()
			e.must(e.h, map[string]any{"request": "unhold"}, nil)
			e.wait(e.log, e.h, "resuming")
			waitPackets(t, "video back at the browser", func() bool { return b.videoReceived.Load() > got+30 })

			// An update (ICE restart): the re-INVITE keeps the video's
			// port and format, the browser's answer its video, and video
			// goes on.
			mark := e.log.Len()
			e.must(e.h, map[string]any{"request": "update"}, b.restartOffer())
			upd := e.log.WaitFrom(t, mark, 10*time.Second, "accepted", sipEvent(e.h.ID(), "accepted"))
			b.apply(upd.JSEP)
			if vs := videoSection(upd.JSEP.SDP); !strings.Contains(vs, name+"/90000") || strings.Contains(vs, "a=inactive") || strings.Count(vs, "a=rtpmap:") != 1 {
				t.Errorf("answer to the update's video:\n%s", vs)
			}
			offers = u.offerBodies()
			first, _ := parseVideo([]byte(offers[0]))
			re, err := parseVideo([]byte(offers[len(offers)-1]))
			if err != nil || re.Port != first.Port || len(re.Codecs) != 1 || re.Codecs[0].Name != vc || re.Dir != dirSendRecv {
				t.Errorf("re-INVITE of the update:\n%s", offers[len(offers)-1])
			}
			got, sent := b.videoReceived.Load(), v.received.Load()
			waitPackets(t, "video after the update", func() bool { return b.videoReceived.Load() > got+30 && v.received.Load() > sent+30 })

			e.must(e.h, map[string]any{"request": "hangup"}, nil)
			e.wait(e.log, e.h, "hangup")
		})
	}
}

// TestVideoCallOutRejected: the callee refuses video (port 0); the
// browser's video m-line is answered inactive and the call goes on with
// audio.
func TestVideoCallOutRejected(t *testing.T) {
	e := newEnv(t)
	u := newUAS(e, uasOptions{codec: "pcmu", video: "reject"})
	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "pcmu").withVideo("vp8")
	e.must(e.h, map[string]any{"request": "call", "uri": u.uri("echo")}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	if vs := videoSection(acc.JSEP.SDP); !strings.Contains(vs, "a=inactive") {
		t.Errorf("browser's answer video:\n%s", vs)
	}
	b.sendAudio()
	b.sendVideo()
	waitPackets(t, "audio both ways", func() bool { return u.echoed.Load() > 25 && b.received.Load() > 25 })
	if st := e.h.Attachment().(*Agent).Status(); st.VideoPacketsToPeer != 0 || b.videoReceived.Load() != 0 {
		t.Errorf("video flows: %+v, browser got %d", st, b.videoReceived.Load())
	}
	// A re-offer of ours keeps the rejected m= line, port 0.
	e.must(e.h, map[string]any{"request": "hold"}, nil)
	e.wait(e.log, e.h, "holding")
	testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return e.h.Attachment().(*Agent).currentCall().reinvitingDone() })
	offers := u.offerBodies()
	if vs := videoSection(offers[len(offers)-1]); !strings.HasPrefix(vs, "m=video 0 ") {
		t.Errorf("hold offer's video:\n%s", offers[len(offers)-1])
	}
}

// TestVideoCallIn: a SIP caller offers audio and VP8; the browser gets
// both in the plugin's offer, answers both, and video flows both ways;
// the browser's PLI reaches the caller.
func TestVideoCallIn(t *testing.T) {
	e := newEnv(t)
	c := newUAC(e)
	c.video = newSIPVideo(e, false)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	dlg, answered, _ := ring(t, e, c, c.offer())
	ev := e.wait(e.log, e.h, "incomingcall")
	if vs := videoSection(ev.JSEP.SDP); !strings.Contains(vs, "VP8/90000") || strings.Contains(vs, "H264") {
		t.Errorf("the plugin's offer's video:\n%s", vs)
	}
	b := newBrowser(t, e.h, e.log, "pcmu").withVideo("vp8")
	e.must(e.h, map[string]any{"request": "accept"}, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")
	if err := waitErr(t, answered); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if err := dlg.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	ans := string(dlg.InviteResponse.Body())
	vd, err := parseVideo([]byte(ans))
	if err != nil || vd.Port == 0 || len(vd.Codecs) != 1 || vd.Codecs[0].PT != 100 || vd.Dir != dirSendRecv {
		t.Fatalf("the gateway's answer's video (%v):\n%s", err, ans)
	}
	c.sendAudio(dlg.InviteResponse.Body())
	c.video.send(&net.UDPAddr{IP: net.IP(vd.IP.AsSlice()), Port: vd.Port}, 100)
	b.sendAudio()
	b.sendVideo()
	waitPackets(t, "video both ways", func() bool { return c.video.received.Load() > 30 && b.videoReceived.Load() > 30 })
	waitPackets(t, "audio both ways", func() bool { return c.received.Load() > 10 && b.received.Load() > 10 })
	// The browser's video start asked the browser for a keyframe.
	waitPackets(t, "a keyframe request at the browser", func() bool { return b.plis.Load() > 0 })
	b.askKeyframe()
	waitPackets(t, "the browser's PLI at the caller", func() bool { return c.video.plis.Load() > 0 })
	t.Logf("caller sent %d video, browser got %d; browser sent %d, caller got %d; %d PLIs at the caller",
		c.video.sent.Load(), b.videoReceived.Load(), b.videoSent.Load(), c.video.received.Load(), c.video.plis.Load())

	// The caller holds: the plugin answers recvonly on both m-lines.
	res := c.reinvite(t, dirSend)
	if !res.IsSuccess() {
		t.Fatalf("re-INVITE: %d", res.StatusCode)
	}
	if vs := videoSection(string(res.Body())); !strings.Contains(vs, "a=recvonly") || strings.HasPrefix(vs, "m=video 0") {
		t.Errorf("answer to the hold:\n%s", res.Body())
	}
}
