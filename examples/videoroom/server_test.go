package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ianua/ianua/sfu"
)

// wsClient speaks the signaling protocol of README.md for a test. Events
// read while waiting for a reply are kept for event.
type wsClient struct {
	t      *testing.T
	ctx    context.Context
	c      *websocket.Conn
	events []serverMsg
	txSeq  int
}

func dialWS(t *testing.T, ctx context.Context, addr string) *wsClient {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, ctx: ctx, c: c}
}

func (w *wsClient) read() serverMsg {
	w.t.Helper()
	_, data, err := w.c.Read(w.ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	var m serverMsg
	if err := json.Unmarshal(data, &m); err != nil {
		w.t.Fatalf("bad server message %s: %v", data, err)
	}
	return m
}

func (w *wsClient) write(raw string) {
	w.t.Helper()
	if err := w.c.Write(w.ctx, websocket.MessageText, []byte(raw)); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// reply reads until the ack, success or error of tx; events met on the
// way are kept.
func (w *wsClient) reply(tx string) serverMsg {
	w.t.Helper()
	for {
		m := w.read()
		if m.Type != "ack" && m.Type != "success" && m.Type != "error" {
			w.events = append(w.events, m)
			continue
		}
		if m.Tx != tx {
			w.t.Fatalf("reply %+v, want one for tx %q", m, tx)
		}
		return m
	}
}

// call sends a message of this type with a fresh tx and returns the reply.
func (w *wsClient) call(typ string, fields map[string]any) serverMsg {
	w.t.Helper()
	w.txSeq++
	msg := map[string]any{"type": typ, "tx": fmt.Sprintf("tx%d", w.txSeq)}
	for k, v := range fields {
		msg[k] = v
	}
	b, err := json.Marshal(msg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.write(string(b))
	return w.reply(msg["tx"].(string))
}

// attach attaches a videoroom handle and returns its id.
func (w *wsClient) attach() uint64 {
	w.t.Helper()
	m := w.call("attach", map[string]any{"plugin": sfu.Name})
	if m.Type != "success" || m.Handle == 0 {
		w.t.Fatalf("attach: %+v, want success with a handle", m)
	}
	return m.Handle
}

// request sends a plugin request to a handle and returns the reply.
func (w *wsClient) request(handle uint64, body string) serverMsg {
	w.t.Helper()
	return w.call("message", map[string]any{"handle": handle, "body": json.RawMessage(body)})
}

// event returns the first event (kept or to come) of this type and handle
// that ok accepts, and forgets it.
func (w *wsClient) event(typ string, handle uint64, ok func(serverMsg) bool) serverMsg {
	w.t.Helper()
	for i, m := range w.events {
		if m.Type == typ && m.Handle == handle && ok(m) {
			w.events = append(w.events[:i], w.events[i+1:]...)
			return m
		}
	}
	for {
		m := w.read()
		if m.Type == typ && m.Handle == handle && ok(m) {
			return m
		}
		w.events = append(w.events, m)
	}
}

// videoroom decodes the plugin data of a reply or event.
func videoroom(t *testing.T, m serverMsg) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("data of %+v: %v", m, err)
	}
	return d
}

func isVideoroom(kind string) func(serverMsg) bool {
	return func(m serverMsg) bool {
		var d struct{ Videoroom string }
		return json.Unmarshal(m.Data, &d) == nil && d.Videoroom == kind
	}
}

// TestSignaling checks the answers of the WebSocket protocol (README.md,
// "Signaling") without a browser: handles, synchronous room requests,
// participant requests answered by events, and error codes.
func TestSignaling(t *testing.T) {
	addr, _ := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := dialWS(t, ctx, addr)
	h := w.attach()

	// Requests answered at once, and refusals: only the reply's type and
	// code are checked here.
	testCases := []struct {
		name string
		send string // $H stands for the handle
		typ  string
		code int
	}{
		{"keepalive", `{"type":"keepalive","tx":"x"}`, "ack", 0},
		{"unknown plugin", `{"type":"attach","tx":"x","plugin":"janus.plugin.nope"}`, "error", codePluginNotFound},
		{"attach without plugin", `{"type":"attach","tx":"x"}`, "error", codeMissingElement},
		{"unknown handle", `{"type":"message","tx":"x","handle":12345,"body":{"request":"list"}}`, "error", codeHandleNotFound},
		{"no handle", `{"type":"message","tx":"x","body":{"request":"list"}}`, "error", codeHandleNotFound},
		{"trickle to an unknown handle", `{"type":"trickle","tx":"x","handle":12345,"completed":true}`, "error", codeHandleNotFound},
		{"no body", `{"type":"message","tx":"x","handle":$H}`, "error", sfu.ErrorNoMessage},
		{"body not an object", `{"type":"message","tx":"x","handle":$H,"body":"list"}`, "error", sfu.ErrorInvalidJSON},
		{"no request", `{"type":"message","tx":"x","handle":$H,"body":{}}`, "error", sfu.ErrorMissingElement},
		{"unknown request", `{"type":"message","tx":"x","handle":$H,"body":{"request":"bogus"}}`, "error", sfu.ErrorInvalidRequest},
		{"wrong element type", `{"type":"message","tx":"x","handle":$H,"body":{"request":"exists","room":"1234x"}}`, "error", sfu.ErrorInvalidElement},
		{"join an unknown room", `{"type":"message","tx":"x","handle":$H,"body":{"request":"join","ptype":"publisher","room":999}}`, "error", sfu.ErrorNoSuchRoom},
		{"participants of an unknown room", `{"type":"message","tx":"x","handle":$H,"body":{"request":"listparticipants","room":999}}`, "error", sfu.ErrorNoSuchRoom},
		{"publish before joining", `{"type":"message","tx":"x","handle":$H,"body":{"request":"publish"}}`, "error", sfu.ErrorJoinFirst},
		{"join without ptype", `{"type":"message","tx":"x","handle":$H,"body":{"request":"join","room":1234}}`, "error", sfu.ErrorMissingElement},
		{"create the demo room again", `{"type":"message","tx":"x","handle":$H,"body":{"request":"create","room":1234}}`, "error", sfu.ErrorRoomExists},
		{"end of candidates", `{"type":"trickle","tx":"x","handle":$H,"completed":true}`, "ack", 0},
		{"unknown type", `{"type":"bogus","tx":"x"}`, "error", codeUnknownRequest},
		{"not JSON", `{`, "error", codeInvalidJSON},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			w.write(strings.ReplaceAll(tc.send, "$H", strconv.FormatUint(h, 10)))
			m := w.read()
			for m.Type == "event" || m.Type == "trickle" {
				m = w.read()
			}
			if m.Type != tc.typ || m.Code != tc.code {
				t.Fatalf("got %+v, want type %q code %d", m, tc.typ, tc.code)
			}
		})
	}

	t.Run("list", func(t *testing.T) {
		m := w.request(h, `{"request":"list"}`)
		d := videoroom(t, m)
		list, _ := d["list"].([]any)
		if m.Type != "success" || d["videoroom"] != "success" || len(list) == 0 {
			t.Fatalf("list: %+v %v", m, d)
		}
		found := false
		for _, r := range list {
			if r.(map[string]any)["room"] == float64(1234) {
				found = true
			}
		}
		if !found {
			t.Errorf("room 1234 not listed: %v", list)
		}
	})

	t.Run("exists", func(t *testing.T) {
		for _, c := range []struct {
			room uint64
			want bool
		}{{1234, true}, {999, false}} {
			m := w.request(h, fmt.Sprintf(`{"request":"exists","room":%d}`, c.room))
			if d := videoroom(t, m); m.Type != "success" || d["exists"] != c.want {
				t.Errorf("exists %d: %+v %v, want exists %v", c.room, m, d, c.want)
			}
		}
	})

	// A room of our own, two participants, and the events between them.
	t.Run("create, join, leave", func(t *testing.T) {
		m := w.request(h, `{"request":"create","room":4321,"publishers":4}`)
		if d := videoroom(t, m); m.Type != "success" || d["videoroom"] != "created" || d["room"] != float64(4321) {
			t.Fatalf("create: %+v %v", m, d)
		}

		// join is acknowledged; "joined" follows as an event with the tx.
		m = w.call("message", map[string]any{"handle": h, "body": json.RawMessage(`{"request":"join","ptype":"publisher","room":4321,"display":"Go"}`)})
		if m.Type != "ack" {
			t.Fatalf("join: %+v, want ack", m)
		}
		ev := w.event("event", h, isVideoroom("joined"))
		joined := videoroom(t, ev)
		if ev.Tx != m.Tx || joined["id"] == nil || joined["private_id"] == nil {
			t.Fatalf("joined event %+v %v", ev, joined)
		}
		if pubs, ok := joined["publishers"].([]any); !ok || len(pubs) != 0 {
			t.Errorf("publishers %v, want an empty list", joined["publishers"])
		}
		if m := w.request(h, `{"request":"join","ptype":"publisher","room":4321}`); m.Code != sfu.ErrorAlreadyJoined {
			t.Errorf("second join: %+v, want code %d", m, sfu.ErrorAlreadyJoined)
		}

		// A second client on its own socket, and a second handle on the
		// first socket: subscribing to a feed that publishes nothing is
		// refused.
		w2 := dialWS(t, ctx, addr)
		h2 := w2.attach()
		w2.request(h2, `{"request":"join","ptype":"publisher","room":4321,"display":"Go 2"}`)
		joined2 := videoroom(t, w2.event("event", h2, isVideoroom("joined")))
		sub := w.attach()
		if sub == h {
			t.Fatalf("second handle has the id of the first")
		}
		m = w.request(sub, fmt.Sprintf(`{"request":"join","ptype":"subscriber","room":4321,"streams":[{"feed":%.0f}]}`, joined2["id"]))
		if m.Type != "error" || m.Code != sfu.ErrorNoSuchFeed {
			t.Errorf("subscribe to a silent feed: %+v, want code %d", m, sfu.ErrorNoSuchFeed)
		}
		m = w.request(sub, `{"request":"listparticipants","room":4321}`)
		if parts, _ := videoroom(t, m)["participants"].([]any); len(parts) != 2 {
			t.Errorf("participants: %v, want 2", videoroom(t, m))
		}

		// Detach answers success, then a "detached" event; the handle is
		// gone afterwards.
		if m := w.call("detach", map[string]any{"handle": sub}); m.Type != "success" {
			t.Fatalf("detach: %+v", m)
		}
		w.event("detached", sub, func(serverMsg) bool { return true })
		if m := w.request(sub, `{"request":"list"}`); m.Code != codeHandleNotFound {
			t.Errorf("message to a detached handle: %+v, want code %d", m, codeHandleNotFound)
		}

		// Closing the second socket destroys its session: the first
		// client hears that its participant left.
		w2.c.Close(websocket.StatusNormalClosure, "")
		ev = w.event("event", h, func(m serverMsg) bool { return videoroom(t, m)["leaving"] != nil })
		if got := videoroom(t, ev)["leaving"]; got != joined2["id"] {
			t.Errorf("leaving %v, want %v", got, joined2["id"])
		}
	})
}

// TestShutdownClosesClients checks that run returns, cleanly and promptly,
// while a client is connected and joined, and that the client's socket
// ends.
func TestShutdownClosesClients(t *testing.T) {
	addr, stop := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := dialWS(t, ctx, addr)
	h := w.attach()
	w.request(h, `{"request":"join","ptype":"publisher","room":1234,"display":"Go"}`)
	w.event("event", h, isVideoroom("joined"))

	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	for {
		if _, _, err := w.c.Read(ctx); err != nil {
			break // the socket ended
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the socket is still open after shutdown")
	}
	// A new client finds nobody.
	if c2, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil); err == nil {
		c2.CloseNow()
		t.Fatal("dial after shutdown succeeded")
	}
}
