// Command cluster runs three ianua nodes on one machine that serve one
// video room together: a browser on node 1 sees and hears a publisher on
// node 3. Each node is a whole ianua host — its own MediaRouter (own ICE
// port), its own sfu plugin with room 1234, its own HTTP server with the
// room page and a WebSocket signaling — and a cluster.Node that meets the
// others over NATS and relays media between them (see package cluster).
//
//	go run ./examples/cluster
//	open http://127.0.0.1:8081/ and http://127.0.0.1:8083/
//
// The three nodes run in this one process, for one command and one
// Ctrl-C; they share nothing but the NATS server, as separate processes
// would. More nodes, in other processes, join with -nats and -nodes. See
// README.md.
//
// main.go reads the flags, run.go starts NATS and the nodes and stops
// them, node.go is one node, server.go its signaling (the same as
// examples/videoroom's), and index.html + app.js are the page.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	opts := options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	var nodes string
	flag.StringVar(&opts.NATSURL, "nats", "", "URL of an external NATS server with JetStream (nats-server -js), e.g. nats://127.0.0.1:4222; empty: run an embedded one")
	flag.StringVar(&opts.NATSAddr, "nats-addr", "127.0.0.1:4222", "address of the embedded NATS server, which other processes may join with -nats (unused with -nats)")
	flag.StringVar(&nodes, "nodes", "node1=127.0.0.1:8081,node2=127.0.0.1:8082,node3=127.0.0.1:8083", "the nodes this process runs: comma-separated id=HTTP address")
	flag.Parse()
	var err error
	if opts.Nodes, err = parseNodes(nodes); err != nil {
		fmt.Fprintln(os.Stderr, "cluster: -nodes:", err)
		os.Exit(2)
	}

	// SIGINT/SIGTERM cancel ctx; run then shuts every node down (sockets,
	// sessions, cluster membership, router), then the NATS server.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err = run(ctx, opts, func(nodes []*node) {
		for _, n := range nodes {
			opts.Logger.Info("cluster: serving", "node", n.id, "url", "http://"+n.addr+"/")
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// parseNodes reads "id=addr,id=addr,...".
func parseNodes(s string) ([]nodeSpec, error) {
	var out []nodeSpec
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		id, addr, ok := strings.Cut(item, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("%q is not id=address", item)
		}
		out = append(out, nodeSpec{ID: id, Addr: addr})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no node")
	}
	return out, nil
}
