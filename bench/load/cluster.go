package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/ianua/ianua/cluster"
)

// modeCluster: the VideoRoom fan-out over several nodes of a cluster
// (package cluster): the publisher on the first node, the subscribers
// spread over all of them, each remote node getting the feed through one
// relay per stream.
const modeCluster = "cluster"

// multiTarget is a target made of several server processes: the
// subscribers are spread over them and their CPU, memory and counts are
// summed.
type multiTarget interface {
	target
	members() []*ianuaTarget
	// urlFor is where subscriber i joins.
	urlFor(i int) string
	// ready waits until every member knows the source's publisher.
	ready(ctx context.Context) error
}

// clusterTarget is bench/server running as nodes n1, n2, … of one cluster,
// meeting on a NATS server embedded in this process (its CPU, small,
// counts as the client's).
type clusterTarget struct {
	nodes []*ianuaTarget
	ns    *natsserver.Server
}

// startCluster starts the NATS server and n nodes.
func startCluster(ctx context.Context, bin string, flags []string, n int, dir string, log io.Writer) (*clusterTarget, error) {
	ns, err := natsserver.NewServer(&natsserver.Options{
		ServerName: "ianua-bench", Host: "127.0.0.1", Port: natsserver.RANDOM_PORT,
		JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoLog: true, NoSigs: true,
	})
	if err != nil {
		return nil, fmt.Errorf("NATS server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("NATS server did not start in 10 s")
	}
	c := &clusterTarget{ns: ns}
	for i := range n {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("ianua-node%d.log", i+1)))
		if err != nil {
			_ = c.close()
			return nil, err
		}
		t, err := startIanua(ctx, bin, append([]string{"-nats", ns.ClientURL(), "-node", fmt.Sprintf("n%d", i+1)}, flags...), logf)
		if err != nil {
			_ = logf.Close()
			_ = c.close()
			return nil, fmt.Errorf("node n%d: %w", i+1, err)
		}
		t.closers = append(t.closers, logf.Close)
		c.nodes = append(c.nodes, t)
	}
	fmt.Fprintf(log, "cluster: NATS %s, %d nodes\n", ns.ClientURL(), n)
	return c, nil
}

func (c *clusterTarget) name() string            { return "cluster" }
func (c *clusterTarget) url() string             { return c.nodes[0].url() }
func (c *clusterTarget) pid() int                { return c.nodes[0].pid() }
func (c *clusterTarget) members() []*ianuaTarget { return c.nodes }
func (c *clusterTarget) urlFor(i int) string     { return c.nodes[i%len(c.nodes)].url() }
func (c *clusterTarget) heapProfile(context.Context, string) error {
	return errors.New("not in cluster mode")
}
func (c *clusterTarget) profile(ctx context.Context, d time.Duration, path string) error {
	// The origin node's: it sends the relays.
	return c.nodes[0].profile(ctx, d, path)
}

// stats sums the nodes' figures.
func (c *clusterTarget) stats(ctx context.Context, gc bool) (serverStats, bool) {
	var sum serverStats
	for _, t := range c.nodes {
		st, ok := t.stats(ctx, gc)
		if !ok {
			return sum, false
		}
		sum.Goroutines += st.Goroutines
		sum.HeapAlloc += st.HeapAlloc
		sum.HeapInuse += st.HeapInuse
		sum.Sessions += st.Sessions
		sum.Forwarded += st.Forwarded
		if st.Relay != nil {
			sum.Forwarded -= st.Relay.PacketsOut
		}
	}
	return sum, true
}

// forwarded is the packets sent to subscribers, all nodes together; the
// relays' packets (which bench/server counts as forwarded) are not.
func (c *clusterTarget) forwarded(ctx context.Context) (uint64, bool) {
	st, ok := c.stats(ctx, false)
	return st.Forwarded, ok
}

func (c *clusterTarget) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		known := 0
		for _, t := range c.nodes {
			if st, ok := t.stats(ctx, false); ok && st.Publishers > 0 {
				known++
			}
		}
		if known == len(c.nodes) {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("the publisher is known on %d of %d nodes: %w", known, len(c.nodes), err)
		}
	}
}

// close stops the nodes, then NATS.
func (c *clusterTarget) close() error {
	var errs []error
	for _, t := range c.nodes {
		errs = append(errs, t.close())
	}
	if c.ns != nil {
		c.ns.Shutdown()
		c.ns.WaitForShutdown()
	}
	return errors.Join(errs...)
}

// nodeResult is one node's share of a cluster run, over the window.
type nodeResult struct {
	ID          string  `json:"id"`
	Subscribers int     `json:"subscribers"`
	CPUPct      float64 `json:"cpu_pct"`
	// ForwardedPPS: to this node's subscribers; RelayOutPPS and
	// RelayInPPS: relay packets sent to and received from other nodes.
	ForwardedPPS float64 `json:"forwarded_pps"`
	RelayOutPPS  float64 `json:"relay_out_pps"`
	RelayInPPS   float64 `json:"relay_in_pps"`
	RelaysOut    int     `json:"relays_out"`
	RelaysIn     int     `json:"relays_in"`
	// CPUUsPerPkt is the node's CPU per packet it sent (to subscribers
	// and relays).
	CPUUsPerPkt float64 `json:"cpu_us_per_pkt"`
	RSSMiB      float64 `json:"rss_mib"`
}

// overhead compares a cluster run with a one-node run of the same
// workload (see bench/README.md): what spreading the subscribers over
// nodes costs in CPU, all told. It is not the relay hop's own cost (which
// BenchmarkRelayHop in package cluster measures): each node also has its
// own runtime and, with a third of the subscribers, less of the fan-out's
// economy of scale.
type overhead struct {
	// Ratio is the cluster's CPU per packet forwarded to subscribers
	// over one node's.
	Ratio float64 `json:"cpu_ratio"`
	// ExtraCPUPct is the cluster's CPU beyond what one node spends for
	// the same packets, % of one core; UsPerRelayedPkt divides it by the
	// relay packets received per second.
	ExtraCPUPct     float64 `json:"extra_cpu_pct"`
	RelayedPPS      float64 `json:"relayed_pps"`
	UsPerRelayedPkt float64 `json:"us_per_relayed_pkt"`
}

// computeOverhead compares the cluster's figures with one node's.
func computeOverhead(cl, single *result) *overhead {
	if cl == nil || single == nil || single.CPUUsPerPkt <= 0 || len(cl.Nodes) < 2 {
		return nil
	}
	o := &overhead{Ratio: ratio(cl.CPUUsPerPkt, single.CPUUsPerPkt)}
	o.ExtraCPUPct = cl.CPUPct - single.CPUUsPerPkt*cl.ForwardedPPS/1e6*100
	for _, n := range cl.Nodes {
		o.RelayedPPS += n.RelayInPPS
	}
	o.UsPerRelayedPkt = ratio(o.ExtraCPUPct/100*1e6, o.RelayedPPS)
	return o
}

// nodeReading is one node's counts at one moment.
type nodeReading struct {
	at        time.Time
	forwarded uint64 // to subscribers, relays excluded
	relay     cluster.RelayStats
	ok        bool
}

// readNodes reads every member's counts, each dated at the middle of its
// reading.
func readNodes(ctx context.Context, mt multiTarget) []nodeReading {
	var out []nodeReading
	for _, t := range mt.members() {
		start := time.Now()
		st, ok := t.stats(ctx, false)
		r := nodeReading{at: start.Add(time.Since(start) / 2), forwarded: st.Forwarded, ok: ok && st.Relay != nil}
		if r.ok {
			r.relay = *st.Relay
			r.forwarded -= st.Relay.PacketsOut
		}
		out = append(out, r)
	}
	return out
}

// nodeResults turns the readings at the window's ends and the nodes' CPU
// seconds into per-node figures; n subscribers were spread round robin.
func nodeResults(mt multiTarget, before, after []nodeReading, cpu []float64, wall float64, n int) []nodeResult {
	members := mt.members()
	out := make([]nodeResult, len(members))
	for i := range members {
		nr := nodeResult{ID: fmt.Sprintf("n%d", i+1), Subscribers: n / len(members)}
		if i < n%len(members) {
			nr.Subscribers++
		}
		nr.CPUPct = cpu[i] / wall * 100
		if rss, err := rssKiB(members[i].pid()); err == nil {
			nr.RSSMiB = float64(rss) / 1024
		}
		b, a := before[i], after[i]
		if b.ok && a.ok {
			d := a.at.Sub(b.at).Seconds()
			// A relay that stopped in the window takes its count with
			// it: a count that went down is no rate.
			rate := func(after, before uint64) float64 {
				if after < before {
					return 0
				}
				return float64(after-before) / d
			}
			nr.ForwardedPPS = rate(a.forwarded, b.forwarded)
			nr.RelayOutPPS = rate(a.relay.PacketsOut, b.relay.PacketsOut)
			nr.RelayInPPS = rate(a.relay.PacketsIn, b.relay.PacketsIn)
			nr.RelaysOut, nr.RelaysIn = a.relay.RelaysOut, a.relay.RelaysIn
			nr.CPUUsPerPkt = ratio(nr.CPUPct/100*1e6, nr.ForwardedPPS+nr.RelayOutPPS)
		}
		out[i] = nr
	}
	return out
}

// sumRSS is the resident set size of the processes together, KiB.
func sumRSS(pids []int) uint64 {
	var sum uint64
	for _, pid := range pids {
		if kib, err := rssKiB(pid); err == nil {
			sum += kib
		}
	}
	return sum
}
