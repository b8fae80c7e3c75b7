// Command load measures a VideoRoom server under load: one publisher
// sending synthetic VP8 and Opus, N subscribers, all over the Janus API on
// WebSocket, on loopback. With -mode streaming the source is a Streaming
// mountpoint instead, created with the plugin's "create" request and fed
// with the same media as plain RTP, and the N subscribers are its
// viewers. It reports the setup time, the packets forwarded, the server's
// CPU per forwarded packet (read from /proc), its memory and goroutines
// per PeerConnection and the loss; it measures the floor (one SRTP
// encryption and one UDP send per packet, bench/floor) at the same rate
// and prints ianua's CPU per packet divided by the floor's.
// With -janus it drives Debian's Janus the same way and divides ianua's
// figures by Janus's.
//
//	go run ./bench/load -n 200 -duration 20s
//	go run ./bench/load -n 200 -duration 20s -janus
//	go run ./bench/load -n 200 -duration 20s -mode streaming
//
// The server (bench/server, or janus) and the floor run in processes of
// their own, built with go build into a temporary directory; this process
// is the client side. It prints a table and one JSON line, and exits 1 if
// fewer than 99 % of ianua's subscribers connected or its loss exceeded
// 1 %. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	mode            string // modeVideoRoom, modeStreaming or modeCluster
	nodes           int    // modeCluster
	n               int
	duration        time.Duration
	warmup          time.Duration
	idle            time.Duration
	rampConcurrency int
	setupTimeout    time.Duration
	simulcast       bool
	janus           bool
	janusLoops      int
	floor           bool
	cpuProfile      string
	heapProfile     string
	serverFlags     string
	clientProfile   string
	client          string
	buildFlags      []string // for go build of bench/server and bench/floor
	serverBin       string
	floorBin        string
	keep            bool
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", modeVideoRoom, `the source: "videoroom" (a VideoRoom publisher, subscribers join its feed), "streaming" (a Streaming mountpoint fed with plain RTP, viewers watch it) or "cluster" (a VideoRoom publisher on the first of -nodes nodes of a cluster, the subscribers spread over them; then the same on one node, to tell the relay's cost)`)
	flag.IntVar(&o.nodes, "nodes", 3, "nodes in -mode cluster")
	flag.IntVar(&o.n, "n", 50, "subscribers")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measurement window, after the ramp and the warm-up")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "wait between the end of the ramp and the window")
	flag.DurationVar(&o.idle, "idle", 2*time.Second, "silence before the idle goroutine and heap reading")
	flag.IntVar(&o.rampConcurrency, "ramp-concurrency", 20, "joins in flight at once during the ramp")
	flag.DurationVar(&o.setupTimeout, "setup-timeout", 30*time.Second, "time a subscriber has from its join to its first packet")
	flag.StringVar(&o.client, "client", "pion", `subscribers: "pion" (pion decrypts and reads every packet with track.Read) or "raw" (packets counted from their clear-text RTP header at the socket, never decrypted; for when pion cannot keep up)`)
	flag.BoolVar(&o.simulcast, "simulcast", false, "publish 3 simulcast layers (q, h, f) instead of one")
	flag.BoolVar(&o.janus, "janus", false, "also measure Janus (Debian package janus, installed if missing; needs root)")
	flag.IntVar(&o.janusLoops, "janus-event-loops", 0, "Janus's event_loops (0: Janus's default, one loop thread per handle)")
	flag.BoolVar(&o.floor, "floor", true, "measure the floor (bench/floor) at ianua's forwarding rate")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the ianua server over the window to this file")
	flag.StringVar(&o.heapProfile, "heapprofile", "", "write a heap profile of the ianua server, idle subscribers connected, to this file")
	flag.StringVar(&o.serverFlags, "server-flags", "", `extra flags for bench/server, space-separated (e.g. "-memprofilerate 1")`)
	flag.StringVar(&o.clientProfile, "client-cpuprofile", "", "write a CPU profile of this process (the clients) over the window to this file")
	flag.StringVar(&o.serverBin, "server-bin", "", "prebuilt bench/server binary (default: go build it)")
	flag.StringVar(&o.floorBin, "floor-bin", "", "prebuilt bench/floor binary (default: go build it)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (server and Janus logs, configuration)")
	flag.Parse()
	if o.n < 1 || o.rampConcurrency < 1 || o.duration < time.Second || (o.client != "pion" && o.client != "raw") ||
		(o.mode != modeVideoRoom && o.mode != modeStreaming && o.mode != modeCluster) || o.nodes < 2 {
		fmt.Fprintln(os.Stderr, "load: -n and -ramp-concurrency must be ≥ 1, -duration ≥ 1s, -client pion or raw, -mode videoroom, streaming or cluster, -nodes ≥ 2")
		os.Exit(2)
	}
	if o.mode == modeStreaming && (o.simulcast || o.janus) {
		fmt.Fprintln(os.Stderr, "load: -mode streaming has neither -simulcast (a mountpoint has one port per stream) nor -janus (not yet)")
		os.Exit(2)
	}
	if o.mode == modeCluster && (o.simulcast || o.janus || o.heapProfile != "") {
		fmt.Fprintln(os.Stderr, "load: -mode cluster has no -simulcast (relays carry one layer), -janus or -heapprofile")
		os.Exit(2)
	}

	// Janus needs a non-loopback interface (see janusserver.go): the
	// whole run moves into a private network namespace, binaries built
	// beforehand.
	if o.janus && !inNetns() {
		dir, err := os.MkdirTemp("", "ianua-bench-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		code, err := func() (int, error) {
			defer os.RemoveAll(dir)
			if err := ensureJanus(os.Stderr); err != nil {
				return 1, err
			}
			args := os.Args[1:]
			if o.serverBin == "" || o.floorBin == "" {
				server, floor, err := buildBinaries(dir, os.Stderr)
				if err != nil {
					return 1, err
				}
				args = append(args, "-server-bin", server, "-floor-bin", floor)
			}
			// The child runs elsewhere: give it absolute paths.
			for name, path := range map[string]string{"cpuprofile": o.cpuProfile, "heapprofile": o.heapProfile, "client-cpuprofile": o.clientProfile} {
				if abs, err := filepath.Abs(path); err == nil && path != "" {
					args = append(args, "-"+name, abs)
				}
			}
			return runInNetns(args)
		}()
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
		}
		os.Exit(code)
	}
	if inNetns() {
		if err := setupNetns(); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o, os.Stderr)
	if rep != nil {
		rep.finish()
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	if !rep.OK {
		fmt.Fprintln(os.Stderr, "load: fewer than 99 % of the subscribers connected, or loss above 1 %")
		os.Exit(1)
	}
}

// run measures ianua, the floor and, with o.janus, Janus. Progress goes to
// log. The report is returned with whatever was measured, even on error.
func run(ctx context.Context, o options, log io.Writer) (*report, error) {
	dir, err := os.MkdirTemp("", "ianua-bench-")
	if err != nil {
		return nil, err
	}
	failed := true
	defer func() {
		if o.keep || failed {
			fmt.Fprintln(log, "load: logs and configuration in", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()

	serverBin, floorBin := o.serverBin, o.floorBin
	if serverBin == "" || floorBin == "" {
		fmt.Fprintln(log, "load: building bench/server and bench/floor")
		if serverBin, floorBin, err = buildBinaries(dir, log, o.buildFlags...); err != nil {
			return nil, err
		}
	}
	tck := clockTicks()
	rep := &report{Mode: o.mode, N: o.n, Duration: o.duration.Seconds(), Simulcast: o.simulcast, NumCPU: runtime.NumCPU(), Load1: loadAverage()}

	if o.mode == modeCluster {
		if err := measureCluster(ctx, rep, o, dir, serverBin, tck, log); err != nil {
			return rep, err
		}
		rep.finish()
		failed = false
		return rep, nil
	}

	// ianua.
	serverLog, err := os.Create(filepath.Join(dir, "ianua-server.log"))
	if err != nil {
		return nil, err
	}
	defer serverLog.Close()
	srv, err := startIanua(ctx, serverBin, strings.Fields(o.serverFlags), serverLog)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "ianua: server pid %d, API %s, stats and pprof on http://%s/\n", srv.pid(), srv.url(), srv.debug)
	ic, err := newClients(net.IPv4(127, 0, 0, 1))
	if err != nil {
		return nil, err
	}
	rep.Ianua, err = measure(ctx, srv, o, ic, tck, log)
	if cerr := srv.close(); cerr != nil {
		fmt.Fprintln(log, "load: ianua server shutdown:", cerr)
	}
	if err != nil {
		return rep, fmt.Errorf("ianua: %w", err)
	}

	// The floor, at the rate ianua forwarded, once ianua is gone.
	if o.floor && rep.Ianua.ForwardedPPS > 0 {
		profile := rep.Ianua.SRTP
		if profile == "" {
			profile = "SRTP_AEAD_AES_128_GCM"
		}
		fmt.Fprintf(log, "floor: %.0f packets/s, %s, %d receivers, %v\n", rep.Ianua.ForwardedPPS, profile, rep.Ianua.Connected, o.duration)
		f, err := runFloor(ctx, floorBin, profile, rep.Ianua.ForwardedPPS, max(rep.Ianua.Connected, 1),
			rep.Ianua.AudioPPS/max(rep.Ianua.ReceivedPPS, 1), o.duration, tck, log)
		if err != nil {
			return rep, fmt.Errorf("floor: %w", err)
		}
		rep.Floor = &f
	}

	// Janus, with exactly the same client and workload.
	if o.janus {
		if err := measureJanus(ctx, rep, o, dir, tck, log); err != nil {
			rep.JanusError = err.Error()
			fmt.Fprintln(log, "janus:", err)
		}
	}
	rep.finish()
	failed = false
	return rep, nil
}

// measureCluster measures the workload on a cluster of o.nodes nodes, then
// on one node alone: the difference is what the relays cost.
func measureCluster(ctx context.Context, rep *report, o options, dir, serverBin string, tck float64, log io.Writer) error {
	ct, err := startCluster(ctx, serverBin, strings.Fields(o.serverFlags), o.nodes, dir, log)
	if err != nil {
		return err
	}
	ic, err := newClients(net.IPv4(127, 0, 0, 1))
	if err != nil {
		return errors.Join(err, ct.close())
	}
	rep.Ianua, err = measure(ctx, ct, o, ic, tck, log)
	if cerr := ct.close(); cerr != nil {
		fmt.Fprintln(log, "load: cluster shutdown:", cerr)
	}
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}

	// The same on one node: what it costs without relays.
	serverLog, err := os.Create(filepath.Join(dir, "ianua-single.log"))
	if err != nil {
		return err
	}
	defer serverLog.Close()
	srv, err := startIanua(ctx, serverBin, strings.Fields(o.serverFlags), serverLog)
	if err != nil {
		return err
	}
	sc, err := newClients(net.IPv4(127, 0, 0, 1))
	if err != nil {
		return errors.Join(err, srv.close())
	}
	os1 := o
	os1.mode, os1.cpuProfile = modeVideoRoom, ""
	rep.Single, err = measure(ctx, srv, os1, sc, tck, log)
	if cerr := srv.close(); cerr != nil {
		fmt.Fprintln(log, "load: ianua server shutdown:", cerr)
	}
	if err != nil {
		return fmt.Errorf("one node: %w", err)
	}
	rep.Overhead = computeOverhead(rep.Ianua, rep.Single)
	return nil
}

func measureJanus(ctx context.Context, rep *report, o options, dir string, tck float64, log io.Writer) error {
	jc, err := newClients(net.ParseIP(janusIP))
	if err != nil {
		return err
	}
	janusDir := filepath.Join(dir, "janus")
	if err := os.MkdirAll(janusDir, 0o755); err != nil {
		return err
	}
	janusLog, err := os.Create(filepath.Join(dir, "janus.log"))
	if err != nil {
		return err
	}
	defer janusLog.Close()
	jt, err := startJanus(ctx, janusDir, o.janusLoops, janusLog)
	if err != nil {
		return err
	}
	oj := o
	oj.cpuProfile, oj.heapProfile = "", ""
	rep.Janus, err = measure(ctx, jt, oj, jc, tck, log)
	if cerr := jt.close(); cerr != nil {
		fmt.Fprintln(log, "load: janus shutdown:", cerr)
	}
	return err
}
