package sipgw

import (
	"strings"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/internal/testsip"
)

// baresip is a real SIP phone (Debian package baresip), installed by
// scripts/test.sh: it answers our calls by itself and sends a sine wave.

// TestBaresipUAS calls baresip answering by itself, with Opus, plain and
// with SDES-SRTP mandatory; holds (sendonly: baresip stops sending) and
// unholds, and hangs up from the browser's side.
func TestBaresipUAS(t *testing.T) {
	for _, tc := range []struct{ name, srtp, mediaenc string }{
		{"plain", "", ""},
		{"sdes-srtp", "sdes_mandatory", "srtp-mand"},
	} {
		t.Run(tc.name, func(t *testing.T) { testBaresip(t, tc.srtp, tc.mediaenc) })
	}
}

func testBaresip(t *testing.T, srtp, mediaenc string) {
	e := newEnv(t)
	peer := testsip.StartBaresip(t, testsip.BaresipOptions{User: "bob", Codecs: "opus/48000/2", Mediaenc: mediaenc, Answer: true})

	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "opus")
	e.must(e.h, map[string]any{"request": "call", "uri": peer.URI(), "srtp": srtp}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	b.sendAudio()
	a := e.h.Attachment().(*Agent)
	waitPackets(t, "baresip's sine at the browser", func() bool { return b.received.Load() > 25 })
	waitPackets(t, "browser audio to baresip", func() bool { return a.Status().PacketsToPeer > 25 })
	st := a.Status()
	t.Logf("gateway: %d packets to baresip, %d from it; browser got %d", st.PacketsToPeer, st.PacketsFromPeer, b.received.Load())
	if m := a.media.Load(); m == nil || (m.srtp.Load() != nil) != (srtp != "") {
		t.Errorf("SRTP in use: want %v", srtp != "")
	}
	// baresip logs the first RTP it could use (decrypted, with SRTP).
	waitPackets(t, "RTP at baresip", func() bool { return strings.Contains(peer.Log(), "incoming rtp for 'audio' established") })

	holdAndResume(t, e, b)

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	// baresip reports a BYE as "session closed: Connection reset by peer".
	waitPackets(t, "baresip sees the BYE", func() bool { return strings.Contains(peer.Log(), "session closed") })
	legsEnded(t, e, b, 0)
}

// holdAndResume holds a call with baresip (sendonly, the default: baresip
// answers recvonly and stops sending, so the browser hears nothing while
// its audio still goes out) and unholds it (both ways again).
func holdAndResume(t *testing.T, e *env, b *browser) {
	t.Helper()
	a := e.h.Attachment().(*Agent)
	toPeer := func() int64 { return int64(a.Status().PacketsToPeer) }
	fromPeer := func() int64 { return int64(a.Status().PacketsFromPeer) }
	e.must(e.h, map[string]any{"request": "hold"}, nil)
	e.wait(e.log, e.h, "holding")
	testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return a.currentCall().reinvitingDone() })
	if !stalled(fromPeer) {
		t.Error("baresip still sends while held")
	}
	if !stalled(b.received.Load) {
		t.Error("browser still receiving while held")
	}
	if stalled(toPeer) {
		t.Error("browser audio stopped going to baresip while held (sendonly)")
	}
	from, got := fromPeer(), b.received.Load()
	e.must(e.h, map[string]any{"request": "unhold"}, nil)
	e.wait(e.log, e.h, "resuming")
	waitPackets(t, "baresip sends again", func() bool { return fromPeer() > from+25 })
	waitPackets(t, "browser hears again", func() bool { return b.received.Load() > got+25 })
}

// TestBaresipVideo calls baresip answering by itself with audio and VP8
// video from its fake camera, plain and with SDES-SRTP mandatory (each
// stream with its own key): its video reaches the browser and the
// browser's reaches it (baresip logs the first video RTP it takes, once
// decrypted with SRTP), both m-lines go on hold and come back.
func TestBaresipVideo(t *testing.T) {
	for _, tc := range []struct{ name, srtp, mediaenc string }{
		{"plain", "", ""},
		{"sdes-srtp", "sdes_mandatory", "srtp-mand"},
	} {
		t.Run(tc.name, func(t *testing.T) { testBaresipVideo(t, tc.srtp, tc.mediaenc) })
	}
}

func testBaresipVideo(t *testing.T, srtp, mediaenc string) {
	e := newEnv(t)
	peer := testsip.StartBaresip(t, testsip.BaresipOptions{User: "bob", Codecs: "opus/48000/2", Video: "vp8", Mediaenc: mediaenc, Answer: true})

	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "opus").withVideo("vp8")
	e.must(e.h, map[string]any{"request": "call", "uri": peer.URI(), "srtp": srtp}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	if vs := videoSection(acc.JSEP.SDP); !strings.Contains(vs, "VP8/90000") || strings.Contains(vs, "a=inactive") {
		t.Fatalf("browser's answer video (baresip took no VP8?):\n%s\nbaresip:\n%s", vs, peer.Log())
	}
	b.sendAudio()
	b.sendVideo()
	a := e.h.Attachment().(*Agent)
	waitPackets(t, "baresip's video at the browser", func() bool { return b.videoReceived.Load() > 30 })
	waitPackets(t, "browser video to baresip", func() bool { return a.Status().VideoPacketsToPeer > 30 })
	waitPackets(t, "video RTP at baresip", func() bool { return strings.Contains(peer.Log(), "incoming rtp for 'video' established") })
	waitPackets(t, "baresip's audio at the browser", func() bool { return b.received.Load() > 25 })
	st := a.Status()
	m := a.vmedia.Load()
	if (m.srtp.Load() != nil) != (srtp != "") {
		t.Errorf("video SRTP in use: want %v", srtp != "")
	}
	t.Logf("gateway: %d video packets to baresip, %d from it; browser got %d; keyframe requests: %d from baresip, %d PLIs to it; browser got %d",
		st.VideoPacketsToPeer, st.VideoPacketsFromPeer, b.videoReceived.Load(), m.keyframesAsked.Load(), m.plisSent.Load(), b.plis.Load())

	// A PLI of the browser goes to baresip.
	sent := m.plisSent.Load()
	b.askKeyframe()
	waitPackets(t, "the browser's PLI relayed to baresip", func() bool { return m.plisSent.Load() > sent })

	e.must(e.h, map[string]any{"request": "hold"}, nil)
	e.wait(e.log, e.h, "holding")
	testpeer.WaitFor(t, 5*time.Second, "hold answered", func() bool { return a.currentCall().reinvitingDone() })
	if !stalled(b.videoReceived.Load) {
		t.Error("browser still receives baresip's video while held")
	}
	got := b.videoReceived.Load()
	e.must(e.h, map[string]any{"request": "unhold"}, nil)
	e.wait(e.log, e.h, "resuming")
	waitPackets(t, "baresip's video again", func() bool { return b.videoReceived.Load() > got+30 })

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	legsEnded(t, e, b, 0)
}
