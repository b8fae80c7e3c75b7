package sfu

import (
	"github.com/ianua/ianua"
)

// forwarder is one RTP forwarder of a room (Janus VideoRoom rtp_forward).
type forwarder struct {
	id        uint64
	publisher uint64
	kind      string
	host      string
	port      int
	fwd       *ianua.RTPForwarder
	substream *int
}

func (f *forwarder) info() map[string]any {
	m := map[string]any{
		"stream_id": f.id, "type": f.kind, "host": f.host, "port": f.port,
		"ssrc": f.fwd.SSRC(), "pt": f.fwd.PayloadType(), "srtp": f.fwd.SRTP(),
	}
	if f.substream != nil {
		m["substream"] = *f.substream
	}
	return m
}

// rtpForward forwards streams of a publisher as RTP. It needs the room
// secret (checked by the caller) and, when the plugin has one, the admin
// key: it makes the server send UDP where a client asks.
func (p *Plugin) rtpForward(r *Room, req request) (map[string]any, error) {
	if p.params.AdminKey != "" && req.AdminKey != p.params.AdminKey {
		return nil, perr(ErrorUnauthorized, ErrUnauthorized, "Unauthorized (wrong admin_key)")
	}
	if req.PublisherID == nil {
		return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (publisher_id)")
	}
	pt, ok := r.Participant(*req.PublisherID)
	if !ok || !pt.isActive() {
		return nil, perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such publisher (%d)", *req.PublisherID)
	}
	if len(req.Streams) == 0 {
		return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (streams)")
	}
	// Validate everything first: a refused request starts nothing.
	type job struct {
		ps  *pubStream
		ref streamRef
	}
	var jobs []job
	for _, ref := range req.Streams {
		host := ref.Host
		if host == "" {
			host = req.Host
		}
		if host == "" || ref.Port <= 0 || ref.Port > 65535 || ref.MID == "" {
			return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (mid, host, port)")
		}
		ps, ok := pt.stream(ref.MID)
		if !ok || ps.src == nil {
			return nil, perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such stream %q", ref.MID)
		}
		ref.Host = host
		jobs = append(jobs, job{ps, ref})
	}
	var started []*forwarder
	for _, j := range jobs {
		f := &forwarder{publisher: pt.id, kind: j.ps.kind, host: j.ref.Host, port: j.ref.Port, substream: j.ref.Substream}
		fwd, err := j.ps.src.Forward(ianua.RTPForwarderParams{
			Host: j.ref.Host, Port: j.ref.Port, SSRC: j.ref.SSRC, PayloadType: j.ref.PT, Layer: j.ref.Substream,
			SRTPKey: req.SRTPCrypto, SRTPTag: req.SRTPSuite,
			OnStop: func(*ianua.RTPForwarder) { r.forgetForwarder(f) },
		})
		if err != nil {
			for _, s := range started {
				r.stopForwarder(s.publisher, s.id)
			}
			return nil, perr(ErrorInvalidElement, err, "Cannot forward %s: %v", j.ref.MID, err)
		}
		f.fwd = fwd
		r.mu.Lock()
		for f.id == 0 || r.forwarders[f.id] != nil {
			f.id = randomID() & 0xffffffff
		}
		r.forwarders[f.id] = f
		r.mu.Unlock()
		started = append(started, f)
	}
	out := make([]any, 0, len(started))
	for _, f := range started {
		out = append(out, f.info())
	}
	return map[string]any{"videoroom": "rtp_forward", "room": r.ID(), "publisher_id": pt.id, "forwarders": out}, nil
}

func (r *Room) stopForwarder(publisher, id uint64) bool {
	r.mu.Lock()
	f, ok := r.forwarders[id]
	if ok && f.publisher == publisher {
		delete(r.forwarders, id)
	}
	r.mu.Unlock()
	if !ok || f.publisher != publisher {
		return false
	}
	f.fwd.Stop()
	return true
}

func (r *Room) forgetForwarder(f *forwarder) {
	r.mu.Lock()
	if r.forwarders[f.id] == f {
		delete(r.forwarders, f.id)
	}
	r.mu.Unlock()
}

func (r *Room) listForwarders() []any {
	r.mu.Lock()
	by := map[uint64][]any{}
	for _, f := range r.forwarders {
		by[f.publisher] = append(by[f.publisher], f.info())
	}
	r.mu.Unlock()
	out := []any{}
	for pub, fs := range by {
		out = append(out, map[string]any{"publisher_id": pub, "forwarders": fs})
	}
	return out
}

// stopAllForwarders ends every forwarder of the room (room destroyed).
func (r *Room) stopAllForwarders() {
	r.mu.Lock()
	fs := make([]*forwarder, 0, len(r.forwarders))
	for _, f := range r.forwarders {
		fs = append(fs, f)
	}
	r.forwarders = map[uint64]*forwarder{}
	r.mu.Unlock()
	for _, f := range fs {
		f.fwd.Stop()
	}
}
