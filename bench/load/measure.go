package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"time"
)

// room is the VideoRoom room both servers have.
const room = 1234

// latency is a distribution of setup times, milliseconds.
type latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
}

func percentiles(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := int(q*float64(len(ds))+0.5) - 1
		i = min(max(i, 0), len(ds)-1)
		return float64(ds[i].Microseconds()) / 1000
	}
	return latency{P50: at(0.50), P95: at(0.95), Max: float64(ds[len(ds)-1].Microseconds()) / 1000}
}

// result is one server's figures for one run.
type result struct {
	Server       string  `json:"server"`
	Mode         string  `json:"mode"` // videoroom or streaming
	N            int     `json:"n"`
	Connected    int     `json:"connected"`
	ConnectedPct float64 `json:"connected_pct"`
	RampSeconds  float64 `json:"ramp_s"`
	// Setup runs from the subscriber's "join" (or "watch") request to its
	// first RTP packet; FirstVideo to its first video packet (after a
	// keyframe).
	Setup      latency `json:"setup_ms"`
	FirstVideo latency `json:"first_video_ms"`
	WithVideo  int     `json:"with_video"` // subscribers that had video by the window's start

	WindowSeconds float64 `json:"window_s"`
	Load1         float64 `json:"load1"` // 1-minute load average at the window's start
	// MachineBusyPct is the whole machine's CPU use in the window, % of
	// all cores (/proc/stat); ClientCPUPct this process's, % of one core.
	MachineBusyPct float64 `json:"machine_busy_pct"`
	ClientCPUPct   float64 `json:"client_cpu_pct"`
	// ForwardedPPS is the packets per second the server sent to the
	// subscribers, by its own count (bench/server's /stats, Janus's Admin
	// API); ReceivedPPS what the subscribers received. They differ when
	// the clients cannot keep up (packets wait in socket buffers, or are
	// dropped there).
	ForwardedPPS float64 `json:"forwarded_pps"`
	ReceivedPPS  float64 `json:"received_pps"`
	VideoPPS     float64 `json:"video_pps"`
	AudioPPS     float64 `json:"audio_pps"`
	PublishedPPS float64 `json:"published_pps"`
	// KeptUpPct is ForwardedPPS as a share of what the publisher sent in
	// the window (audio and the top video layer) times the subscribers:
	// below 100 % the server forwards less than it receives (it lags
	// behind, or drops).
	KeptUpPct float64 `json:"kept_up_pct"`
	// ServerCount says whether ForwardedPPS is the server's count (else
	// it is ReceivedPPS).
	ServerCount bool `json:"server_count"`
	// CountSeconds is the interval between the middles of the two
	// readings of the server's count.
	CountSeconds float64 `json:"count_s,omitempty"`
	LossPct      float64 `json:"loss_pct"`
	// IngestDropped is what the kernel dropped on the mountpoint's
	// ingest sockets in the window (streaming mode): packets the
	// server never read, which its subscribers then miss.
	IngestDropped *float64 `json:"ingest_dropped,omitempty"`
	// Nodes: each node's share in cluster mode (the figures above are
	// the cluster's, summed).
	Nodes []nodeResult `json:"nodes,omitempty"`

	CPUSeconds  float64 `json:"cpu_s"`
	CPUUsPerPkt float64 `json:"cpu_us_per_pkt"`
	CPUPct      float64 `json:"cpu_pct"`
	RSSMiB      float64 `json:"rss_mib"`
	RSSKiBPerPC float64 `json:"rss_kib_per_pc"`
	// Per subscriber PeerConnection (with its session and WebSocket),
	// under load and idle (the publisher silent), from bench/server's
	// /stats after a GC; not available for Janus.
	GoroutinesPerPC     *float64 `json:"goroutines_per_pc,omitempty"`
	HeapKiBPerPC        *float64 `json:"heap_kib_per_pc,omitempty"`
	IdleGoroutinesPerPC *float64 `json:"idle_goroutines_per_pc,omitempty"`
	IdleHeapKiBPerPC    *float64 `json:"idle_heap_kib_per_pc,omitempty"`

	Client  string   `json:"client"` // pion or raw
	SRTP    string   `json:"srtp"`
	Profile string   `json:"cpu_profile,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

// ok says whether the run met the tool's bar: ≥ 99 % connected, ≤ 1 %
// loss.
func (r *result) ok() bool {
	return r.N > 0 && r.Connected*100 >= r.N*99 && r.LossPct <= 1
}

// window sums the subscribers' counters.
type window struct {
	audio, video, expected, lost int64
}

func snapshot(subs []*subscriber) [][2]counts {
	out := make([][2]counts, len(subs))
	for i, s := range subs {
		out[i] = [2]counts{s.audio.snapshot(), s.video.snapshot()}
	}
	return out
}

func diff(before, after [][2]counts) window {
	var w window
	for i := range before {
		for k := range 2 {
			b, a := before[i][k], after[i][k]
			got := a.received - b.received
			if k == 0 {
				w.audio += got
			} else {
				w.video += got
			}
			if b.highest < 0 {
				continue // started during the window: no base to count gaps from
			}
			exp := a.highest - b.highest
			w.expected += exp
			w.lost += max(exp-got, 0)
		}
	}
	return w
}

// measure runs the workload against t: the source (publisher or
// mountpoint), the ramp of o.n subscribers, the window, the idle check;
// then it tears all down.
func measure(ctx context.Context, t target, o options, c *clients, tck float64, log io.Writer) (*result, error) {
	r := &result{Server: t.name(), Mode: o.mode, N: o.n, Client: o.client}
	pids := []int{t.pid()}
	mt, multi := t.(multiTarget)
	if multi {
		pids = pids[:0]
		for _, m := range mt.members() {
			pids = append(pids, m.pid())
		}
	}
	logf := func(format string, args ...any) { fmt.Fprintf(log, t.name()+": "+format+"\n", args...) }

	src, err := newSource(ctx, o, c, t)
	if err != nil {
		return nil, err
	}
	defer src.close()
	logf("%v up; media flowing", src)
	if multi {
		if err := mt.ready(ctx); err != nil {
			return nil, err
		}
	}
	if err := sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	base, hasStats := t.stats(ctx, true)
	baseRSS := sumRSS(pids)
	dropper, _ := src.(ingestDropper)

	// The ramp: at most o.rampConcurrency joins in flight, each until
	// its first media packet.
	logf("ramping %d subscribers, %d at a time", o.n, o.rampConcurrency)
	subs := make([]*subscriber, o.n)
	errs := make([]error, o.n)
	sem := make(chan struct{}, o.rampConcurrency)
	var wg sync.WaitGroup
	rampStart := time.Now()
	for i := range subs {
		subs[i] = newSubscriber(o.client == "raw")
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		url := t.url()
		if multi {
			url = mt.urlFor(i)
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = subs[i].join(ctx, c, url, src.watch(), o.setupTimeout)
		})
	}
	wg.Wait()
	r.RampSeconds = time.Since(rampStart).Seconds()
	defer closeAll(subs)

	var live []*subscriber
	var setups []time.Duration
	for i, s := range subs {
		if errs[i] != nil {
			if len(r.Errors) < 5 {
				r.Errors = append(r.Errors, errs[i].Error())
			}
			continue
		}
		live = append(live, s)
		m, _ := s.setup()
		setups = append(setups, m)
	}
	r.Connected = len(live)
	r.ConnectedPct = float64(r.Connected) / float64(o.n) * 100
	r.Setup = percentiles(setups)
	if len(live) > 0 {
		r.SRTP = live[0].srtpCipher()
	}
	logf("%d/%d connected in %.1f s (setup p95 %.0f ms)", r.Connected, o.n, r.RampSeconds, r.Setup.P95)
	if err := sleep(ctx, o.warmup); err != nil {
		return nil, err
	}
	// Video waits for a keyframe: by now every subscriber has had one.
	var videos []time.Duration
	for _, s := range live {
		if _, v := s.setup(); v > 0 {
			videos = append(videos, v)
		}
	}
	r.FirstVideo = percentiles(videos)
	r.WithVideo = len(videos)

	// The window.
	// Every figure is a rate over its own interval: the server's count
	// (Janus's takes one Admin API request per handle, which takes a
	// while) is dated at the middle of its reading.
	r.Load1 = loadAverage()
	fwdBefore, fwdAt0, serverCount := forwardedAt(ctx, t)
	before := snapshot(live)
	clientAt0 := time.Now()
	pubBefore, wantBefore := src.sent()
	var dropsBefore uint64
	if dropper != nil {
		if dropsBefore, err = dropper.ingestDrops(); err != nil {
			return nil, err
		}
	}
	machine := startMachineCPU()
	client, err := startCPU(os.Getpid(), tck)
	if err != nil {
		return nil, err
	}
	var nodesBefore []nodeReading
	if multi {
		nodesBefore = readNodes(ctx, mt)
	}
	cpus := make([]*cpuMeter, len(pids))
	for i, pid := range pids {
		if cpus[i], err = startCPU(pid, tck); err != nil {
			return nil, err
		}
	}
	var profErr chan error
	if o.cpuProfile != "" {
		profErr = make(chan error, 1)
		path := o.cpuProfile
		go func() { profErr <- t.profile(ctx, o.duration, path) }()
	}
	logf("measuring for %v (load average %.2f)", o.duration, r.Load1)
	stopClientProfile := startClientProfile(o.clientProfile, log)
	if err := sleep(ctx, o.duration); err != nil {
		stopClientProfile()
		return nil, err
	}
	stopClientProfile()
	var cpuSec, wall float64
	nodeCPU := make([]float64, len(cpus))
	for i, m := range cpus {
		sec, w, err := m.stop()
		if err != nil {
			return nil, err
		}
		cpuSec += sec
		nodeCPU[i] = sec
		if i == 0 {
			wall = w
		}
	}
	var nodesAfter []nodeReading
	if multi {
		nodesAfter = readNodes(ctx, mt)
	}
	clientSec, _, _ := client.stop()
	r.MachineBusyPct = machine.stop()
	w := diff(before, snapshot(live))
	clientWall := time.Since(clientAt0).Seconds()
	pubAfter, wantAfter := src.sent()
	if dropper != nil {
		dropsAfter, err := dropper.ingestDrops()
		if err != nil {
			return nil, err
		}
		r.IngestDropped = ptr(float64(dropsAfter - dropsBefore))
	}
	fwdAfter, fwdAt1, ok := forwardedAt(ctx, t)
	serverCount = serverCount && ok
	rss := sumRSS(pids)
	loaded, _ := t.stats(ctx, true)
	if profErr != nil {
		if err := <-profErr; err != nil {
			logf("cpu profile: %v", err)
		} else {
			r.Profile = o.cpuProfile
		}
	}

	r.WindowSeconds = wall
	r.ClientCPUPct = clientSec / wall * 100
	r.ReceivedPPS = float64(w.audio+w.video) / clientWall
	r.ForwardedPPS = r.ReceivedPPS
	if serverCount {
		r.ServerCount = true
		r.CountSeconds = fwdAt1.Sub(fwdAt0).Seconds()
		r.ForwardedPPS = float64(fwdAfter-fwdBefore) / r.CountSeconds
	}
	r.VideoPPS = float64(w.video) / clientWall
	r.AudioPPS = float64(w.audio) / clientWall
	r.PublishedPPS = float64(pubAfter-pubBefore) / clientWall
	if want := float64(wantAfter-wantBefore) / clientWall * float64(r.Connected); want > 0 {
		r.KeptUpPct = r.ForwardedPPS / want * 100
	}
	if w.expected > 0 {
		r.LossPct = float64(w.lost) / float64(w.expected) * 100
	}
	r.CPUSeconds = cpuSec
	r.CPUPct = cpuSec / wall * 100
	if r.ForwardedPPS > 0 {
		r.CPUUsPerPkt = r.CPUPct / 100 * 1e6 / r.ForwardedPPS
	}
	r.RSSMiB = float64(rss) / 1024
	if multi {
		r.Nodes = nodeResults(mt, nodesBefore, nodesAfter, nodeCPU, wall, o.n)
	}
	if r.Connected > 0 {
		n := float64(r.Connected)
		r.RSSKiBPerPC = (float64(rss) - float64(baseRSS)) / n
		if hasStats {
			r.GoroutinesPerPC = ptr(float64(loaded.Goroutines-base.Goroutines) / n)
			r.HeapKiBPerPC = ptr((float64(loaded.HeapAlloc) - float64(base.HeapAlloc)) / 1024 / n)
		}
	}

	// Idle: the source goes silent; what is left per subscriber is
	// the cost of a connected, idle PeerConnection.
	src.stopMedia()
	if err := sleep(ctx, o.idle); err != nil {
		return nil, err
	}
	if idle, ok := t.stats(ctx, true); ok && r.Connected > 0 {
		n := float64(r.Connected)
		r.IdleGoroutinesPerPC = ptr(float64(idle.Goroutines-base.Goroutines) / n)
		r.IdleHeapKiBPerPC = ptr((float64(idle.HeapAlloc) - float64(base.HeapAlloc)) / 1024 / n)
	}
	if o.heapProfile != "" {
		if err := t.heapProfile(ctx, o.heapProfile); err != nil {
			logf("heap profile: %v", err)
		}
	}
	logf("done: %.0f packets/s forwarded, %.0f received, %.2f µs CPU per packet, loss %.3f %%", r.ForwardedPPS, r.ReceivedPPS, r.CPUUsPerPkt, r.LossPct)
	return r, nil
}

// startClientProfile profiles this process (the clients) until the
// returned function is called; path "" does nothing.
func startClientProfile(path string, log io.Writer) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(log, "client profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(log, "client profile:", err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// forwardedAt reads the server's count and dates it at the middle of the
// reading.
func forwardedAt(ctx context.Context, t target) (uint64, time.Time, bool) {
	start := time.Now()
	n, ok := t.forwarded(ctx)
	return n, start.Add(time.Since(start) / 2), ok
}

func ptr(v float64) *float64 { return &v }

// closeAll closes the subscribers, 32 at a time.
func closeAll(subs []*subscriber) {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, s := range subs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.close()
		})
	}
	wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
