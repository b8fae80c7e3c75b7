package ianua_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/echotest"
	"github.com/ianua/ianua/internal/testpeer"
)

func quietLogger() *slog.Logger { return testpeer.QuietLogger() }

// newRouter returns a router with the echotest plugin on loopback, closed at
// the end of the test.
func newRouter(t testing.TB, mod func(*ianua.Config)) *ianua.MediaRouter {
	t.Helper()
	return testpeer.NewRouter(t, mod, echotest.New())
}

// pluginResult matches an echotest event with this result and, if wantJSEP
// is not empty, a JSEP of that type.
func pluginResult(result, wantJSEP string) func(ianua.Event) bool {
	return func(e ianua.Event) bool {
		if e.Type != ianua.EventPlugin {
			return false
		}
		var d struct {
			Result string `json:"result"`
		}
		_ = json.Unmarshal(e.Data, &d)
		if d.Result != result {
			return false
		}
		return wantJSEP == "" || (e.JSEP != nil && e.JSEP.Type == wantJSEP)
	}
}

type clientOptions struct {
	// conn, if set, carries all of the client's ICE traffic.
	conn net.PacketConn
	// tcpOnly makes the client use ICE-TCP only (RFC 6544).
	tcpOnly bool
}

// newClient returns a pion PeerConnection playing the browser, on loopback.
func newClient(t testing.TB, opts clientOptions) *webrtc.PeerConnection {
	t.Helper()
	return testpeer.NewClient(t, testpeer.Options{Conn: opts.conn, TCPOnly: opts.tcpOnly})
}

// sendRTP writes n packets on track, one every interval, each carrying a
// marker byte so the echo can be told apart.
func sendRTP(track *webrtc.TrackLocalStaticRTP, marker byte, first, n int, size int, interval time.Duration, stop <-chan struct{}) {
	payload := make([]byte, size)
	payload[0] = 0x10 // VP8 payload descriptor: start of partition
	payload[1] = marker
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: payload}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := first; i < first+n; i++ {
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i) * 3000
		pkt.Marker = true
		payload[2] = byte(i)
		if err := track.WriteRTP(pkt); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func mustJSON(v any) json.RawMessage { return testpeer.JSON(v) }

// candidatesOf returns the a=candidate lines of an SDP.
func candidatesOf(sdp string) []string {
	var out []string
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSpace(line)
		if c, ok := strings.CutPrefix(line, "a="); ok && strings.HasPrefix(c, "candidate:") {
			out = append(out, c)
		}
	}
	return out
}

// ufragOf returns the first a=ice-ufrag of an SDP.
func ufragOf(sdp string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return u
		}
	}
	return ""
}
