package janusapi

import (
	"encoding/json"

	"github.com/ianua/ianua"
)

// encode maps a session event to the Janus event a client expects
// (janus.c and ice.c of Janus: event, trickle, webrtcup, media, slowlink,
// hangup, detached, timeout). ok is false for events Janus does not send.
func (ss *session) encode(ev ianua.Event) (m *message, ok bool) {
	m = &message{Janus: ev.Type.String(), SessionID: ss.id, Sender: ev.HandleID}
	switch ev.Type {
	case ianua.EventPlugin:
		plugin := ev.Plugin
		if h, ok := ss.handle(ev.HandleID); ok {
			plugin = h.plugin
		}
		data := ev.Data
		if len(data) == 0 || !json.Valid(data) {
			data = json.RawMessage("{}")
		}
		m.Transaction = ev.Transaction
		m.PluginData = &pluginData{Plugin: plugin, Data: data}
		m.JSEP = ev.JSEP
	case ianua.EventTrickle:
		c := candidate{Completed: ev.Completed}
		if ev.Candidate != nil {
			c.Candidate = ev.Candidate.Candidate
			c.SDPMid = ev.Candidate.SDPMid
			c.SDPMLineIndex = ev.Candidate.SDPMLineIndex
		} else {
			c.Completed = true
		}
		m.Candidate = c
	case ianua.EventWebRTCUp, ianua.EventDetached:
	case ianua.EventMedia:
		if ev.Media == nil {
			return nil, false
		}
		receiving := ev.Media.Receiving
		m.MID, m.Type, m.Receiving = ev.Media.MID, ev.Media.Kind, &receiving
	case ianua.EventSlowLink:
		if ev.SlowLink == nil {
			return nil, false
		}
		// Janus's "uplink" is the server's: true when the user NACKs
		// what Janus sends (mainpage.dox, "uplink=true is from Janus'
		// perspective"). ianua's Uplink is the client's.
		uplink, lost := !ev.SlowLink.Uplink, ev.SlowLink.Lost
		m.MID, m.Media, m.Uplink, m.Lost = ev.SlowLink.MID, ev.SlowLink.Kind, &uplink, &lost
	case ianua.EventHangup:
		m.Reason = ev.Reason
	case ianua.EventTimeout:
		m.Sender = 0
	default:
		// EventDestroyed (the session ended at the host's request) and
		// the observer-only events have no Janus counterpart.
		return nil, false
	}
	return m, true
}
