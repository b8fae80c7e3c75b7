package ianua_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/echotest"
	"github.com/ianua/ianua/internal/pionlog"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newRouter returns a router with the echotest plugin on loopback, closed at
// the end of the test.
func newRouter(t testing.TB, mod func(*ianua.Config)) *ianua.MediaRouter {
	t.Helper()
	cfg := ianua.Config{Logger: quietLogger()}
	if mod != nil {
		mod(&cfg)
	}
	r, err := ianua.NewMediaRouter(cfg, echotest.New())
	if err != nil {
		t.Fatalf("NewMediaRouter: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("router close: %v", err)
		}
	})
	return r
}

// eventLog drains a session's events so that tests can wait for them.
type eventLog struct {
	mu     sync.Mutex
	cond   *sync.Cond
	events []ianua.Event
	closed bool
}

func watchEvents(s *ianua.Session) *eventLog {
	l := &eventLog{}
	l.cond = sync.NewCond(&l.mu)
	go func() {
		for e := range s.Events() {
			l.mu.Lock()
			l.events = append(l.events, e)
			l.cond.Broadcast()
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.closed = true
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	return l
}

// wait returns the first event (from the start) that match accepts.
func (l *eventLog) wait(t testing.TB, timeout time.Duration, what string, match func(ianua.Event) bool) ianua.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		for _, e := range l.events {
			if match(e) {
				return e
			}
		}
		if l.closed || time.Now().After(deadline) {
			t.Fatalf("no %s event within %v (closed=%v, got %d events)", what, timeout, l.closed, len(l.events))
		}
		l.cond.Wait()
	}
}

func (l *eventLog) count(match func(ianua.Event) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if match(e) {
			n++
		}
	}
	return n
}

// waitClosed waits until the session's event channel is closed.
func (l *eventLog) waitClosed(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("session events not closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isType(typ ianua.EventType) func(ianua.Event) bool {
	return func(e ianua.Event) bool { return e.Type == typ }
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
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	s := webrtc.SettingEngine{LoggerFactory: pionlog.Factory{Logger: quietLogger()}}
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if opts.tcpOnly {
		s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	if opts.conn != nil {
		s.SetICEUDPMux(webrtc.NewICEUDPMux(pionlog.Factory{Logger: quietLogger()}.NewLogger("udpmux"), opts.conn))
		s.SetICETimeouts(time.Second, 2*time.Second, 200*time.Millisecond)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	return pc
}

// trickleTo sends the client's candidates to the handle as they come.
func trickleTo(t testing.TB, pc *webrtc.PeerConnection, h *ianua.Handle) {
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			_ = h.TrickleCompleted()
			return
		}
		if err := h.Trickle(c.ToJSON()); err != nil {
			t.Errorf("trickle: %v", err)
		}
	})
}

// trickleFrom applies the server's trickled candidates to the client.
func trickleFrom(t testing.TB, l *eventLog, pc *webrtc.PeerConnection, stop <-chan struct{}) {
	go func() {
		applied := 0
		for {
			l.mu.Lock()
			var todo []ianua.Event
			for i := applied; i < len(l.events); i++ {
				if l.events[i].Type == ianua.EventTrickle && l.events[i].Candidate != nil {
					todo = append(todo, l.events[i])
				}
			}
			applied = len(l.events)
			closed := l.closed
			l.mu.Unlock()
			for _, e := range todo {
				_ = pc.AddICECandidate(*e.Candidate)
			}
			if closed {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
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

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

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
