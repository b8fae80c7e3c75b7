package janusapi

import (
	"encoding/json"
	"slices"
	"sort"
)

// info answers "info" with a server_info like Janus's, listing the plugins
// the server knows a PluginAPI or an alias for and the router has.
func (s *Server) info(tx string) *message {
	plugins := map[string]any{}
	for _, name := range s.pluginNames() {
		real, _ := s.resolvePlugin(name)
		p := map[string]any{"name": real, "package": name}
		if real != name {
			p["alias_of"] = real
		}
		plugins[name] = p
	}
	transport := func(name, desc string) map[string]any {
		return map[string]any{"name": name, "author": "ianua", "description": desc, "version_string": "ianua", "version": 0}
	}
	m := map[string]any{
		"janus":                   "server_info",
		"name":                    "ianua",
		"version":                 0,
		"version_string":          "ianua",
		"author":                  "ianua",
		"server-name":             s.p.ServerName,
		"data_channels":           true,
		"accepting-new-sessions":  !s.refusing.Load(),
		"reclaim-session-timeout": int(s.p.ReclaimTimeout.Seconds()),
		"api_secret":              s.p.APISecret != "",
		"auth_token":              s.tokens.enabled,
		"plugins":                 plugins,
		"transports": map[string]any{
			"janus.transport.http":       transport("JANUS REST (HTTP/HTTPS) transport plugin", "Janus API over HTTP, package janusapi"),
			"janus.transport.websockets": transport("JANUS WebSockets transport plugin", "Janus API over WebSocket, package janusapi"),
		},
		"events": map[string]any{},
	}
	if tx != "" {
		m["transaction"] = tx
	}
	b, _ := json.Marshal(m)
	return &message{raw: b}
}

// pluginNames lists, sorted, the plugin names clients may attach to: those
// with a PluginAPI or an alias that the router has.
func (s *Server) pluginNames() []string {
	names := make([]string, 0, len(s.apis)+len(s.p.Aliases))
	for name := range s.apis {
		names = append(names, name)
	}
	for alias := range s.p.Aliases {
		names = append(names, alias)
	}
	sort.Strings(names)
	return slices.DeleteFunc(names, func(name string) bool {
		_, ok := s.resolvePlugin(name)
		return !ok
	})
}
