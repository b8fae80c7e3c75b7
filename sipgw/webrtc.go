package sipgw

import (
	"context"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// The WebRTC leg carries the codec the SIP leg negotiated, and only it
// (plus telephone-event): the transceiver is restricted with
// SetCodecPreferences (RFC 9429 section 4.1.7.1) before the description
// is made, so that packets cross the gateway untranscoded.

// answerBrowser answers the browser's offer (applied by the core) once
// the SIP side chose n: the first audio m-line gets our relay track and
// only n's codecs.
func (a *Agent) answerBrowser(ctx context.Context, n negotiated) (*ianua.JSEP, *relayTrack, error) {
	if !a.h.HasPeerConnection() {
		// The browser hung up meanwhile; PeerConnection would make a
		// new, empty one.
		return nil, nil, ianua.ErrNoPeerConnection
	}
	pc, err := a.h.PeerConnection()
	if err != nil {
		return nil, nil, err
	}
	var tr *webrtc.RTPTransceiver
	for _, t := range pc.GetTransceivers() {
		if t.Kind() == webrtc.RTPCodecTypeAudio && t.Mid() != "" && t.Sender() == nil {
			tr = t
			break
		}
	}
	if tr == nil {
		return nil, nil, fmt.Errorf("%w: no audio m-line to answer", ErrMissingSDP)
	}
	track := newRelayTrack([]codec{n.Media}, "sip-audio", "ianua-sip")
	if _, err := pc.AddTrack(track); err != nil {
		return nil, nil, fmt.Errorf("sipgw: add relay track: %w", err)
	}
	if tr.Sender() == nil {
		return nil, nil, fmt.Errorf("%w: the relay track did not land on the audio m-line", ErrMissingSDP)
	}
	if err := restrict(tr, n.codecs()); err != nil {
		return nil, nil, err
	}
	j, err := a.h.Answer(ctx)
	if err != nil {
		return nil, nil, err
	}
	return j, track, nil
}

// offerBrowser makes the plugin's offer for an incoming call: one
// sendrecv audio m-line with the codecs of the SIP offer we can carry, in
// the caller's order, for the browser to choose from.
func (a *Agent) offerBrowser(ctx context.Context, codecs []codec) (*ianua.JSEP, *relayTrack, error) {
	pc, err := a.h.PeerConnection()
	if err != nil {
		return nil, nil, err
	}
	track := newRelayTrack(codecs, "sip-audio", "ianua-sip")
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return nil, nil, fmt.Errorf("sipgw: add transceiver: %w", err)
	}
	if err := restrict(tr, codecs); err != nil {
		return nil, nil, err
	}
	j, err := a.h.Offer(ctx, ianua.OfferOptions{})
	if err != nil {
		return nil, nil, err
	}
	return j, track, nil
}

// restrict keeps only the codecs of want on tr, in want's order, with the
// payload types the PeerConnection already uses for them.
func restrict(tr *webrtc.RTPTransceiver, want []codec) error {
	have := tr.Sender().GetParameters().Codecs
	var prefs []webrtc.RTPCodecParameters
	for _, w := range want {
		for _, h := range have {
			if codecOf(h).same(w) {
				prefs = append(prefs, h)
				break
			}
		}
	}
	if len(prefs) == 0 {
		return fmt.Errorf("%w: the browser leg has none of the SIP codecs", ErrMissingSDP)
	}
	if err := tr.SetCodecPreferences(prefs); err != nil {
		return fmt.Errorf("sipgw: codec preferences: %w", err)
	}
	return nil
}
