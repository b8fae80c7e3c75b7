// Package testpeer holds what tests need to play a browser against ianua
// over loopback: pion clients, an event log per session, trickle helpers,
// synthetic RTP and lossy sockets. It is imported by tests only.
package testpeer

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/pionlog"
)

// QuietLogger discards everything.
func QuietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// NewRouter returns a router with the plugins on loopback, closed at the end
// of the test.
func NewRouter(t testing.TB, mod func(*ianua.Config), plugins ...ianua.Plugin) *ianua.MediaRouter {
	t.Helper()
	cfg := ianua.Config{Logger: QuietLogger()}
	if mod != nil {
		mod(&cfg)
	}
	r, err := ianua.NewMediaRouter(cfg, plugins...)
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

// Options tune a client.
type Options struct {
	// Conn, if set, carries all of the client's ICE traffic.
	Conn net.PacketConn
	// AudioLevel registers the RFC 6464 header extension.
	AudioLevel bool
	// TCPOnly makes the client use ICE-TCP only (RFC 6544).
	TCPOnly bool
	// VideoExtensions are more RTP header extensions (URIs) the client
	// negotiates for video.
	VideoExtensions []string
}

// NewClient returns a pion PeerConnection playing the browser, on loopback,
// closed at the end of the test.
func NewClient(t testing.TB, opts Options) *webrtc.PeerConnection {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if opts.AudioLevel {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: "urn:ietf:params:rtp-hdrext:ssrc-audio-level"}, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	for _, uri := range opts.VideoExtensions {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	lf := pionlog.Factory{Logger: QuietLogger()}
	s := webrtc.SettingEngine{LoggerFactory: lf}
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if opts.TCPOnly {
		s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	if opts.Conn != nil {
		s.SetICEUDPMux(webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), opts.Conn))
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	return pc
}

// EventLog keeps a session's events so that tests can wait for them.
type EventLog struct {
	mu     sync.Mutex
	cond   *sync.Cond
	events []ianua.Event
	closed bool
}

// Watch drains a session's events into a new log.
func Watch(s *ianua.Session) *EventLog {
	l := &EventLog{}
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

// Wait returns the first event that match accepts, or fails the test.
func (l *EventLog) Wait(t testing.TB, timeout time.Duration, what string, match func(ianua.Event) bool) ianua.Event {
	t.Helper()
	return l.WaitFrom(t, 0, timeout, what, match)
}

// WaitFrom is Wait for the events from index mark on (see Len).
func (l *EventLog) WaitFrom(t testing.TB, mark int, timeout time.Duration, what string, match func(ianua.Event) bool) ianua.Event {
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
		for i := mark; i < len(l.events); i++ {
			if match(l.events[i]) {
				return l.events[i]
			}
		}
		if l.closed || time.Now().After(deadline) {
			t.Fatalf("no %s event within %v (closed=%v, %d events)", what, timeout, l.closed, len(l.events))
		}
		l.cond.Wait()
	}
}

// All returns the events that match.
func (l *EventLog) All(match func(ianua.Event) bool) []ianua.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ianua.Event
	for _, e := range l.events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// Count returns how many events match.
func (l *EventLog) Count(match func(ianua.Event) bool) int { return len(l.All(match)) }

// Len is the number of events so far: a mark for "events after this".
func (l *EventLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// WaitClosed waits until the session's event channel is closed.
func (l *EventLog) WaitClosed(t testing.TB, timeout time.Duration) {
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

// Type matches events of a type (and of a handle, if not zero).
func Type(typ ianua.EventType, handle uint64) func(ianua.Event) bool {
	return func(e ianua.Event) bool { return e.Type == typ && (handle == 0 || e.HandleID == handle) }
}

// Plugin matches plugin events of a handle whose data has key = value
// (value "" matches any value), and a JSEP of jsepType if not empty.
func Plugin(handle uint64, key, value, jsepType string) func(ianua.Event) bool {
	return func(e ianua.Event) bool {
		if e.Type != ianua.EventPlugin || (handle != 0 && e.HandleID != handle) {
			return false
		}
		var d map[string]any
		if json.Unmarshal(e.Data, &d) != nil {
			return false
		}
		v, ok := d[key]
		if !ok {
			return false
		}
		if value != "" {
			if s, _ := v.(string); s != value {
				return false
			}
		}
		return jsepType == "" || (e.JSEP != nil && e.JSEP.Type == jsepType)
	}
}

// TrickleTo sends a client's candidates to the handle as they come.
func TrickleTo(t testing.TB, pc *webrtc.PeerConnection, h *ianua.Handle) {
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

// TrickleFrom applies a handle's trickled candidates to the client until
// stop or the session ends.
func TrickleFrom(l *EventLog, handle uint64, pc *webrtc.PeerConnection, stop <-chan struct{}) {
	go func() {
		applied := 0
		for {
			l.mu.Lock()
			var todo []ianua.Event
			for i := applied; i < len(l.events); i++ {
				e := l.events[i]
				if e.Type == ianua.EventTrickle && e.Candidate != nil && e.HandleID == handle {
					todo = append(todo, e)
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

// JSON marshals v or panics (tests only).
func JSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// SwitchConn is a UDP socket that can drop everything (a client that
// vanished) or every n-th outgoing RTP packet (a lossy uplink).
type SwitchConn struct {
	net.PacketConn
	Dead      atomic.Bool
	DropEvery int
	// DropInEvery, if set, drops every n-th incoming RTP packet (a lossy
	// downlink).
	DropInEvery int
	// Drop, if set, decides per outgoing RTP packet (after DropEvery).
	Drop    func() bool
	rtpSent atomic.Int64
	rtpRecv atomic.Int64
	// InRate, if set, drops incoming RTP beyond this many bits per
	// second (a token bucket with 100 ms of burst): a narrow downlink.
	InRate  atomic.Int64
	bucket  float64
	refill  time.Time
	limitMu sync.Mutex
}

// IsRTP tells RTP from RTCP, STUN and DTLS on a muxed socket (RFC 7983,
// RFC 5761 section 4).
func IsRTP(b []byte) bool {
	if len(b) < 2 || b[0] < 128 || b[0] > 191 {
		return false
	}
	pt := b[1] & 0x7f
	return pt < 64 || pt > 95
}

// ReadFrom implements net.PacketConn.
func (c *SwitchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil {
			return n, addr, err
		}
		if c.Dead.Load() {
			continue
		}
		if c.DropInEvery > 0 && IsRTP(b[:n]) && c.rtpRecv.Add(1)%int64(c.DropInEvery) == 0 {
			continue
		}
		if rate := c.InRate.Load(); rate > 0 && IsRTP(b[:n]) && !c.take(rate, n) {
			continue
		}
		return n, addr, err
	}
}

// take spends n bytes from the token bucket of rate bits per second.
func (c *SwitchConn) take(rate int64, n int) bool {
	c.limitMu.Lock()
	defer c.limitMu.Unlock()
	now := time.Now()
	burst := float64(rate) / 10
	if c.refill.IsZero() {
		c.bucket, c.refill = burst, now
	}
	c.bucket = min(burst, c.bucket+now.Sub(c.refill).Seconds()*float64(rate))
	c.refill = now
	bits := float64(n * 8)
	if bits > c.bucket {
		return false
	}
	c.bucket -= bits
	return true
}

// WriteTo implements net.PacketConn.
func (c *SwitchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.Dead.Load() {
		return len(b), nil
	}
	if IsRTP(b) {
		if c.DropEvery > 0 && c.rtpSent.Add(1)%int64(c.DropEvery) == 0 {
			return len(b), nil
		}
		if c.Drop != nil && c.Drop() {
			return len(b), nil
		}
	}
	return c.PacketConn.WriteTo(b, addr)
}

// ListenSwitch opens a loopback UDP socket wrapped in a SwitchConn, closed
// at the end of the test.
func ListenSwitch(t testing.TB) *SwitchConn {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = udp.Close() })
	return &SwitchConn{PacketConn: udp}
}

// WaitFor polls cond until it holds or fails the test.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Output is t.Output() until the test's cleanups are over, and then
// nothing. pion's PeerConnection.GracefulClose returns before the
// goroutines reading undeclared SSRCs end, and they may log as they do:
// written to a finished test's output, that panics. Call it before
// registering the cleanups that stop servers, so that it runs after them.
func Output(t *testing.T) io.Writer {
	w := &cutWriter{w: t.Output()}
	t.Cleanup(func() {
		w.mu.Lock()
		w.w = io.Discard
		w.mu.Unlock()
	})
	return w
}

type cutWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *cutWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Write(p)
}
