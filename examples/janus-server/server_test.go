package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ianua/ianua/internal/testpeer"
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

	for _, p := range []string{"/", "/echotest.html", "/videoroom.html", "/streaming.html", "/streaming.js", "/janus.js", "/adapter.js", "/config.js"} {
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
	// A monitoring backend for the event handler: it keeps the events.
	var (
		evMu   sync.Mutex
		events []map[string]any
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []map[string]any
		if u, p, _ := r.BasicAuth(); u != "mon" || p != "pw" || json.NewDecoder(r.Body).Decode(&batch) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		evMu.Lock()
		events = append(events, batch...)
		evMu.Unlock()
	}))
	defer backend.Close()
	path := filepath.Join(t.TempDir(), "janus.json")
	cfg := `{
		"http": "127.0.0.1:0", "websocket": "127.0.0.1:0", "admin": "", "web": "",
		"api_secret": "s", "session_timeout": "30s",
		"event_backend": "` + backend.URL + `", "event_backend_user": "mon", "event_backend_pwd": "pw",
		"videoroom": {"rooms": [{"room": 42, "description": "Answer", "publishers": 2}]},
		"streaming": {"mountpoints": [{"id": 7, "description": "Seven", "media": [{"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"}]}]}
	}`
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var o options
	o = defaultOptions()
	if err := loadConfig(path, &o); err != nil {
		t.Fatal(err)
	}
	if o.APISecret != "s" || o.Admin != "" || len(o.VideoRoom.Rooms) != 1 || o.VideoRoom.Rooms[0].ID != 42 || o.SessionTimeout.String() != "30s" ||
		len(o.Streaming.Mountpoints) != 1 || o.Streaming.Mountpoints[0].ID != 7 {
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
	// Mountpoint 7 is listed, the sample mountpoint 1 is not.
	hid = post(spath, `{"janus":"attach","transaction":"a","apisecret":"s","plugin":"janus.plugin.streaming"}`)["data"].(map[string]any)["id"]
	m := post(fmt.Sprintf("%s/%.0f", spath, hid), `{"janus":"message","transaction":"l","apisecret":"s","body":{"request":"list"}}`)
	list, _ := m["plugindata"].(map[string]any)["data"].(map[string]any)["list"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != 7.0 {
		t.Errorf("streaming list: %v, want mountpoint 7 only", m)
	}
	// The event handler told the backend, in Janus's format.
	testpeer.WaitFor(t, 5*time.Second, "attach events at the backend", func() bool {
		evMu.Lock()
		defer evMu.Unlock()
		n := 0
		for _, e := range events {
			body, _ := e["event"].(map[string]any)
			if e["type"] == 2.0 && body["name"] == "attached" && e["session_id"] == sid && e["emitter"] == "ianua-janus-server" {
				n++
			}
		}
		return n == 2
	})
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`{"htp": "x"}`), 0o644)
	if err := loadConfig(bad, &o); err == nil {
		t.Error("a misspelt setting was accepted")
	}
}

// TestMountpointPorts reads -mountpoint-ports.
func TestMountpointPorts(t *testing.T) {
	testCases := []struct {
		flag         string
		audio, video int // of mountpoint 1; 0, 0: no mountpoint
		bad          bool
	}{
		{flag: "5002,5004", audio: 5002, video: 5004},
		{flag: " 6000 , 6002 ", audio: 6000, video: 6002},
		{flag: "0,0"}, // ports of its choosing
		{flag: ""},
		{flag: "5002", bad: true},
		{flag: "5002,x", bad: true},
		{flag: "5002,70000", bad: true},
	}
	for _, tc := range testCases {
		mps, err := mountpointsFromPorts(tc.flag)
		switch {
		case tc.bad:
			if err == nil {
				t.Errorf("%q: accepted", tc.flag)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.flag, err)
		case tc.flag == "":
			if mps == nil || len(mps) != 0 {
				t.Errorf("%q: %+v, want an empty list (no mountpoint)", tc.flag, mps)
			}
		case len(mps) != 1 || mps[0].ID != 1 || mps[0].LocalIP != "127.0.0.1" ||
			mps[0].Media[0].Type != "audio" || mps[0].Media[0].Port != tc.audio ||
			mps[0].Media[1].Type != "video" || mps[0].Media[1].Port != tc.video:
			t.Errorf("%q: %+v", tc.flag, mps)
		}
	}
}
