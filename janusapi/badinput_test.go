package janusapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ianua/ianua/janusapi"
)

// TestBadInput sends requests Janus refuses, over each transport, and
// checks Janus's error codes, the echoed transaction, and that nothing
// changed: the session still has its one handle, without PeerConnection.
func TestBadInput(t *testing.T) {
	for _, kind := range transports {
		t.Run(string(kind), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, nil, func(p *janusapi.Params) { p.MaxMessageSize = 64 << 10 })
			c := e.dial(t, kind)
			sid := c.create()
			hid := c.attach(sid, janusapi.EchoTestPlugin)
			vr := c.attach(sid, janusapi.VideoRoomPlugin)
			S, H := fmt.Sprint(sid), fmt.Sprint(hid)
			onHandle := `"session_id":` + S + `,"handle_id":` + H
			big := `{"janus":"keepalive","transaction":"big","session_id":` + S + `,"pad":"` + strings.Repeat("x", 70<<10) + `"}`

			testCases := []struct {
				name string
				send string
				code int
				tx   string
			}{
				{"not JSON", `{"janus":`, janusapi.ErrorInvalidJSON, ""},
				{"not an object", `[1,2]`, janusapi.ErrorInvalidJSONObject, ""},
				{"no transaction", `{"janus":"create"}`, janusapi.ErrorMissingMandatoryElement, ""},
				{"no janus", `{"transaction":"t1"}`, janusapi.ErrorMissingMandatoryElement, "t1"},
				{"janus not a string", `{"janus":1,"transaction":"t2"}`, janusapi.ErrorInvalidElementType, "t2"},
				{"session request without session", `{"janus":"keepalive","transaction":"t3"}`, janusapi.ErrorInvalidRequestPath, "t3"},
				{"unknown session", `{"janus":"keepalive","transaction":"t4","session_id":12345}`, janusapi.ErrorSessionNotFound, "t4"},
				{"unknown handle", `{"janus":"message","transaction":"t5","session_id":` + S + `,"handle_id":999,"body":{}}`, janusapi.ErrorHandleNotFound, "t5"},
				{"unknown plugin", `{"janus":"attach","transaction":"t6","session_id":` + S + `,"plugin":"janus.plugin.nope"}`, janusapi.ErrorPluginNotFound, "t6"},
				{"attach without plugin", `{"janus":"attach","transaction":"t7","session_id":` + S + `}`, janusapi.ErrorMissingMandatoryElement, "t7"},
				{"plugin not a string", `{"janus":"attach","transaction":"t8","session_id":` + S + `,"plugin":5}`, janusapi.ErrorInvalidElementType, "t8"},
				{"unknown request", `{"janus":"bogus","transaction":"t9","session_id":` + S + `}`, janusapi.ErrorUnknownRequest, "t9"},
				{"message without handle", `{"janus":"message","transaction":"t10","session_id":` + S + `,"body":{}}`, janusapi.ErrorInvalidRequestPath, "t10"},
				{"message without body", `{"janus":"message","transaction":"t11",` + onHandle + `}`, janusapi.ErrorMissingMandatoryElement, "t11"},
				{"body not an object", `{"janus":"message","transaction":"t12",` + onHandle + `,"body":"x"}`, janusapi.ErrorInvalidElementType, "t12"},
				{"jsep not an object", `{"janus":"message","transaction":"t13",` + onHandle + `,"body":{},"jsep":3}`, janusapi.ErrorInvalidJSONObject, "t13"},
				{"jsep without sdp", `{"janus":"message","transaction":"t14",` + onHandle + `,"body":{},"jsep":{"type":"offer"}}`, janusapi.ErrorMissingMandatoryElement, "t14"},
				{"jsep of unknown type", `{"janus":"message","transaction":"t15",` + onHandle + `,"body":{},"jsep":{"type":"pranswer","sdp":"v=0"}}`, janusapi.ErrorJSEPUnknownType, "t15"},
				{"bad SDP", `{"janus":"message","transaction":"t16",` + onHandle + `,"body":{},"jsep":{"type":"offer","sdp":"v=0 garbage"}}`, janusapi.ErrorJSEPInvalidSDP, "t16"},
				{"answer without offer", `{"janus":"message","transaction":"t17",` + onHandle + `,"body":{},"jsep":{"type":"answer","sdp":"v=0\r\n"}}`, janusapi.ErrorUnexpectedAnswer, "t17"},
				{"trickle without candidate", `{"janus":"trickle","transaction":"t18",` + onHandle + `}`, janusapi.ErrorMissingMandatoryElement, "t18"},
				{"trickle with both", `{"janus":"trickle","transaction":"t19",` + onHandle + `,"candidate":{"completed":true},"candidates":[]}`, janusapi.ErrorInvalidJSON, "t19"},
				{"candidates not an array", `{"janus":"trickle","transaction":"t20",` + onHandle + `,"candidates":{}}`, janusapi.ErrorInvalidElementType, "t20"},
				{"candidate without mid", `{"janus":"trickle","transaction":"t21",` + onHandle + `,"candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}}`, janusapi.ErrorMissingMandatoryElement, "t21"},
				{"bad candidate", `{"janus":"trickle","transaction":"t22",` + onHandle + `,"candidate":{"candidate":"candidate:nonsense","sdpMid":"0"}}`, janusapi.ErrorTrickleInvalidStream, "t22"},
				{"attach on a handle", `{"janus":"attach","transaction":"t23",` + onHandle + `,"plugin":"janus.plugin.echotest"}`, janusapi.ErrorInvalidRequestPath, "t23"},
				{"client-chosen session id", `{"janus":"create","transaction":"t24","id":42}`, janusapi.ErrorUnknown, "t24"},
				{"oversized", big, janusapi.ErrorTransportSpecific, ""},
			}
			for _, tc := range testCases {
				t.Run(tc.name, func(t *testing.T) {
					var m jmsg
					if tc.name != "oversized" || kind == overWS {
						m = c.raw([]byte(tc.send))
					} else {
						resp, err := http.Post(e.base+"/janus/"+S, "application/json", strings.NewReader(tc.send))
						if err != nil {
							t.Fatal(err)
						}
						defer resp.Body.Close()
						if resp.StatusCode != http.StatusRequestEntityTooLarge {
							t.Errorf("HTTP status %d, want 413", resp.StatusCode)
						}
						_ = json.NewDecoder(resp.Body).Decode(&m)
					}
					if m.Janus != "error" || m.code() != tc.code || m.Transaction != tc.tx {
						t.Fatalf("got %s, want error %d with transaction %q", m, tc.code, tc.tx)
					}
				})
			}

			// Nothing changed.
			is, err := e.router.Session(sid)
			if err != nil {
				t.Fatalf("the session is gone: %v", err)
			}
			if n := len(e.router.Sessions()); n != 1 {
				t.Errorf("%d sessions, want 1", n)
			}
			if hs := is.Handles(); len(hs) != 2 {
				t.Errorf("%d handles, want 2", len(hs))
			}
			for _, h := range is.Handles() {
				if h.HasPeerConnection() {
					t.Errorf("handle %d has a PeerConnection", h.ID())
				}
			}
			if r := c.request(map[string]any{"janus": "keepalive", "session_id": sid}); r.Janus != "ack" {
				t.Errorf("keepalive after the bad input: %s", r)
			}

			// Plugin errors: synchronous requests answer "success" with the
			// error in plugindata; asynchronous ones "ack", then an event
			// with the same transaction (janus.js reads both).
			r, _ := c.message(sid, vr, map[string]any{"request": "exists"}, nil)
			if d := r.plugin(); r.Janus != "success" || r.Sender != vr || d["videoroom"] != "event" || number(d["error_code"]) != 429 || d["error"] == "" {
				t.Errorf("videoroom exists without room: %s", r)
			}
			r, _ = c.message(sid, vr, map[string]any{"request": "nonsense"}, nil)
			if d := r.plugin(); r.Janus != "success" || number(d["error_code"]) != 423 {
				t.Errorf("videoroom unknown request: %s (Janus answers it synchronously)", r)
			}
			mark := c.mark()
			r, tx := c.message(sid, vr, map[string]any{"request": "join", "ptype": "publisher"}, nil)
			if r.Janus != "ack" {
				t.Fatalf("videoroom join without room: %s, want ack", r)
			}
			ev := c.wait(mark, 5*time.Second, "videoroom error event", pluginEvent(vr, "error_code", ""))
			if d := ev.plugin(); ev.Transaction != tx || d["videoroom"] != "event" || number(d["error_code"]) != 429 || ev.PluginData.Plugin != janusapi.VideoRoomPlugin {
				t.Errorf("videoroom error event %s", ev)
			}
			mark = c.mark()
			r, tx = c.message(sid, hid, map[string]any{"audio": "yes"}, nil)
			if r.Janus != "ack" {
				t.Fatalf("echotest bad element: %s, want ack", r)
			}
			ev = c.wait(mark, 5*time.Second, "echotest error event", pluginEvent(hid, "error_code", ""))
			if d := ev.plugin(); ev.Transaction != tx || d["echotest"] != "event" || number(d["error_code"]) != 413 {
				t.Errorf("echotest error event %s", ev)
			}
			if hs := is.Handles(); len(hs) != 2 {
				t.Errorf("%d handles after plugin errors, want 2", len(hs))
			}
		})
	}
}

// TestAuth checks the API secret, tokens with their plugin lists, plugin
// aliases, and info.
func TestAuth(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, nil, func(p *janusapi.Params) {
		p.APISecret = "s3cret"
		p.AdminSecret = "adm1n"
		p.Tokens = map[string][]string{"tok": {janusapi.EchoTestPlugin}}
		p.Aliases = map[string]string{"janus.plugin.echo": janusapi.EchoTestPlugin}
	})
	for _, kind := range transports {
		t.Run(string(kind), func(t *testing.T) {
			c := e.dial(t, kind)
			if r := c.request(map[string]any{"janus": "create"}); r.code() != janusapi.ErrorUnauthorized {
				t.Fatalf("create without secret: %s", r)
			}
			if r := c.request(map[string]any{"janus": "create", "apisecret": "wrong"}); r.code() != janusapi.ErrorUnauthorized {
				t.Fatalf("create with a wrong secret: %s", r)
			}
			// info needs nothing.
			if r := c.request(map[string]any{"janus": "info"}); r.Janus != "server_info" {
				t.Fatalf("info: %s", r)
			}
			c.extra = map[string]any{"token": "tok"}
			sid := c.create()
			if r := c.request(map[string]any{"janus": "attach", "session_id": sid, "plugin": janusapi.VideoRoomPlugin}); r.code() != janusapi.ErrorUnauthorizedPlugin {
				t.Errorf("attach to a plugin the token does not allow: %s", r)
			}
			hid := c.attach(sid, "janus.plugin.echo")
			mark := c.mark()
			c.message(sid, hid, map[string]any{"video": true}, nil)
			if ev := c.wait(mark, 5*time.Second, "result", pluginEvent(hid, "result", "ok")); ev.PluginData.Plugin != "janus.plugin.echo" {
				t.Errorf("event of an aliased plugin names %q, want the alias", ev.PluginData.Plugin)
			}
			c.extra = map[string]any{"apisecret": "s3cret"}
			if r := c.request(map[string]any{"janus": "keepalive", "session_id": sid}); r.Janus != "ack" {
				t.Errorf("keepalive with the secret: %s", r)
			}
			c.extra = nil
			if r := c.request(map[string]any{"janus": "keepalive", "session_id": sid}); r.code() != janusapi.ErrorUnauthorized {
				t.Errorf("keepalive without secret: %s", r)
			}
		})
	}
	// The long poll checks them too.
	resp, err := http.Get(e.base + "/janus/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("long poll without secret: HTTP %d, want 403", resp.StatusCode)
	}
	// So does the Admin API, with its own secret. The WebSocket's session
	// went with its socket; the HTTP one is left.
	if r := e.admin(t, map[string]any{"janus": "list_sessions"}); r.code() != janusapi.ErrorUnauthorized {
		t.Errorf("admin without secret: %s", r)
	}
	if r := e.admin(t, map[string]any{"janus": "list_sessions", "admin_secret": "adm1n"}); r.Janus != "success" || len(r.Sessions) != 1 {
		t.Errorf("admin list_sessions: %s", r)
	}
	// GET /janus/info lists the plugins and the alias.
	resp, err = http.Get(e.base + "/janus/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Janus     string                    `json:"janus"`
		APISecret bool                      `json:"api_secret"`
		AuthToken bool                      `json:"auth_token"`
		Plugins   map[string]map[string]any `json:"plugins"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || info.Janus != "server_info" || !info.APISecret || !info.AuthToken {
		t.Fatalf("info: %+v %v", info, err)
	}
	for _, name := range []string{janusapi.EchoTestPlugin, janusapi.VideoRoomPlugin, "janus.plugin.echo"} {
		if info.Plugins[name] == nil {
			t.Errorf("info lists no %s: %v", name, info.Plugins)
		}
	}
	if info.Plugins[janusapi.SIPPlugin] != nil {
		t.Errorf("info lists %s, which the router does not have", janusapi.SIPPlugin)
	}
}

// TestOrigins checks the WebSocket Origin check and the HTTP CORS answers.
func TestOrigins(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, nil, func(p *janusapi.Params) { p.AllowedOrigins = []string{"app.example:8080"} })
	testCases := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://app.example:8080", true},
		{"http://evil.example", false},
	}
	for _, tc := range testCases {
		req, _ := http.NewRequest(http.MethodOptions, e.base+"/janus", nil)
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ok := resp.StatusCode == http.StatusOK; ok != tc.ok {
			t.Errorf("preflight from %q: HTTP %d, want allowed=%v", tc.origin, resp.StatusCode, tc.ok)
		}
		if tc.ok && tc.origin != "" && resp.Header.Get("Access-Control-Allow-Origin") != tc.origin {
			t.Errorf("preflight from %q: Access-Control-Allow-Origin %q", tc.origin, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		// The WebSocket upgrade applies the same rule.
		wreq, _ := http.NewRequest(http.MethodGet, e.base+"/ws", nil)
		for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
			"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": janusapi.Subprotocol} {
			wreq.Header.Set(k, v)
		}
		if tc.origin != "" {
			wreq.Header.Set("Origin", tc.origin)
		}
		wresp, err := http.DefaultClient.Do(wreq)
		if err != nil {
			t.Fatal(err)
		}
		wresp.Body.Close()
		if ok := wresp.StatusCode == http.StatusSwitchingProtocols; ok != tc.ok {
			t.Errorf("WebSocket from %q: HTTP %d, want allowed=%v", tc.origin, wresp.StatusCode, tc.ok)
		}
	}
}
