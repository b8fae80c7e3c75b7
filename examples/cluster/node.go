package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/cluster"
	"github.com/ianua/ianua/sfu"
)

// joinTimeout bounds joining the cluster: a few NATS round trips.
const joinTimeout = 10 * time.Second

// node is one ianua node: what a single-server program has (a router,
// the sfu plugin, an HTTP server with the page and the signaling) plus a
// NATS connection and its membership of the cluster.
type node struct {
	id   string
	addr string // where the page is served
	log  *slog.Logger

	sfu    *sfu.Plugin
	router *ianua.MediaRouter
	nc     *nats.Conn
	member *cluster.Node

	srv         *server
	hs          *http.Server
	cancelConns context.CancelFunc
	served      chan struct{} // closed when hs.Serve returns
}

// startNode starts a node and its HTTP server on spec.Addr; fail is told
// if that server stops by itself.
func startNode(ctx context.Context, spec nodeSpec, natsURL string, log *slog.Logger, fail func(error)) (_ *node, err error) {
	n := &node{id: spec.ID, log: log.With("node", spec.ID), served: make(chan struct{})}
	// What is started is undone, in reverse, if a later step fails.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	// The rooms: every node has the same, because the cluster relays
	// publishers between rooms of the same id but does not replicate
	// rooms. Janus's demo room 1234 is the one. The admin key, which
	// nobody knows, refuses "create" to clients: a room made on one node
	// would exist on that node only.
	n.sfu, err = sfu.New(sfu.Params{Rooms: sfu.DefaultRooms(), AdminKey: rand.Text(), Logger: n.log})
	if err != nil {
		return nil, err
	}

	// The router: its own ICE UDP port on 127.0.0.1, so loopback
	// candidates only (ianua's default).
	n.router, err = ianua.NewMediaRouter(ianua.Config{Logger: n.log, ICE: ianua.ICEConfig{UDPAddr: "127.0.0.1:0"}}, n.sfu)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = n.router.Close(context.WithoutCancel(ctx)) })

	// NATS, retrying forever once connected: a node survives an outage
	// of the NATS server (package cluster, "Failure").
	n.nc, err = nats.Connect(natsURL, nats.Name("ianua "+spec.ID), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("NATS %s: %w", natsURL, err)
	}
	undo = append(undo, n.nc.Close)

	// Joining announces this node's publishers to the others and makes
	// theirs remote publishers of the same rooms here. Relays arrive on
	// 127.0.0.1: all the nodes are on this machine.
	jctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	n.member, err = cluster.Join(jctx, cluster.Params{ID: spec.ID, Conn: n.nc, Router: n.router, SFU: n.sfu, RelayIP: "127.0.0.1", Logger: n.log})
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return nil, fmt.Errorf("join the cluster: %w (run nats-server with -js)", err)
	case errors.Is(err, cluster.ErrNodeIDInUse):
		return nil, fmt.Errorf("join the cluster: %w (a node killed without leaving frees its id after %v)", err, 3*cluster.DefaultHeartbeat)
	case err != nil:
		return nil, fmt.Errorf("join the cluster: %w", err)
	}
	undo = append(undo, func() { _ = n.member.Close() })

	ln, err := net.Listen("tcp", spec.Addr)
	if err != nil {
		return nil, err
	}
	n.addr = ln.Addr().String()
	n.log.Info("cluster: node up", "ice-udp", n.router.UDPAddr(), "http", n.addr)

	// The page and its signaling, as in examples/videoroom, and the
	// cluster's state for the page to show.
	n.srv = newServer(n.router, n.log)
	n.srv.mux.HandleFunc("GET /api/cluster", n.serveStatus)
	// Every request's context derives from connCtx: http.Server.Shutdown
	// forgets a connection once the WebSocket hijacks it, so cancelling
	// connCtx is how shutdown reaches the WebSockets.
	var connCtx context.Context
	connCtx, n.cancelConns = context.WithCancel(context.WithoutCancel(ctx))
	n.hs = &http.Server{
		Handler:           n.srv,
		BaseContext:       func(net.Listener) context.Context { return connCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(n.served)
		if err := n.hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("node %s: %w", n.id, err))
		}
	}()
	return n, nil
}

// close shuts the node down, outermost first: no new connections; the
// WebSockets end, each destroying its session, so that its participants
// leave the room (here and, through the cluster, everywhere); the node
// leaves the cluster (its entries go, the remote publishers it added are
// removed, its relays stop); then the router and NATS connection close.
func (n *node) close(ctx context.Context) error {
	errs := []error{n.hs.Shutdown(ctx)}
	n.cancelConns()
	n.srv.shutdown()
	<-n.served
	errs = append(errs, n.member.Close(), n.router.Close(ctx))
	n.nc.Close()
	return errors.Join(errs...)
}
