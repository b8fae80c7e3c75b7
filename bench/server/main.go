// Command server is the ianua side of the load tool (bench/load): the Janus
// API over WebSocket with the VideoRoom plugin (package sfu) and room 1234
// and the Streaming plugin (package streaming: mountpoints created with
// its "create" request, ingest ports on 127.0.0.1), as examples/janus-server
// serves them, plus a debug listener with the
// figures janus-server cannot give — goroutines and heap (/stats) and
// pprof profiles (/debug/pprof/). It runs in a process of its own so that
// its CPU time can be read alone from /proc.
//
//	go run ./bench/server -ws 127.0.0.1:8188 -debug 127.0.0.1:7090
//
// With -nats and -node it joins a cluster (package cluster) as that node:
// room 1234's publishers on the other nodes become remote publishers here,
// relayed on demand (bench/load -mode cluster runs three).
//
// Once it listens it prints one JSON line on stdout with the addresses
// (ports of ":0" resolved), which is how bench/load learns them. SIGINT
// and SIGTERM shut it down gracefully.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/cluster"
	"github.com/ianua/ianua/janusapi"
	"github.com/ianua/ianua/sfu"
	"github.com/ianua/ianua/streaming"
)

// Room is the room the load tool joins: Janus's demo room number, no
// bitrate cap (the synthetic publisher ignores REMB anyway), no audio
// level events (the publisher sends no audio levels).
const Room = 1234

// ready is the line printed once everything listens.
type ready struct {
	WebSocket string `json:"ws"`
	Debug     string `json:"debug"`
	ICEUDP    string `json:"ice_udp"`
	PID       int    `json:"pid"`
}

// Stats is what /stats reports; ?gc=1 collects garbage first, so that the
// heap figures are of live objects.
type Stats struct {
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	HeapInuse  uint64 `json:"heap_inuse"`
	Sys        uint64 `json:"sys"`
	NumGC      uint32 `json:"num_gc"`
	Sessions   int    `json:"sessions"`
	// Forwarded is the packets sent to subscribers so far (forwarded and
	// retransmitted), summed over the subscriptions of every room and of
	// every mountpoint.
	Forwarded uint64 `json:"forwarded"`
	// Mountpoints and Viewers count the Streaming plugin's mountpoints
	// and their viewers.
	Mountpoints int `json:"mountpoints"`
	Viewers     int `json:"viewers"`
	// Publishers are room 1234's publishers this node knows, local and
	// (in a cluster) remote.
	Publishers int `json:"publishers"`
	// Relay is the cluster node's relays and their packets (with
	// -nats). Forwarded includes the packets relayed out.
	Relay *cluster.RelayStats `json:"relay,omitempty"`
}

// clusterOpts say which cluster to join, if any.
type clusterOpts struct {
	natsURL string
	node    string
}

func main() {
	ws := flag.String("ws", "127.0.0.1:8188", "address of the Janus API over WebSocket (janus-protocol)")
	debug := flag.String("debug", "127.0.0.1:7090", "address of /stats and /debug/pprof/ (keep it on loopback)")
	iceUDP := flag.String("ice-udp", "127.0.0.1:0", "the one UDP socket that carries all media")
	verbose := flag.Bool("v", false, "log at info level (default: warnings)")
	var co clusterOpts
	flag.StringVar(&co.natsURL, "nats", "", "join a cluster through this NATS server (with JetStream), e.g. nats://127.0.0.1:4222")
	flag.StringVar(&co.node, "node", "", "this node's id in the cluster (with -nats)")
	memRate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate: 1 records every allocation in /debug/pprof/heap (default: Go's, one per 512 KiB)")
	flag.Parse()
	if (co.natsURL == "") != (co.node == "") {
		fmt.Fprintln(os.Stderr, "server: -nats and -node go together")
		os.Exit(2)
	}
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *ws, *debug, *iceUDP, co); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, wsAddr, debugAddr, iceUDP string, co clusterOpts) error {
	room := sfu.RoomParams{ID: Room, Description: "bench", Publishers: 10}
	videoroom, err := sfu.New(sfu.Params{Rooms: []sfu.RoomParams{room}, Logger: log})
	if err != nil {
		return err
	}
	// Mountpoints bind their ingest ports on 127.0.0.1 (the plugin's
	// default; "create" cannot change it).
	broadcast := streaming.New(streaming.Params{Logger: log})
	router, err := ianua.NewMediaRouter(ianua.Config{Logger: log, ICE: ianua.ICEConfig{UDPAddr: iceUDP}}, videoroom, broadcast)
	if err != nil {
		return err
	}
	var node *cluster.Node
	if co.natsURL != "" {
		nc, err := nats.Connect(co.natsURL, nats.Name("ianua bench "+co.node), nats.MaxReconnects(-1))
		if err != nil {
			return errors.Join(fmt.Errorf("NATS %s: %w", co.natsURL, err), router.Close(context.Background()))
		}
		defer nc.Close()
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		node, err = cluster.Join(jctx, cluster.Params{ID: co.node, Conn: nc, Router: router, SFU: videoroom, RelayIP: "127.0.0.1", Logger: log})
		cancel()
		if err != nil {
			return errors.Join(fmt.Errorf("join the cluster: %w", err), router.Close(context.Background()))
		}
		// Leave before the router closes: in the shutdown below, or
		// here on an early return (before nc.Close, deferred earlier).
		defer func() { _ = node.Close() }()
	}
	api, err := janusapi.New(janusapi.Params{Router: router, Logger: log})
	if err != nil {
		return errors.Join(err, router.Close(context.Background()))
	}

	wsLn, err := net.Listen("tcp", wsAddr)
	if err != nil {
		return errors.Join(err, router.Close(context.Background()))
	}
	dbgLn, err := net.Listen("tcp", debugAddr)
	if err != nil {
		_ = wsLn.Close()
		return errors.Join(err, router.Close(context.Background()))
	}
	dbg := http.NewServeMux()
	dbg.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(stats(router, videoroom, broadcast, node, r.URL.Query().Get("gc") == "1"))
	})
	dbg.HandleFunc("/debug/pprof/", pprof.Index)
	dbg.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
	dbg.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	dbg.HandleFunc("/debug/pprof/trace", pprof.Trace)

	servers := []*http.Server{
		{Handler: api.WebSocket(), ReadHeaderTimeout: 10 * time.Second},
		{Handler: dbg, ReadHeaderTimeout: 10 * time.Second},
	}
	served := make(chan error, len(servers))
	for i, ln := range []net.Listener{wsLn, dbgLn} {
		go func() { served <- servers[i].Serve(ln) }()
	}
	line, _ := json.Marshal(ready{WebSocket: wsLn.Addr().String(), Debug: dbgLn.Addr().String(), ICEUDP: router.UDPAddr().String(), PID: os.Getpid()})
	fmt.Println(string(line))

	var serveErr error
	pending := len(servers)
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		pending--
	}
	// Outermost first: listeners, then the API's connections and
	// sessions, then the router.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{serveErr}
	for _, hs := range servers {
		errs = append(errs, hs.Shutdown(sctx))
	}
	errs = append(errs, api.Close(sctx))
	if node != nil {
		errs = append(errs, node.Close())
	}
	errs = append(errs, router.Close(sctx))
	for ; pending > 0; pending-- {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func stats(router *ianua.MediaRouter, videoroom *sfu.Plugin, broadcast *streaming.Plugin, node *cluster.Node, gc bool) Stats {
	if gc {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	st := Stats{
		Goroutines: runtime.NumGoroutine(),
		HeapAlloc:  m.HeapAlloc,
		HeapInuse:  m.HeapInuse,
		Sys:        m.Sys,
		NumGC:      m.NumGC,
	}
	st.Sessions = len(router.Sessions())
	for _, room := range videoroom.Rooms() {
		for _, pt := range room.Participants() {
			if pt.Publishing() && room.ID() == Room {
				st.Publishers++
			}
			for _, src := range pt.Sources() {
				for _, sub := range src.Subscribers() {
					st.Forwarded += sub.Packets() + sub.Retransmitted()
				}
			}
		}
	}
	for _, mp := range broadcast.Mountpoints() {
		st.Mountpoints++
		st.Viewers += mp.Viewers()
		for _, src := range mp.Sources() {
			for _, sub := range src.Subscribers() {
				st.Forwarded += sub.Packets() + sub.Retransmitted()
			}
		}
	}
	if node != nil {
		rs := node.RelayStats()
		st.Relay = &rs
	}
	return st
}
