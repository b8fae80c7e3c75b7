package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/ianua/ianua/cluster"
	"github.com/ianua/ianua/internal/testpeer"
)

// TestMain checks that the NATS server, the nodes and chromedp leave no
// goroutine behind once every test has cleaned up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// nodeIDs are the three nodes of the tests, as main's default.
var nodeIDs = []string{"node1", "node2", "node3"}

// startCluster runs the program in-process as main does, but on ":0"
// ports: an embedded NATS server unless natsURL names one, and three
// nodes. stop shuts it down and returns run's error; the test's cleanup
// calls it too, and checks that the shutdown was clean.
func startCluster(t *testing.T, natsURL string) (nodes map[string]*node, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan []*node, 1)
	done := make(chan error, 1)
	opts := options{
		NATSURL:  natsURL,
		NATSAddr: "127.0.0.1:0",
		Logger:   slog.New(slog.NewTextHandler(testpeer.Output(t), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	for _, id := range nodeIDs {
		opts.Nodes = append(opts.Nodes, nodeSpec{ID: id, Addr: "127.0.0.1:0"})
	}
	go func() { done <- run(ctx, opts, func(ns []*node) { ready <- ns }) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("cluster shutdown: %v", err)
		}
	})
	select {
	case ns := <-ready:
		nodes = map[string]*node{}
		for _, n := range ns {
			nodes[n.id] = n
		}
		return nodes, stop
	case err := <-done:
		done <- err // for stop
		t.Fatalf("cluster did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("cluster did not start in 20 s")
	}
	return nil, stop
}

// waitNodes waits until every node knows all the others.
func waitNodes(t *testing.T, nodes map[string]*node) {
	t.Helper()
	testpeer.WaitFor(t, 10*time.Second, "every node knowing the others", func() bool {
		for _, n := range nodes {
			if len(n.member.Nodes()) != len(nodes) {
				return false
			}
		}
		return true
	})
}

// startExternalNATS runs a NATS server with JetStream as a test's own, as
// an external nats-server -js would be.
func startExternalNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func TestParseNodes(t *testing.T) {
	testCases := []struct {
		in   string
		want []nodeSpec
		err  bool
	}{
		{"node1=127.0.0.1:8081", []nodeSpec{{"node1", "127.0.0.1:8081"}}, false},
		{" a=:1, b=127.0.0.1:2 ,", []nodeSpec{{"a", ":1"}, {"b", "127.0.0.1:2"}}, false},
		{"", nil, true},
		{"node1", nil, true},
		{"=127.0.0.1:1", nil, true},
		{"a=", nil, true},
	}
	for _, tc := range testCases {
		got, err := parseNodes(tc.in)
		if (err != nil) != tc.err || len(got) != len(tc.want) {
			t.Errorf("parseNodes(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseNodes(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

// The embedded server's port is taken (by a nats-server, say): run says
// so, and how to use that server instead.
func TestNATSAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opts := options{NATSAddr: ln.Addr().String(), Nodes: []nodeSpec{{ID: "node1", Addr: "127.0.0.1:0"}}, Logger: testpeer.QuietLogger()}
	err = run(context.Background(), opts, nil)
	if err == nil || !strings.Contains(err.Error(), "-nats nats://"+ln.Addr().String()) {
		t.Errorf("run with a busy -nats-addr: %v, want an error suggesting -nats", err)
	}
}

// A NATS server without JetStream: run says what is missing.
func TestNATSWithoutJetStream(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := options{NATSURL: ns.ClientURL(), Nodes: []nodeSpec{{ID: "node1", Addr: "127.0.0.1:0"}}, Logger: testpeer.QuietLogger()}
	if err := run(ctx, opts, nil); err == nil || !strings.Contains(err.Error(), "-js") {
		t.Errorf("run without JetStream: %v, want an error saying to run nats-server with -js", err)
	}
}

// A node that cannot start (here: its id is taken) stops the ones started
// before it, and run says why.
func TestNodeIDInUse(t *testing.T) {
	ns := startExternalNATS(t)
	opts := options{NATSURL: ns.ClientURL(), Nodes: []nodeSpec{{"node1", "127.0.0.1:0"}, {"node1", "127.0.0.1:0"}}, Logger: testpeer.QuietLogger()}
	err := run(context.Background(), opts, nil)
	if !errors.Is(err, cluster.ErrNodeIDInUse) {
		t.Fatalf("run with node1 twice: %v, want ErrNodeIDInUse", err)
	}
	// The first node1 left: its id is free at once.
	opts.Nodes = opts.Nodes[:1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Stop as soon as it serves.
	if err := run(ctx, opts, func([]*node) { cancel() }); err != nil {
		t.Errorf("node1 again: %v", err)
	}
}
