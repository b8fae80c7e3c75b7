package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
)

// With a fan-out of one, the publisher's node relays to one node, which
// relays on; past that the origin takes the overflow; when a relay node
// dies, the node it served gets the stream from another.
func TestRelayTree(t *testing.T) {
	ns := startNATS(t, 0)
	o := startNodeFanOut(t, "o", ns.ClientURL(), 1)
	r1 := startNodeFanOut(t, "r1", ns.ClientURL(), 1)
	r2 := startNodeFanOut(t, "r2", ns.ClientURL(), 1)
	e := startNodeFanOut(t, "e", ns.ClientURL(), 1)
	pub := publish(t, o, "origin")
	video := fmt.Sprintf("%d.%d/1", testRoom, pub.id)
	// load is what node `at` knows of node `of`'s relays of the video.
	load := func(at, of *testNode) (depth, out int) {
		for _, n := range at.node.Nodes() {
			if n.ID == of.id {
				r := n.Relays[video]
				return r.Depth, r.Out
			}
		}
		return -1, -1
	}
	for _, n := range []*testNode{r1, r2, e} {
		testpeer.WaitFor(t, 5*time.Second, "the feed on "+n.id, func() bool { return hasFeed(n, t, pub.id) })
	}

	s1 := subscribe(t, r1, pub.id) // r1's own subscriber goes when r1 is cut off
	s1.receiving(t, "r1 receiving")
	testpeer.WaitFor(t, 5*time.Second, "r2 knows o relays one", func() bool { _, out := load(r2, o); return out == 1 })
	s2 := subscribe(t, r2, pub.id)
	s2.receiving(t, "r2 receiving")
	if d, _ := load(r2, r2); d != 2 {
		t.Errorf("r2 is at depth %d, want 2 (through r1)", d)
	}
	testpeer.WaitFor(t, 5*time.Second, "e knows r1 relays one", func() bool { _, out := load(e, r1); return out == 1 })
	se := subscribe(t, e, pub.id)
	se.receiving(t, "e receiving")
	// o: r1 and e (the overflow); r1: r2. Two streams each.
	if got := o.node.RelaysOut(); got["r1"] != 2 || got["e"] != 2 || len(got) != 2 {
		t.Errorf("o relays %v, want 2 to r1 and 2 to e", got)
	}
	if got := r1.node.RelaysOut(); got["r2"] != 2 || len(got) != 1 {
		t.Errorf("r1 relays %v, want 2 to r2", got)
	}

	// r1 dies: r2 gets the stream again, from e (a relay node with room).
	r1.nc.Close()
	s2.receiving(t, "r2 receiving again after r1 died")
	testpeer.WaitFor(t, 5*time.Second, "r2 served by e", func() bool { return e.node.RelaysOut()["r2"] == 2 })
	se.receiving(t, "e still receiving")
}
