package sipgw

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/testsip"
)

// pcapDir is where SIPp's recordings are: Debian's sip-tester puts them in
// /usr/share/sip-tester, upstream's install in /usr/share/sipp/pcap or
// /usr/local/share/sipp/pcap.
func pcapDir(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{"/usr/share/sip-tester", "/usr/share/sipp/pcap", "/usr/local/share/sipp/pcap"} {
		if _, err := os.Stat(filepath.Join(dir, "g711a.pcap")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "dtmf_2833_1.pcap")); err == nil {
				return dir
			}
		}
	}
	t.Fatal("SIPp's g711a.pcap and dtmf_2833_1.pcap not found (Debian's sip-tester has them in /usr/share/sip-tester)")
	return ""
}

// payloadTap counts what the browser receives by origin: its own packets
// echoed by SIPp (the browser sends 160 zero bytes) apart from the rest.
type payloadTap struct {
	echoed, other atomic.Int64
}

// tap replaces b's track reader, before any track arrives, with one that
// keeps b's counters and sorts the packets into t.
func (tp *payloadTap) tap(b *browser) {
	own := make([]byte, 160)
	b.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		b.tracks.Add(1)
		b.mu.Lock()
		b.mime = tr.Codec().MimeType
		b.mu.Unlock()
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			b.received.Add(1)
			if bytes.Equal(pkt.Payload, own) {
				tp.echoed.Add(1)
			} else {
				tp.other.Add(1)
			}
		}
	})
}

// TestSIPpUACPcap takes a call from SIPp offering PCMA and telephone-event
// that plays a recording of PCMA speech (236 packets of 30 ms) and an RFC
// 2833 key press '1' (280 ms) from SIPp's pcap files, then echoes the
// browser's audio; the browser hangs up. SIPp sends pcap audio on a raw
// socket: the test needs root or CAP_NET_RAW for sipp.
//
// The browser stays silent until the recording is over: SIPp's echo and
// its recording are two RTP streams (SSRCs, sequence numbers), which the
// gateway relays to the browser's one track untouched, and the browser's
// SRTP would take the packets of whichever stream is behind for replays.
// One after the other, the echo's sequence numbers (from 0) are 6168
// ahead of the recording's last one (59368): a forward jump.
func TestSIPpUACPcap(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")

	// The scenario names its recordings pcap/*.pcap, as SIPp's uac_pcap.
	dir := t.TempDir()
	if err := os.Symlink(pcapDir(t), filepath.Join(dir, "pcap")); err != nil {
		t.Fatal(err)
	}
	sipp := runSIPpIn(t, dir, "-sf", testsip.Scenario(t, "sipp-uac-pcap.xml"), "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-mp", strconv.Itoa(testsip.FreePort(t, true)), "-p", strconv.Itoa(testsip.FreePort(t, false)), "-s", "alice", "-m", "1", e.gw.Addr().String())

	ev := e.wait(e.log, e.h, "incomingcall")
	if ev.JSEP == nil || !strings.Contains(ev.JSEP.SDP, "PCMA/8000") {
		t.Fatalf("incomingcall offer: %+v", ev.JSEP)
	}
	b := newBrowser(t, e.h, e.log, "pcma")
	var tp payloadTap
	tp.tap(b)
	e.must(e.h, map[string]any{"request": "accept"}, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")

	a := e.h.Attachment().(*Agent)
	waitPackets(t, "SIPp's recording at the browser", func() bool { return tp.other.Load() > 50 })
	if !strings.EqualFold(b.remoteMime(), webrtc.MimeTypePCMA) {
		t.Errorf("browser receives %s", b.remoteMime())
	}
	// The key press comes once the recording is over.
	d := resultOf(e.log.Wait(t, 15*time.Second, "dtmf", sipEvent(e.h.ID(), "dtmf")))
	if d["signal"] != "1" || d["duration"] != float64(280) {
		t.Errorf("dtmf: %v", d)
	}
	// Most of it: the first packets may come before the browser's DTLS
	// is up (235 of 236 on an idle machine).
	if n := tp.other.Load(); n < 150 {
		t.Errorf("browser got %d packets of the recording's 236", n)
	}

	b.sendAudio()
	waitPackets(t, "browser audio echoed by SIPp", func() bool { return tp.echoed.Load() > 25 })
	st := a.Status()
	t.Logf("browser got %d packets of the recording and %d of its own back; gateway: %d to SIPp, %d from it",
		tp.other.Load(), tp.echoed.Load(), st.PacketsToPeer, st.PacketsFromPeer)
	if n := e.log.Count(sipEvent(e.h.ID(), "dtmf")); n != 1 {
		t.Errorf("%d dtmf events for one key press", n)
	}

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	if r := resultOf(e.wait(e.log, e.h, "hangup")); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	sipp.Check(t, 10*time.Second)
	legsEnded(t, e, b, 0)
}
