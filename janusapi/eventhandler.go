package janusapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ianua/ianua"
)

// Janus event types (src/events/eventhandler.h of Janus): a bit each, so
// that EventHandlerParams.Types can be a mask.
const (
	EventTypeSession = 1 << 0
	EventTypeHandle  = 1 << 1
	EventTypeJSEP    = 1 << 3
	EventTypeWebRTC  = 1 << 4
	EventTypeMedia   = 1 << 5
	EventTypePlugin  = 1 << 6
)

// Janus event subtypes of EventTypeWebRTC and EventTypeMedia.
const (
	subtypeWebRTCICE       = 1
	subtypeWebRTCLocalCand = 2
	subtypeWebRTCDTLS      = 5
	subtypeWebRTCState     = 6
	subtypeMediaState      = 1
	subtypeMediaSlowLink   = 2
)

const (
	defaultEvhQueue          = 4096
	defaultEvhBatch          = 100
	defaultEvhRetries        = 5
	defaultEvhRetryDelay     = 100 * time.Millisecond
	defaultEvhRequestTimeout = 10 * time.Second
)

// EventHandlerParams configures an EventHandler. The names follow the
// configuration of Janus's sample event handler (janus.eventhandler.
// sampleevh.jcfg).
type EventHandlerParams struct {
	// Backend is the http:// or https:// URL the events are POSTed to
	// ("backend"). Required.
	Backend string
	// User and Password, if set, are sent as HTTP basic authentication
	// ("backend_user", "backend_pwd").
	User, Password string
	// Emitter names this server in every event ("emitter", Janus's
	// server_name). Default "ianua".
	Emitter string
	// Types is the mask of event types sent (EventTypeSession | ...;
	// Janus's "events"). Default: all of them.
	Types int
	// Ungrouped sends one event per POST, as a JSON object. By default
	// the events queued at the time of a POST go together in a JSON
	// array (Janus's "grouping", on by default), at most MaxBatch.
	Ungrouped bool
	MaxBatch  int
	// MaxRetransmissions is how many times a refused or failed POST is
	// tried again, the delay doubling from RetryDelay
	// ("max_retransmissions", "retransmissions_backoff"). Defaults 5 and
	// 100 ms; a negative MaxRetransmissions tries once.
	MaxRetransmissions int
	RetryDelay         time.Duration
	// Queue is how many events may wait to be sent (default 4096). When
	// the backend is slower than the events come, the newest are dropped
	// and counted (Dropped), so that the media goroutines that produce
	// events never wait for the network.
	Queue int
	// Client sends the POSTs (default: one with a 10 s timeout).
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// EventHandler feeds a monitoring backend with the events of a
// MediaRouter in the format of Janus's event handlers, over HTTP as
// Janus's sample event handler does, so that backends written for Janus
// take ianua's events unchanged. It is an ianua.Observer: set it as
// ianua.Config.Observer. What it sends, by type:
//
//   - 1 session: "created", "destroyed", "timeout";
//   - 2 handle: "attached", "detached", with the plugin;
//   - 8 jsep: local and remote descriptions ("owner", "jsep");
//   - 16 webrtc: ICE state (1), local candidates (2), DTLS state (5),
//     "webrtcup" and "hangup" with its reason (6);
//   - 32 media: receiving on/off per mid (1), slow link (2);
//   - 64 plugin: every event a plugin pushes to its client, with the
//     plugin's name. (Janus sends here only what plugins notify for
//     handlers, which is often the same.)
//
// Not sent: opaque_id, transport and core events, remote candidates, the
// selected pair, media statistics.
//
// Observe only queues; one goroutine, stopped by Close, does the POSTs.
type EventHandler struct {
	p       EventHandlerParams
	backend string
	log     *slog.Logger

	queue   chan []byte
	done    chan struct{} // closed by Close: drain and stop
	stopped chan struct{} // closed when the sender returns
	close   sync.Once
	// ctx ends the POSTs in flight when Close gives up.
	ctx    context.Context
	cancel context.CancelFunc

	sent    atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
}

// NewEventHandler checks p and starts the sender.
func NewEventHandler(p EventHandlerParams) (*EventHandler, error) {
	u, err := url.Parse(p.Backend)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrInvalidBackend, p.Backend)
	}
	if p.Emitter == "" {
		p.Emitter = "ianua"
	}
	if p.Types == 0 {
		p.Types = EventTypeSession | EventTypeHandle | EventTypeJSEP | EventTypeWebRTC | EventTypeMedia | EventTypePlugin
	}
	if p.MaxBatch <= 0 {
		p.MaxBatch = defaultEvhBatch
	}
	if p.MaxRetransmissions == 0 {
		p.MaxRetransmissions = defaultEvhRetries
	}
	if p.RetryDelay <= 0 {
		p.RetryDelay = defaultEvhRetryDelay
	}
	if p.Queue <= 0 {
		p.Queue = defaultEvhQueue
	}
	if p.Client == nil {
		p.Client = &http.Client{Timeout: defaultEvhRequestTimeout}
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	e := &EventHandler{
		p: p, backend: u.String(), log: p.Logger,
		queue: make(chan []byte, p.Queue), done: make(chan struct{}), stopped: make(chan struct{}),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	go e.run()
	return e, nil
}

// EventHandlerStats counts what an EventHandler did.
type EventHandlerStats struct {
	// Sent is the number of events the backend took (2xx).
	Sent uint64
	// Dropped events found the queue full; Failed ones were given up
	// after the retransmissions, or were still queued when Close gave up.
	Dropped, Failed uint64
}

// Stats returns the counters so far.
func (e *EventHandler) Stats() EventHandlerStats {
	return EventHandlerStats{Sent: e.sent.Load(), Dropped: e.dropped.Load(), Failed: e.failed.Load()}
}

// Observe implements ianua.Observer: the event is converted and queued,
// or dropped when the queue is full or the handler closed.
func (e *EventHandler) Observe(ev ianua.Event) {
	b, ok := e.encode(ev)
	if !ok {
		return
	}
	select {
	case <-e.done:
		e.dropped.Add(1)
		return
	default:
	}
	select {
	case e.queue <- b:
	default:
		e.dropped.Add(1)
	}
}

// Close sends what is queued and stops. When ctx ends first, the POST in
// flight is cancelled, the events left count as failed, and Close returns
// ctx's error once the sender has stopped.
func (e *EventHandler) Close(ctx context.Context) error {
	e.close.Do(func() { close(e.done) })
	defer e.cancel()
	select {
	case <-e.stopped:
		return nil
	case <-ctx.Done():
		e.cancel()
		<-e.stopped
		return ctx.Err()
	}
}

// evhEvent is one event as Janus's event handlers get it (src/events.c).
type evhEvent struct {
	Emitter   string `json:"emitter"`
	Type      int    `json:"type"`
	Subtype   int    `json:"subtype,omitempty"`
	Timestamp int64  `json:"timestamp"` // microseconds since the epoch
	SessionID uint64 `json:"session_id,omitempty"`
	HandleID  uint64 `json:"handle_id,omitempty"`
	Event     any    `json:"event"`
}

// encode maps a router event to a Janus handler event, if it has one and
// its type is wanted.
func (e *EventHandler) encode(ev ianua.Event) ([]byte, bool) {
	out := evhEvent{Emitter: e.p.Emitter, Timestamp: ev.Time.UnixMicro(), SessionID: ev.SessionID, HandleID: ev.HandleID}
	if ev.Time.IsZero() {
		out.Timestamp = time.Now().UnixMicro()
	}
	switch ev.Type {
	case ianua.EventSessionCreated, ianua.EventDestroyed, ianua.EventTimeout:
		out.Type, out.HandleID = EventTypeSession, 0
		out.Event = map[string]any{"name": ev.Type.String()}
	case ianua.EventAttached, ianua.EventDetached:
		out.Type = EventTypeHandle
		out.Event = map[string]any{"name": ev.Type.String(), "plugin": ev.Plugin}
	case ianua.EventLocalJSEP, ianua.EventRemoteJSEP:
		if ev.JSEP == nil {
			return nil, false
		}
		owner := "local"
		if ev.Type == ianua.EventRemoteJSEP {
			owner = "remote"
		}
		out.Type = EventTypeJSEP
		out.Event = map[string]any{"owner": owner, "jsep": map[string]string{"type": ev.JSEP.Type, "sdp": ev.JSEP.SDP}}
	case ianua.EventICEState:
		name := janusICEState(ev.State)
		if name == "" {
			return nil, false
		}
		out.Type, out.Subtype = EventTypeWebRTC, subtypeWebRTCICE
		out.Event = map[string]any{"ice": name, "stream_id": 1, "component_id": 1}
	case ianua.EventTrickle:
		if ev.Candidate == nil {
			return nil, false
		}
		out.Type, out.Subtype = EventTypeWebRTC, subtypeWebRTCLocalCand
		out.Event = map[string]any{"local-candidate": ev.Candidate.Candidate, "stream_id": 1, "component_id": 1}
	case ianua.EventDTLSState:
		name := janusDTLSState(ev.State)
		if name == "" {
			return nil, false
		}
		out.Type, out.Subtype = EventTypeWebRTC, subtypeWebRTCDTLS
		out.Event = map[string]any{"dtls": name, "stream_id": 1, "component_id": 1}
	case ianua.EventWebRTCUp:
		out.Type, out.Subtype = EventTypeWebRTC, subtypeWebRTCState
		out.Event = map[string]any{"connection": "webrtcup"}
	case ianua.EventHangup:
		out.Type, out.Subtype = EventTypeWebRTC, subtypeWebRTCState
		body := map[string]any{"connection": "hangup"}
		if ev.Reason != "" {
			body["reason"] = ev.Reason
		}
		out.Event = body
	case ianua.EventMedia:
		if ev.Media == nil {
			return nil, false
		}
		out.Type, out.Subtype = EventTypeMedia, subtypeMediaState
		out.Event = map[string]any{"media": ev.Media.Kind, "mid": ev.Media.MID, "receiving": ev.Media.Receiving}
	case ianua.EventSlowLink:
		if ev.SlowLink == nil {
			return nil, false
		}
		// Janus names the direction from the server's side (ice.c):
		// "uplink" is what it sends.
		dir := "uplink"
		if ev.SlowLink.Uplink {
			dir = "downlink"
		}
		out.Type, out.Subtype = EventTypeMedia, subtypeMediaSlowLink
		out.Event = map[string]any{"media": ev.SlowLink.Kind, "mid": ev.SlowLink.MID, "slow_link": dir, "lost_lastsec": ev.SlowLink.Lost}
	case ianua.EventPlugin:
		data := ev.Data
		if len(data) == 0 || !json.Valid(data) {
			data = json.RawMessage("{}")
		}
		out.Type = EventTypePlugin
		out.Event = map[string]any{"plugin": ev.Plugin, "data": data}
	default:
		return nil, false
	}
	if e.p.Types&out.Type == 0 {
		return nil, false
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, false
	}
	return b, true
}

// janusICEState maps a pion ICE connection state to Janus's name
// (janus_get_ice_state_name), "" for "closed", which has none.
func janusICEState(s string) string {
	switch s {
	case "new":
		return "gathering"
	case "checking":
		return "connecting"
	case "completed":
		return "ready"
	case "connected", "disconnected", "failed":
		return s
	}
	return ""
}

// janusDTLSState maps a pion DTLS transport state to Janus's name
// (janus_get_dtls_srtp_state).
func janusDTLSState(s string) string {
	switch s {
	case "new":
		return "created"
	case "connecting":
		return "trying"
	case "connected", "closed", "failed":
		return s
	}
	return ""
}

// run sends the queued events until Close, then what is left.
func (e *EventHandler) run() {
	defer close(e.stopped)
	batch := make([][]byte, 0, e.p.MaxBatch)
	for {
		select {
		case b := <-e.queue:
			batch = append(batch[:0], b)
		case <-e.done:
			e.drain(batch)
			return
		}
		if !e.p.Ungrouped {
			batch = e.fill(batch)
		}
		e.post(batch)
	}
}

// fill adds to batch what is already queued, up to MaxBatch.
func (e *EventHandler) fill(batch [][]byte) [][]byte {
	for len(batch) < e.p.MaxBatch {
		select {
		case b := <-e.queue:
			batch = append(batch, b)
		default:
			return batch
		}
	}
	return batch
}

// drain sends what is still queued once Close was called.
func (e *EventHandler) drain(batch [][]byte) {
	for {
		batch = batch[:0]
		if e.p.Ungrouped {
			select {
			case b := <-e.queue:
				batch = append(batch, b)
			default:
			}
		} else {
			batch = e.fill(batch)
		}
		if len(batch) == 0 {
			return
		}
		e.post(batch)
	}
}

// post sends one batch (one event when ungrouped), trying again with a
// doubling delay when the backend fails or refuses it. During Close, the
// delays are cut short.
func (e *EventHandler) post(batch [][]byte) {
	body := batch[0]
	if !e.p.Ungrouped {
		body = jsonArray(batch)
	}
	delay := e.p.RetryDelay
	tries := 1 + max(e.p.MaxRetransmissions, 0)
	var err error
	for i := range tries {
		if i > 0 {
			select {
			case <-time.After(delay):
			case <-e.done:
			}
			delay *= 2
		}
		if err = e.send(body); err == nil {
			e.sent.Add(uint64(len(batch)))
			return
		}
	}
	e.failed.Add(uint64(len(batch)))
	e.log.Warn("janusapi: event handler gave up on events", "events", len(batch), "err", err)
}

func (e *EventHandler) send(body []byte) error {
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.backend, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if e.p.User != "" || e.p.Password != "" {
		req.SetBasicAuth(e.p.User, e.p.Password)
	}
	resp, err := e.p.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: %s", ErrBackendRefused, resp.Status)
	}
	return nil
}
