package sipgw

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// regState is where a handle's registration stands (Janus
// janus_sip_registration_status).
type regState int

const (
	regNone regState = iota
	regRegistering
	regRegistered
	regGuest // registered without a REGISTER ("guest")
	regUnregistering
)

// Agent is the SIP user agent of one handle (Janus: the SIP session). It
// is what the handle's Attachment returns.
type Agent struct {
	p   *Plugin
	h   *ianua.Handle
	log *slog.Logger

	// media is the RTP leg of the current call once negotiated; the
	// browser's packets go to it from HandleTrack without a lock.
	media atomic.Pointer[media]
	// vmedia is the video leg of the current call, once negotiated, and
	// videoSSRC the SSRC of the browser's video, for keyframe requests.
	vmedia    atomic.Pointer[media]
	videoSSRC atomic.Uint32

	mu    sync.Mutex
	acct  *account
	reg   *registration
	state regState
	call  *call
	// room is the call the handle placed into a room (roomdial.go);
	// a handle has one call at a time, call or room.
	room     *roomCall
	detached bool
}

func newAgent(p *Plugin, h *ianua.Handle) *Agent {
	return &Agent{p: p, h: h, log: h.Logger()}
}

// Status is what an Agent reports of itself (Janus: query_session).
type Status struct {
	Registration string `json:"registration_status"`
	Username     string `json:"username,omitempty"`
	CallStatus   string `json:"call_status"`
	CallID       string `json:"call_id,omitempty"`
	Peer         string `json:"callee,omitempty"`
	// Room is the room of a call placed into one (RoomDial).
	Room uint64 `json:"room,omitempty"`
	// PacketsToPeer and PacketsFromPeer count RTP on the SIP leg of the
	// current call.
	PacketsToPeer   uint64 `json:"packets_to_peer"`
	PacketsFromPeer uint64 `json:"packets_from_peer"`
	// VideoPacketsToPeer and VideoPacketsFromPeer count video RTP.
	VideoPacketsToPeer   uint64 `json:"video_packets_to_peer,omitempty"`
	VideoPacketsFromPeer uint64 `json:"video_packets_from_peer,omitempty"`
}

// Query implements ianua.Querier: the Status, for an admin view.
func (a *Agent) Query() any { return a.Status() }

// Status returns the registration and call state.
func (a *Agent) Status() Status {
	a.mu.Lock()
	st := Status{Registration: a.state.String(), CallStatus: "idle"}
	if a.acct != nil {
		st.Username = a.acct.identity
	}
	c, rc := a.call, a.room
	a.mu.Unlock()
	if c != nil {
		st.CallStatus, st.CallID, st.Peer = c.stateName(), c.id, c.peer
	}
	if rc != nil {
		st.CallStatus, st.CallID, st.Peer, st.Room = rc.state(), rc.id, rc.caller, rc.room.ID()
		st.PacketsToPeer, st.PacketsFromPeer = rc.media.toPeer.Load(), rc.media.fromPeer.Load()
	}
	if m := a.media.Load(); m != nil {
		st.PacketsToPeer, st.PacketsFromPeer = m.toPeer.Load(), m.fromPeer.Load()
	}
	if m := a.vmedia.Load(); m != nil {
		st.VideoPacketsToPeer, st.VideoPacketsFromPeer = m.toPeer.Load(), m.fromPeer.Load()
	}
	return st
}

func (s regState) String() string {
	switch s {
	case regRegistering:
		return "registering"
	case regRegistered:
		return "registered"
	case regGuest:
		return "disabled"
	case regUnregistering:
		return "unregistering"
	}
	return "unregistered"
}

// HandleMessage implements ianua.Attachment. As in Janus every request is
// asynchronous: the outcome ({"sip":"event","result":{...}}) comes as a
// plugin event with the message's transaction. Bad requests are refused
// at once with a *ianua.PluginError carrying the Janus SIP error code.
func (a *Agent) HandleMessage(ctx context.Context, msg ianua.Message) (ianua.Reply, error) {
	req, err := ParseRequest(msg.Body)
	if err != nil {
		return ianua.Reply{}, err
	}
	switch req.Request {
	case "register":
		err = a.register(msg.Transaction, req)
	case "unregister":
		err = a.unregister(msg.Transaction)
	case "call":
		if req.Room != nil {
			err = a.callRoom(ctx, msg, req)
		} else {
			err = a.startCall(ctx, msg, req)
		}
	case "accept":
		err = a.accept(msg, req)
	case "decline":
		err = a.decline(msg.Transaction, req)
	case "join_room":
		err = a.joinRoom(msg, req)
	case "hangup":
		err = a.hangup(msg.Transaction, req)
	case "hold", "unhold":
		err = a.hold(msg.Transaction, req, req.Request == "hold")
	case "dtmf_info":
		err = a.dtmfInfo(msg.Transaction, req)
	case "info":
		err = a.info(msg.Transaction, req)
	case "message":
		err = a.message(msg.Transaction, req)
	case "update":
		err = a.update(msg)
	case "transfer":
		err = a.transfer(msg.Transaction, req)
	case "progress", "subscribe", "unsubscribe",
		"recording", "send_ringing", "keyframe", "rtp_forward", "stop_rtp_forward",
		"listforwarders", "reset":
		err = perr(ErrorInvalidRequest, ErrNotSupported, "Request not supported yet (%s)", req.Request)
	default:
		err = perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Unknown request (%s)", req.Request)
	}
	if err != nil {
		return ianua.Reply{}, err
	}
	return ianua.Reply{Async: true}, nil
}

// push sends a Janus SIP event: {"sip":"event","call_id":...,"result":{...}}.
func (a *Agent) push(transaction, callID string, result map[string]any, jsep *ianua.JSEP) {
	data := map[string]any{"sip": "event", "result": result}
	if callID != "" {
		data["call_id"] = callID
	}
	if err := a.h.PushEvent(transaction, data, jsep); err != nil {
		a.log.Debug("sipgw: push event", "event", result["event"], "err", err)
	}
}

// pushError sends an asynchronous error the Janus way:
// {"sip":"event","error_code":N,"error":"..."}.
func (a *Agent) pushError(transaction string, code int, reason string) {
	data := map[string]any{"sip": "event", "error_code": code, "error": reason}
	if err := a.h.PushEvent(transaction, data, nil); err != nil {
		a.log.Debug("sipgw: push error", "err", err)
	}
}

func (a *Agent) currentCall() *call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.call
}

// HandleTrack implements ianua.TrackHandler: the browser's audio and
// video go to the SIP peer of the current call, with the peer's payload
// types. Other tracks (a second video) are read and dropped.
func (a *Agent) HandleTrack(t *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	leg := &a.media
	switch t.Kind() {
	case webrtc.RTPCodecTypeAudio:
	case webrtc.RTPCodecTypeVideo:
		// The first video m-line's only; the SIP side has one.
		if ssrc := uint32(t.SSRC()); a.videoSSRC.CompareAndSwap(0, ssrc) {
			leg = &a.vmedia
			defer a.videoSSRC.CompareAndSwap(ssrc, 0)
		} else {
			leg = nil
		}
	default:
		leg = nil
	}
	if leg == nil {
		for {
			if _, _, err := t.Read(buf); err != nil {
				return
			}
		}
	}
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	out, enc := make([]byte, 1500), make([]byte, 1500+16)
	var pkt rtp.Packet
	pts := map[uint8]codecKey{}
	sending := false
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		m := leg.Load()
		if m == nil {
			continue
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		key, ok := pts[pkt.PayloadType]
		if !ok {
			// A payload type first seen: look it up in what this
			// receiver negotiated (a renegotiation may add some).
			for _, c := range rcv.GetParameters().Codecs {
				pts[uint8(c.PayloadType)] = keyOf(codecOf(c))
			}
			if key, ok = pts[pkt.PayloadType]; !ok {
				continue
			}
		}
		sent := m.sendToPeer(&pkt, key, out, enc)
		if video && sent && !sending {
			// Video starts (or resumes) at the SIP peer: it needs a
			// keyframe to decode anything.
			a.requestKeyframe()
		}
		sending = sent
	}
}

// requestKeyframe asks the browser for a keyframe of its video (PLI).
func (a *Agent) requestKeyframe() {
	if ssrc := a.videoSSRC.Load(); ssrc != 0 {
		if err := a.h.RequestKeyframe(ssrc); err != nil {
			a.log.Debug("sipgw: keyframe request to the browser", "err", err)
		}
	}
}

// onVideoFeedback relays the SIP peer's feedback about the browser's
// video: a keyframe request (PLI, FIR) becomes a PLI to the browser, and
// a NACK goes as it is (the browser's packets cross with their SSRC and
// sequence numbers).
func (a *Agent) onVideoFeedback(pkts []rtcp.Packet) {
	ssrc := a.videoSSRC.Load()
	if ssrc == 0 {
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			a.requestKeyframe()
		case *rtcp.TransportLayerNack:
			if p.MediaSSRC == ssrc {
				if err := a.h.WriteRTCP([]rtcp.Packet{p}); err != nil {
					a.log.Debug("sipgw: NACK to the browser", "err", err)
				}
			}
		}
	}
}

// HangupMedia implements ianua.HangupHandler: the PeerConnection went away
// (the client hung up, ICE failed), so the SIP call ends too, as in Janus:
// BYE when established or calling, 480 when ringing here.
func (a *Agent) HangupMedia(string) {
	c := a.currentCall()
	if c == nil {
		return
	}
	if c.endLocal(0, "") {
		a.push("", c.id, map[string]any{"event": "hangingup"}, nil)
	}
}

// Detached implements ianua.DetachHandler: the call, if any, ends and the
// registration is withdrawn, both in the background; Plugin.Close waits
// for them.
func (a *Agent) Detached() {
	a.mu.Lock()
	a.detached = true
	c, rc, reg, acct := a.call, a.room, a.reg, a.acct
	a.mu.Unlock()
	if c != nil {
		c.endLocal(0, "")
	}
	if rc != nil {
		rc.end(false)
	}
	if reg != nil {
		reg.stop()
	}
	if acct != nil {
		a.p.dropUser(acct.uri.User, a)
	}
	a.p.dropTransfers(a)
}
