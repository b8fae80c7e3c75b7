package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/cluster"
	"github.com/ianua/ianua/internal/testpeer"
)

// One room over three nodes: a publisher on A reaches subscribers on A, B
// and C; B's twenty subscribers share one relay per stream; a publisher
// on C is seen on A; when C dies its publisher goes away everywhere while
// A keeps serving B.
func TestThreeNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())
	c := startNode(t, "c", ns.ClientURL())

	pub := publish(t, a, "alice")
	for _, n := range []*testNode{b, c} {
		testpeer.WaitFor(t, 5*time.Second, "the feed on "+n.id, func() bool { return hasFeed(n, t, pub.id) })
	}
	// A participant of B hears of it as of a local publisher.
	onB := publish(t, b, "bob")
	if got := b.room(t).Participants(); len(got) != 2 {
		t.Fatalf("B lists %d publishers, want 2", len(got))
	}

	t.Log(time.Now().Format("15:04:05.000"), "subscribing")
	subA := subscribe(t, a, pub.id)
	subC := subscribe(t, c, pub.id)
	var subsB []*subscriber
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := subscribe(t, b, pub.id)
			mu.Lock()
			subsB = append(subsB, s)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Log(time.Now().Format("15:04:05.000"), "subscribed")
	if t.Failed() {
		t.FailNow()
	}
	for i, s := range append([]*subscriber{subA, subC}, subsB...) {
		s.receiving(t, fmt.Sprintf("subscriber %d receiving", i))
	}
	// Exactly one relay per (stream, node): audio and video to B and C.
	if got := a.node.RelaysOut(); got["b"] != 2 || got["c"] != 2 || len(got) != 2 {
		t.Errorf("relays out of A: %v, want 2 to b and 2 to c", got)
	}
	if st := a.node.RelayStats(); st.RelaysOut != 4 || st.RelaysIn != 0 || st.PacketsOut == 0 || st.PacketsIn != 0 {
		t.Errorf("A's relay stats %+v: want 4 relays out that sent packets, nothing in", st)
	}
	if st := b.node.RelayStats(); st.RelaysIn != 2 || st.RelaysOut != 0 || st.PacketsIn == 0 || st.PacketsOut != 0 {
		t.Errorf("B's relay stats %+v: want 2 relays in that brought packets, nothing out", st)
	}

	// The publisher of B is seen on A and C.
	for _, n := range []*testNode{a, c} {
		testpeer.WaitFor(t, 5*time.Second, "bob on "+n.id, func() bool { return hasFeed(n, t, onB.id) })
	}
	if infos := b.node.Nodes(); len(infos) != 3 {
		t.Errorf("B knows %d nodes, want 3", len(infos))
	}

	t.Log(time.Now().Format("15:04:05.000"), "receiving")
	// C dies without a word: a publisher there goes away on A and B.
	pubC := publish(t, c, "carol")
	testpeer.WaitFor(t, 5*time.Second, "carol on A", func() bool { return hasFeed(a, t, pubC.id) })
	mark := pub.log.Len()
	c.nc.Close() // no more heartbeats, no goodbye
	testpeer.WaitFor(t, 5*time.Second, "carol gone from A and B", func() bool {
		return !hasFeed(a, t, pubC.id) && !hasFeed(b, t, pubC.id)
	})
	testpeer.WaitFor(t, 5*time.Second, "relays to the dead node stopped", func() bool { return a.node.RelaysOut()["c"] == 0 })
	// A's participants were told, as of a local publisher leaving.
	pub.log.WaitFrom(t, mark, 5*time.Second, "carol unpublished, on A", func(e ianua.Event) bool {
		v, ok := pluginData(e)["unpublished"].(float64)
		return ok && uint64(v) == pubC.id
	})
	if pub.log.Count(func(e ianua.Event) bool {
		ps, _ := pluginData(e)["publishers"].([]any)
		return len(ps) == 1 && uint64(ps[0].(map[string]any)["id"].(float64)) == onB.id
	}) != 1 {
		t.Error("alice on A was not told once of bob on B")
	}
	for _, s := range subsB[:3] {
		s.receiving(t, "B still receiving after C died")
	}

	t.Log(time.Now().Format("15:04:05.000"), "C is dead")
	// Unsubscribing everyone on B stops the relays to B (after the grace).
	for _, s := range subsB {
		s.h.Hangup("done")
	}
	testpeer.WaitFor(t, 5*time.Second, "relays to B stopped", func() bool { return a.node.RelaysOut()["b"] == 0 })

	// The publisher leaves: it is gone everywhere.
	pub.end()
	if err := a.sfu.Kick(testRoom, pub.id); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 5*time.Second, "alice gone from B", func() bool { return !hasFeed(b, t, pub.id) })
}

// A node id is refused while its holder is alive, and taken over once it
// is dead; bad parameters and an unreachable NATS give clear errors.
func TestJoinErrors(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "same", ns.ClientURL())
	r := testpeer.NewRouter(t, nil, a.sfu)
	nc := connect(t, ns.ClientURL())
	_, err := cluster.Join(context.Background(), cluster.Params{ID: "same", Conn: nc, Router: r, SFU: a.sfu, Heartbeat: heartbeat, DeadAfter: deadAfter, Logger: testpeer.QuietLogger()})
	if !errors.Is(err, cluster.ErrNodeIDInUse) {
		t.Errorf("second node with the same id: %v, want ErrNodeIDInUse", err)
	}
	for _, p := range []cluster.Params{
		{ID: "bad id!", Conn: nc, Router: r, SFU: a.sfu},
		{ID: "x", Router: r, SFU: a.sfu},
		{ID: "x", Conn: nc, Router: r, SFU: a.sfu, RelayIP: "not an ip"},
	} {
		if _, err := cluster.Join(context.Background(), p); !errors.Is(err, cluster.ErrInvalidParams) {
			t.Errorf("%+v: %v, want ErrInvalidParams", p, err)
		}
	}
	// The holder dies: after DeadAfter its id is free.
	a.nc.Close()
	time.Sleep(deadAfter + 2*heartbeat)
	n, err := cluster.Join(context.Background(), cluster.Params{ID: "same", Conn: nc, Router: r, SFU: a.sfu, Heartbeat: heartbeat, DeadAfter: deadAfter, Logger: testpeer.QuietLogger()})
	if err != nil {
		t.Fatalf("taking over a dead node's id: %v", err)
	}
	_ = n.Close()

	// NATS without JetStream (or gone): Join says so.
	ns.Shutdown()
	ns.WaitForShutdown()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := cluster.Join(ctx, cluster.Params{ID: "late", Conn: nc, Router: r, SFU: a.sfu}); err == nil {
		t.Error("Join succeeded without a NATS server")
	}
}

// A NATS server restart (without persistence) is survived: the nodes
// reconnect, put their state back, and a feed published before is still
// relayed; one published after is seen too.
func TestNATSRestart(t *testing.T) {
	ns := startNATS(t, 0)
	port := ns.Addr().(*net.TCPAddr).Port
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())
	pub := publish(t, a, "alice")
	testpeer.WaitFor(t, 5*time.Second, "the feed on b", func() bool { return hasFeed(b, t, pub.id) })
	sub := subscribe(t, b, pub.id)
	sub.receiving(t, "relayed before the restart")

	ns.Shutdown()
	ns.WaitForShutdown()
	// Longer than DeadAfter: the nodes must not declare each other dead
	// while they are cut off.
	time.Sleep(deadAfter + time.Second)
	ns2 := startNATS(t, port)
	_ = ns2
	testpeer.WaitFor(t, 10*time.Second, "nodes back", func() bool { return len(a.node.Nodes()) == 2 && len(b.node.Nodes()) == 2 })
	if !hasFeed(b, t, pub.id) {
		t.Error("the feed was dropped during the outage")
	}
	sub.receiving(t, "relayed after the restart")
	pub2 := publish(t, a, "again")
	testpeer.WaitFor(t, 10*time.Second, "a new feed on b after the restart", func() bool { return hasFeed(b, t, pub2.id) })
	// Leave while the server is up (the cleanups would stop it first).
	_ = a.node.Close()
	_ = b.node.Close()
	testpeer.WaitFor(t, 5*time.Second, "the feeds withdrawn on b", func() bool { return !hasFeed(b, t, pub.id) && !hasFeed(b, t, pub2.id) })
}
