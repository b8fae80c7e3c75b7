package ianua

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/av1dd"
	"github.com/ianua/ianua/internal/loopback"
	"github.com/ianua/ianua/internal/monitor"
	"github.com/ianua/ianua/internal/pionlog"
	"github.com/ianua/ianua/internal/playoutdelay"
)

// MediaRouter is the shared engine a host creates once: it owns the codecs,
// the ICE sockets and settings, the registered plugins, and every session.
// Plugins reach it through Handle.Router.
type MediaRouter struct {
	cfg     Config
	log     *slog.Logger
	plugins map[string]Plugin

	media     *webrtc.MediaEngine // template; each PeerConnection gets a copy
	settings  webrtc.SettingEngine
	supported map[string]bool // lower-case codec names, for offer checks

	udpConn net.PacketConn
	// loopbackOnly: the ICE socket is on loopback and no filter was set, so
	// media stays on loopback (see internal/loopback).
	loopbackOnly bool
	udpMux       ice.UDPMux
	tcpLn        net.Listener
	tcpMux       ice.TCPMux

	mu       sync.Mutex
	closed   bool
	sessions map[uint64]*Session
}

// NewMediaRouter builds a router from cfg, with plugins. It opens the shared
// ICE socket(s) at once, so that a bad address is reported here.
func NewMediaRouter(cfg Config, plugins ...Plugin) (*MediaRouter, error) {
	cfg = cfg.withDefaults()
	r := &MediaRouter{
		cfg:      cfg,
		log:      cfg.Logger,
		plugins:  make(map[string]Plugin, len(plugins)),
		sessions: make(map[uint64]*Session),
	}
	for _, p := range plugins {
		if p == nil || p.Name() == "" {
			return nil, fmt.Errorf("%w: plugin without a name", ErrUnknownPlugin)
		}
		r.plugins[p.Name()] = p
	}
	if err := r.setupMedia(); err != nil {
		return nil, err
	}
	if err := r.setupICE(); err != nil {
		r.closeSockets()
		return nil, err
	}
	return r, nil
}

// MimeTypeRED is RED, redundant audio (RFC 2198), as the router negotiates
// it around Opus; pion has no name for it.
const MimeTypeRED = "audio/red"

// setupMedia registers the codecs, RTCP feedback and header extensions that
// every PeerConnection offers and accepts.
func (r *MediaRouter) setupMedia() error {
	m := &webrtc.MediaEngine{}
	// Opus, G.722, PCMU, PCMA; VP8, VP9, H.264, H.265, AV1, with RTX and
	// nack/pli/fir/goog-remb feedback on video.
	if err := m.RegisterDefaultCodecs(); err != nil {
		return err
	}
	// RFC 4733 DTMF at both clock rates browsers and phones use.
	for _, te := range []struct {
		rate uint32
		pt   webrtc.PayloadType
	}{{48000, 110}, {8000, 126}} {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: te.rate, SDPFmtpLine: "0-16"},
			PayloadType:        te.pt,
		}, webrtc.RTPCodecTypeAudio); err != nil {
			return err
		}
	}
	// RED around Opus (RFC 2198, the fmtp as Chrome offers it), listed
	// after Opus so that no one sends it unless a plugin prefers it
	// (Janus EchoTest's "opusred").
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: MimeTypeRED, ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"},
		PayloadType:        63,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return err
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeAudio)
	exts := []struct {
		uri   string
		kinds []webrtc.RTPCodecType
	}{
		{sdp.SDESMidURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		{sdp.SDESRTPStreamIDURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{sdp.SDESRepairRTPStreamIDURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{sdp.AudioLevelURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}},
		{sdp.ABSSendTimeURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{sdp.TransportCCURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		// AV1 SVC: each packet's layers, for the subscriptions' choice
		// (browsers send it only when it is negotiated).
		{av1dd.URI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		// A plugin may ask a receiver for a playout delay (Janus's
		// min_delay and max_delay).
		{playoutdelay.URI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
	}
	for _, e := range exts {
		for _, k := range e.kinds {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, k); err != nil {
				return err
			}
		}
	}
	r.media = m
	r.supported = map[string]bool{
		"opus": true, "g722": true, "pcmu": true, "pcma": true,
		"vp8": true, "vp9": true, "h264": true, "h265": true, "av1": true,
	}
	return nil
}

// setupICE opens the shared sockets and fills the SettingEngine.
func (r *MediaRouter) setupICE() error {
	c := r.cfg.ICE
	s := webrtc.SettingEngine{LoggerFactory: r.pionLog()}
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if c.Net != nil {
		s.SetNet(c.Net)
	}
	if c.DisconnectedTimeout != 0 || c.FailedTimeout != 0 || c.KeepAliveInterval != 0 {
		s.SetICETimeouts(c.DisconnectedTimeout, c.FailedTimeout, c.KeepAliveInterval)
	}
	if len(c.NAT1To1IPs) > 0 {
		s.SetNAT1To1IPs(c.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}

	host, _, err := net.SplitHostPort(c.UDPAddr)
	if err != nil {
		return fmt.Errorf("ianua: ICE UDP address %q: %w", c.UDPAddr, err)
	}
	loopbackOnly := false
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		s.SetIncludeLoopbackCandidate(true)
		loopbackOnly = len(c.Interfaces) == 0 && c.IPFilter == nil
	}
	switch {
	case c.IPFilter != nil:
		s.SetIPFilter(c.IPFilter)
	case loopbackOnly:
		s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	r.loopbackOnly = loopbackOnly
	if len(c.Interfaces) > 0 {
		allowed := make(map[string]bool, len(c.Interfaces))
		for _, name := range c.Interfaces {
			allowed[name] = true
		}
		s.SetInterfaceFilter(func(name string) bool { return allowed[name] || (loopbackOnly && strings.HasPrefix(name, "lo")) })
	}

	if c.NoUDPMux {
		if c.PortMin != 0 || c.PortMax != 0 {
			if err := s.SetEphemeralUDPPortRange(c.PortMin, c.PortMax); err != nil {
				return fmt.Errorf("ianua: ICE port range: %w", err)
			}
		}
	} else {
		conn, err := r.listenUDP(c.UDPAddr)
		if err != nil {
			return fmt.Errorf("ianua: ICE UDP listen on %s: %w", c.UDPAddr, err)
		}
		r.udpConn = conn
		var muxConn net.PacketConn = conn
		if u, ok := conn.(*net.UDPConn); ok && loopbackOnly {
			muxConn = loopback.Conn{UDPConn: u}
		}
		r.udpMux = webrtc.NewICEUDPMux(r.pionLog().NewLogger("udpmux"), muxConn)
		s.SetICEUDPMux(r.udpMux)
	}
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if c.TCPAddr != "" {
		ln, err := net.Listen("tcp", c.TCPAddr)
		if err != nil {
			return fmt.Errorf("ianua: ICE TCP listen on %s: %w", c.TCPAddr, err)
		}
		r.tcpLn = ln
		r.tcpMux = webrtc.NewICETCPMux(r.pionLog().NewLogger("tcpmux"), ln, 8)
		s.SetICETCPMux(r.tcpMux)
		types = append(types, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	s.SetNetworkTypes(types)
	r.settings = s
	return nil
}

func (r *MediaRouter) pionLog() pionlog.Factory { return pionlog.Factory{Logger: r.log} }

func (r *MediaRouter) listenUDP(addr string) (net.PacketConn, error) {
	if r.cfg.ICE.Net != nil {
		ua, err := r.cfg.ICE.Net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, err
		}
		return r.cfg.ICE.Net.ListenUDP("udp", ua)
	}
	return net.ListenPacket("udp", addr)
}

// instantGathering says whether candidate gathering needs no network round
// trip: the shared UDP socket (and ICE-TCP listener) only.
func (r *MediaRouter) instantGathering() bool {
	return r.udpMux != nil && len(r.cfg.ICE.Servers) == 0
}

// UDPAddr is the address of the shared ICE UDP socket (nil with NoUDPMux).
func (r *MediaRouter) UDPAddr() net.Addr {
	if r.udpConn == nil {
		return nil
	}
	return r.udpConn.LocalAddr()
}

// Config returns the router's configuration, with the defaults filled
// in (for an admin view: Janus's get_status). Its slices are the
// router's own: do not change them.
func (r *MediaRouter) Config() Config { return r.cfg }

// Logger is the router's logger; plugins log through it.
func (r *MediaRouter) Logger() *slog.Logger { return r.log }

// Plugin returns the registered plugin with this name.
func (r *MediaRouter) Plugin(name string) (Plugin, bool) {
	p, ok := r.plugins[name]
	return p, ok
}

// Bandwidth estimation bounds, bits per second.
const (
	defaultInitialBitrate = 1_000_000
	minEstimate           = 30_000
)

// newAPI builds the pion API of one PeerConnection: the shared media engine
// and settings, and interceptors of its own (pion's NACK generator and
// responder, RTCP reports, stats, transport-wide-cc) plus mon.
func (r *MediaRouter) newAPI(mon *monitor.Monitor, pc PeerConfig, onBWE func(cc.BandwidthEstimator)) (*webrtc.API, error) {
	lf := r.pionLog()
	reg := &interceptor.Registry{}
	if pc.BandwidthEstimation {
		initial := pc.InitialBitrate
		if initial <= 0 {
			initial = defaultInitialBitrate
		}
		f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
			return gcc.NewSendSideBWE(
				gcc.SendSideBWEInitialBitrate(initial),
				gcc.SendSideBWEMinBitrate(minEstimate),
				gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
				gcc.WithLoggerFactory(lf),
			)
		})
		if err != nil {
			return nil, err
		}
		f.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { onBWE(e) })
		reg.Add(f)
	}
	// First, so that it sees the NACKs the generator writes.
	reg.Add(mon)
	if !pc.SendOnly {
		gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(lf))
		if err != nil {
			return nil, err
		}
		reg.Add(gen)
	}
	if !pc.NoNACKResponder {
		resp, err := nack.NewResponderInterceptor(nack.WithResponderLoggerFactory(lf))
		if err != nil {
			return nil, err
		}
		reg.Add(resp)
	}
	if !pc.SendOnly {
		rr, err := report.NewReceiverInterceptor(report.WithReceiverLoggerFactory(lf))
		if err != nil {
			return nil, err
		}
		reg.Add(rr)
	}
	sr, err := report.NewSenderInterceptor(report.WithSenderLoggerFactory(lf))
	if err != nil {
		return nil, err
	}
	reg.Add(sr)
	if err := webrtc.ConfigureStatsInterceptorWithOptions(reg, stats.WithLoggerFactory(lf)); err != nil {
		return nil, err
	}
	if pc.BandwidthEstimation || !pc.SendOnly {
		// Transport-wide sequence numbers on what we send, for the
		// feedback our estimator reads (a send-only PeerConnection
		// without one has no use for them).
		hdr, err := twcc.NewHeaderExtensionInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(hdr)
	}
	if !pc.SendOnly {
		// Feedback on the packets we receive (the header extension
		// interceptor above numbers the ones we send).
		fb, err := twcc.NewSenderInterceptor(twcc.WithLoggerFactory(lf))
		if err != nil {
			return nil, err
		}
		reg.Add(fb)
	}
	return webrtc.NewAPI(
		webrtc.WithMediaEngine(r.media),
		webrtc.WithSettingEngine(r.settings),
		webrtc.WithInterceptorRegistry(reg),
	), nil
}

// NewSession creates a session for one client of the host.
func (r *MediaRouter) NewSession() (*Session, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrRouterClosed
	}
	id := r.newIDLocked(func(id uint64) bool { _, taken := r.sessions[id]; return taken })
	s := newSession(r, id)
	r.sessions[id] = s
	r.mu.Unlock()
	s.start()
	r.observe(Event{Type: EventSessionCreated, SessionID: id})
	return s, nil
}

// Session returns the live session with this id.
func (r *MediaRouter) Session(id uint64) (*Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sessions[id]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownSession, id)
	}
	return s, nil
}

// Sessions returns the live sessions.
func (r *MediaRouter) Sessions() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		out = append(out, s)
	}
	return out
}

func (r *MediaRouter) removeSession(id uint64) {
	r.mu.Lock()
	delete(r.sessions, id)
	r.mu.Unlock()
}

// newIDLocked returns a random id that fits in a JavaScript number (53
// bits), as Janus does, and that taken does not report as in use.
func (r *MediaRouter) newIDLocked(taken func(uint64) bool) uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		id := binary.BigEndian.Uint64(b[:]) & (1<<53 - 1)
		if id != 0 && !taken(id) {
			return id
		}
	}
}

func (r *MediaRouter) observe(e Event) {
	if r.cfg.Observer == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	r.cfg.Observer.Observe(e)
}

// Close destroys every session (and so every handle and PeerConnection) and
// closes the shared sockets. It waits for all of it, or for ctx.
func (r *MediaRouter) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	sessions := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		sessions = append(sessions, s)
	}
	r.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.destroy(EventDestroyed)
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		r.closeSockets()
		return ctx.Err()
	}
	var firstErr error
	for _, p := range r.plugins {
		if c, ok := p.(Closer); ok {
			if err := c.Close(ctx); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	r.closeSockets()
	return firstErr
}

func (r *MediaRouter) closeSockets() {
	if r.udpMux != nil {
		_ = r.udpMux.Close()
	}
	if r.udpConn != nil {
		_ = r.udpConn.Close()
	}
	if r.tcpMux != nil {
		_ = r.tcpMux.Close()
	}
	if r.tcpLn != nil {
		_ = r.tcpLn.Close()
	}
}
