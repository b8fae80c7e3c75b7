package sfu_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// End-to-end encrypted publishers, as Janus VideoRoom has them: a
// publisher's offer with "e2ee" gets it back in its answer, its
// subscribers get it in their offer (so that janus.js sets up their
// receiver transforms) and its media flows unread; one subscription cannot
// mix encrypted and plain feeds; a room with require_e2ee refuses plain
// publishers, before anything changes.
func TestE2EE(t *testing.T) {
	checkLeaks(t)
	p, err := sfu.New(sfu.Params{Rooms: []sfu.RoomParams{{ID: 40}, {ID: 41, RequireE2EE: true}}, Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r := testpeer.NewRouter(t, nil, p)
	enc := join(t, r, 40, 1)
	enc.publish(publishOptions{video: true, e2ee: true})
	plain := join(t, r, 40, 2)
	plain.publish(publishOptions{video: true})
	if !enc.pubAnswer.E2EE || plain.pubAnswer.E2EE {
		t.Errorf("answers: e2ee %v for the encrypted publisher, %v for the plain one", enc.pubAnswer.E2EE, plain.pubAnswer.E2EE)
	}
	room, _ := p.Room(40)
	if pt, _ := room.Participant(enc.id); !pt.E2EE() {
		t.Error("Participant.E2EE false for the encrypted publisher")
	}

	// A subscriber of the encrypted feed is told, and gets the media.
	s := join(t, r, 40, 3)
	s.subscribe(feeds(enc), nil)
	if !s.subOffer.E2EE {
		t.Error("the subscriber's offer does not say e2ee")
	}
	if q, _ := s.subH.Info().PluginSpecific.(map[string]any); q["e2ee"] != true {
		t.Errorf("subscriber query %v, want e2ee", q)
	}
	enc.send(50)
	testpeer.WaitFor(t, 5*time.Second, "encrypted media forwarded", func() bool { return s.received(enc.marker, kindVideo) > 20 })
	// A plain subscriber of the plain feed is not told.
	u := join(t, r, 40, 4)
	u.subscribe(feeds(plain), nil)
	if u.subOffer.E2EE {
		t.Error("a plain subscription's offer says e2ee")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	send := func(h *ianua.Handle, body map[string]any, jsep *ianua.JSEP) error {
		_, err := h.Message(ctx, ianua.Message{Body: testpeer.JSON(body), JSEP: jsep})
		return err
	}
	refused := func(what string, err error, code int, is error) {
		t.Helper()
		var pe *ianua.PluginError
		if !errors.As(err, &pe) || pe.Code != code || !errors.Is(err, is) {
			t.Errorf("%s: %v, want code %d (%v)", what, err, code, is)
		}
	}
	subStreams := func() int {
		return len(s.subH.Attachment().(interface{ Query() any }).Query().(map[string]any)["streams"].([]map[string]any))
	}
	before := subStreams()
	refused("adding a plain feed to an encrypted subscription",
		send(s.subH, map[string]any{"request": "subscribe", "streams": []map[string]any{{"feed": plain.id}}}, nil), sfu.ErrorInvalidFeed, sfu.ErrE2EEMix)
	if n := subStreams(); n != before {
		t.Errorf("refused subscribe changed the streams: %d -> %d", before, n)
	}
	refused("switching an encrypted stream to a plain feed",
		send(s.subH, map[string]any{"request": "switch", "streams": []map[string]any{{"feed": plain.id, "mid": "0", "sub_mid": subMID(t, s)}}}, nil), sfu.ErrorInvalidFeed, sfu.ErrE2EEMix)
	for _, order := range [][]*participant{{enc, plain}, {plain, enc}} {
		sess, err := r.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		testpeer.Watch(sess)
		h, err := sess.Attach(sfu.Name)
		if err != nil {
			t.Fatal(err)
		}
		refused("a subscription of both kinds",
			send(h, map[string]any{"request": "join", "ptype": "subscriber", "room": 40, "streams": feeds(order...)}, nil), sfu.ErrorInvalidFeed, sfu.ErrE2EEMix)
		if h.HasPeerConnection() {
			t.Error("a refused subscription left a PeerConnection")
		}
		_ = sess.Destroy()
	}

	// A room that requires e2ee: a plain offer is refused and the
	// publisher stays unpublished; an encrypted one is taken.
	v := join(t, r, 41, 5)
	pc := testpeer.NewClient(t, testpeer.Options{})
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	refused("a plain publisher in a room that requires e2ee",
		send(v.pubH, map[string]any{"request": "publish", "bitrate": 12345}, &ianua.JSEP{Type: "offer", SDP: offer.SDP}), sfu.ErrorUnauthorized, sfu.ErrE2EERequired)
	room41, _ := p.Room(41)
	if pt, _ := room41.Participant(v.id); pt.Publishing() {
		t.Error("the refused publisher publishes")
	}
	if q, _ := v.pubH.Info().PluginSpecific.(map[string]any); q["publishing"] != false {
		t.Errorf("refused publisher: %v", q)
	}
	v.publish(publishOptions{video: true, e2ee: true})
	if !v.pubAnswer.E2EE {
		t.Error("the encrypted publisher's answer in the e2ee room does not say e2ee")
	}
	w := join(t, r, 41, 6)
	w.subscribe(feeds(v), nil)
	if !w.subOffer.E2EE {
		t.Error("the subscriber's offer in the e2ee room does not say e2ee")
	}
}
