package janusapi_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/janusapi"
)

// fields decodes a Janus message into a map, for the fields jmsg lacks.
func (m jmsg) fields(t *testing.T) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(m.raw), &out); err != nil {
		t.Fatalf("%s: %v", m.raw, err)
	}
	return out
}

// The Admin API's session and handle requests, as a Janus operator uses
// them: the status, draining the server (accept_new_sessions), the
// plugin's part of handle_info alone, hanging up and detaching a handle,
// destroying a session; and their errors, which change nothing.
func TestAdminSessionRequests(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, nil, nil)
	c := e.dial(t, overWS)
	sid := c.create()
	echo := c.attach(sid, janusapi.EchoTestPlugin)
	room := c.attach(sid, janusapi.VideoRoomPlugin)

	st := e.admin(t, map[string]any{"janus": "get_status"}).fields(t)["status"].(map[string]any)
	if st["token_auth"] != false || st["session_timeout"] != 60.0 || st["accepting_new_sessions"] != true || st["no_media_timer"] != 1.0 {
		t.Errorf("get_status: %v", st)
	}

	info := e.admin(t, map[string]any{"janus": "handle_info", "session_id": sid, "handle_id": echo, "plugin_only": true}).fields(t)["info"].(map[string]any)
	if _, ok := info["plugin_specific"].(map[string]any); !ok || info["ice_state"] != nil || len(info) != 2 {
		t.Errorf("handle_info plugin_only: %v, want plugin_specific and opaque_id alone", info)
	}

	// Draining: new sessions are refused, the others go on.
	if r := e.admin(t, map[string]any{"janus": "accept_new_sessions", "accept": false}); r.Janus != "success" || r.fields(t)["accept"] != false {
		t.Fatalf("accept_new_sessions false: %s", r)
	}
	if r := c.request(map[string]any{"janus": "create"}); r.code() != janusapi.ErrorNotAcceptingSessions {
		t.Errorf("create while draining: %s, want error %d", r, janusapi.ErrorNotAcceptingSessions)
	}
	if r := c.request(map[string]any{"janus": "info"}); r.fields(t)["accepting-new-sessions"] != false {
		t.Errorf("info while draining: %s", r)
	}
	if r := c.request(map[string]any{"janus": "keepalive", "session_id": sid}); r.Janus != "ack" {
		t.Errorf("keepalive of a session while draining: %s", r)
	}
	e.admin(t, map[string]any{"janus": "accept_new_sessions", "accept": true})
	other := c.create()

	// Bad requests change nothing.
	for _, bad := range []struct {
		req  map[string]any
		code int
	}{
		{map[string]any{"janus": "accept_new_sessions"}, janusapi.ErrorMissingMandatoryElement},
		{map[string]any{"janus": "accept_new_sessions", "accept": "yes"}, janusapi.ErrorInvalidElementType},
		{map[string]any{"janus": "destroy_session"}, janusapi.ErrorMissingMandatoryElement},
		{map[string]any{"janus": "destroy_session", "session_id": 12345}, janusapi.ErrorSessionNotFound},
		{map[string]any{"janus": "detach_handle", "session_id": sid}, janusapi.ErrorMissingMandatoryElement},
		{map[string]any{"janus": "detach_handle", "session_id": sid, "handle_id": 12345}, janusapi.ErrorHandleNotFound},
		{map[string]any{"janus": "hangup_webrtc", "session_id": 12345, "handle_id": echo}, janusapi.ErrorSessionNotFound},
		{map[string]any{"janus": "handle_info", "session_id": sid, "handle_id": echo, "plugin_only": "yes"}, janusapi.ErrorInvalidElementType},
		{map[string]any{"janus": "set_log_level", "level": 4}, janusapi.ErrorUnknownRequest},
	} {
		if r := e.admin(t, bad.req); r.code() != bad.code {
			t.Errorf("%v: %s, want error %d", bad.req, r, bad.code)
		}
	}
	if r := c.request(map[string]any{"janus": "info"}); r.fields(t)["accepting-new-sessions"] != true {
		t.Errorf("a bad accept_new_sessions changed the state: %s", r)
	}

	// Handle requests.
	if r := e.admin(t, map[string]any{"janus": "hangup_webrtc", "session_id": sid, "handle_id": echo}); r.Janus != "success" {
		t.Errorf("hangup_webrtc: %s", r)
	}
	mark := c.mark()
	if r := e.admin(t, map[string]any{"janus": "detach_handle", "session_id": sid, "handle_id": room}); r.Janus != "success" || r.SessionID != sid {
		t.Errorf("detach_handle: %s", r)
	}
	c.wait(mark, 5*time.Second, "detached event", janusType("detached", room))
	if l := e.admin(t, map[string]any{"janus": "list_handles", "session_id": sid}); len(l.Handles) != 1 || l.Handles[0] != echo {
		t.Errorf("handles after detach_handle: %s", l)
	}

	// destroy_session, with the session in the path as Janus allows.
	if r := e.admin(t, map[string]any{"janus": "destroy_session", "session_id": other}); r.Janus != "success" {
		t.Errorf("destroy_session: %s", r)
	}
	testpeer.WaitFor(t, 5*time.Second, "session destroyed", func() bool {
		_, err := e.router.Session(other)
		return err != nil
	})
	if l := e.admin(t, map[string]any{"janus": "list_sessions"}); len(l.Sessions) != 1 || l.Sessions[0] != sid {
		t.Errorf("sessions after destroy_session: %s", l)
	}
}

// Stored tokens managed at run time with the Admin API, as Janus's
// token_auth: add_token (with plugins, or all of them), allow_token,
// disallow_token, list_tokens, remove_token; a token's plugins are
// enforced at attach; the errors are Janus's.
func TestAdminTokens(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, nil, func(p *janusapi.Params) { p.Tokens = map[string][]string{"tok": {janusapi.EchoTestPlugin}} })
	c := e.dial(t, overWS)
	tokens := func() map[string][]string {
		out := map[string][]string{}
		for _, tk := range e.admin(t, map[string]any{"janus": "list_tokens"}).fields(t)["data"].(map[string]any)["tokens"].([]any) {
			m := tk.(map[string]any)
			var ps []string
			for _, p := range m["allowed_plugins"].([]any) {
				ps = append(ps, p.(string))
			}
			out[m["token"].(string)] = ps
		}
		return out
	}
	plugins := func(r jmsg) []string {
		var d struct {
			Plugins []string `json:"plugins"`
		}
		_ = json.Unmarshal(r.Data, &d)
		return d.Plugins
	}
	attach := func(token, plugin string) jmsg {
		r := c.request(map[string]any{"janus": "create", "token": token})
		if r.Janus != "success" {
			return r
		}
		return c.request(map[string]any{"janus": "attach", "session_id": r.id(), "plugin": plugin, "token": token})
	}
	if got := tokens(); len(got) != 1 || !slices.Equal(got["tok"], []string{janusapi.EchoTestPlugin}) {
		t.Errorf("list_tokens: %v", got)
	}

	r := e.admin(t, map[string]any{"janus": "add_token", "token": "new", "plugins": []string{janusapi.VideoRoomPlugin, "janus.plugin.nope"}})
	if got := plugins(r); r.Janus != "success" || !slices.Equal(got, []string{janusapi.VideoRoomPlugin}) {
		t.Fatalf("add_token: %s", r)
	}
	if r := attach("new", janusapi.VideoRoomPlugin); r.Janus != "success" {
		t.Errorf("attach with the new token: %s", r)
	}
	if r := attach("new", janusapi.EchoTestPlugin); r.code() != janusapi.ErrorUnauthorizedPlugin {
		t.Errorf("attach to a plugin the token does not allow: %s", r)
	}
	r = e.admin(t, map[string]any{"janus": "allow_token", "token": "new", "plugins": []string{janusapi.EchoTestPlugin}})
	if got := plugins(r); !slices.Equal(got, []string{janusapi.EchoTestPlugin, janusapi.VideoRoomPlugin}) {
		t.Errorf("allow_token: %s", r)
	}
	if r := attach("new", janusapi.EchoTestPlugin); r.Janus != "success" {
		t.Errorf("attach after allow_token: %s", r)
	}
	r = e.admin(t, map[string]any{"janus": "disallow_token", "token": "new", "plugins": []string{janusapi.VideoRoomPlugin}})
	if got := plugins(r); !slices.Equal(got, []string{janusapi.EchoTestPlugin}) {
		t.Errorf("disallow_token: %s", r)
	}
	if r := attach("new", janusapi.VideoRoomPlugin); r.code() != janusapi.ErrorUnauthorizedPlugin {
		t.Errorf("attach after disallow_token: %s", r)
	}
	// Without plugins: all of them.
	r = e.admin(t, map[string]any{"janus": "add_token", "token": "all"})
	if got := plugins(r); !slices.Contains(got, janusapi.EchoTestPlugin) || !slices.Contains(got, janusapi.VideoRoomPlugin) {
		t.Errorf("add_token without plugins: %s", r)
	}

	for _, bad := range []struct {
		req  map[string]any
		code int
	}{
		{map[string]any{"janus": "add_token"}, janusapi.ErrorMissingMandatoryElement},
		{map[string]any{"janus": "add_token", "token": 7}, janusapi.ErrorInvalidElementType},
		{map[string]any{"janus": "allow_token", "token": "nobody", "plugins": []string{janusapi.EchoTestPlugin}}, janusapi.ErrorTokenNotFound},
		{map[string]any{"janus": "allow_token", "token": "new"}, janusapi.ErrorInvalidElementType},
		{map[string]any{"janus": "allow_token", "token": "new", "plugins": []string{"janus.plugin.nope"}}, janusapi.ErrorInvalidElementType},
		{map[string]any{"janus": "disallow_token", "token": "new", "plugins": []any{7}}, janusapi.ErrorInvalidElementType},
		{map[string]any{"janus": "remove_token", "token": "nobody"}, janusapi.ErrorUnknown},
	} {
		if r := e.admin(t, bad.req); r.code() != bad.code {
			t.Errorf("%v: %s, want error %d", bad.req, r, bad.code)
		}
	}
	if got := tokens(); len(got) != 3 || !slices.Equal(got["new"], []string{janusapi.EchoTestPlugin}) {
		t.Errorf("tokens after the refused requests: %v", got)
	}

	if r := e.admin(t, map[string]any{"janus": "remove_token", "token": "new"}); r.Janus != "success" {
		t.Errorf("remove_token: %s", r)
	}
	if r := c.request(map[string]any{"janus": "create", "token": "new"}); r.code() != janusapi.ErrorUnauthorized {
		t.Errorf("create with a removed token: %s", r)
	}
	if r := attach("tok", janusapi.EchoTestPlugin); r.Janus != "success" {
		t.Errorf("the configured token: %s", r)
	}

	// Without token authentication, the token requests are refused.
	plain := newEnv(t, nil, nil)
	if r := plain.admin(t, map[string]any{"janus": "add_token", "token": "x"}); r.code() != janusapi.ErrorUnknown {
		t.Errorf("add_token without token auth: %s", r)
	}
}

// message_plugin reaches the room management of the VideoRoom plugin
// (ianua.AdminHandler), with its answers and its errors in the plugin's
// own form, as in Janus.
func TestAdminMessagePlugin(t *testing.T) {
	checkLeaks(t)
	e := newEnv(t, nil, nil)
	msg := func(plugin string, request any) jmsg {
		return e.admin(t, map[string]any{"janus": "message_plugin", "plugin": plugin, "request": request})
	}
	response := func(r jmsg) map[string]any {
		m, _ := r.fields(t)["response"].(map[string]any)
		return m
	}
	if r := response(msg(janusapi.VideoRoomPlugin, map[string]any{"request": "create", "room": 777, "description": "from the admin"})); r["videoroom"] != "created" || r["room"] != 777.0 {
		t.Fatalf("create: %v", r)
	}
	if r := response(msg(janusapi.VideoRoomPlugin, map[string]any{"request": "exists", "room": 777})); r["exists"] != true {
		t.Errorf("exists: %v", r)
	}
	// The room is there for clients too.
	c := e.dial(t, overWS)
	sid := c.create()
	hid := c.attach(sid, janusapi.VideoRoomPlugin)
	reply, _ := c.message(sid, hid, map[string]any{"request": "exists", "room": 777}, nil)
	if !json.Valid(reply.PluginData.Data) || reply.plugin()["exists"] != true {
		t.Errorf("exists on a handle: %s", reply)
	}
	// Errors are the plugin's.
	if r := response(msg(janusapi.VideoRoomPlugin, map[string]any{"request": "create", "room": 777})); r["videoroom"] != "event" || r["error_code"] != 427.0 {
		t.Errorf("create again: %v", r)
	}
	if r := response(msg(janusapi.VideoRoomPlugin, map[string]any{"request": "join", "room": 777})); r["error_code"] != 423.0 {
		t.Errorf("join through the Admin API: %v", r)
	}
	for _, bad := range []struct {
		req  map[string]any
		code int
	}{
		{map[string]any{"janus": "message_plugin", "request": map[string]any{}}, janusapi.ErrorMissingMandatoryElement},
		{map[string]any{"janus": "message_plugin", "plugin": janusapi.VideoRoomPlugin}, janusapi.ErrorMissingMandatoryElement},
		{map[string]any{"janus": "message_plugin", "plugin": janusapi.VideoRoomPlugin, "request": "list"}, janusapi.ErrorInvalidElementType},
		{map[string]any{"janus": "message_plugin", "plugin": "janus.plugin.nope", "request": map[string]any{}}, janusapi.ErrorPluginNotFound},
		{map[string]any{"janus": "message_plugin", "plugin": janusapi.EchoTestPlugin, "request": map[string]any{}}, janusapi.ErrorUnknown},
	} {
		if r := e.admin(t, bad.req); r.code() != bad.code {
			t.Errorf("%v: %s, want error %d", bad.req, r, bad.code)
		}
	}
}
