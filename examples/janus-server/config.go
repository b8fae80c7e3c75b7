package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ianua/ianua/sfu"
	"github.com/ianua/ianua/streaming"
)

// options are the settings of one run: defaults, then the -config file,
// then the flags given on the command line. The JSON names are those of
// the config file (see README.md).
type options struct {
	// Listen addresses, Janus's defaults; ":0" ports are fine (see run).
	HTTP      string `json:"http"`      // REST API, under /janus
	WebSocket string `json:"websocket"` // WebSocket API, any path
	Admin     string `json:"admin"`     // Admin API, under /admin ("" to disable)
	Web       string `json:"web"`       // demo pages ("" to disable)

	// ICEUDP is the one UDP socket that carries all media; NAT1To1 and
	// STUN are for a server behind NAT.
	ICEUDP string `json:"ice_udp"`
	// SIP is the UDP address of the SIP plugin's user agents ("" to
	// leave janus.plugin.sip out).
	SIP string `json:"sip"`
	// SIPTCP also takes and sends SIP over TCP on the SIP address;
	// SIPTLSCert and SIPTLSKey (PEM files) over TLS on SIPTLS (default:
	// the SIP host, port 5061). A proxy or URI then picks the transport
	// (";transport=tcp", sips:), as with Janus.
	SIPTCP     bool     `json:"sip_tcp"`
	SIPTLSCert string   `json:"sip_tls_cert"`
	SIPTLSKey  string   `json:"sip_tls_key"`
	SIPTLS     string   `json:"sip_tls"`
	NAT1To1    []string `json:"nat_1_1"`
	STUN       []string `json:"stun"`

	APISecret      string              `json:"api_secret"`
	AdminSecret    string              `json:"admin_secret"`
	Tokens         map[string][]string `json:"tokens"`
	Aliases        map[string]string   `json:"aliases"`
	AllowedOrigins []string            `json:"allowed_origins"`
	SessionTimeout duration            `json:"session_timeout"`
	ReclaimTimeout duration            `json:"reclaim_timeout"`

	// EventBackend, if set, is the URL every session, handle, JSEP,
	// WebRTC, media and plugin event is POSTed to, in the format of
	// Janus's event handlers (janus.eventhandler.sampleevh's "backend"),
	// with EventBackendUser and EventBackendPassword as basic
	// authentication.
	EventBackend         string `json:"event_backend"`
	EventBackendUser     string `json:"event_backend_user"`
	EventBackendPassword string `json:"event_backend_pwd"`

	VideoRoom struct {
		// AdminKey, if set, is required to create rooms.
		AdminKey string `json:"admin_key"`
		// Rooms are created at start, with the fields of VideoRoom's
		// "create" request. Default: Janus's demo room 1234.
		Rooms []sfu.RoomParams `json:"rooms"`
	} `json:"videoroom"`

	Streaming struct {
		// AdminKey, if set, is required to create mountpoints.
		AdminKey string `json:"admin_key"`
		// Mountpoints are opened at start: plain RTP in on UDP ports of
		// 127.0.0.1 (or "host"), with the fields of a Streaming "create"
		// request's "media" form. Default (nil): mountpoint 1 of
		// rtpMountpoint, as Janus's sample configuration has it; [] opens
		// none.
		Mountpoints []streaming.MountpointParams `json:"mountpoints"`
	} `json:"streaming"`

	// WebDir is the directory holding node_modules (janus.js and
	// webrtc-adapter); default: web/ or examples/janus-server/web/.
	WebDir string `json:"web_dir"`

	// Logger receives the router's and the servers' logs.
	Logger *slog.Logger `json:"-"`
}

func defaultOptions() options {
	return options{
		HTTP:      "127.0.0.1:8088",
		WebSocket: "127.0.0.1:8188",
		Admin:     "127.0.0.1:7088",
		Web:       "127.0.0.1:8080",
		ICEUDP:    "127.0.0.1:0",
		SIP:       "127.0.0.1:5060",
	}
}

// Janus's sample mountpoint: id 1, Opus on port 5002 (payload type 111),
// VP8 on port 5004 (payload type 100), which the README's ffmpeg command
// feeds.
const (
	sampleMountpoint = 1
	sampleAudioPort  = 5002
	sampleVideoPort  = 5004
	sampleDesc       = "Opus/VP8 over RTP (see the README)"
)

// rtpMountpoint is a Streaming mountpoint with one Opus and one VP8 stream
// of plain RTP on 127.0.0.1 (port 0 picks one). Payload types and mids are
// Janus's for its legacy audio/video mountpoints.
func rtpMountpoint(id uint64, description string, audioPort, videoPort int) streaming.MountpointParams {
	return streaming.MountpointParams{
		ID:          id,
		Description: description,
		LocalIP:     "127.0.0.1",
		Media: []streaming.MediaParams{
			{Type: "audio", MID: "a", Port: audioPort, PT: 111, Codec: "opus"},
			{Type: "video", MID: "v", Port: videoPort, PT: 100, Codec: "vp8"},
		},
	}
}

// mountpointsFromPorts reads -mountpoint-ports, "audio,video": mountpoint 1
// on those ports, or none for "".
func mountpointsFromPorts(s string) ([]streaming.MountpointParams, error) {
	if strings.TrimSpace(s) == "" {
		return []streaming.MountpointParams{}, nil
	}
	a, v, ok := strings.Cut(s, ",")
	if !ok {
		return nil, fmt.Errorf("%q: want audio,video ports (e.g. %d,%d)", s, sampleAudioPort, sampleVideoPort)
	}
	var ports [2]int
	for i, p := range []string{a, v} {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%q: %q is not a port", s, p)
		}
		ports[i] = int(n)
	}
	return []streaming.MountpointParams{rtpMountpoint(sampleMountpoint, sampleDesc, ports[0], ports[1])}, nil
}

// loadConfig reads a JSON config file over o: the fields it has replace
// o's.
func loadConfig(path string, o *options) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(o); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func (o options) check() error {
	for _, ip := range o.NAT1To1 {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("nat_1_1: %q is not an IP address", ip)
		}
	}
	for _, u := range o.STUN {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") {
			return fmt.Errorf("stun: %q is not a stun: URL", u)
		}
	}
	return nil
}

// duration is a time.Duration written "60s" or as a number of seconds.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("a duration is \"60s\" or a number of seconds, not %s", b)
	}
	*d = duration(secs * float64(time.Second))
	return nil
}

func (d duration) String() string { return time.Duration(d).String() }

// Set and the String above make duration a flag.Value.
func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	*d = duration(v)
	return err
}
