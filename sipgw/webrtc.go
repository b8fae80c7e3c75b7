package sipgw

import (
	"context"
	"fmt"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

// The WebRTC leg carries the codec the SIP leg negotiated, and only it
// (plus telephone-event): the transceiver is restricted with
// SetCodecPreferences (RFC 9429 section 4.1.7.1) before the description
// is made, so that packets cross the gateway untranscoded.

// browserLeg is what answerBrowser and offerBrowser set up on the WebRTC
// leg: the relay tracks towards the browser (video nil without video).
type browserLeg struct {
	audio, video *relayTrack
}

// answerBrowser answers the browser's offer (applied by the core) once
// the SIP side chose n: the first audio m-line gets our relay track and
// only n's codecs. video is the browser's format of the video the SIP
// peer took, vm its SIP leg; without it the browser's first video m-line,
// if any, is answered inactive (pion has no rejected m-lines).
func (a *Agent) answerBrowser(ctx context.Context, n negotiated, video *codec, vm *media) (*ianua.JSEP, browserLeg, error) {
	var leg browserLeg
	if !a.h.HasPeerConnection() {
		// The browser hung up meanwhile; PeerConnection would make a
		// new, empty one.
		return nil, leg, ianua.ErrNoPeerConnection
	}
	pc, err := a.h.PeerConnection()
	if err != nil {
		return nil, leg, err
	}
	var tr, vtr *webrtc.RTPTransceiver
	for _, t := range pc.GetTransceivers() {
		if t.Mid() == "" || t.Sender() != nil {
			continue
		}
		switch {
		case t.Kind() == webrtc.RTPCodecTypeAudio && tr == nil:
			tr = t
		case t.Kind() == webrtc.RTPCodecTypeVideo && vtr == nil:
			vtr = t
		}
	}
	if tr == nil {
		return nil, leg, fmt.Errorf("%w: no audio m-line to answer", ErrMissingSDP)
	}
	leg.audio = newRelayTrack(webrtc.RTPCodecTypeAudio, []codec{n.Media}, "sip-audio", "ianua-sip")
	if _, err := pc.AddTrack(leg.audio); err != nil {
		return nil, leg, fmt.Errorf("sipgw: add relay track: %w", err)
	}
	if tr.Sender() == nil {
		return nil, leg, fmt.Errorf("%w: the relay track did not land on the audio m-line", ErrMissingSDP)
	}
	if err := restrict(tr, n.codecs()); err != nil {
		return nil, leg, err
	}
	if vtr != nil {
		if video != nil && vm != nil {
			leg.video = newRelayTrack(webrtc.RTPCodecTypeVideo, []codec{*video}, "sip-video", "ianua-sip")
			if err := a.addVideo(pc, vtr, leg.video, []codec{*video}, vm); err != nil {
				return nil, leg, err
			}
		} else if err := vtr.Stop(); err != nil {
			return nil, leg, fmt.Errorf("sipgw: stop the video transceiver: %w", err)
		}
	}
	j, err := a.h.Answer(ctx)
	if err != nil {
		return nil, leg, err
	}
	return j, leg, nil
}

// addVideo puts the video relay track on vtr, an answer's transceiver,
// with only the codecs of want, and relays the browser's keyframe
// requests to the SIP leg vm.
func (a *Agent) addVideo(pc *webrtc.PeerConnection, vtr *webrtc.RTPTransceiver, track *relayTrack, want []codec, vm *media) error {
	s, err := pc.AddTrack(track)
	if err != nil {
		return fmt.Errorf("sipgw: add video relay track: %w", err)
	}
	if vtr.Sender() != s {
		return fmt.Errorf("%w: the video relay track did not land on the video m-line", ErrMissingSDP)
	}
	if err := restrict(vtr, want); err != nil {
		return err
	}
	a.p.goOwned(func() { readFeedback(s, vm) })
	return nil
}

// offerBrowser makes the plugin's offer for an incoming call: one
// sendrecv audio m-line with the codecs of the SIP offer we can carry, in
// the caller's order, for the browser to choose from; and one sendrecv
// video m-line likewise when vcodecs has some (vm is their SIP leg).
func (a *Agent) offerBrowser(ctx context.Context, codecs, vcodecs []codec, vm *media) (*ianua.JSEP, browserLeg, error) {
	var leg browserLeg
	pc, err := a.h.PeerConnection()
	if err != nil {
		return nil, leg, err
	}
	leg.audio = newRelayTrack(webrtc.RTPCodecTypeAudio, codecs, "sip-audio", "ianua-sip")
	tr, err := pc.AddTransceiverFromTrack(leg.audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return nil, leg, fmt.Errorf("sipgw: add transceiver: %w", err)
	}
	if err := restrict(tr, codecs); err != nil {
		return nil, leg, err
	}
	if len(vcodecs) > 0 && vm != nil {
		leg.video = newRelayTrack(webrtc.RTPCodecTypeVideo, vcodecs, "sip-video", "ianua-sip")
		vtr, err := pc.AddTransceiverFromTrack(leg.video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
		if err != nil {
			return nil, leg, fmt.Errorf("sipgw: add video transceiver: %w", err)
		}
		if err := restrict(vtr, vcodecs); err != nil {
			return nil, leg, err
		}
		s := vtr.Sender()
		a.p.goOwned(func() { readFeedback(s, vm) })
	}
	j, err := a.h.Offer(ctx, ianua.OfferOptions{})
	if err != nil {
		return nil, leg, err
	}
	return j, leg, nil
}

// readFeedback reads the browser's RTCP about our video sender s (which
// also runs the interceptors: the NACK responder answers its NACKs) and
// turns its keyframe requests into a PLI to the SIP peer. It ends when
// the PeerConnection closes, which ends the call's media with it.
func readFeedback(s *webrtc.RTPSender, vm *media) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				vm.requestKeyframe()
			}
		}
	}
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
