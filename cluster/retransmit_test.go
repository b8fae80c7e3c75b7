package cluster_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
)

// Packets lost on the relay hop are asked for again over NATS and sent
// again by the publisher's node, from its packet cache: with one relay
// packet in 20 lost, the subscriber on the other node still gets (nearly)
// every packet.
func TestRelayRetransmission(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())
	// Every 20th packet of each relay is lost, the first time it comes.
	var mu sync.Mutex
	lost := map[uint16]int{}
	b.node.SetRelayLoss(func(seq uint16) bool {
		mu.Lock()
		defer mu.Unlock()
		if seq%20 != 7 {
			return false
		}
		lost[seq]++
		return lost[seq] == 1
	})

	pub := publish(t, a, "alice")
	testpeer.WaitFor(t, 5*time.Second, "alice on b", func() bool { return hasFeed(b, t, pub.id) })
	sub := subscribe(t, b, pub.id)
	sub.receiving(t, "subscriber on b")
	v0, l0 := sub.video.Load(), sub.videoLost()
	time.Sleep(3 * time.Second)
	got, gaps := sub.video.Load()-v0, sub.videoLost()-l0
	t.Logf("in 3 s: %d video packets, %d missing; relay stats a %+v, b %+v", got, gaps, a.node.RelayStats(), b.node.RelayStats())
	if got < 200 {
		t.Fatalf("only %d video packets in 3 s", got)
	}
	// Without retransmission 5 % would be missing.
	if gaps*100 > got {
		t.Errorf("%d of %d video packets missing (over 1 %%) with retransmission on the hop", gaps, got+gaps)
	}
	if st := b.node.RelayStats(); st.NACKed == 0 {
		t.Errorf("b asked for nothing again: %+v", st)
	}
	if st := a.node.RelayStats(); st.Resent == 0 {
		t.Errorf("a sent nothing again: %+v", st)
	}
}
