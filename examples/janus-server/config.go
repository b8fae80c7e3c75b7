package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ianua/ianua/sfu"
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
	SIP     string   `json:"sip"`
	NAT1To1 []string `json:"nat_1_1"`
	STUN    []string `json:"stun"`

	APISecret      string              `json:"api_secret"`
	AdminSecret    string              `json:"admin_secret"`
	Tokens         map[string][]string `json:"tokens"`
	Aliases        map[string]string   `json:"aliases"`
	AllowedOrigins []string            `json:"allowed_origins"`
	SessionTimeout duration            `json:"session_timeout"`
	ReclaimTimeout duration            `json:"reclaim_timeout"`

	VideoRoom struct {
		// AdminKey, if set, is required to create rooms.
		AdminKey string `json:"admin_key"`
		// Rooms are created at start, with the fields of VideoRoom's
		// "create" request. Default: Janus's demo room 1234.
		Rooms []sfu.RoomParams `json:"rooms"`
	} `json:"videoroom"`

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
