package janusapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/echotest"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/janusapi"
	"github.com/ianua/ianua/sfu"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// checkLeaks fails the test if it leaves goroutines behind once its
// cleanups (server, router, clients) have run.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// env is a router with the echotest and sfu plugins (room 1234) behind a
// janusapi.Server, served on loopback: /janus (REST), /ws (WebSocket),
// /admin.
type env struct {
	router *ianua.MediaRouter
	srv    *janusapi.Server
	base   string // http://127.0.0.1:port
}

func newEnv(t *testing.T, cfg func(*ianua.Config), params func(*janusapi.Params)) *env {
	t.Helper()
	vr, err := sfu.New(sfu.Params{Rooms: sfu.DefaultRooms(), Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	router := testpeer.NewRouter(t, cfg, echotest.New(), vr)
	p := janusapi.Params{Router: router, Logger: testpeer.QuietLogger()}
	if params != nil {
		params(&p)
	}
	srv, err := janusapi.New(p)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/janus", srv.HTTP())
	mux.Handle("/janus/", srv.HTTP())
	mux.Handle("/admin", srv.Admin())
	mux.Handle("/admin/", srv.Admin())
	mux.Handle("/ws", srv.WebSocket())
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server close: %v", err)
		}
	})
	return &env{router: router, srv: srv, base: hs.URL}
}

// jmsg is any Janus message, reply or event.
type jmsg struct {
	Janus       string          `json:"janus"`
	SessionID   uint64          `json:"session_id"`
	Transaction string          `json:"transaction"`
	Sender      uint64          `json:"sender"`
	Data        json.RawMessage `json:"data"`
	PluginData  *struct {
		Plugin string          `json:"plugin"`
		Data   json.RawMessage `json:"data"`
	} `json:"plugindata"`
	JSEP  *ianua.JSEP `json:"jsep"`
	Error *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
	Candidate json.RawMessage `json:"candidate"`
	MID       string          `json:"mid"`
	Type      string          `json:"type"`
	Receiving *bool           `json:"receiving"`
	Reason    string          `json:"reason"`
	Sessions  []uint64        `json:"sessions"`
	Handles   []uint64        `json:"handles"`
	Info      json.RawMessage `json:"info"`

	raw string
}

func (m jmsg) String() string { return m.raw }

// code is the error code of an error answer, 0 otherwise.
func (m jmsg) code() int {
	if m.Error == nil {
		return 0
	}
	return m.Error.Code
}

// plugin decodes plugindata.data.
func (m jmsg) plugin() map[string]any {
	var d map[string]any
	if m.PluginData != nil {
		_ = json.Unmarshal(m.PluginData.Data, &d)
	}
	return d
}

// id is data.id of a create or attach answer.
func (m jmsg) id() uint64 {
	var d struct {
		ID uint64 `json:"id"`
	}
	_ = json.Unmarshal(m.Data, &d)
	return d.ID
}

func decode(t testing.TB, b []byte) jmsg {
	t.Helper()
	var m jmsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("bad message %s: %v", b, err)
	}
	m.raw = string(b)
	return m
}

// transport names the two ways to the API.
type transport string

const (
	overWS   transport = "websocket"
	overHTTP transport = "http"
)

var transports = []transport{overWS, overHTTP}

// client is a Janus API client over one transport, as janus.js is: it
// sends requests, matches answers by transaction, and keeps every event
// (WebSocket messages, or what its long polls bring).
type client struct {
	t    *testing.T
	kind transport
	e    *env
	ws   *websocket.Conn

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	txn    atomic.Int64
	extra  map[string]any // added to every request (apisecret, token)

	mu   sync.Mutex
	cond *sync.Cond
	msgs []jmsg
}

func (e *env) dial(t *testing.T, kind transport) *client {
	t.Helper()
	c := &client{t: t, kind: kind, e: e}
	c.cond = sync.NewCond(&c.mu)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if kind == overWS {
		ws, resp, err := websocket.Dial(c.ctx, strings.Replace(e.base, "http", "ws", 1)+"/ws",
			&websocket.DialOptions{Subprotocols: []string{janusapi.Subprotocol}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if resp.Header.Get("Sec-WebSocket-Protocol") != janusapi.Subprotocol {
			t.Errorf("subprotocol %q, want %q", resp.Header.Get("Sec-WebSocket-Protocol"), janusapi.Subprotocol)
		}
		ws.SetReadLimit(4 << 20)
		c.ws = ws
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				_, b, err := ws.Read(c.ctx)
				if err != nil {
					c.mu.Lock()
					c.msgs = append(c.msgs, jmsg{Janus: "closed", raw: "closed"})
					c.cond.Broadcast()
					c.mu.Unlock()
					return
				}
				c.add(decode(t, b))
			}
		}()
	}
	t.Cleanup(c.close)
	return c
}

func (c *client) add(m jmsg) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.cond.Broadcast()
	c.mu.Unlock()
}

// close ends the client: its socket or long polls.
func (c *client) close() {
	c.cancel()
	if c.ws != nil {
		c.ws.CloseNow()
	}
	c.wg.Wait()
}

// mark is the number of messages so far, for waits on later ones.
func (c *client) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// wait returns the first message from index from on that match accepts.
func (c *client) wait(from int, timeout time.Duration, what string, match func(jmsg) bool) jmsg {
	c.t.Helper()
	m, _ := c.waitIndex(from, timeout, what, match)
	return m
}

func (c *client) waitIndex(from int, timeout time.Duration, what string, match func(jmsg) bool) (jmsg, int) {
	c.t.Helper()
	timer := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for i := from; i < len(c.msgs); i++ {
			if match(c.msgs[i]) {
				return c.msgs[i], i
			}
		}
		if time.Now().After(deadline) {
			var last []string
			for _, m := range c.msgs[max(from, len(c.msgs)-8):] {
				last = append(last, m.raw)
			}
			c.t.Fatalf("%s (%s): nothing within %v; last messages:\n%s", what, c.kind, timeout, strings.Join(last, "\n"))
		}
		c.cond.Wait()
	}
}

// all returns the messages that match.
func (c *client) all(match func(jmsg) bool) []jmsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []jmsg
	for _, m := range c.msgs {
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}

// prepare fills the transaction and the extra fields of a request.
func (c *client) prepare(req map[string]any) (map[string]any, string) {
	out := make(map[string]any, len(req)+3)
	for k, v := range c.extra {
		out[k] = v
	}
	for k, v := range req {
		out[k] = v
	}
	tx, ok := out["transaction"].(string)
	if !ok {
		tx = fmt.Sprintf("tx-%d", c.txn.Add(1))
		out["transaction"] = tx
	}
	return out, tx
}

// request sends a request and returns its answer (not an event).
func (c *client) request(req map[string]any) jmsg {
	c.t.Helper()
	req, tx := c.prepare(req)
	b, err := json.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.kind == overHTTP {
		return c.post(c.path(req), b)
	}
	mark := c.mark()
	c.send(b)
	return c.wait(mark, 15*time.Second, "answer to "+tx, func(m jmsg) bool {
		return m.Transaction == tx && m.Janus != "event"
	})
}

// sendAsync sends a request without waiting for its answer (WebSocket),
// or posts it on its own goroutine (HTTP).
func (c *client) sendAsync(req map[string]any) {
	req, _ = c.prepare(req)
	b, _ := json.Marshal(req)
	var err error
	if c.kind == overWS {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		err = c.ws.Write(ctx, websocket.MessageText, b)
		cancel()
	} else {
		_, err = c.postErr(c.path(req), b)
	}
	if err != nil && c.ctx.Err() == nil {
		c.t.Errorf("send %s: %v", b, err)
	}
}

// raw sends raw bytes and returns the next answer that is an error.
func (c *client) raw(b []byte) jmsg {
	c.t.Helper()
	if c.kind == overHTTP {
		return c.post(c.e.base+"/janus", b)
	}
	mark := c.mark()
	c.send(b)
	return c.wait(mark, 10*time.Second, "error answer", func(m jmsg) bool { return m.Janus == "error" })
}

func (c *client) send(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// path is the REST path of a request: /janus[/session[/handle]].
func (c *client) path(req map[string]any) string {
	p := c.e.base + "/janus"
	if sid, ok := req["session_id"].(uint64); ok && sid != 0 {
		p += fmt.Sprintf("/%d", sid)
		if hid, ok := req["handle_id"].(uint64); ok && hid != 0 {
			p += fmt.Sprintf("/%d", hid)
		}
	}
	return p
}

func (c *client) post(url string, body []byte) jmsg {
	c.t.Helper()
	m, err := c.postErr(url, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

func (c *client) postErr(url string, body []byte) (jmsg, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return jmsg{}, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return jmsg{}, fmt.Errorf("POST %s: %w", url, err)
	}
	var m jmsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("POST %s: status %d, body %q: %w", url, resp.StatusCode, b, err)
	}
	m.raw = string(b)
	return m, nil
}

// poll runs janus.js's long-poll loop for a session until the client
// closes or the session is gone.
func (c *client) poll(sid uint64) {
	url := fmt.Sprintf("%s/janus/%d?maxev=5", c.e.base, sid)
	for k, v := range c.extra {
		url += fmt.Sprintf("&%s=%v", k, v)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for c.ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				c.add(jmsg{Janus: "poll-ended", raw: fmt.Sprintf("poll ended: %d %s", resp.StatusCode, b)})
				return
			}
			var list []json.RawMessage
			if err := json.Unmarshal(b, &list); err != nil {
				c.t.Errorf("long poll with maxev=5 answered %s, want an array", b)
				return
			}
			for _, raw := range list {
				if m := decode(c.t, raw); m.Janus != "keepalive" {
					c.add(m)
				}
			}
		}
	}()
}

// create creates a session (and starts polling it over HTTP).
func (c *client) create() uint64 {
	c.t.Helper()
	m := c.request(map[string]any{"janus": "create"})
	if m.Janus != "success" || m.id() == 0 {
		c.t.Fatalf("create: %s", m)
	}
	if c.kind == overHTTP {
		c.poll(m.id())
	}
	return m.id()
}

func (c *client) attach(sid uint64, plugin string) uint64 {
	c.t.Helper()
	m := c.request(map[string]any{"janus": "attach", "session_id": sid, "plugin": plugin, "opaque_id": "test-" + plugin})
	if m.Janus != "success" || m.id() == 0 || m.SessionID != sid {
		c.t.Fatalf("attach %s: %s", plugin, m)
	}
	return m.id()
}

// message sends a plugin message and returns the answer.
func (c *client) message(sid, hid uint64, body any, jsep *webrtc.SessionDescription) (jmsg, string) {
	c.t.Helper()
	req := map[string]any{"janus": "message", "session_id": sid, "handle_id": hid, "body": body}
	if jsep != nil {
		req["jsep"] = map[string]any{"type": jsep.Type.String(), "sdp": jsep.SDP}
	}
	req, tx := c.prepare(req)
	return c.request(req), tx
}

// pluginEvent matches an event of a handle whose plugindata.data has
// key == value ("" matches any value).
func pluginEvent(hid uint64, key, value string) func(jmsg) bool {
	return func(m jmsg) bool {
		if m.Janus != "event" || m.Sender != hid {
			return false
		}
		v, ok := m.plugin()[key]
		if !ok {
			return false
		}
		if s, _ := v.(string); value != "" && s != value {
			return false
		}
		return true
	}
}

func janusType(typ string, hid uint64) func(jmsg) bool {
	return func(m jmsg) bool { return m.Janus == typ && (hid == 0 || m.Sender == hid) }
}

// trickleTo sends the client's candidates to the handle as they come.
func (c *client) trickleTo(pc *webrtc.PeerConnection, sid, hid uint64) {
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		req := map[string]any{"janus": "trickle", "session_id": sid, "handle_id": hid}
		if cand == nil {
			req["candidate"] = map[string]any{"completed": true}
		} else {
			req["candidate"] = cand.ToJSON()
		}
		if c.ctx.Err() == nil {
			c.sendAsync(req)
		}
	})
}

// trickleFrom applies the handle's trickled candidates to pc until the
// client closes.
func (c *client) trickleFrom(pc *webrtc.PeerConnection, hid uint64) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		next := 0
		for {
			c.mu.Lock()
			var todo []jmsg
			for ; next < len(c.msgs); next++ {
				if m := c.msgs[next]; m.Janus == "trickle" && m.Sender == hid {
					todo = append(todo, m)
				}
			}
			c.mu.Unlock()
			for _, m := range todo {
				var ci webrtc.ICECandidateInit
				if json.Unmarshal(m.Candidate, &ci) == nil && ci.Candidate != "" {
					_ = pc.AddICECandidate(ci)
				}
			}
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
}

// admin posts an Admin API request.
func (e *env) admin(t *testing.T, req map[string]any) jmsg {
	t.Helper()
	if _, ok := req["transaction"]; !ok {
		req["transaction"] = "admin"
	}
	b, _ := json.Marshal(req)
	resp, err := http.Post(e.base+"/admin", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return decode(t, body)
}

// media is a pion client's synthetic media: VP8 keyframes and Opus packets
// whose payload[2] is a marker, and the packets it receives by marker.
type media struct {
	t     *testing.T
	audio *webrtc.TrackLocalStaticRTP
	video *webrtc.TrackLocalStaticRTP

	mu  sync.Mutex
	got map[[2]byte]int // marker, kind → packets
}

const (
	kindAudio byte = 'a'
	kindVideo byte = 'v'
)

// addTracks adds an Opus and a VP8 track to pc (dir sendrecv or sendonly)
// and counts what pc receives.
func addTracks(t *testing.T, pc *webrtc.PeerConnection, dir webrtc.RTPTransceiverDirection) *media {
	t.Helper()
	m := &media{t: t, got: map[[2]byte]int{}}
	var err error
	if m.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "client"); err != nil {
		t.Fatal(err)
	}
	if m.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "client"); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*webrtc.TrackLocalStaticRTP{m.audio, m.video} {
		x, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: dir})
		if err != nil {
			t.Fatal(err)
		}
		go func() { // RTCP must be read for the interceptors
			buf := make([]byte, 1500)
			for {
				if _, _, err := x.Sender().Read(buf); err != nil {
					return
				}
			}
		}()
	}
	m.receive(pc)
	return m
}

// receive counts the packets pc receives, by marker and kind.
func (m *media) receive(pc *webrtc.PeerConnection) {
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) < 4 {
				continue
			}
			m.mu.Lock()
			m.got[[2]byte{pkt.Payload[2], pkt.Payload[3]}]++
			m.mu.Unlock()
		}
	})
}

func (m *media) received(marker, kind byte) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got[[2]byte{marker, kind}]
}

// send writes packets on both tracks every 10 ms until stop.
func (m *media) send(marker byte, stop <-chan struct{}, wg *sync.WaitGroup) {
	for _, x := range []struct {
		track *webrtc.TrackLocalStaticRTP
		kind  byte
		ts    uint32
	}{{m.audio, kindAudio, 960}, {m.video, kindVideo, 3000}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, 200)
			// VP8 payload descriptor (start of partition) and a keyframe
			// header (P bit clear), so that any packet can start a
			// subscription.
			payload[0], payload[1], payload[2], payload[3] = 0x10, 0x00, marker, x.kind
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1, Marker: true}, Payload: payload}
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				pkt.SequenceNumber = uint16(i)
				pkt.Timestamp = uint32(i) * x.ts
				if err := x.track.WriteRTP(pkt); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
}
