package janusapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/janusapi"
)

// backend is a monitoring backend as Janus's sample event handler feeds
// it: it keeps every event POSTed, and refuses the first refuse POSTs.
type backend struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	events []map[string]any
	bodies []string
	posts  int
	refuse int
	// hold, if set, blocks every POST until it is closed; held counts
	// the POSTs it blocked.
	hold chan struct{}
	held atomic.Int32
}

func newBackend(t *testing.T, refuse int) *backend {
	b := &backend{t: t, refuse: refuse}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	if b.hold != nil {
		b.held.Add(1)
		<-b.hold
	}
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.posts++
	if b.posts <= b.refuse {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	if user, pass, ok := r.BasicAuth(); r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || !ok || user != "mon" || pass != "itor" {
		b.t.Errorf("POST: method %s, content type %q, basic auth %v %q %q", r.Method, r.Header.Get("Content-Type"), ok, user, pass)
	}
	b.bodies = append(b.bodies, string(body))
	var batch []map[string]any
	if err := json.Unmarshal(body, &batch); err != nil {
		var one map[string]any
		if err := json.Unmarshal(body, &one); err != nil {
			b.t.Errorf("POST body is neither an array nor an object: %s", body)
			return
		}
		batch = []map[string]any{one}
	}
	b.events = append(b.events, batch...)
}

func (b *backend) all() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.events...)
}

func newEventHandler(t *testing.T, p janusapi.EventHandlerParams) *janusapi.EventHandler {
	t.Helper()
	p.User, p.Password, p.Logger = "mon", "itor", testpeer.QuietLogger()
	if p.RetryDelay == 0 {
		p.RetryDelay = 10 * time.Millisecond
	}
	evh, err := janusapi.NewEventHandler(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = evh.Close(ctx)
	})
	return evh
}

func closeHandler(t *testing.T, evh *janusapi.EventHandler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := evh.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func num(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

// TestEventHandler runs an EchoTest call through the Janus API with an
// EventHandler as the router's observer, and checks what a backend
// written for Janus's event handlers gets: the session, handle, JSEP,
// WebRTC, media and plugin events of the call, in Janus's format, with
// the session and handle ids the client saw. The backend refuses the
// first two POSTs: they are sent again.
func TestEventHandler(t *testing.T) {
	checkLeaks(t)
	be := newBackend(t, 2)
	evh := newEventHandler(t, janusapi.EventHandlerParams{Backend: be.srv.URL, Emitter: "ianua-test"})
	e := newEnv(t, func(c *ianua.Config) { c.Observer = evh }, nil)
	c := e.dial(t, overWS)
	sid := c.create()
	hid := c.attach(sid, janusapi.EchoTestPlugin)

	pc := testpeer.NewClient(t, testpeer.Options{})
	m := addTracks(t, pc, webrtc.RTPTransceiverDirectionSendrecv)
	c.trickleTo(pc, sid, hid)
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	mark := c.mark()
	c.message(sid, hid, map[string]any{"audio": true, "video": true}, &offer)
	ev := c.wait(mark, 10*time.Second, "answer", pluginEvent(hid, "result", "ok"))
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
		t.Fatal(err)
	}
	c.trickleFrom(pc, hid)
	c.wait(0, 10*time.Second, "webrtcup", janusType("webrtcup", hid))
	stop := make(chan struct{})
	var sending sync.WaitGroup
	m.send('e', stop, &sending)
	c.wait(0, 5*time.Second, "media event", janusType("media", hid))
	close(stop)
	sending.Wait()
	if r := c.request(map[string]any{"janus": "detach", "session_id": sid, "handle_id": hid}); r.Janus != "success" {
		t.Fatalf("detach: %s", r)
	}
	if r := c.request(map[string]any{"janus": "destroy", "session_id": sid}); r.Janus != "success" {
		t.Fatalf("destroy: %s", r)
	}
	testpeer.WaitFor(t, 5*time.Second, "session destroyed event", func() bool {
		for _, e := range be.all() {
			if num(e["type"]) == janusapi.EventTypeSession && e["event"].(map[string]any)["name"] == "destroyed" {
				return true
			}
		}
		return false
	})
	closeHandler(t, evh)

	seen := map[string]bool{}
	for _, ev := range be.all() {
		body, _ := ev["event"].(map[string]any)
		if ev["emitter"] != "ianua-test" || num(ev["timestamp"]) == 0 || body == nil {
			t.Errorf("event without emitter, timestamp or body: %v", ev)
			continue
		}
		if num(ev["session_id"]) != sid {
			t.Errorf("event of session %v, want %d: %v", ev["session_id"], sid, ev)
		}
		typ, sub := num(ev["type"]), num(ev["subtype"])
		if typ != janusapi.EventTypeSession && num(ev["handle_id"]) != hid {
			t.Errorf("event of handle %v, want %d: %v", ev["handle_id"], hid, ev)
		}
		switch {
		case typ == janusapi.EventTypeSession:
			seen["session "+body["name"].(string)] = true
		case typ == janusapi.EventTypeHandle:
			if body["plugin"] != janusapi.EchoTestPlugin {
				t.Errorf("handle event of plugin %v: %v", body["plugin"], ev)
			}
			seen["handle "+body["name"].(string)] = true
		case typ == janusapi.EventTypeJSEP:
			jsep, _ := body["jsep"].(map[string]any)
			if sdp, _ := jsep["sdp"].(string); len(sdp) < 100 {
				t.Errorf("jsep event without SDP: %v", ev)
			}
			seen["jsep "+body["owner"].(string)+" "+jsep["type"].(string)] = true
		case typ == janusapi.EventTypeWebRTC && sub == 1:
			seen["ice "+body["ice"].(string)] = true
		case typ == janusapi.EventTypeWebRTC && sub == 2:
			if c, _ := body["local-candidate"].(string); c == "" {
				t.Errorf("local candidate event without candidate: %v", ev)
			}
			seen["local candidate"] = true
		case typ == janusapi.EventTypeWebRTC && sub == 5:
			seen["dtls "+body["dtls"].(string)] = true
		case typ == janusapi.EventTypeWebRTC && sub == 6:
			seen["connection "+body["connection"].(string)] = true
		case typ == janusapi.EventTypeMedia && sub == 1:
			if body["mid"] == nil || (body["media"] != "audio" && body["media"] != "video") {
				t.Errorf("media event: %v", ev)
			}
			seen["media"] = true
		case typ == janusapi.EventTypePlugin:
			data, _ := body["data"].(map[string]any)
			if body["plugin"] != janusapi.EchoTestPlugin || data["echotest"] != "event" {
				t.Errorf("plugin event: %v", ev)
			}
			seen["plugin"] = true
		}
	}
	for _, want := range []string{
		"session created", "handle attached", "jsep remote offer", "jsep local answer",
		"ice connecting", "ice connected", "local candidate", "dtls trying", "dtls connected",
		"connection webrtcup", "media", "plugin", "connection hangup", "handle detached", "session destroyed",
	} {
		if !seen[want] {
			t.Errorf("no %q event; got %v", want, seen)
		}
	}
	st := evh.Stats()
	if st.Sent != uint64(len(be.all())) || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("stats %+v, backend got %d events", st, len(be.all()))
	}
	be.mu.Lock()
	posts, bodies := be.posts, len(be.bodies)
	be.mu.Unlock()
	if posts != bodies+2 {
		t.Errorf("%d POSTs for %d batches taken, want 2 refused ones more", posts, bodies)
	}
	t.Logf("%d events in %d POSTs (2 refused and sent again)", st.Sent, posts)
}

// The type mask, one event per POST, a backend that stays down, a queue
// that fills, and bad parameters.
func TestEventHandlerOptions(t *testing.T) {
	checkLeaks(t)
	created := func(sid uint64) ianua.Event {
		return ianua.Event{Type: ianua.EventSessionCreated, Time: time.Now(), SessionID: sid}
	}
	attached := ianua.Event{Type: ianua.EventAttached, Time: time.Now(), SessionID: 1, HandleID: 2, Plugin: "janus.plugin.echotest"}

	t.Run("types and ungrouped", func(t *testing.T) {
		be := newBackend(t, 0)
		evh := newEventHandler(t, janusapi.EventHandlerParams{Backend: be.srv.URL, Types: janusapi.EventTypeHandle, Ungrouped: true})
		evh.Observe(created(1))
		evh.Observe(attached)
		evh.Observe(attached)
		closeHandler(t, evh)
		got := be.all()
		if len(got) != 2 || num(got[0]["type"]) != janusapi.EventTypeHandle || num(got[0]["handle_id"]) != 2 {
			t.Errorf("events %v, want the two handle events only", got)
		}
		for _, b := range be.bodies {
			if b[0] != '{' {
				t.Errorf("ungrouped POST body %s, want one object", b)
			}
		}
	})
	t.Run("backend down", func(t *testing.T) {
		be := newBackend(t, 1000)
		evh := newEventHandler(t, janusapi.EventHandlerParams{Backend: be.srv.URL, MaxRetransmissions: 2})
		evh.Observe(created(1))
		testpeer.WaitFor(t, 5*time.Second, "given up", func() bool { return evh.Stats().Failed == 1 })
		be.mu.Lock()
		posts := be.posts
		be.mu.Unlock()
		if posts != 3 {
			t.Errorf("%d POSTs, want 1 and 2 retransmissions", posts)
		}
		closeHandler(t, evh)
	})
	t.Run("queue full", func(t *testing.T) {
		be := newBackend(t, 0)
		be.hold = make(chan struct{})
		evh := newEventHandler(t, janusapi.EventHandlerParams{Backend: be.srv.URL, Queue: 2, MaxBatch: 1})
		evh.Observe(created(1)) // taken by the sender, held by the backend
		testpeer.WaitFor(t, 5*time.Second, "first POST in flight", func() bool { return be.held.Load() == 1 })
		for i := range 5 {
			evh.Observe(created(uint64(i + 2)))
		}
		close(be.hold)
		closeHandler(t, evh)
		if st := evh.Stats(); st.Sent != 3 || st.Dropped != 3 || st.Failed != 0 {
			t.Errorf("stats %+v: want the held event and the queued two sent, the other three dropped", st)
		}
	})
	t.Run("close gives up", func(t *testing.T) {
		be := newBackend(t, 0)
		be.hold = make(chan struct{})
		defer close(be.hold)
		evh := newEventHandler(t, janusapi.EventHandlerParams{Backend: be.srv.URL})
		evh.Observe(created(1))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := evh.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("close with the backend stuck: %v", err)
		}
		if st := evh.Stats(); st.Failed != 1 {
			t.Errorf("stats %+v, want the stuck event failed", st)
		}
		evh.Observe(created(2))
		if st := evh.Stats(); st.Dropped != 1 {
			t.Errorf("an event after Close: stats %+v, want it dropped", st)
		}
	})
	t.Run("bad backend", func(t *testing.T) {
		for _, u := range []string{"", "ftp://127.0.0.1/x", "http://", "::"} {
			if _, err := janusapi.NewEventHandler(janusapi.EventHandlerParams{Backend: u}); !errors.Is(err, janusapi.ErrInvalidBackend) {
				t.Errorf("backend %q: %v, want ErrInvalidBackend", u, err)
			}
		}
	})
}
