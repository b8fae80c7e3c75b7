package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

// keepaliveInterval keeps sessions alive (Janus and ianua time them out
// after 60 s without a request).
const keepaliveInterval = 25 * time.Second

// jmsg is a Janus API message, a reply or an event, with the fields the
// load tool reads.
type jmsg struct {
	Janus       string `json:"janus"`
	Transaction string `json:"transaction,omitempty"`
	SessionID   uint64 `json:"session_id,omitempty"`
	Sender      uint64 `json:"sender,omitempty"`
	Data        *struct {
		ID uint64 `json:"id"`
	} `json:"data,omitempty"`
	PluginData *struct {
		Plugin string          `json:"plugin"`
		Data   json.RawMessage `json:"data"`
	} `json:"plugindata,omitempty"`
	JSEP      *webrtc.SessionDescription `json:"jsep,omitempty"`
	Candidate *jcandidate                `json:"candidate,omitempty"`
	Error     *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"error,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Admin API answers.
	Sessions []uint64        `json:"sessions,omitempty"`
	Handles  []uint64        `json:"handles,omitempty"`
	Info     json.RawMessage `json:"info,omitempty"`
}

type jcandidate struct {
	Candidate     string  `json:"candidate,omitempty"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
	Completed     bool    `json:"completed,omitempty"`
}

// plugin decodes the plugin data of an event; nil without one.
func (m *jmsg) plugin() map[string]any {
	if m.PluginData == nil {
		return nil
	}
	var d map[string]any
	_ = json.Unmarshal(m.PluginData.Data, &d)
	return d
}

// pluginError is the error an event reports in its plugin data, if any.
func (m *jmsg) pluginError() error {
	d := m.plugin()
	if code, ok := d["error_code"]; ok {
		return fmt.Errorf("plugin error %v: %v", code, d["error"])
	}
	return nil
}

// janusConn is one WebSocket to a Janus API server (subprotocol
// janus-protocol), as one browser page opens. Replies are matched to
// requests by transaction; events go to the handle that sent them.
type janusConn struct {
	c      *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	txn    atomic.Uint64
	done   chan struct{} // read loop ended

	mu      sync.Mutex
	pending map[string]chan *jmsg
	handles map[uint64]chan *jmsg
	session uint64 // for keepalives, once created
}

// WebSocket subprotocols of the Janus API and of its Admin API.
const (
	janusProtocol      = "janus-protocol"
	janusAdminProtocol = "janus-admin-protocol"
)

// dialJanus connects to a Janus API WebSocket (protocol janusProtocol, or
// janusAdminProtocol for the Admin API).
func dialJanus(ctx context.Context, url, protocol string) (*janusConn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{Subprotocols: []string{protocol}})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	j := &janusConn{c: c, done: make(chan struct{}), pending: map[string]chan *jmsg{}, handles: map[uint64]chan *jmsg{}}
	j.ctx, j.cancel = context.WithCancel(context.Background())
	go j.readLoop()
	go j.keepalive()
	return j, nil
}

func (j *janusConn) readLoop() {
	defer close(j.done)
	defer j.cancel()
	for {
		_, b, err := j.c.Read(j.ctx)
		if err != nil {
			return
		}
		m := &jmsg{}
		if json.Unmarshal(b, m) != nil {
			continue
		}
		j.mu.Lock()
		// The first answer to a request (success, ack, error) ends its
		// wait; events (even with the request's transaction) go to their
		// handle.
		if ch, ok := j.pending[m.Transaction]; ok && m.Transaction != "" && m.Janus != "event" {
			delete(j.pending, m.Transaction)
			ch <- m
		} else if ch, ok := j.handles[m.Sender]; ok {
			select {
			case ch <- m:
			default: // nobody reads (media events after setup): drop
			}
		}
		j.mu.Unlock()
	}
}

func (j *janusConn) keepalive() {
	t := time.NewTicker(keepaliveInterval)
	defer t.Stop()
	for {
		select {
		case <-j.ctx.Done():
			return
		case <-t.C:
			j.mu.Lock()
			sid := j.session
			j.mu.Unlock()
			if sid != 0 {
				_, _ = j.request(j.ctx, map[string]any{"janus": "keepalive", "session_id": sid})
			}
		}
	}
}

// request sends a request and returns the first answer to it.
func (j *janusConn) request(ctx context.Context, req map[string]any) (*jmsg, error) {
	tx := strconv.FormatUint(j.txn.Add(1), 10)
	req["transaction"] = tx
	ch := make(chan *jmsg, 1)
	j.mu.Lock()
	j.pending[tx] = ch
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		delete(j.pending, tx)
		j.mu.Unlock()
	}()
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := j.c.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		if m.Janus == "error" && m.Error != nil {
			return m, fmt.Errorf("janus error %d: %s", m.Error.Code, m.Error.Reason)
		}
		return m, nil
	case <-j.done:
		return nil, errors.New("janus connection closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// create creates the session this connection's handles live in.
func (j *janusConn) create(ctx context.Context) (uint64, error) {
	m, err := j.request(ctx, map[string]any{"janus": "create"})
	if err != nil {
		return 0, err
	}
	if m.Janus != "success" || m.Data == nil {
		return 0, fmt.Errorf("create: unexpected %q", m.Janus)
	}
	j.mu.Lock()
	j.session = m.Data.ID
	j.mu.Unlock()
	return m.Data.ID, nil
}

// attach attaches a handle to plugin; its events arrive on the channel.
func (j *janusConn) attach(ctx context.Context, sid uint64, plugin string) (uint64, <-chan *jmsg, error) {
	m, err := j.request(ctx, map[string]any{"janus": "attach", "session_id": sid, "plugin": plugin})
	if err != nil {
		return 0, nil, err
	}
	if m.Janus != "success" || m.Data == nil {
		return 0, nil, fmt.Errorf("attach: unexpected %q", m.Janus)
	}
	ch := make(chan *jmsg, 64)
	j.mu.Lock()
	j.handles[m.Data.ID] = ch
	j.mu.Unlock()
	return m.Data.ID, ch, nil
}

// message sends a plugin message (with an optional JSEP, and extra JSEP
// fields) and returns the answer: "ack" for asynchronous requests,
// "success" for synchronous ones.
func (j *janusConn) message(ctx context.Context, sid, hid uint64, body any, jsep *webrtc.SessionDescription, jsepExtra ...string) (*jmsg, error) {
	req := map[string]any{"janus": "message", "session_id": sid, "handle_id": hid, "body": body}
	if jsep != nil {
		js := map[string]any{"type": jsep.Type.String(), "sdp": jsep.SDP}
		for i := 0; i+1 < len(jsepExtra); i += 2 {
			js[jsepExtra[i]] = jsepExtra[i+1]
		}
		req["jsep"] = js
	}
	m, err := j.request(ctx, req)
	if err != nil {
		return nil, err
	}
	if m.Janus == "success" {
		if err := m.pluginError(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// trickleCompleted tells the server the client has no more candidates
// (they were all in the SDP).
func (j *janusConn) trickleCompleted(ctx context.Context, sid, hid uint64) error {
	_, err := j.request(ctx, map[string]any{"janus": "trickle", "session_id": sid, "handle_id": hid, "candidate": map[string]any{"completed": true}})
	return err
}

// close destroys the session (the server tears down its handles and
// PeerConnections) and closes the WebSocket.
func (j *janusConn) close() {
	j.mu.Lock()
	sid := j.session
	j.mu.Unlock()
	if sid != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = j.request(ctx, map[string]any{"janus": "destroy", "session_id": sid})
		cancel()
	}
	_ = j.c.Close(websocket.StatusNormalClosure, "")
	j.cancel()
	<-j.done
}

// waitEvent reads a handle's events until accept takes one. Trickled
// candidates met on the way are passed to onTrickle; a plugin error or a
// hangup ends the wait.
func waitEvent(ctx context.Context, events <-chan *jmsg, onTrickle func(*jcandidate), what string, accept func(*jmsg) bool) (*jmsg, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case m := <-events:
			switch {
			case m.Janus == "trickle" && m.Candidate != nil:
				if onTrickle != nil {
					onTrickle(m.Candidate)
				}
				continue
			case m.Janus == "hangup":
				return nil, fmt.Errorf("waiting for %s: hangup (%s)", what, m.Reason)
			}
			if err := m.pluginError(); err != nil {
				return nil, fmt.Errorf("waiting for %s: %w", what, err)
			}
			if accept(m) {
				return m, nil
			}
		}
	}
}

// applyCandidate adds a trickled candidate to pc.
func applyCandidate(pc *webrtc.PeerConnection, c *jcandidate) {
	if c.Completed || c.Candidate == "" {
		return
	}
	_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
}
