package cluster_test

import (
	"testing"
	"time"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// A publisher talking on one node is "talking" on every node: the
// participants elsewhere get talking and stopped-talking events for it,
// and listparticipants there says so.
func TestTalkingAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())
	const room = 88
	if _, err := a.sfu.CreateRoom(sfu.RoomParams{ID: room, AudioLevelEvent: true, Publishers: 4}); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 5*time.Second, "room 88 on b", func() bool { _, err := b.sfu.Room(room); return err == nil })

	alice := publishIn(t, a, room, "alice")
	bob := publishIn(t, b, room, "bob")
	testpeer.WaitFor(t, 5*time.Second, "alice on b", func() bool {
		r, _ := b.sfu.Room(room)
		pt, ok := r.Participant(alice.id)
		return ok && pt.Publishing()
	})
	isEvent := func(name string) func(ianua.Event) bool {
		return func(e ianua.Event) bool {
			d := pluginData(e)
			return e.Type == ianua.EventPlugin && d["videoroom"] == name && d["id"] == float64(alice.id)
		}
	}
	mark := bob.log.Len()
	alice.loud.Store(true)
	ev := bob.log.WaitFrom(t, mark, 10*time.Second, "alice talking, on b", isEvent("talking"))
	if d := pluginData(ev); d["mid"] == nil || d["audio-level-dBov-avg"] == nil {
		t.Errorf("talking event without mid or level: %v", d)
	}
	r, _ := b.sfu.Room(room)
	pt, _ := r.Participant(alice.id)
	if pt == nil || !pt.Remote() {
		t.Fatal("alice is not a remote publisher on b")
	}
	mark = bob.log.Len()
	alice.loud.Store(false)
	bob.log.WaitFrom(t, mark, 10*time.Second, "alice stopped talking, on b", isEvent("stopped-talking"))

	// Bad input: a talking state for a feed or stream b does not have.
	if err := r.SetRemoteTalking(424242, "0", true, 10); err == nil {
		t.Error("SetRemoteTalking of an unknown feed accepted")
	}
	if err := r.SetRemoteTalking(alice.id, "nope", true, 10); err == nil {
		t.Error("SetRemoteTalking of an unknown stream accepted")
	}
	if err := r.SetRemoteTalking(bob.id, "0", true, 10); err == nil {
		t.Error("SetRemoteTalking of a local publisher accepted")
	}
}
