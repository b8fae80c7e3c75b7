package sfu

import (
	"time"

	"github.com/ianua/ianua"
)

// Automatic layer choice: every allocInterval each subscriber's bandwidth
// estimate (send-side, from transport-wide-cc feedback) is shared among its
// video streams, and each simulcast stream gets the highest layer that
// fits its share, each VP9 or AV1 SVC stream the highest spatial layer
// whose sum with the layers below it fits (RFC 9628: a spatial layer needs
// those below). Going down is immediate (congestion hurts now); going up waits
// for upVotes intervals in a row (the estimate grows slowly and a keyframe
// for nothing is costly). A stream whose layer the client chose by hand
// ("substream") is left alone.
const (
	allocInterval = 500 * time.Millisecond
	upVotes       = 3
	// audioReserve is set aside per audio stream before sharing.
	audioReserve = 64_000
	// headroom keeps a layer's bitrate under 90 % of its share.
	headroomPercent = 90
)

// chooseLayer returns the highest layer whose bitrate fits budget; layer 0
// if none does (a frozen picture is worse than a congested one), -1 if no
// layer is live.
func chooseLayer(rates [3]uint64, budget uint64) int {
	best := -1
	for l, r := range rates {
		if r == 0 {
			continue
		}
		if best < 0 {
			best = l
		}
		if r*100 <= budget*headroomPercent {
			best = l
		}
	}
	return best
}

// allocate runs the layer choice until quit.
func (s *Subscriber) allocate(quit <-chan struct{}) {
	defer s.bg.Done()
	t := time.NewTicker(allocInterval)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		s.reportLayers()
		est, ok := s.h.BandwidthEstimate()
		if !ok {
			continue
		}
		s.mu.Lock()
		var video []*subStream
		audio := 0
		for _, st := range s.streams {
			if !st.active || st.sub == nil || !st.send || s.paused {
				continue
			}
			switch st.kind {
			case "audio":
				audio++
			case "video":
				video = append(video, st)
			}
		}
		s.mu.Unlock()
		if len(video) == 0 {
			continue
		}
		avail := int64(est) - int64(audio*audioReserve)
		if avail < 0 {
			avail = 0
		}
		share := uint64(avail) / uint64(len(video))
		for _, st := range video {
			s.allocStream(st, share)
		}
	}
}

func (s *Subscriber) allocStream(st *subStream, share uint64) {
	src := st.sub.Source()
	if src == nil {
		return
	}
	s.mu.Lock()
	manual, layer, spatial := st.manual, st.manualLayer, st.manualSpatial
	s.mu.Unlock()
	if manual {
		// The client's choice stands; put it back if a round that
		// crossed its request applied another.
		if _, target := st.sub.Layer(); layer >= 0 && target != layer {
			_ = st.sub.SetLayer(layer)
		}
		if _, target := st.sub.SpatialLayer(); spatial >= 0 && target != spatial {
			_ = st.sub.SetSpatialLayer(spatial)
		}
		return
	}
	if !src.Simulcast() {
		s.allocSpatial(st, src.SpatialBitrates(), share)
		return
	}
	want := chooseLayer(src.LayerBitrates(), share)
	if want < 0 {
		return
	}
	_, target := st.sub.Layer()
	st.step(want, target, st.sub.SetLayer)
}

// step moves a stream from layer target towards want: down at once
// (congestion hurts now), up one layer after upVotes rounds in a row that
// want it (the estimate grows slowly, and a keyframe for nothing costs).
func (st *subStream) step(want, target int, set func(int) error) {
	switch {
	case want < target:
		st.votes = 0
		_ = set(want)
	case want > target:
		st.votes++
		if st.votes >= upVotes {
			st.votes = 0
			_ = set(target + 1)
		}
	default:
		st.votes = 0
	}
}

// allocSpatial picks a VP9 or AV1 SVC stream's spatial layer, with the
// same rules as a simulcast layer: down at once, up one layer after
// upVotes.
func (s *Subscriber) allocSpatial(st *subStream, rates [3]uint64, share uint64) {
	var cumulative [3]uint64
	layers := 0
	var sum uint64
	for i, r := range rates {
		if r == 0 {
			break // a layer needs all those below it
		}
		sum += r
		cumulative[i] = sum
		layers++
	}
	if layers < 2 {
		return // nothing to choose from
	}
	want := chooseLayer(cumulative, share)
	current, target := st.sub.SpatialLayer()
	if target < 0 {
		// All layers so far: the top one is what it gets.
		target = layers - 1
		if current >= 0 {
			target = current
		}
	}
	st.step(want, target, st.sub.SetSpatialLayer)
}

// reportLayers tells the client which simulcast substream and temporal
// layer, or SVC spatial and temporal layer, each of its video streams now
// gets, when that changed, as Janus VideoRoom does, one event per change
// ({"videoroom":"event","room":…,"mid":…,"substream":…}, "temporal",
// "spatial_layer", "temporal_layer"): janus.js apps show their layer
// buttons from them.
func (s *Subscriber) reportLayers() {
	type stream struct {
		st  *subStream
		sub *ianua.Subscription
		mid string
	}
	s.mu.Lock()
	var video []stream
	for _, st := range s.streams {
		if st.active && st.sub != nil && st.kind == "video" {
			video = append(video, stream{st, st.sub, st.mid})
		}
	}
	s.mu.Unlock()
	for _, v := range video {
		st := v.st
		src := v.sub.Source()
		if src == nil {
			continue
		}
		tell := func(key string, value int) {
			_ = s.h.PushEvent("", map[string]any{"videoroom": "event", "room": s.room.ID(), "mid": v.mid, key: value}, nil)
		}
		temporal, _ := v.sub.TemporalLayer()
		if temporal < 0 || temporal > 2 {
			temporal = 2 // every temporal layer
		}
		switch {
		case src.Simulcast():
			cur, _ := v.sub.Layer()
			if cur < 0 {
				continue // nothing forwarded yet
			}
			if cur != st.reportedLayer {
				st.reportedLayer = cur
				tell("substream", cur)
			}
			if temporal != st.reportedTemporal {
				st.reportedTemporal = temporal
				tell("temporal", temporal)
			}
		default:
			total := src.SpatialLayers()
			if total < 2 {
				continue // no spatial layers to tell of
			}
			cur, _ := v.sub.SpatialLayer()
			if cur < 0 || cur >= total {
				cur = total - 1 // every layer is forwarded
			}
			if cur != st.reportedSpatial {
				st.reportedSpatial = cur
				tell("spatial_layer", cur)
			}
			if temporal != st.reportedTemporal {
				st.reportedTemporal = temporal
				tell("temporal_layer", temporal)
			}
		}
	}
}
