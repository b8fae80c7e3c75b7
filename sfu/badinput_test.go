package sfu_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// Bad requests get Janus VideoRoom's error codes and change nothing.
func TestBadInput(t *testing.T) {
	checkLeaks(t)
	p, err := sfu.New(sfu.Params{Logger: testpeer.QuietLogger(), Rooms: []sfu.RoomParams{
		{ID: 20, PIN: testPIN, Secret: "s3cret", Publishers: 1},
		{ID: 21},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := testpeer.NewRouter(t, nil, p)
	ctx := context.Background()
	room, err := p.Room(20)
	if err != nil {
		t.Fatal(err)
	}

	// A live publisher (the room's only one), and in room 21 one that
	// unpublished.
	live := join(t, r, 20, 1)
	live.publish(publishOptions{video: true})
	gone := join(t, r, 21, 2)
	gone.publish(publishOptions{video: true})
	message(t, gone.pubH, map[string]any{"request": "unpublish"}, nil)

	send := func(h *ianua.Handle, body map[string]any, jsep *ianua.JSEP) error {
		_, err := h.Message(ctx, ianua.Message{Body: testpeer.JSON(body), JSEP: jsep})
		return err
	}
	joinPub := func(t *testing.T, h *ianua.Handle) {
		t.Helper()
		if err := send(h, map[string]any{"request": "join", "ptype": "publisher", "room": 20, "pin": testPIN}, nil); err != nil {
			t.Fatal(err)
		}
	}
	offer := func(t *testing.T) *ianua.JSEP {
		pc := testpeer.NewClient(t, testpeer.Options{})
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
		o, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return &ianua.JSEP{Type: "offer", SDP: o.SDP}
	}
	subscribeTo := func(feed uint64, mid string, private uint64) map[string]any {
		st := map[string]any{"feed": feed}
		if mid != "" {
			st["mid"] = mid
		}
		b := map[string]any{"request": "join", "ptype": "subscriber", "room": 20, "pin": testPIN, "streams": []any{st}}
		if private != 0 {
			b["private_id"] = private
		}
		return b
	}

	testCases := []struct {
		name string
		do   func(t *testing.T, h *ianua.Handle) error
		code int
		is   error
	}{
		{"malformed JSON", func(t *testing.T, h *ianua.Handle) error {
			_, err := h.Message(ctx, ianua.Message{Body: []byte(`{"request":`)})
			return err
		}, sfu.ErrorInvalidJSON, ianua.ErrMalformedBody},
		{"no request", func(t *testing.T, h *ianua.Handle) error { return send(h, map[string]any{"room": 20}, nil) }, sfu.ErrorMissingElement, ianua.ErrMalformedBody},
		{"wrong type", func(t *testing.T, h *ianua.Handle) error {
			return send(h, map[string]any{"request": "join", "room": "twenty", "ptype": "publisher"}, nil)
		}, sfu.ErrorInvalidElement, ianua.ErrInvalidElement},
		{"unknown request", func(t *testing.T, h *ianua.Handle) error { return send(h, map[string]any{"request": "dance"}, nil) }, sfu.ErrorInvalidRequest, ianua.ErrUnknownRequest},
		{"configure before join", func(t *testing.T, h *ianua.Handle) error { return send(h, map[string]any{"request": "configure"}, nil) }, sfu.ErrorJoinFirst, sfu.ErrJoinFirst},
		{"unknown room", func(t *testing.T, h *ianua.Handle) error {
			return send(h, map[string]any{"request": "join", "ptype": "publisher", "room": 999}, nil)
		}, sfu.ErrorNoSuchRoom, sfu.ErrNoSuchRoom},
		{"wrong PIN", func(t *testing.T, h *ianua.Handle) error {
			return send(h, map[string]any{"request": "join", "ptype": "publisher", "room": 20, "pin": "0000"}, nil)
		}, sfu.ErrorUnauthorized, sfu.ErrUnauthorized},
		{"wrong secret", func(t *testing.T, h *ianua.Handle) error {
			return send(h, map[string]any{"request": "destroy", "room": 20, "secret": "guess"}, nil)
		}, sfu.ErrorUnauthorized, sfu.ErrUnauthorized},
		{"room exists", func(t *testing.T, h *ianua.Handle) error {
			return send(h, map[string]any{"request": "create", "room": 20}, nil)
		}, sfu.ErrorRoomExists, sfu.ErrRoomExists},
		{"id exists", func(t *testing.T, h *ianua.Handle) error {
			return send(h, map[string]any{"request": "join", "ptype": "publisher", "room": 20, "pin": testPIN, "id": live.id}, nil)
		}, sfu.ErrorIDExists, sfu.ErrIDExists},
		{"publish without offer", func(t *testing.T, h *ianua.Handle) error {
			joinPub(t, h)
			return send(h, map[string]any{"request": "publish"}, nil)
		}, sfu.ErrorMissingElement, ianua.ErrMalformedBody},
		{"unpublish when not published", func(t *testing.T, h *ianua.Handle) error {
			joinPub(t, h)
			return send(h, map[string]any{"request": "unpublish"}, nil)
		}, sfu.ErrorNotPublished, sfu.ErrNotPublished},
		{"publishers full", func(t *testing.T, h *ianua.Handle) error {
			joinPub(t, h)
			return send(h, map[string]any{"request": "publish"}, offer(t))
		}, sfu.ErrorPublishersFull, sfu.ErrPublishersFull},
		{"subscriber sends an offer", func(t *testing.T, h *ianua.Handle) error {
			return send(h, subscribeTo(live.id, "", 0), offer(t))
		}, sfu.ErrorInvalidSDPType, ianua.ErrInvalidJSEP},
		{"unknown feed", func(t *testing.T, h *ianua.Handle) error { return send(h, subscribeTo(424242, "", 0), nil) }, sfu.ErrorNoSuchFeed, sfu.ErrNoSuchFeed},
		{"unknown stream", func(t *testing.T, h *ianua.Handle) error { return send(h, subscribeTo(live.id, "nope", 0), nil) }, sfu.ErrorNoSuchFeed, sfu.ErrNoSuchFeed},
		{"unpublished feed", func(t *testing.T, h *ianua.Handle) error {
			b := subscribeTo(gone.id, "", 0)
			b["room"] = 21
			return send(h, b, nil)
		}, sfu.ErrorNoSuchFeed, sfu.ErrNoSuchFeed},
		{"subscribe to yourself", func(t *testing.T, h *ianua.Handle) error {
			return send(h, subscribeTo(live.id, "", live.privateID), nil)
		}, sfu.ErrorInvalidElement, ianua.ErrInvalidElement},
		{"kick unknown participant", func(t *testing.T, h *ianua.Handle) error {
			return send(h, map[string]any{"request": "kick", "room": 20, "secret": "s3cret", "id": 77}, nil)
		}, sfu.ErrorNoSuchFeed, sfu.ErrNoSuchFeed},
		{"moderate unknown mid", func(t *testing.T, h *ianua.Handle) error {
			return send(h, map[string]any{"request": "moderate", "room": 20, "secret": "s3cret", "id": live.id, "mid": "9", "mute": true}, nil)
		}, sfu.ErrorInvalidElement, ianua.ErrInvalidElement},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := r.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			testpeer.Watch(s)
			t.Cleanup(func() { _ = s.Destroy() })
			h, err := s.Attach(sfu.Name)
			if err != nil {
				t.Fatal(err)
			}
			before := len(room.Participants())
			err = tc.do(t, h)
			var pe *ianua.PluginError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("got %v, want code %d", err, tc.code)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			// A case that joined first adds that participant, nothing more;
			// a refused offer or subscription leaves no PeerConnection.
			if after := len(room.Participants()); after > before+1 {
				t.Errorf("participants %d -> %d", before, after)
			}
			if h.HasPeerConnection() {
				t.Error("a PeerConnection was left behind")
			}
			if live.isPublishing(room) != true {
				t.Error("the live publisher was disturbed")
			}
		})
	}

	// A layer request on a stream without simulcast.
	t.Run("substream on a non-simulcast stream", func(t *testing.T) {
		b := join(t, r, 20, 3)
		b.subscribe(feeds(live), nil)
		_, err := b.subH.Message(ctx, ianua.Message{Body: testpeer.JSON(map[string]any{"request": "configure", "mid": subMID(t, b), "substream": 0})})
		var pe *ianua.PluginError
		if !errors.As(err, &pe) || pe.Code != sfu.ErrorInvalidElement {
			t.Fatalf("got %v, want code %d", err, sfu.ErrorInvalidElement)
		}
	})
}

func (p *participant) isPublishing(room *sfu.Room) bool {
	pt, ok := room.Participant(p.id)
	return ok && pt.Publishing()
}
