package echotest

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// layerWatchInterval is how often a layered echo looks for a layer change
// to report, a REMB to repeat and a recording to start or stop.
const layerWatchInterval = 200 * time.Millisecond

// layered is the echo of a video stream with layers to choose from: a
// simulcast stream (RFC 8853), or VP9 or AV1, which may carry SVC. The
// stream goes through the router's forwarding engine, a Source read from
// the client's track and a Subscription of the same handle: it rewrites
// SSRC, sequence numbers, timestamps and VP8 picture ids across layer
// switches, drops SVC layers above the choice, and answers the client's
// NACKs from its cache. Janus EchoTest does the same with its simulcast
// and SVC contexts.
type layered struct {
	src       *ianua.Source
	sub       *ianua.Subscription
	mid       string
	codec     string // Janus's name: "vp8", "vp9", "h264", "av1"
	simulcast bool
	svc       bool

	// mu guards what the watcher reports, and the watcher's ownership.
	mu       sync.Mutex
	watching bool
	// reported is the last layer pair told to the client, so that only
	// changes are told: substream/temporal for simulcast,
	// spatial_layer/temporal_layer for SVC. -2: never told.
	reportedA, reportedB int
	rec                  *ianua.Recording
	recGen               uint32
}

// simulcastMids returns the mids of the m-lines of an SDP that send
// simulcast (a=rid ... send, RFC 8851).
func simulcastMids(desc *webrtc.SessionDescription) map[string]bool {
	out := map[string]bool{}
	if desc == nil {
		return out
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(desc.SDP); err != nil {
		return out
	}
	for _, m := range parsed.MediaDescriptions {
		mid, _ := m.Attribute(sdp.AttrKeyMID)
		for _, a := range m.Attributes {
			if a.Key == "rid" && strings.Contains(a.Value, " send") {
				out[mid] = true
			}
		}
	}
	return out
}

// codecName is Janus's name of a codec ("vp8", "opus", ...).
func codecName(mime string) string {
	_, name, _ := strings.Cut(strings.ToLower(mime), "/")
	return name
}

// newLayered publishes the client's stream on tr and subscribes the same
// handle to it; the subscription is the local track of tr's echo.
func (e *Echo) newLayered(pc *webrtc.PeerConnection, tr *webrtc.RTPTransceiver, codec webrtc.RTPCodecParameters, simulcast bool) (*layered, error) {
	r := e.h.Router()
	src, err := r.Publish(ianua.SourceParams{
		Handle:      e.h,
		Transceiver: tr,
		Codec:       codec,
		ID:          fmt.Sprintf("echotest/%d/%s", e.h.ID(), tr.Mid()),
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	choice, playout := e.layers, e.playout
	e.mu.Unlock()
	sub, err := src.Subscribe(ianua.SubscribeParams{Handle: e.h, TrackID: "echo-" + tr.Mid(), StreamID: "ianua-echotest", Layer: &choice.substream})
	if err != nil {
		src.Close()
		return nil, err
	}
	sender, err := pc.AddTrack(sub)
	if err != nil {
		sub.Close()
		src.Close()
		return nil, fmt.Errorf("echotest: add echo track: %w", err)
	}
	if tr.Sender() != sender {
		// pion gives the track to the first free transceiver of its kind;
		// prepareEcho walks them in order, so this is tr.
		sub.Close()
		src.Close()
		return nil, fmt.Errorf("echotest: echo of mid %s went to another m-line", tr.Mid())
	}
	sub.Start(sender)
	mime := codecName(codec.MimeType)
	l := &layered{
		src: src, sub: sub, mid: tr.Mid(), codec: mime,
		simulcast: simulcast, svc: mime == "vp9" || mime == "av1",
		reportedA: -2, reportedB: -2,
	}
	e.applyLayers(l, choice, false)
	if playout != nil {
		setPlayout(sub, playout)
	}
	if !e.video.Load() {
		sub.SetPaused(true)
	}
	return l, nil
}

// applyLayers gives one layered stream the client's choice. When tell is
// set, a choice already in force is reported at once, as Janus does (the
// watcher reports the others when they take effect).
func (e *Echo) applyLayers(l *layered, c layerChoice, tell bool) {
	if l.simulcast {
		_ = l.sub.SetLayer(c.substream) // asks a keyframe only for a change
		_ = l.sub.SetTemporalLayer(c.temporal)
	}
	if l.svc && !l.simulcast {
		_ = l.sub.SetSpatialLayer(c.spatial)
		_ = l.sub.SetTemporalLayer(c.svcTemporal)
	}
	if !tell {
		return
	}
	// Like Janus: a layer already in force is reported now; a switch is
	// reported by the watcher once it happened.
	already := false
	switch {
	case l.simulcast:
		cur, _ := l.sub.Layer()
		already = cur == c.substream
	case l.svc:
		cur, _ := l.sub.SpatialLayer()
		already = cur == c.spatial || (cur < 0 && c.spatial == 2)
	}
	if already {
		l.mu.Lock()
		l.reportedA, l.reportedB = -2, -2
		l.mu.Unlock()
		e.reportLayers(l)
	}
}

// readLayered feeds the stream's source from one of the client's tracks
// (one per simulcast layer). The first one also runs the watcher, which
// stops with it.
func (e *Echo) readLayered(l *layered, remote *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	l.mu.Lock()
	watch := !l.watching
	l.watching = true
	l.mu.Unlock()
	if watch {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.watchLayered(l, rcv, stop)
		}()
		defer func() {
			close(stop)
			wg.Wait()
			l.mu.Lock()
			l.watching = false
			l.mu.Unlock()
		}()
	}
	_ = l.src.ReadTrack(remote)
}

// watchLayered reports layer changes, repeats the bitrate cap and starts
// or stops the stream's recording, until stop.
func (e *Echo) watchLayered(l *layered, rcv *webrtc.RTPReceiver, stop <-chan struct{}) {
	tick := time.NewTicker(layerWatchInterval)
	defer tick.Stop()
	var lastREMB time.Time
	defer func() {
		l.mu.Lock()
		rec := l.rec
		l.rec = nil
		l.mu.Unlock()
		if rec != nil {
			rec.Stop()
		}
	}()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if l.simulcast {
			// A substream asked for before the layers arrived could not
			// be set then; SetLayer does nothing when it is in force.
			_ = l.sub.SetLayer(e.layerSettings().substream)
		}
		e.reportLayers(l)
		if b := e.bitrate.Load(); b > 0 && time.Since(lastREMB) >= rembInterval {
			lastREMB = time.Now()
			var ssrcs []uint32
			for _, t := range rcv.Tracks() {
				if s := uint32(t.SSRC()); s != 0 {
					ssrcs = append(ssrcs, s)
				}
			}
			if len(ssrcs) > 0 {
				_ = e.h.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(b), SSRCs: ssrcs}})
			}
		}
		e.syncLayeredRecording(l)
	}
}

// reportLayers pushes Janus's event when the layer being echoed changed:
// {"echotest":"event","videocodec":…,"substream":…,"temporal":…} for
// simulcast, "spatial_layer"/"temporal_layer" for SVC.
func (e *Echo) reportLayers(l *layered) {
	var a int
	b, _ := l.sub.TemporalLayer()
	if b < 0 || b > 2 {
		b = 2 // every temporal layer
	}
	ev := map[string]any{"echotest": "event", "videocodec": l.codec}
	switch {
	case l.simulcast:
		cur, _ := l.sub.Layer()
		if cur < 0 {
			return // nothing echoed yet
		}
		a = cur
		ev["substream"], ev["temporal"] = a, b
	case l.svc:
		cur, _ := l.sub.SpatialLayer()
		total := l.src.SpatialLayers()
		if total == 0 {
			return // no SVC seen (yet): nothing to report
		}
		if cur < 0 || cur >= total {
			cur = total - 1
		}
		a = cur
		ev["spatial_layer"], ev["temporal_layer"] = a, b
		ev["tot_spatial_layers"] = total
	default:
		return
	}
	l.mu.Lock()
	changed := a != l.reportedA || b != l.reportedB
	l.reportedA, l.reportedB = a, b
	l.mu.Unlock()
	if changed {
		_ = e.h.PushEvent("", ev, nil)
	}
}

// syncLayeredRecording opens or closes the stream's recording to match the
// record setting.
func (e *Echo) syncLayeredRecording(l *layered) {
	g := e.recordGen.Load()
	l.mu.Lock()
	if g == l.recGen {
		l.mu.Unlock()
		return
	}
	l.recGen = g
	old := l.rec
	l.rec = nil
	l.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	e.mu.Lock()
	base := e.recordBase
	e.mu.Unlock()
	if base == "" {
		return
	}
	path := fmt.Sprintf("%s-video-%s", base, l.mid)
	rec, err := l.src.Record(ianua.RecordParams{Path: path})
	if err != nil {
		e.h.Logger().Warn("echotest: cannot record", "path", path, "err", err)
		return
	}
	e.mu.Lock()
	e.recordings = append(e.recordings, rec.Path())
	e.mu.Unlock()
	l.mu.Lock()
	l.rec = rec
	l.mu.Unlock()
}

// close ends the stream's subscription and source.
func (l *layered) close() {
	l.sub.Close()
	l.src.Close()
}
