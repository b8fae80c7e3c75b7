package ianua

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// HandleInfo is a snapshot of a handle for an admin view (Janus Admin API:
// handle_info).
type HandleInfo struct {
	SessionID uint64 `json:"session_id"`
	HandleID  uint64 `json:"handle_id"`
	Plugin    string `json:"plugin"`

	// HasPeerConnection is false before the first negotiation and after
	// a hangup; the fields below are then empty.
	HasPeerConnection bool   `json:"has_peer_connection"`
	SignalingState    string `json:"signaling_state,omitempty"`
	ICEState          string `json:"ice_state,omitempty"`
	DTLSState         string `json:"dtls_state,omitempty"`
	ConnectionState   string `json:"connection_state,omitempty"`
	// SelectedPair is the ICE candidate pair in use, as "local <-> remote".
	SelectedPair string `json:"selected_pair,omitempty"`
	// RTT is the current round-trip time of the selected pair, seconds.
	RTT float64 `json:"rtt,omitempty"`
	// SRTPCipher is the negotiated SRTP protection profile.
	SRTPCipher string `json:"srtp_cipher,omitempty"`

	Streams []StreamInfo `json:"streams,omitempty"`

	// PluginSpecific is what the plugin says of the handle (Querier), or
	// nil.
	PluginSpecific any `json:"plugin_specific,omitempty"`
}

// StreamInfo is one RTP stream (one SSRC) of a handle.
type StreamInfo struct {
	MID  string `json:"mid"`
	Kind string `json:"kind"`
	SSRC uint32 `json:"ssrc"`
	// Inbound is true for a stream the client sends us.
	Inbound bool `json:"inbound"`

	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// Lost is the packets lost: for inbound as we count them, for
	// outbound as the client reports in its receiver reports.
	Lost   int64   `json:"lost"`
	Jitter float64 `json:"jitter,omitempty"`
	NACKs  uint32  `json:"nacks"`
	PLIs   uint32  `json:"plis"`
	// RTT is from the client's receiver reports (outbound only), seconds.
	RTT float64 `json:"rtt,omitempty"`
}

// Info returns a snapshot of the handle and its PeerConnection.
func (h *Handle) Info() HandleInfo {
	info := HandleInfo{SessionID: h.s.id, HandleID: h.id, Plugin: h.plugin.Name()}
	if q, ok := h.attachment().(Querier); ok {
		info.PluginSpecific = q.Query()
	}
	p := h.currentPeer()
	if p == nil {
		return info
	}
	pc := p.pc
	info.HasPeerConnection = true
	info.SignalingState = pc.SignalingState().String()
	info.ICEState = pc.ICEConnectionState().String()
	info.ConnectionState = pc.ConnectionState().String()
	dtls := pc.SCTP().Transport()
	info.DTLSState = dtls.State().String()
	if pair, err := dtls.ICETransport().GetSelectedCandidatePair(); err == nil && pair != nil {
		info.SelectedPair = fmt.Sprintf("%s:%d <-> %s:%d", pair.Local.Address, pair.Local.Port, pair.Remote.Address, pair.Remote.Port)
	}

	// Inbound streams from pion's stats; outbound ones from our monitor,
	// since pion's GetStats reports only receivers.
	for _, st := range pc.GetStats() {
		switch st := st.(type) {
		case webrtc.InboundRTPStreamStats:
			si := StreamInfo{
				MID: st.Mid, Kind: st.Kind, SSRC: uint32(st.SSRC), Inbound: true,
				Packets: uint64(st.PacketsReceived), Bytes: st.BytesReceived,
				Lost: int64(st.PacketsLost), Jitter: st.Jitter, NACKs: st.NACKCount, PLIs: st.PLICount,
			}
			if ms, ok := p.mon.Stream(uint32(st.SSRC)); ok {
				si.NACKs = max(si.NACKs, ms.NACKs())
			}
			info.Streams = append(info.Streams, si)
		case webrtc.ICECandidatePairStats:
			if st.Nominated && st.CurrentRoundTripTime > 0 {
				info.RTT = st.CurrentRoundTripTime
			}
		case webrtc.TransportStats:
			info.SRTPCipher = st.SRTPCipher
		}
	}
	for _, tr := range pc.GetTransceivers() {
		sender := tr.Sender()
		if sender == nil {
			continue
		}
		for _, enc := range sender.GetParameters().Encodings {
			ls, ok := p.mon.Local(uint32(enc.SSRC))
			if !ok {
				continue
			}
			si := StreamInfo{
				MID: tr.Mid(), Kind: tr.Kind().String(), SSRC: uint32(enc.SSRC),
				Packets: ls.Packets(), Bytes: ls.Bytes(), Lost: ls.Lost(),
				NACKs: ls.NACKs(), PLIs: ls.PLIs(), RTT: ls.RTT().Seconds(),
			}
			if codecs := sender.GetParameters().Codecs; len(codecs) > 0 && codecs[0].ClockRate > 0 {
				si.Jitter = float64(ls.Jitter()) / float64(codecs[0].ClockRate)
			}
			info.Streams = append(info.Streams, si)
		}
	}
	return info
}
