package cluster_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pion/rtp"

	"github.com/ianua/ianua/cluster"
	"github.com/ianua/ianua/internal/testpeer"
)

// Malformed entries in the buckets are ignored (never a crash), and what a
// stranger sends to a relay socket is dropped while the relay goes on.
func TestBadInput(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())

	js, err := jetstream.New(connect(t, ns.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	feeds, err := js.KeyValue(ctx, "ianua-feeds")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := js.KeyValue(ctx, "ianua-nodes")
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string]string{
		"1234.1": "not json",
		"1234.2": `{"room":1234,"feed":3,"node":"x","streams":[]}`,                                                // key mismatch
		"1234.4": `{"room":1234,"feed":4,"node":"x","streams":[{"mid":"0","type":"smell","mime":"x","clock":1}]}`, // bad kind
		"1234.5": `{"room":1234,"feed":5,"streams":[]}`,                                                           // no node
		"9999.6": `{"room":9999,"feed":6,"node":"x","streams":[]}`,                                                // no such room
	} {
		if _, err := feeds.Put(ctx, key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nodes.Put(ctx, "zz", []byte("{")); err != nil {
		t.Fatal(err)
	}
	rooms, err := js.KeyValue(ctx, "ianua-rooms")
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string]string{
		"abc": `{"room":1}`, // not a room number
		"5":   "not json",   // malformed
		"6":   `{"room":7}`, // key mismatch
		"0":   `{"room":0}`, // no room 0
	} {
		if _, err := rooms.Put(ctx, key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}

	// The cluster still works.
	pub := publish(t, a, "alice")
	testpeer.WaitFor(t, 5*time.Second, "the feed on b", func() bool { return hasFeed(b, t, pub.id) })
	for _, feed := range []uint64{1, 3, 4, 5, 6} {
		if _, ok := b.room(t).Participant(feed); ok {
			t.Errorf("malformed feed %d was added", feed)
		}
	}
	for _, n := range []*testNode{a, b} {
		if got := len(n.sfu.Rooms()); got != 1 {
			t.Errorf("%s has %d rooms, want only the configured one (malformed room entries ignored)", n.id, got)
		}
	}
	if n := len(b.room(t).Participants()); n != 1 {
		t.Errorf("b lists %d publishers, want 1", n)
	}
	if fs := b.node.Feeds(); len(fs) != 1 || fs[0].Node != "a" || fs[0].Feed != pub.id || len(fs[0].Streams) != 2 {
		t.Errorf("b's feeds: %+v, want alice's on a with 2 streams", fs)
	}
	sub := subscribe(t, b, pub.id)
	sub.receiving(t, "relayed")

	// Garbage and forged SRTP to every relay socket of b.
	pt, _ := b.room(t).Participant(pub.id)
	var before uint64
	for _, st := range pt.Streams() {
		before += st.Source.Dropped()
	}
	forged, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, SSRC: 1}, Payload: make([]byte, 100)}).Marshal()
	sent := 0
	for _, port := range b.node.RelayPorts() {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			_, _ = c.Write([]byte("garbage"))
			_, _ = c.Write(forged)
			sent += 2
		}
		c.Close()
	}
	testpeer.WaitFor(t, 3*time.Second, "stranger packets dropped", func() bool {
		var after uint64
		for _, st := range pt.Streams() {
			after += st.Source.Dropped()
		}
		return after-before >= uint64(sent)
	})
	sub.receiving(t, "still relayed")

	// Another node takes a for dead by mistake and withdraws its feed: a,
	// still live, puts it back.
	key := fmt.Sprintf("%d.%d", testRoom, pub.id)
	if err := feeds.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 5*time.Second, "the feed announced again", func() bool {
		_, err := feeds.Get(ctx, key)
		return err == nil && hasFeed(b, t, pub.id)
	})
}

// Place keeps a small room on the node that has it and sends others to the
// least loaded node.
func TestPlace(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())
	bob := publish(t, b, "bob")
	// b's next heartbeat carries its load.
	testpeer.WaitFor(t, 3*time.Second, "b's load known to a", func() bool {
		for _, n := range a.node.Nodes() {
			if n.ID == "b" && n.Rooms[testRoom] == 1 {
				return true
			}
		}
		return false
	})
	if got := a.node.Place(cluster.PlaceParams{Room: testRoom}); got.ID != "b" {
		t.Errorf("small room placed on %q, want b (it has the room)", got.ID)
	}
	if got := a.node.Place(cluster.PlaceParams{Room: 77}); got.ID != "a" {
		t.Errorf("empty room placed on %q, want a (fewer sessions)", got.ID)
	}
	if got := a.node.Place(cluster.PlaceParams{Room: testRoom, SmallRoom: 1}); got.ID != "a" {
		t.Errorf("large room placed on %q, want a (fewer sessions)", got.ID)
	}

	// The load a node announces: its PeerConnections, CPU and packets
	// sent, while a subscriber on b watches bob.
	sub := subscribe(t, b, bob.id)
	sub.receiving(t, "subscriber on b")
	testpeer.WaitFor(t, 5*time.Second, "b's forwarding known to a", func() bool {
		for _, n := range a.node.Nodes() {
			if n.ID == "b" && n.PeerConnections == 2 && n.PacketsPerSec > 50 && n.CPU > 0 {
				return true
			}
		}
		return false
	})

	// A node with a capacity, full: passed over, even for its own room.
	c := startNodeWith(t, "c", ns.ClientURL(), func(p *cluster.Params) { p.Capacity = 1 })
	publish(t, c, "carol")
	testpeer.WaitFor(t, 3*time.Second, "c full, known to a", func() bool {
		for _, n := range a.node.Nodes() {
			if n.ID == "c" && n.Capacity == 1 && n.Free == 0 && n.Sessions == 1 {
				return true
			}
		}
		return false
	})
	for _, p := range []cluster.PlaceParams{{Room: 77}, {Room: testRoom}, {Room: testRoom, SmallRoom: 1}} {
		if got := a.node.Place(p); got.ID == "c" {
			t.Errorf("%+v placed on the full node c", p)
		}
	}
}
