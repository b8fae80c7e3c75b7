package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ianua/ianua/janusapi"
)

// TestServers checks each server of the program without a browser: the
// REST API, the WebSocket API, the Admin API and the demo pages with
// janus.js.
func TestServers(t *testing.T) {
	at, _ := startServer(t, nil)
	post := func(url, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := post("http://"+at.HTTP+"/janus", `{"janus":"create","transaction":"c"}`); m["janus"] != "success" || m["transaction"] != "c" {
		t.Errorf("REST create: %v", m)
	}
	if m := post("http://"+at.Admin+"/admin", `{"janus":"list_sessions","transaction":"l"}`); m["janus"] != "success" || len(m["sessions"].([]any)) != 1 {
		t.Errorf("admin list_sessions: %v", m)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+at.WebSocket+"/", &websocket.DialOptions{Subprotocols: []string{janusapi.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"janus":"info","transaction":"i"}`)); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Janus   string         `json:"janus"`
		Plugins map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &info); err != nil || info.Janus != "server_info" ||
		info.Plugins[janusapi.EchoTestPlugin] == nil || info.Plugins[janusapi.VideoRoomPlugin] == nil {
		t.Errorf("WebSocket info: %s", b)
	}

	for _, p := range []string{"/", "/echotest.html", "/videoroom.html", "/janus.js", "/adapter.js", "/config.js"} {
		resp, err := http.Get("http://" + at.Web + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
		if p == "/config.js" && !bytes.Contains(body, []byte(at.WebSocket[strings.LastIndexByte(at.WebSocket, ':')+1:])) {
			t.Errorf("config.js does not name the WebSocket port: %s", body)
		}
	}
	// The pages' origin may use the API; another may not.
	for origin, want := range map[string]int{"http://" + at.Web: http.StatusOK, "http://evil.example": http.StatusForbidden} {
		req, _ := http.NewRequest(http.MethodOptions, "http://"+at.HTTP+"/janus", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("preflight from %s: %d, want %d", origin, resp.StatusCode, want)
		}
	}
}

// TestConfigFile reads the settings and the rooms from a file.
func TestConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "janus.json")
	cfg := `{
		"http": "127.0.0.1:0", "websocket": "127.0.0.1:0", "admin": "", "web": "",
		"api_secret": "s", "session_timeout": "30s",
		"videoroom": {"rooms": [{"room": 42, "description": "Answer", "publishers": 2}]}
	}`
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var o options
	o = defaultOptions()
	if err := loadConfig(path, &o); err != nil {
		t.Fatal(err)
	}
	if o.APISecret != "s" || o.Admin != "" || len(o.VideoRoom.Rooms) != 1 || o.VideoRoom.Rooms[0].ID != 42 || o.SessionTimeout.String() != "30s" {
		t.Fatalf("options %+v", o)
	}
	at, _ := startServer(t, func(x *options) { *x = o })
	if at.Admin != "" || at.Web != "" {
		t.Errorf("disabled servers listen: %+v", at)
	}
	// The secret is required, and room 42 exists (1234 does not).
	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := http.Post("http://"+at.HTTP+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := post("/janus", `{"janus":"create","transaction":"c"}`); m["janus"] != "error" {
		t.Errorf("create without the secret: %v", m)
	}
	sid := post("/janus", `{"janus":"create","transaction":"c","apisecret":"s"}`)["data"].(map[string]any)["id"]
	spath := fmt.Sprintf("/janus/%.0f", sid)
	hid := post(spath, `{"janus":"attach","transaction":"a","apisecret":"s","plugin":"janus.plugin.videoroom"}`)["data"].(map[string]any)["id"]
	hpath := fmt.Sprintf("%s/%.0f", spath, hid)
	for room, want := range map[int]bool{42: true, 1234: false} {
		m := post(hpath, fmt.Sprintf(`{"janus":"message","transaction":"e","apisecret":"s","body":{"request":"exists","room":%d}}`, room))
		data, _ := m["plugindata"].(map[string]any)["data"].(map[string]any)
		if data["exists"] != want {
			t.Errorf("room %d exists: %v, want %v", room, m, want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`{"htp": "x"}`), 0o644)
	if err := loadConfig(bad, &o); err == nil {
		t.Error("a misspelt setting was accepted")
	}
}
