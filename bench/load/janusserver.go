package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Janus (Debian package janus, 1.1.2 in bookworm) in a process of its own,
// configured from scratch in a temporary directory.
//
// Janus never gathers candidates on a loopback interface: its ICE setup
// (src/ice.c, janus_ice_setup_local) skips every interface flagged
// IFF_LOOPBACK before it looks at ice_enforce_list, so "ice_enforce_list =
// lo" leaves it without a single candidate. The tool therefore runs the
// Janus comparison in a private network namespace (see netns.go) where a
// veth pair, janusIface, carries janusIP: Janus's candidates are on it and
// nothing of the run is reachable from outside the namespace. Traffic to a
// local address goes through the loopback device all the same.
const (
	janusIface = "bench0"
	janusIP    = "10.255.255.1"
	// janusPortRange is Janus's RTP/ICE port range; ianua uses one shared
	// UDP port for every PeerConnection, which Janus (libnice) cannot.
	janusPortRange = "20000-40000"
)

// janusLibDir is where Debian installs Janus's plugins, transports,
// event handlers and loggers (amd64).
const janusLibDir = "/usr/lib/x86_64-linux-gnu/janus"

// janusAdminSecret guards Janus's Admin API, which the tool reads the
// forwarded packet counts from (on loopback only).
const janusAdminSecret = "ianua-bench"

type janusTarget struct {
	cmd       *exec.Cmd
	port      int
	adminPort int
	exit      chan error
	admin     *janusConn // Admin API WebSocket, opened on first use
}

// ensureJanus installs Debian's janus package if the janus command is
// missing (apt-get; root needed).
func ensureJanus(log io.Writer) error {
	if _, err := exec.LookPath("janus"); err == nil {
		return nil
	}
	fmt.Fprintln(log, "janus not found: installing Debian's janus package (apt-get update; apt-get install -y janus)")
	for _, args := range [][]string{{"update", "-q"}, {"install", "-y", "-q", "janus"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w (root is needed to install janus)", strings.Join(args, " "), err)
		}
	}
	// On a machine with systemd the package starts janus.service with
	// its default configuration (public ports): the tool installed it,
	// so it stops it.
	if exec.Command("systemctl", "is-active", "--quiet", "janus").Run() == nil {
		fmt.Fprintln(log, "stopping and disabling the janus.service the package started")
		_ = exec.Command("systemctl", "disable", "--now", "janus").Run()
	}
	_, err := exec.LookPath("janus")
	return err
}

// janusConfig writes a minimal configuration to dir: the WebSocket
// transport on 127.0.0.1:wsPort only (and the Admin API on
// 127.0.0.1:adminPort), the VideoRoom plugin only with room 1234 as
// bench/server has it, candidates on janusIface only.
//
// eventLoops > 0 sets Janus's event_loops: that many shared media loops
// instead of one loop thread per handle (Janus's default).
func janusConfig(dir string, wsPort, adminPort, eventLoops int) error {
	plugins := []string{"audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming", "textroom", "videocall", "voicemail"}
	transports := []string{"http", "mqtt", "nanomsg", "pfunix", "rabbitmq"}
	libs := func(names []string) string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = "libjanus_" + n + ".so"
		}
		return strings.Join(out, ",")
	}
	loops := ""
	if eventLoops > 0 {
		loops = fmt.Sprintf("\tevent_loops = %d\n", eventLoops)
	}
	files := map[string]string{
		"janus.jcfg": fmt.Sprintf(`general: {
	configs_folder = "%[1]s"
	plugins_folder = "%[2]s/plugins"
	transports_folder = "%[2]s/transports"
	events_folder = "%[2]s/events"
	loggers_folder = "%[2]s/loggers"
	debug_level = 3
	session_timeout = 60
	server_name = "ianua-bench"
	admin_secret = "%[7]s"
%[8]s}
media: {
	rtp_port_range = "%[3]s"
}
nat: {
	nice_debug = false
	ice_enforce_list = "%[4]s"
	ignore_mdns = true
}
plugins: {
	disable = "%[5]s"
}
transports: {
	disable = "%[6]s"
}
loggers: {
	disable = "libjanus_jsonlog.so"
}
events: {
	broadcast = false
}
`, dir, janusLibDir, janusPortRange, janusIface, libs(plugins), libs(transports), janusAdminSecret, loops),
		"janus.transport.websockets.jcfg": fmt.Sprintf(`general: {
	json = "plain"
	ws = true
	ws_port = %d
	ws_ip = "127.0.0.1"
	wss = false
}
admin: {
	admin_ws = true
	admin_ws_port = %d
	admin_ws_ip = "127.0.0.1"
	admin_wss = false
}
`, wsPort, adminPort),
		"janus.plugin.videoroom.jcfg": `general: {
}
room-1234: {
	description = "bench"
	publishers = 10
	bitrate = 0
	fir_freq = 0
	audiocodec = "opus"
	videocodec = "vp8"
}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startJanus configures and starts Janus and waits until its WebSocket
// port accepts connections.
func startJanus(ctx context.Context, dir string, eventLoops int, log io.Writer) (*janusTarget, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := janusConfig(dir, port, adminPort, eventLoops); err != nil {
		return nil, err
	}
	cmd := exec.Command("janus", "-C", filepath.Join(dir, "janus.jcfg"), "-F", dir, "-o")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &janusTarget{cmd: cmd, port: port, adminPort: adminPort, exit: make(chan error, 1)}
	go func() { t.exit <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = c.Close()
			if t.admin, err = dialJanus(ctx, fmt.Sprintf("ws://127.0.0.1:%d/", adminPort), janusAdminProtocol); err != nil {
				_ = t.close()
				return nil, fmt.Errorf("janus admin API: %w", err)
			}
			return t, nil
		}
		select {
		case err := <-t.exit:
			t.exit <- err
			return nil, fmt.Errorf("janus exited at start (%v); see its log", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	_ = t.close()
	return nil, errors.New("janus did not listen in 30 s")
}

func (t *janusTarget) name() string { return "janus" }
func (t *janusTarget) url() string  { return fmt.Sprintf("ws://127.0.0.1:%d/", t.port) }
func (t *janusTarget) pid() int     { return t.cmd.Process.Pid }

// stats: Janus tells neither goroutines (it has none) nor its heap.
func (t *janusTarget) stats(context.Context, bool) (serverStats, bool) { return serverStats{}, false }

func (t *janusTarget) profile(context.Context, time.Duration, string) error {
	return errors.New("no profile of Janus (use perf)")
}

func (t *janusTarget) heapProfile(context.Context, string) error {
	return errors.New("no heap profile of Janus")
}

// forwarded sums the packets Janus sent on every handle (Admin API
// handle_info: webrtc.media[mid].stats.out.packets, retransmissions
// included). Only subscribers send media, so it is what Janus forwarded.
func (t *janusTarget) forwarded(ctx context.Context) (uint64, bool) {
	req := func(body map[string]any) (*jmsg, error) {
		body["admin_secret"] = janusAdminSecret
		m, err := t.admin.request(ctx, body)
		if err == nil && m.Janus != "success" {
			err = fmt.Errorf("admin %v: %s", body["janus"], m.Janus)
		}
		return m, err
	}
	sessions, err := req(map[string]any{"janus": "list_sessions"})
	if err != nil {
		return 0, false
	}
	var total uint64
	for _, sid := range sessions.Sessions {
		handles, err := req(map[string]any{"janus": "list_handles", "session_id": sid})
		if err != nil {
			continue // gone meanwhile
		}
		for _, hid := range handles.Handles {
			m, err := req(map[string]any{"janus": "handle_info", "session_id": sid, "handle_id": hid})
			if err != nil {
				continue
			}
			var info struct {
				WebRTC struct {
					Media map[string]struct {
						Stats struct {
							Out struct {
								Packets uint64 `json:"packets"`
							} `json:"out"`
						} `json:"stats"`
					} `json:"media"`
				} `json:"webrtc"`
			}
			if json.Unmarshal(m.Info, &info) != nil {
				continue
			}
			for _, md := range info.WebRTC.Media {
				total += md.Stats.Out.Packets
			}
		}
	}
	return total, true
}

func (t *janusTarget) close() error {
	if t.admin != nil {
		t.admin.close()
	}
	return stopProcess(t.cmd.Process, t.exit, 15*time.Second)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
