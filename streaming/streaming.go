// Package streaming is the broadcast plugin: mountpoints fed by plain RTP
// on UDP ports (from ffmpeg, GStreamer, an RTP forwarder, another server)
// and played to any number of WebRTC viewers through the MediaRouter's
// forwarding engine.
//
// Its message language is Janus Streaming's: list, info, create, destroy,
// watch, start, pause, stop, switch, configure, with Janus's events
// ({"streaming":"event","result":{"status":"preparing"|"starting"|
// "started"|"pausing"|"stopping"}}) and error codes (450–470). The plugin
// offers, its m-lines named with the mountpoint's mids as in Janus, and
// the viewer answers with "start"; a viewer switches mountpoints
// without a new PeerConnection. ianua extra: {"status":"no-media"} and
// {"status":"media"} events when a mountpoint's input stops and resumes.
// Supported mountpoint type: "rtp" (plain RTP, one port per stream), with
// the multistream "media" array or the legacy audio/video/data fields;
// SRTP ingest (srtpsuite 32 or 80, srtpcrypto); simulcast video over three
// ports (simulcast, port2, port3; configure "substream" picks the layer);
// data ports relayed to every viewer's data channel (datatype text or
// binary, buffermsg keeps the last message for new viewers); the latest
// video keyframe kept and sent first to new viewers (videobufferkf, on by
// default here, off in Janus), so that they see a picture at once.
// Mountpoint type "rtsp" pulls a camera or media server (url, rtsp_user,
// rtsp_pwd): RTSP 1.0 with RTP over UDP to ports of the mountpoint, or
// interleaved on the RTSP connection when the server refuses UDP
// (rtsp_transport chooses), Basic or Digest authentication, the first
// audio and video stream of the server's SDP, keep-alives, and a new pull
// when the server or its RTP fails (package internal/rtsp speaks the
// protocol). Not yet: file sources, RTP ingest of VP9 SVC / AV1 layers,
// the "enable"/"disable"/"recording"/"edit" requests.
package streaming

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ianua/ianua"
)

// Name is the plugin's package name, the one Janus clients attach to.
const Name = "janus.plugin.streaming"

// Params configure the plugin.
type Params struct {
	// Mountpoints are created by Start.
	Mountpoints []MountpointParams
	// AdminKey, if set, is required by "create".
	AdminKey string
	Logger   *slog.Logger
}

// Plugin is the streaming plugin.
type Plugin struct {
	params Params
	log    *slog.Logger

	mu          sync.Mutex
	router      *ianua.MediaRouter
	mountpoints map[uint64]*Mountpoint
	closed      bool
}

// New returns the plugin; call Start with the router to open the
// configured mountpoints (the first handle attached does it otherwise).
func New(p Params) *Plugin {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return &Plugin{params: p, log: p.Logger, mountpoints: map[uint64]*Mountpoint{}}
}

// Name implements ianua.Plugin.
func (*Plugin) Name() string { return Name }

// Attach implements ianua.Plugin.
func (p *Plugin) Attach(h *ianua.Handle) (ianua.Attachment, error) {
	if err := p.Start(h.Router()); err != nil {
		return nil, err
	}
	return &viewer{p: p, h: h}, nil
}

// Start opens the configured mountpoints, once.
func (p *Plugin) Start(r *ianua.MediaRouter) error {
	p.mu.Lock()
	if p.router != nil {
		p.mu.Unlock()
		return nil
	}
	p.router = r
	p.mu.Unlock()
	for _, mp := range p.params.Mountpoints {
		if _, err := p.CreateMountpoint(mp); err != nil {
			return err
		}
	}
	return nil
}

// CreateMountpoint opens a mountpoint's ingest ports; an ID of 0 picks one.
func (p *Plugin) CreateMountpoint(mp MountpointParams) (*Mountpoint, error) {
	switch mp.Type {
	case "", "rtp":
		if len(mp.Media) == 0 {
			return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (media)")
		}
	case "rtsp":
		if mp.URL == "" {
			return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (url)")
		}
		if t := mp.RTSPTransport; t != "" && t != "udp" && t != "tcp" {
			return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (rtsp_transport can be udp or tcp)")
		}
		for _, m := range mp.Media {
			if m.Type != "audio" && m.Type != "video" {
				return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (an RTSP mountpoint takes audio and video, not %q)", m.Type)
			}
		}
	default:
		return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Unsupported type %q (rtp or rtsp)", mp.Type)
	}
	if mp.LocalIP == "" {
		mp.LocalIP = "127.0.0.1"
	}
	if mp.NoMediaTimeout <= 0 {
		mp.NoMediaTimeout = 3 * time.Second
	}
	mp.Media = slices.Clone(mp.Media)
	p.mu.Lock()
	if p.router == nil || p.closed {
		p.mu.Unlock()
		return nil, perr(ErrorCantCreate, ErrCantCreate, "Plugin not started")
	}
	for mp.ID == 0 {
		if id := randomID(); p.mountpoints[id] == nil {
			mp.ID = id
		}
	}
	if _, ok := p.mountpoints[mp.ID]; ok {
		p.mu.Unlock()
		return nil, perr(ErrorCantCreate, ErrMountpointExists, "A stream with the provided ID already exists")
	}
	m := &Mountpoint{p: p, params: mp, viewers: map[*viewer]struct{}{}, quit: make(chan struct{})}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	p.mountpoints[mp.ID] = m // reserve the id while the ports open
	r := p.router
	p.mu.Unlock()
	if err := m.open(r); err != nil {
		m.cancel()
		p.mu.Lock()
		delete(p.mountpoints, mp.ID)
		p.mu.Unlock()
		return nil, perr(ErrorCantCreate, ErrCantCreate, "Can't create mountpoint: %v", err)
	}
	return m, nil
}

// Mountpoint returns the mountpoint with this id.
func (p *Plugin) Mountpoint(id uint64) (*Mountpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.mountpoints[id]
	if !ok {
		return nil, perr(ErrorNoSuchMountpoint, ErrNoSuchMountpoint, "No such mountpoint/stream %d", id)
	}
	return m, nil
}

// Mountpoints returns every mountpoint by id.
func (p *Plugin) Mountpoints() []*Mountpoint {
	p.mu.Lock()
	out := make([]*Mountpoint, 0, len(p.mountpoints))
	for _, m := range p.mountpoints {
		out = append(out, m)
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b *Mountpoint) int {
		switch {
		case a.ID() < b.ID():
			return -1
		case a.ID() > b.ID():
			return 1
		}
		return 0
	})
	return out
}

// DestroyMountpoint closes a mountpoint; its viewers are told and hung up.
func (p *Plugin) DestroyMountpoint(id uint64) error {
	p.mu.Lock()
	m, ok := p.mountpoints[id]
	delete(p.mountpoints, id)
	p.mu.Unlock()
	if !ok {
		return perr(ErrorNoSuchMountpoint, ErrNoSuchMountpoint, "No such mountpoint/stream %d", id)
	}
	m.close()
	return nil
}

// Close implements ianua.Closer: every mountpoint closes.
func (p *Plugin) Close(context.Context) error {
	p.mu.Lock()
	p.closed = true
	ms := make([]*Mountpoint, 0, len(p.mountpoints))
	for _, m := range p.mountpoints {
		ms = append(ms, m)
	}
	p.mountpoints = map[uint64]*Mountpoint{}
	p.mu.Unlock()
	for _, m := range ms {
		m.close()
	}
	return nil
}

func randomID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) & (1<<53 - 1)
}
