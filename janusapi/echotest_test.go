package janusapi_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/janusapi"
)

// TestEchoTest plays janus.js against the EchoTest plugin over each
// transport: offer in a "message", answer in the event, one candidate
// trickled before the SDP and the rest after it (as "candidates", then
// "completed"), media echoed back, Admin API views, hangup, detach and
// destroy.
func TestEchoTest(t *testing.T) {
	for _, kind := range transports {
		t.Run(string(kind), func(t *testing.T) {
			checkLeaks(t)
			e := newEnv(t, nil, nil)
			c := e.dial(t, kind)
			sid := c.create()
			hid := c.attach(sid, janusapi.EchoTestPlugin)

			pc := testpeer.NewClient(t, testpeer.Options{})
			m := addTracks(t, pc, webrtc.RTPTransceiverDirectionSendrecv)
			var (
				mu    sync.Mutex
				cands []webrtc.ICECandidateInit
			)
			pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
				if cand != nil {
					mu.Lock()
					cands = append(cands, cand.ToJSON())
					mu.Unlock()
				}
			})
			offer, err := pc.CreateOffer(nil)
			if err != nil {
				t.Fatal(err)
			}
			gathered := webrtc.GatheringCompletePromise(pc)
			if err := pc.SetLocalDescription(offer); err != nil {
				t.Fatal(err)
			}
			<-gathered
			mu.Lock()
			all := cands
			mu.Unlock()
			if len(all) == 0 {
				t.Fatal("the client gathered no candidate")
			}

			// One candidate before the SDP: kept until the offer comes.
			if a := c.request(map[string]any{"janus": "trickle", "session_id": sid, "handle_id": hid, "candidate": all[0]}); a.Janus != "ack" {
				t.Fatalf("trickle before the SDP: %s", a)
			}
			mark := c.mark()
			reply, tx := c.message(sid, hid, map[string]any{"audio": true, "video": true}, &offer)
			if reply.Janus != "ack" || reply.SessionID != sid {
				t.Fatalf("message: %s, want ack", reply)
			}
			ev, evAt := c.waitIndex(mark, 10*time.Second, "echotest result", pluginEvent(hid, "result", "ok"))
			if ev.Transaction != tx || ev.JSEP == nil || ev.JSEP.Type != "answer" || ev.PluginData.Plugin != janusapi.EchoTestPlugin || ev.SessionID != sid {
				t.Fatalf("event %s: want the answer, transaction %q, plugin %s", ev, tx, janusapi.EchoTestPlugin)
			}
			if kind == overWS {
				// Janus clients expect the ack before the event it
				// announces.
				_, ackAt := c.waitIndex(mark, time.Second, "ack", func(m jmsg) bool { return m.Transaction == tx && m.Janus == "ack" })
				if ackAt > evAt {
					t.Errorf("the event came before the ack")
				}
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ev.JSEP.SDP}); err != nil {
				t.Fatal(err)
			}
			c.trickleFrom(pc, hid)
			// The rest after the SDP, as an array, then end-of-candidates.
			if a := c.request(map[string]any{"janus": "trickle", "session_id": sid, "handle_id": hid, "candidates": all}); a.Janus != "ack" {
				t.Fatalf("trickle candidates: %s", a)
			}
			if a := c.request(map[string]any{"janus": "trickle", "session_id": sid, "handle_id": hid, "candidate": map[string]any{"completed": true}}); a.Janus != "ack" {
				t.Fatalf("trickle completed: %s", a)
			}
			c.wait(0, 10*time.Second, "webrtcup", janusType("webrtcup", hid))

			stop := make(chan struct{})
			var sending sync.WaitGroup
			m.send('e', stop, &sending)
			defer func() { close(stop); sending.Wait() }()
			testpeer.WaitFor(t, 10*time.Second, "echoed audio and video", func() bool {
				return m.received('e', kindVideo) > 20 && m.received('e', kindAudio) > 20
			})
			media := c.wait(0, 5*time.Second, "media event", func(m jmsg) bool {
				return m.Janus == "media" && m.Sender == hid && m.Type == "video" && m.Receiving != nil && *m.Receiving
			})
			if media.MID == "" {
				t.Errorf("media event without mid: %s", media)
			}

			// A trickled candidate event looks like Janus's.
			tr := c.wait(0, time.Second, "trickle event", janusType("trickle", hid))
			var cand map[string]any
			if err := json.Unmarshal(tr.Candidate, &cand); err != nil || (cand["candidate"] == nil && cand["completed"] != true) {
				t.Errorf("trickle event %s", tr)
			}

			// Admin API: the session, the handle and its PeerConnection.
			if l := e.admin(t, map[string]any{"janus": "list_sessions"}); l.Janus != "success" || len(l.Sessions) != 1 || l.Sessions[0] != sid {
				t.Errorf("list_sessions: %s", l)
			}
			if l := e.admin(t, map[string]any{"janus": "list_handles", "session_id": sid}); l.Janus != "success" || len(l.Handles) != 1 || l.Handles[0] != hid {
				t.Errorf("list_handles: %s", l)
			}
			info := e.admin(t, map[string]any{"janus": "handle_info", "session_id": sid, "handle_id": hid})
			var hi struct {
				Plugin       string `json:"plugin"`
				OpaqueID     string `json:"opaque_id"`
				ICEState     string `json:"ice_state"`
				DTLSState    string `json:"dtls_state"`
				SelectedPair string `json:"selected_pair"`
				Streams      []struct {
					Kind    string `json:"kind"`
					Inbound bool   `json:"inbound"`
					Packets uint64 `json:"packets"`
				} `json:"streams"`
				// The plugin's own state (Janus: query_session).
				PluginSpecific struct {
					AudioActive bool `json:"audio_active"`
					VideoActive bool `json:"video_active"`
					Streams     int  `json:"streams"`
				} `json:"plugin_specific"`
			}
			if err := json.Unmarshal(info.Info, &hi); err != nil || info.Janus != "success" {
				t.Fatalf("handle_info: %s", info)
			}
			if hi.Plugin != janusapi.EchoTestPlugin || hi.OpaqueID != "test-"+janusapi.EchoTestPlugin ||
				hi.ICEState != "connected" || hi.DTLSState != "connected" || hi.SelectedPair == "" || len(hi.Streams) < 2 {
				t.Errorf("handle_info: %s", info)
			}
			if ps := hi.PluginSpecific; !ps.AudioActive || !ps.VideoActive || ps.Streams != 2 {
				t.Errorf("handle_info plugin_specific: %+v in %s", ps, info)
			}

			// A configure without JSEP answers with an event too.
			mark = c.mark()
			if r, tx := c.message(sid, hid, map[string]any{"video": false}, nil); r.Janus != "ack" {
				t.Fatalf("configure: %s", r)
			} else if ev := c.wait(mark, 5*time.Second, "configure result", pluginEvent(hid, "result", "ok")); ev.Transaction != tx || ev.JSEP != nil {
				t.Errorf("configure event %s", ev)
			}

			if r := c.request(map[string]any{"janus": "hangup", "session_id": sid, "handle_id": hid}); r.Janus != "success" {
				t.Fatalf("hangup: %s", r)
			}
			c.wait(0, 5*time.Second, "hangup event", janusType("hangup", hid))
			if r := c.request(map[string]any{"janus": "detach", "session_id": sid, "handle_id": hid}); r.Janus != "success" {
				t.Fatalf("detach: %s", r)
			}
			c.wait(0, 5*time.Second, "detached event", janusType("detached", hid))
			if r := c.request(map[string]any{"janus": "keepalive", "session_id": sid}); r.Janus != "ack" || r.SessionID != sid {
				t.Fatalf("keepalive: %s", r)
			}
			if r := c.request(map[string]any{"janus": "destroy", "session_id": sid}); r.Janus != "success" {
				t.Fatalf("destroy: %s", r)
			}
			if r := c.request(map[string]any{"janus": "keepalive", "session_id": sid}); r.code() != janusapi.ErrorSessionNotFound {
				t.Fatalf("keepalive after destroy: %s", r)
			}
			if n := len(e.router.Sessions()); n != 0 {
				t.Errorf("%d sessions left", n)
			}
		})
	}
}
