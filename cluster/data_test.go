package cluster_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
)

// A publisher's data channel messages reach the subscribers of its data
// stream on the other nodes, in order, text and binary alike.
func TestDataAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, "a", ns.ClientURL())
	b := startNode(t, "b", ns.ClientURL())
	pub := joinAs(t, a, testRoom, "alice")
	pub.withData = true
	pub.publish(t, false)
	testpeer.WaitFor(t, 5*time.Second, "alice on b", func() bool { return hasFeed(b, t, pub.id) })
	pt, _ := b.room(t).Participant(pub.id)
	kinds := map[string]bool{}
	for _, st := range pt.Streams() {
		kinds[st.Kind] = true
	}
	if !kinds["data"] || !kinds["audio"] || !kinds["video"] {
		t.Fatalf("alice's streams on b: %v, want audio, video and data", kinds)
	}
	subB := subscribe(t, b, pub.id)
	subA := subscribe(t, a, pub.id)
	subB.receiving(t, "subscriber on b")
	testpeer.WaitFor(t, 5*time.Second, "alice's data channel open", func() bool { return pub.dc.ReadyState().String() == "open" })

	// Until both subscribers' data channels are up, messages may be
	// lost: send until one gets through to each, then a numbered run.
	testpeer.WaitFor(t, 10*time.Second, "a first message on both nodes", func() bool {
		_ = pub.dc.SendText("hello")
		time.Sleep(50 * time.Millisecond)
		return len(subA.messages()) > 0 && len(subB.messages()) > 0
	})
	want := []string{"one", "two", "three", "four"}
	for _, m := range want {
		if err := pub.dc.SendText(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.dc.Send([]byte("five")); err != nil {
		t.Fatal(err)
	}
	want = append(want, "five")
	for name, sub := range map[string]*subscriber{"a": subA, "b": subB} {
		testpeer.WaitFor(t, 5*time.Second, "the messages on "+name, func() bool {
			got := sub.messages()
			return len(got) >= len(want) && slices.Equal(got[len(got)-len(want):], want)
		})
	}

	// A message from a node that does not have the feed is dropped; so
	// is garbage.
	before := len(subB.messages())
	nc := connect(t, ns.ClientURL())
	for _, bad := range []string{"{", `{"from":"c","room":1234,"feed":` + strconv.FormatUint(pub.id, 10) + `,"data":"eA=="}`, `{"from":"a b"}`} {
		if err := nc.Publish("ianua.data", []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	_ = nc.Flush()
	time.Sleep(300 * time.Millisecond)
	if got := len(subB.messages()); got != before {
		t.Errorf("forged data messages delivered: %v", subB.messages()[before:])
	}
}
