package sipgw

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/sfu"
)

// defaultSwitchInterval is the least time between two changes of the
// publisher a room caller hears.
const defaultSwitchInterval = time.Second

// DialIn lets SIP callers into the rooms of the router's video-room plugin
// (sfu) as audio participants, with no browser involved: a conference
// bridge's dial-in number, or LiveKit's SIP ingress with its dispatch
// rules. The caller is listed to the room as a remote publisher (display
// name from the From header) whose one audio stream is what the caller
// says; the caller hears one publisher of the room at a time, the active
// speaker, since nothing is mixed or transcoded.
type DialIn struct {
	// Router runs the video-room plugin (sfu.Name); callers' audio
	// becomes sources of it.
	Router *ianua.MediaRouter
	// Users maps the user part of a Request-URI to a room: an INVITE for
	// sip:<user>@<gateway> joins that room, PIN or not (the host chose
	// to open it).
	Users map[string]uint64
	// Prefix, if set, lets an INVITE for sip:<Prefix><n>@<gateway> join
	// room n, any room without a PIN (a caller has no way to give one).
	// "room-" makes sip:room-1234@gateway join room 1234.
	Prefix string
	// SwitchInterval is the least time between two changes of the
	// publisher a caller hears (default 1 s; the room's active-speaker
	// choice holds the floor 2 s anyway).
	SwitchInterval time.Duration
}

// RoomCall describes a SIP caller in a room (Plugin.RoomCalls).
type RoomCall struct {
	CallID string `json:"call_id"`
	Room   uint64 `json:"room"`
	// ID is the caller's participant id in the room.
	ID      uint64 `json:"id"`
	Caller  string `json:"caller"`
	Display string `json:"display,omitempty"`
	Codec   string `json:"codec"`
	SRTP    bool   `json:"srtp,omitempty"`
	// Hearing is the publisher the caller hears; 0 for nobody.
	Hearing uint64 `json:"hearing,omitempty"`
	// PacketsFromPeer and PacketsToPeer count RTP on the SIP leg.
	PacketsFromPeer uint64 `json:"packets_from_peer"`
	PacketsToPeer   uint64 `json:"packets_to_peer"`
}

// roomGateway is the plugin's dial-in state: the rules and the calls in
// rooms, by dialog.
type roomGateway struct {
	mu    sync.Mutex
	rules DialIn
	rooms *sfu.Plugin
	calls map[string]*roomCall
}

// SetDialIn sets the rules that send incoming calls to rooms, replacing
// the previous ones; a DialIn without Users and Prefix turns dial-in off.
// Calls in rooms stay. Dial-in rules are looked at before the users
// registered by handles.
func (p *Plugin) SetDialIn(d DialIn) error {
	var rooms *sfu.Plugin
	if len(d.Users) > 0 || d.Prefix != "" {
		if d.Router == nil {
			return fmt.Errorf("%w: dial-in needs the router", ErrBadParams)
		}
		pl, _ := d.Router.Plugin(sfu.Name)
		if rooms, _ = pl.(*sfu.Plugin); rooms == nil {
			return fmt.Errorf("%w: the router has no %s plugin", ErrBadParams, sfu.Name)
		}
	}
	for user := range d.Users {
		if user == "" || strings.ContainsAny(user, "@:;\r\n") {
			return fmt.Errorf("%w: dial-in user %q", ErrBadParams, user)
		}
	}
	if strings.ContainsAny(d.Prefix, "@:;\r\n") {
		return fmt.Errorf("%w: dial-in prefix %q", ErrBadParams, d.Prefix)
	}
	if d.SwitchInterval <= 0 {
		d.SwitchInterval = defaultSwitchInterval
	}
	users := make(map[string]uint64, len(d.Users))
	for k, v := range d.Users {
		users[k] = v
	}
	d.Users = users
	g := &p.rooms
	g.mu.Lock()
	g.rules, g.rooms = d, rooms
	g.mu.Unlock()
	return nil
}

// RoomCalls returns the SIP callers in rooms.
func (p *Plugin) RoomCalls() []RoomCall {
	g := &p.rooms
	g.mu.Lock()
	calls := make([]*roomCall, 0, len(g.calls))
	for _, rc := range g.calls {
		calls = append(calls, rc)
	}
	g.mu.Unlock()
	out := make([]RoomCall, 0, len(calls))
	for _, rc := range calls {
		out = append(out, rc.info())
	}
	return out
}

// dialInTarget is where a dial-in rule sends a call.
type dialInTarget struct {
	room     uint64
	prefixed bool // by Prefix: rooms with a PIN are closed to it
	rooms    *sfu.Plugin
	router   *ianua.MediaRouter
	interval time.Duration
}

// route finds the room of an INVITE's Request-URI (or To) user, if a rule
// has one.
func (g *roomGateway) route(req *sip.Request) (dialInTarget, bool) {
	users := []string{req.Recipient.User}
	if to := req.To(); to != nil && to.Address.User != req.Recipient.User {
		users = append(users, to.Address.User)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t := dialInTarget{rooms: g.rooms, router: g.rules.Router, interval: g.rules.SwitchInterval}
	if g.rooms == nil {
		return t, false
	}
	for _, u := range users {
		if id, ok := g.rules.Users[u]; ok {
			t.room = id
			return t, true
		}
		if pre := g.rules.Prefix; pre != "" && strings.HasPrefix(u, pre) {
			if id, err := strconv.ParseUint(u[len(pre):], 10, 64); err == nil && id != 0 {
				t.room, t.prefixed = id, true
				return t, true
			}
		}
	}
	return t, false
}

// switchInterval is DialIn.SwitchInterval, for calls placed into rooms
// too.
func (g *roomGateway) switchInterval() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rules.SwitchInterval <= 0 {
		return defaultSwitchInterval
	}
	return g.rules.SwitchInterval
}

func (g *roomGateway) add(rc *roomCall) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*roomCall{}
	}
	g.calls[dialogKey(rc.id, rc.localTag)] = rc
	g.mu.Unlock()
}

func (g *roomGateway) drop(rc *roomCall) {
	key := dialogKey(rc.id, rc.localTag)
	g.mu.Lock()
	if g.calls[key] == rc {
		delete(g.calls, key)
	}
	g.mu.Unlock()
}

// callOf finds the room call of a request inside its dialog.
func (g *roomGateway) callOf(req *sip.Request) *roomCall {
	key, ok := requestKey(req)
	if !ok {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[key]
}
