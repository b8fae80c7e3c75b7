package janusapi

import (
	"encoding/json"
	"slices"
	"strings"
)

// PluginAPI says how a plugin's errors reach a Janus client, which the
// plugin's Reply cannot tell: a Janus plugin answers some requests
// synchronously ("success" with plugindata) and acknowledges the others
// ("ack", then an "event"), and it reports an error the same way it would
// have reported the result. So a *ianua.PluginError returned for a
// synchronous request becomes
//
//	{"janus":"success","plugindata":{"plugin":...,"data":{"<Short>":"event","error_code":N,"error":"..."}}}
//
// and one returned for an asynchronous request becomes an "ack" followed by
// an "event" with the same plugindata and the request's transaction.
type PluginAPI struct {
	// Short is the key of the error data, "videoroom" in
	// {"videoroom":"event","error_code":N,"error":"..."}. Default: the
	// last dot-separated part of the plugin name.
	Short string
	// Sync lists the requests (the body's "request" field) the plugin
	// answers synchronously.
	Sync []string
	// Async, if not nil, lists the only asynchronous requests: errors of
	// any other (unknown requests, bodies without a "request") are
	// synchronous, as in Janus VideoRoom. Nil: every request not in Sync
	// is asynchronous, as in Janus EchoTest.
	Async []string
}

// Plugin names of the Janus plugins ianua implements or will.
const (
	EchoTestPlugin  = "janus.plugin.echotest"
	VideoRoomPlugin = "janus.plugin.videoroom"
	SIPPlugin       = "janus.plugin.sip"
	StreamingPlugin = "janus.plugin.streaming"
)

// DefaultPlugins returns the PluginAPI of the Janus plugins ianua has, by
// plugin name: EchoTest (everything asynchronous), VideoRoom (room
// management synchronous, participant requests asynchronous) and SIP
// (everything asynchronous).
func DefaultPlugins() map[string]PluginAPI {
	return map[string]PluginAPI{
		EchoTestPlugin: {Short: "echotest"},
		VideoRoomPlugin: {
			Short: "videoroom",
			Sync: []string{"create", "edit", "destroy", "exists", "list", "listparticipants", "kick",
				"moderate", "allowed", "rtp_forward", "stop_rtp_forward", "listforwarders", "enable_recording",
				"add_remote_publisher", "update_remote_publisher", "remove_remote_publisher",
				"publish_remotely", "unpublish_remotely", "listremotes"},
			Async: []string{"join", "joinandconfigure", "configure", "publish", "unpublish", "start",
				"pause", "switch", "subscribe", "unsubscribe", "update", "leave"},
		},
		SIPPlugin: {Short: "sip"},
		StreamingPlugin: {
			Short: "streaming",
			Sync:  []string{"list", "info", "create", "destroy", "edit", "recording", "enable", "disable", "kick", "kick_all"},
		},
	}
}

func (a PluginAPI) withDefaults(plugin string) PluginAPI {
	if a.Short == "" {
		a.Short = plugin[strings.LastIndexByte(plugin, '.')+1:]
	}
	return a
}

// synchronous says whether the plugin answers this message body
// synchronously.
func (a PluginAPI) synchronous(body json.RawMessage) bool {
	var req struct {
		Request any `json:"request"`
	}
	name := ""
	if json.Unmarshal(body, &req) == nil {
		name, _ = req.Request.(string)
	}
	name = strings.ToLower(name)
	if slices.Contains(a.Sync, name) {
		return true
	}
	return a.Async != nil && !slices.Contains(a.Async, name)
}

// errorData is the plugindata.data of a plugin error.
func (a PluginAPI) errorData(code int, reason string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{a.Short: "event", "error_code": code, "error": reason})
	return b
}
