package main

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
)

// pages are the demo pages, built into the binary. janus.js and
// webrtc-adapter are not: they come from npm (web/package.json) and are
// served from web/node_modules.
//
//go:embed web/*.html web/*.js web/*.css
var pages embed.FS

// Files of the npm packages the pages load, under the web directory.
const (
	janusJS   = "node_modules/janus-gateway/npm/src/janus.js"
	adapterJS = "node_modules/webrtc-adapter/out/adapter.js"
)

// findWebDir returns the directory whose node_modules hold janus.js: the
// one given, or web/ (run from the example's directory, as tests are), or
// examples/janus-server/web/ (run from the repository root).
func findWebDir(dir string) (string, error) {
	candidates := []string{dir}
	if dir == "" {
		candidates = []string{"web", filepath.Join("examples", "janus-server", "web")}
	}
	for _, d := range candidates {
		if _, err := os.Stat(filepath.Join(d, janusJS)); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("janus.js not found in %v: run  npm ci --prefix examples/janus-server/web  (or give -web-dir)", candidates)
}

// endpoint is where a page finds an API: host "" means the page's own
// host (the server listens on every address).
type endpoint struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	Path string `json:"path,omitempty"`
}

func endpointOf(addr, path string) *endpoint {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = ""
	}
	n, _ := strconv.Atoi(port)
	return &endpoint{Host: host, Port: n, Path: path}
}

// newWeb returns the demo web server: the pages, janus.js, adapter.js and
// /config.js, which tells the pages where the API listens.
func newWeb(o options, at listening) (http.Handler, error) {
	dir, err := findWebDir(o.WebDir)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(pages, "web")
	if err != nil {
		return nil, err
	}
	var ice []map[string]any
	if len(o.STUN) > 0 {
		ice = append(ice, map[string]any{"urls": o.STUN})
	}
	cfg, err := json.Marshal(map[string]any{
		"websocket":  endpointOf(at.WebSocket, "/"),
		"http":       endpointOf(at.HTTP, "/janus"),
		"iceServers": ice,
	})
	if err != nil {
		return nil, err
	}
	configJS := []byte("window.ianuaConfig = " + string(cfg) + ";\n")

	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(sub))
	mux.HandleFunc("GET /config.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(configJS)
	})
	for path, file := range map[string]string{"/janus.js": janusJS, "/adapter.js": adapterJS} {
		full := filepath.Join(dir, file)
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			if _, err := os.Stat(full); errors.Is(err, fs.ErrNotExist) {
				http.Error(w, "missing "+full+": run npm ci --prefix examples/janus-server/web", http.StatusNotFound)
				return
			}
			http.ServeFile(w, r, full)
		})
	}
	return mux, nil
}
