package ianua

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/monitor"
)

// peer is one PeerConnection of a handle, with the goroutines it owns. A
// handle has at most one; hangup closes it and a new negotiation makes a
// new one.
type peer struct {
	h   *Handle
	pc  *webrtc.PeerConnection
	mon *monitor.Monitor

	done chan struct{} // closed by close
	wg   sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	remoteSet bool // a remote description was applied: candidates go straight in
	trickle   bool // the client trickles; false: put our candidates in the SDP
	channels  []*webrtc.DataChannel

	up atomic.Bool // EventWebRTCUp sent

	bwe *atomic.Value // cc.BandwidthEstimator, when PeerConfig asked for one
}

// estimate returns the send-side bandwidth estimate, bits per second.
func (p *peer) estimate() (int, bool) {
	e, ok := p.bwe.Load().(cc.BandwidthEstimator)
	if !ok {
		return 0, false
	}
	return e.GetTargetBitrate(), true
}

func newPeer(h *Handle) (*peer, error) {
	r := h.s.r
	mon := monitor.New()
	var cfg PeerConfig
	if c, ok := h.attachment().(PeerConfigurer); ok {
		cfg = c.PeerConfig()
	}
	var bwe atomic.Value // cc.BandwidthEstimator, set when pion builds the interceptors
	api, err := r.newAPI(mon, cfg, func(e cc.BandwidthEstimator) { bwe.Store(e) })
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:   r.cfg.ICE.Servers,
		BundlePolicy: webrtc.BundlePolicyMaxBundle,
	})
	if err != nil {
		return nil, err
	}
	p := &peer{h: h, pc: pc, mon: mon, done: make(chan struct{}), trickle: true, bwe: &bwe}

	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			h.emit(Event{Type: EventTrickle, Completed: true})
			return
		}
		init := c.ToJSON()
		h.emit(Event{Type: EventTrickle, Candidate: &init})
	})
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		h.observe(Event{Type: EventICEState, State: st.String()})
		if st == webrtc.ICEConnectionStateFailed {
			h.hangupAsync(p, "ICE failed")
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		h.observe(Event{Type: EventConnectionState, State: st.String()})
		switch st {
		case webrtc.PeerConnectionStateConnected:
			if p.up.CompareAndSwap(false, true) {
				h.emit(Event{Type: EventWebRTCUp})
				if u, ok := h.attachment().(WebRTCUpHandler); ok {
					u.WebRTCUp()
				}
			}
		case webrtc.PeerConnectionStateFailed:
			h.hangupAsync(p, "PeerConnection failed")
		case webrtc.PeerConnectionStateClosed:
			// The remote side closed DTLS (close_notify alert).
			h.hangupAsync(p, "DTLS alert")
		}
	})
	pc.SCTP().Transport().OnStateChange(func(st webrtc.DTLSTransportState) {
		h.observe(Event{Type: EventDTLSState, State: st.String()})
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		if !p.track() {
			return
		}
		defer p.wg.Done()
		if th, ok := h.attachment().(TrackHandler); ok {
			th.HandleTrack(t, rcv)
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { p.addChannel(dc) })

	if !p.track() {
		return p, nil
	}
	go p.watch()
	return p, nil
}

// track counts one more goroutine owned by the peer, unless it is closed.
func (p *peer) track() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// hasRemote says whether a remote description was applied.
func (p *peer) hasRemote() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.remoteSet
}

func (p *peer) addChannel(dc *webrtc.DataChannel) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.channels = append(p.channels, dc)
	p.mu.Unlock()
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		if d, ok := p.h.attachment().(DataHandler); ok {
			d.HandleData(DataMessage{Label: dc.Label(), Data: m.Data, IsString: m.IsString})
		}
	})
	// pion calls it at once (on its own goroutine) if already open.
	dc.OnOpen(func() {
		if d, ok := p.h.attachment().(DataReadyHandler); ok {
			d.DataReady(dc.Label())
		}
	})
}

// channel returns the open data channel with this label, or the first open
// one when label is empty.
func (p *peer) channel(label string) *webrtc.DataChannel {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, dc := range p.channels {
		if (label == "" || dc.Label() == label) && dc.ReadyState() == webrtc.DataChannelStateOpen {
			return dc
		}
	}
	return nil
}

// close closes the PeerConnection and waits for every goroutine the peer
// owns. It must not be called from a pion callback.
func (p *peer) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	// GracefulClose waits for pion's own goroutines; the track handlers
	// then see EOF and return.
	if err := p.pc.GracefulClose(); err != nil {
		p.h.log.Debug("close PeerConnection", "err", err)
	}
	p.wg.Wait()
}

// watch raises media (receiving on/off) and slow-link events, once per
// NoMediaTimeout, from the monitor's counters.
func (p *peer) watch() {
	defer p.wg.Done()
	cfg := p.h.s.r.cfg
	tick := time.NewTicker(cfg.NoMediaTimeout)
	defer tick.Stop()
	receiving := map[string]bool{}
	loss := map[string]*linkLoss{}
	for {
		select {
		case <-p.done:
			return
		case now := <-tick.C:
			p.checkMedia(now, cfg.NoMediaTimeout, receiving)
			if cfg.SlowLinkThreshold >= 0 {
				p.checkSlowLink(now, cfg.NoMediaTimeout, loss)
			}
		}
	}
}

func (p *peer) checkMedia(now time.Time, timeout time.Duration, receiving map[string]bool) {
	for _, tr := range p.pc.GetTransceivers() {
		rcv := tr.Receiver()
		if rcv == nil || tr.Mid() == "" {
			continue
		}
		var last time.Time
		for _, t := range rcv.Tracks() {
			if s, ok := p.mon.Stream(uint32(t.SSRC())); ok {
				if l := s.LastPacket(); l.After(last) {
					last = l
				}
			}
		}
		mid := tr.Mid()
		was, seen := receiving[mid]
		if !seen && last.IsZero() {
			continue // nothing ever arrived: no event, as in Janus
		}
		is := !last.IsZero() && now.Sub(last) < timeout
		if seen && is == was {
			continue
		}
		receiving[mid] = is
		p.h.mediaState(MediaState{MID: mid, Kind: tr.Kind().String(), Receiving: is})
	}
}
