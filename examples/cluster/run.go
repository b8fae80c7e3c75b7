package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

// options are the settings of one run, from the flags or from a test.
type options struct {
	// NATSURL is an external NATS server (with JetStream); empty runs
	// an embedded one on NATSAddr.
	NATSURL  string
	NATSAddr string
	// Nodes are the nodes this process runs.
	Nodes []nodeSpec
	// Logger receives the routers', the plugins', the nodes' and the
	// servers' logs.
	Logger *slog.Logger
}

// nodeSpec names a node and where its page is served; ":0" ports are fine
// (see run's ready).
type nodeSpec struct {
	ID   string
	Addr string
}

// run serves the nodes until ctx is cancelled or one of their HTTP servers
// fails, then shuts them down gracefully. ready, if not nil, is called
// with the nodes once they all serve: it is how a test learns the ports of
// "127.0.0.1:0" and reaches the nodes.
func run(ctx context.Context, opts options, ready func([]*node)) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Nodes) == 0 {
		return errors.New("no node to run")
	}

	// 1. NATS: the nodes' meeting point. The embedded server is stopped
	// last, after the nodes have left the cluster.
	natsURL := opts.NATSURL
	if natsURL == "" {
		ns, stopNATS, err := startNATS(opts.NATSAddr)
		if err != nil {
			return err
		}
		defer stopNATS()
		natsURL = ns.ClientURL()
		opts.Logger.Info("cluster: embedded NATS server", "url", natsURL)
	}

	// 2. The nodes, one after the other: each joins the cluster and
	// serves its page. A node that cannot start stops the others.
	failed := make(chan error, len(opts.Nodes))
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	var nodes []*node
	for _, spec := range opts.Nodes {
		n, err := startNode(ctx, spec, natsURL, opts.Logger, fail)
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
			defer cancel()
			return errors.Join(fmt.Errorf("node %s: %w", spec.ID, err), closeNodes(sctx, nodes))
		}
		nodes = append(nodes, n)
	}
	if ready != nil {
		ready(nodes)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-failed:
	}

	// 3. Graceful shutdown, all nodes at once: each closes its page's
	// sockets (which destroys the sessions, so its publishers leave the
	// room everywhere), leaves the cluster, and closes its router.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	return errors.Join(serveErr, closeNodes(sctx, nodes))
}

// closeNodes closes the nodes in parallel.
func closeNodes(ctx context.Context, nodes []*node) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startNATS runs an embedded NATS server with JetStream on addr (port 0:
// any free port). The cluster keeps its buckets in memory; the store
// directory JetStream requires is a temporary one, removed by stop.
func startNATS(addr string) (ns *natsserver.Server, stop func(), err error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("-nats-addr: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, nil, fmt.Errorf("-nats-addr: port %q", portText)
	}
	if port == 0 {
		port = natsserver.RANDOM_PORT
	} else {
		// The server only logs a port it cannot take, and we run it
		// without logs: try the port first, for a clear error.
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("embedded NATS server: %w (is a nats-server running there? use it with -nats nats://%s, or pick another -nats-addr)", err, addr)
		}
		_ = ln.Close()
	}
	dir, err := os.MkdirTemp("", "ianua-cluster-nats-")
	if err != nil {
		return nil, nil, err
	}
	ns, err = natsserver.NewServer(&natsserver.Options{
		ServerName: "ianua-cluster-example",
		Host:       host, Port: port,
		JetStream: true, StoreDir: dir,
		NoLog:  true,
		NoSigs: true, // the signals are ours: they stop the nodes first
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	stop = func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		_ = os.RemoveAll(dir)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		stop()
		return nil, nil, fmt.Errorf("embedded NATS server: not listening on %s after 10 s", addr)
	}
	return ns, stop, nil
}
