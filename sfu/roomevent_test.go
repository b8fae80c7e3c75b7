package sfu_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// Rooms created, edited and destroyed at run time, by request or by the Go
// API, reach the room observers with their settings; rooms of Params.Rooms
// and failed requests do not; a removed observer hears nothing more.
func TestRoomObserver(t *testing.T) {
	checkLeaks(t)
	r, p := newRoomRouter(t, sfu.RoomParams{ID: 1, Secret: "s"})
	var mu sync.Mutex
	var got []sfu.RoomEvent
	remove := p.AddRoomObserver(func(e sfu.RoomEvent) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	})
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	h, err := s.Attach(sfu.Name)
	if err != nil {
		t.Fatal(err)
	}
	message(t, h, map[string]any{"request": "create", "room": 7, "description": "seven", "secret": "x", "publishers": 5}, nil)
	// Refused: nothing to tell.
	if _, err := h.Message(context.Background(), ianua.Message{Body: testpeer.JSON(map[string]any{"request": "create", "room": 7})}); !errors.Is(err, sfu.ErrRoomExists) {
		t.Fatalf("creating room 7 twice: %v", err)
	}
	if _, err := h.Message(context.Background(), ianua.Message{Body: testpeer.JSON(map[string]any{"request": "edit", "room": 7, "secret": "wrong", "new_description": "no"})}); !errors.Is(err, sfu.ErrUnauthorized) {
		t.Fatalf("edit with a wrong secret: %v", err)
	}
	message(t, h, map[string]any{"request": "edit", "room": 7, "secret": "x", "new_description": "SEVEN", "new_bitrate": 256000}, nil)
	if _, err := p.CreateRoom(sfu.RoomParams{ID: 8}); err != nil {
		t.Fatal(err)
	}
	message(t, h, map[string]any{"request": "destroy", "room": 7, "secret": "x"}, nil)
	remove()
	if err := p.DestroyRoom(8); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		room      uint64
		desc      string
		destroyed bool
	}{{7, "seven", false}, {7, "SEVEN", false}, {8, "", false}, {7, "SEVEN", true}}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.Params.ID != w.room || e.Params.Description != w.desc || e.Destroyed != w.destroyed {
			t.Errorf("event %d: room %d %q destroyed %v, want %d %q %v", i, e.Params.ID, e.Params.Description, e.Destroyed, w.room, w.desc, w.destroyed)
		}
	}
	if got[0].Params.Publishers != 5 || got[0].Params.Secret != "x" || got[0].Params.AudioCodec != "opus" {
		t.Errorf("created room's settings %+v: want publishers 5, the secret, and defaults filled in", got[0].Params)
	}
	if got[1].Params.Bitrate != 256000 || got[1].Params.Publishers != 5 {
		t.Errorf("edited room's settings %+v: want the new bitrate, the rest kept", got[1].Params)
	}
}
