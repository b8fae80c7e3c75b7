package cluster_test

import (
	"testing"
	"time"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// A participant that joins a room on one node without publishing is in the
// room on every node ("joining" where joins are notified, listed by
// listparticipants); when it publishes, unpublishes and leaves, the other
// nodes' participants get "publishers", "unpublished" and "leaving", and
// it stays in the room in between.
func TestParticipantsAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())
	const room = 99
	if _, err := a.sfu.CreateRoom(sfu.RoomParams{ID: room, NotifyJoining: true, Publishers: 4}); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 5*time.Second, "room 99 on b", func() bool { _, err := b.sfu.Room(room); return err == nil })
	bob := joinAs(t, b, room, "bob")

	about := func(name string, id uint64) func(ianua.Event) bool {
		return func(e ianua.Event) bool {
			d := pluginData(e)
			if e.Type != ianua.EventPlugin {
				return false
			}
			switch name {
			case "joining":
				j, _ := d["joining"].(map[string]any)
				return j != nil && j["id"] == float64(id) && j["display"] == "carol"
			case "publishers":
				ps, _ := d["publishers"].([]any)
				for _, p := range ps {
					if m := p.(map[string]any); m["id"] == float64(id) && len(m["streams"].([]any)) == 2 {
						return true
					}
				}
				return false
			}
			return d[name] == float64(id)
		}
	}
	inRoom := func(n *testNode, id uint64) (present, publishing bool) {
		r, err := n.sfu.Room(room)
		if err != nil {
			return false, false
		}
		pt, ok := r.Participant(id)
		return ok, ok && pt.Publishing()
	}

	mark := bob.log.Len()
	carol := joinAs(t, a, room, "carol")
	bob.log.WaitFrom(t, mark, 5*time.Second, "carol joining, on b", about("joining", carol.id))
	if present, publishing := inRoom(b, carol.id); !present || publishing {
		t.Fatalf("carol on b: present %v publishing %v, want present, not publishing", present, publishing)
	}
	// The node lists her too (just after the room told bob), with no
	// streams.
	testpeer.WaitFor(t, 2*time.Second, "carol among b's participants", func() bool {
		for _, f := range b.node.Feeds() {
			if f.Feed == carol.id && f.Node == "a" && len(f.Streams) == 0 {
				return true
			}
		}
		return false
	})

	mark = bob.log.Len()
	carol.publish(t, false)
	bob.log.WaitFrom(t, mark, 5*time.Second, "carol publishing, on b", about("publishers", carol.id))
	sub := subscribeIn(t, b, room, carol.id)
	sub.receiving(t, "subscriber of carol on b")

	mark = bob.log.Len()
	message(t, carol.h, map[string]any{"request": "unpublish"}, nil)
	bob.log.WaitFrom(t, mark, 5*time.Second, "carol unpublished, on b", about("unpublished", carol.id))
	time.Sleep(200 * time.Millisecond)
	if present, publishing := inRoom(b, carol.id); !present || publishing {
		t.Errorf("carol on b after unpublish: present %v publishing %v, want present, not publishing", present, publishing)
	}
	if bob.log.Count(about("leaving", carol.id)) != 0 {
		t.Error("b's participants were told carol left when she unpublished")
	}

	mark = bob.log.Len()
	message(t, carol.h, map[string]any{"request": "leave"}, nil)
	bob.log.WaitFrom(t, mark, 5*time.Second, "carol leaving, on b", about("leaving", carol.id))
	testpeer.WaitFor(t, 5*time.Second, "carol gone from b", func() bool { present, _ := inRoom(b, carol.id); return !present })
}
