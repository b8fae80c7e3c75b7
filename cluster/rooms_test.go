package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// A room created at run time on one node exists on every node, the ones
// that join later too; a publisher in it reaches subscribers on the other
// nodes; an edit on another node and the room's destruction on a third
// reach all.
func TestRoomsAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())

	// Created by a request on A, as a Janus client would.
	s, err := a.r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Attach(sfu.Name)
	if err != nil {
		t.Fatal(err)
	}
	const room = 77
	message(t, h, map[string]any{"request": "create", "room": room, "description": "made on a", "secret": "s", "publishers": 4}, nil)
	want, err := a.sfu.Room(room)
	if err != nil {
		t.Fatal(err)
	}
	sameRoom := func(n *testNode) bool {
		r, err := n.sfu.Room(room)
		return err == nil && r.Params() == want.Params()
	}
	testpeer.WaitFor(t, 5*time.Second, "room 77 on b", func() bool { return sameRoom(b) })

	// A publisher in it on A; C joins afterwards and gets the room and
	// the feed from the buckets (in whatever order they come).
	pub := publishIn(t, a, room, "alice")
	testpeer.WaitFor(t, 5*time.Second, "alice on b", func() bool {
		r, err := b.sfu.Room(room)
		if err != nil {
			return false
		}
		pt, ok := r.Participant(pub.id)
		return ok && pt.Publishing()
	})
	c := startNode(t, "c", ns.ClientURL())
	testpeer.WaitFor(t, 5*time.Second, "room 77 and alice on c", func() bool {
		r, err := c.sfu.Room(room)
		if err != nil || r.Params() != want.Params() {
			return false
		}
		pt, ok := r.Participant(pub.id)
		return ok && pt.Publishing()
	})
	subB := subscribeIn(t, b, room, pub.id)
	subC := subscribeIn(t, c, room, pub.id)
	subB.receiving(t, "subscriber on b")
	subC.receiving(t, "subscriber on c")

	// Edited on B (the secret is checked there, as on A).
	sb, err := b.r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	hb, err := sb.Attach(sfu.Name)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := hb.Message(ctx, ianua.Message{Body: testpeer.JSON(map[string]any{"request": "edit", "room": room, "secret": "wrong", "new_description": "no"})}); err == nil {
		t.Fatal("edit with a wrong secret accepted on b")
	}
	message(t, hb, map[string]any{"request": "edit", "room": room, "secret": "s", "new_description": "edited on b", "new_publishers": 6}, nil)
	for _, n := range []*testNode{a, c} {
		testpeer.WaitFor(t, 5*time.Second, "the edit on "+n.id, func() bool {
			r, err := n.sfu.Room(room)
			return err == nil && r.Params().Description == "edited on b" && r.Params().Publishers == 6 && r.Params().Secret == "s"
		})
	}

	// Destroyed on C: gone everywhere, and the publisher on A is told.
	mark := pub.log.Len()
	if err := c.sfu.DestroyRoom(room); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, b} {
		testpeer.WaitFor(t, 5*time.Second, "room 77 gone from "+n.id, func() bool {
			_, err := n.sfu.Room(room)
			return err != nil
		})
	}
	pub.log.WaitFrom(t, mark, 5*time.Second, "destroyed event on a", func(e ianua.Event) bool {
		return e.Type == ianua.EventPlugin && pluginData(e)["videoroom"] == "destroyed"
	})
	// The room stays gone (no node puts it back), and the configured
	// room is untouched.
	time.Sleep(500 * time.Millisecond)
	for _, n := range []*testNode{a, b, c} {
		if _, err := n.sfu.Room(room); err == nil {
			t.Errorf("room 77 came back on %s", n.id)
		}
		n.room(t)
	}
}
