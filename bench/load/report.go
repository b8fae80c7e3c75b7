package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// report is the whole run, printed as a table and as one JSON line.
type report struct {
	Mode      string  `json:"mode"` // videoroom or streaming
	N         int     `json:"n"`
	Duration  float64 `json:"duration_s"`
	Simulcast bool    `json:"simulcast"`
	NumCPU    int     `json:"ncpu"`
	Load1     float64 `json:"load1_start"`

	Ianua *result      `json:"ianua"`
	Floor *floorResult `json:"floor,omitempty"`
	// IanuaOverFloor is ianua's CPU per forwarded packet divided by the
	// floor's: the headline figure.
	IanuaOverFloor float64 `json:"ianua_over_floor,omitempty"`
	Janus          *result `json:"janus,omitempty"`
	JanusOverFloor float64 `json:"janus_over_floor,omitempty"`
	// IanuaOverJanus divides ianua's figures by Janus's.
	IanuaOverJanus map[string]float64 `json:"ianua_over_janus,omitempty"`
	JanusError     string             `json:"janus_error,omitempty"`
	// Single is the same workload on one node (cluster mode), and
	// Overhead what the cluster costs more.
	Single   *result   `json:"single_node,omitempty"`
	Overhead *overhead `json:"overhead,omitempty"`

	OK bool `json:"ok"`
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// finish computes the ratios and the verdict.
func (rep *report) finish() {
	if rep.Ianua != nil && rep.Floor != nil {
		rep.IanuaOverFloor = ratio(rep.Ianua.CPUUsPerPkt, rep.Floor.CPUUsPerPkt)
	}
	if rep.Janus != nil && rep.Floor != nil {
		rep.JanusOverFloor = ratio(rep.Janus.CPUUsPerPkt, rep.Floor.CPUUsPerPkt)
	}
	if rep.Ianua != nil && rep.Janus != nil {
		i, j := rep.Ianua, rep.Janus
		rep.IanuaOverJanus = map[string]float64{
			"cpu_us_per_pkt": ratio(i.CPUUsPerPkt, j.CPUUsPerPkt),
			"cpu_pct":        ratio(i.CPUPct, j.CPUPct),
			"rss_mib":        ratio(i.RSSMiB, j.RSSMiB),
			"rss_kib_per_pc": ratio(i.RSSKiBPerPC, j.RSSKiBPerPC),
			"setup_p50":      ratio(i.Setup.P50, j.Setup.P50),
			"setup_p95":      ratio(i.Setup.P95, j.Setup.P95),
			"forwarded_pps":  ratio(i.ForwardedPPS, j.ForwardedPPS),
		}
	}
	rep.OK = rep.Ianua != nil && rep.Ianua.ok() && (rep.Mode != modeCluster || (rep.Single != nil && rep.Single.ok()))
}

// print writes the table, then the JSON line.
func (rep *report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	cols := []*result{rep.Ianua}
	header := "\tianua"
	if rep.Single != nil {
		cols = append(cols, rep.Single)
		header = fmt.Sprintf("\t%d nodes\tone node", len(rep.Ianua.Nodes))
	}
	if rep.Janus != nil {
		cols = append(cols, rep.Janus)
		header += "\tjanus\tianua÷janus"
	}
	fmt.Fprintf(w, "%s, N=%d, %.0f s window, simulcast %v, %d CPUs, load average %.2f at start\n", rep.Mode, rep.N, rep.Duration, rep.Simulcast, rep.NumCPU, rep.Load1)
	fmt.Fprintln(tw, header+"\t")
	row := func(name string, f func(*result) float64, format string) {
		var b strings.Builder
		b.WriteString(name)
		for _, r := range cols {
			b.WriteString("\t" + fmt.Sprintf(format, f(r)))
		}
		if rep.Janus != nil {
			b.WriteString("\t" + fmt.Sprintf("%.2f", ratio(f(rep.Ianua), f(rep.Janus))))
		}
		fmt.Fprintln(tw, b.String()+"\t")
	}
	opt := func(name string, f func(*result) *float64, format string) {
		var b strings.Builder
		b.WriteString(name)
		for _, r := range cols {
			if v := f(r); v != nil {
				b.WriteString("\t" + fmt.Sprintf(format, *v))
			} else {
				b.WriteString("\t-")
			}
		}
		if rep.Janus != nil {
			b.WriteString("\t-")
		}
		fmt.Fprintln(tw, b.String()+"\t")
	}
	row("subscribers connected", func(r *result) float64 { return float64(r.Connected) }, "%.0f")
	row("setup p50 (ms)", func(r *result) float64 { return r.Setup.P50 }, "%.0f")
	row("setup p95 (ms)", func(r *result) float64 { return r.Setup.P95 }, "%.0f")
	row("setup max (ms)", func(r *result) float64 { return r.Setup.Max }, "%.0f")
	row("first video p95 (ms)", func(r *result) float64 { return r.FirstVideo.P95 }, "%.0f")
	row("forwarded packets/s", func(r *result) float64 { return r.ForwardedPPS }, "%.0f")
	row("received packets/s", func(r *result) float64 { return r.ReceivedPPS }, "%.0f")
	row("forwarded ÷ (published × N) %", func(r *result) float64 { return r.KeptUpPct }, "%.1f")
	row("CPU µs per packet", func(r *result) float64 { return r.CPUUsPerPkt }, "%.2f")
	row("CPU % of one core", func(r *result) float64 { return r.CPUPct }, "%.1f")
	row("RSS (MiB)", func(r *result) float64 { return r.RSSMiB }, "%.1f")
	row("RSS per PC (KiB)", func(r *result) float64 { return r.RSSKiBPerPC }, "%.0f")
	opt("goroutines per PC", func(r *result) *float64 { return r.GoroutinesPerPC }, "%.1f")
	opt("heap per PC (KiB)", func(r *result) *float64 { return r.HeapKiBPerPC }, "%.0f")
	opt("idle goroutines per PC", func(r *result) *float64 { return r.IdleGoroutinesPerPC }, "%.1f")
	opt("idle heap per PC (KiB)", func(r *result) *float64 { return r.IdleHeapKiBPerPC }, "%.0f")
	row("loss %", func(r *result) float64 { return r.LossPct }, "%.3f")
	if rep.Mode == modeStreaming {
		opt("ingest socket drops", func(r *result) *float64 { return r.IngestDropped }, "%.0f")
	}
	row("client CPU % of one core", func(r *result) float64 { return r.ClientCPUPct }, "%.1f")
	row("machine CPU busy %", func(r *result) float64 { return r.MachineBusyPct }, "%.1f")
	_ = tw.Flush()
	if rep.Ianua != nil && len(rep.Ianua.Nodes) > 0 {
		fmt.Fprintln(tw, "node\tsubscribers\tCPU %\tforwarded/s\trelay out/s\trelay in/s\trelays out/in\tCPU µs per packet sent\tRSS MiB\t")
		for _, n := range rep.Ianua.Nodes {
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%.0f\t%.0f\t%d/%d\t%.2f\t%.1f\t\n", n.ID, n.Subscribers, n.CPUPct, n.ForwardedPPS,
				n.RelayOutPPS, n.RelayInPPS, n.RelaysOut, n.RelaysIn, n.CPUUsPerPkt, n.RSSMiB)
		}
		_ = tw.Flush()
	}
	if o := rep.Overhead; o != nil {
		fmt.Fprintf(w, "cluster ÷ one node, CPU per packet: %.2f; the cluster spent %.1f %% of a core more, %.0f µs per relayed packet (%.0f/s) all told:\n"+
			"each node's own runtime and smaller fan-out included; the relay hop alone: go test -bench BenchmarkRelayHop ./cluster/\n",
			o.Ratio, o.ExtraCPUPct, o.UsPerRelayedPkt, o.RelayedPPS)
	}
	for _, r := range cols {
		count := "the server's count"
		if !r.ServerCount {
			count = "the subscribers' count"
		}
		fmt.Fprintf(w, "%s: SRTP %s, %s client, forwarded packets by %s", r.Server, r.SRTP, r.Client, count)
		if len(r.Errors) > 0 {
			fmt.Fprintf(w, "; join errors: %s", strings.Join(r.Errors, "; "))
		}
		fmt.Fprintln(w)
		switch {
		case r.IngestDropped != nil && *r.IngestDropped > 0:
			fmt.Fprintf(w, "%s fell behind reading the mountpoint: its ingest sockets dropped %.0f packets, each lost to every viewer\n", r.Server, *r.IngestDropped)
		case r.KeptUpPct > 0 && r.KeptUpPct < 95:
			fmt.Fprintf(w, "%s fell behind: it forwarded %.0f %% of what it received; a server that queues shows the loss only in a longer window\n", r.Server, r.KeptUpPct)
		}
		if r.MachineBusyPct > 95 {
			fmt.Fprintf(w, "%s: the machine was saturated (%.0f %% busy): forwarded rate and setup times are the machine's\n", r.Server, r.MachineBusyPct)
		}
	}
	if rep.Floor != nil {
		fmt.Fprintf(w, "floor (one %s encryption + one UDP send per packet, %d receivers): %.0f packets/s, %.2f µs CPU per packet\n",
			rep.Floor.Profile, rep.Floor.Streams, rep.Floor.PPS, rep.Floor.CPUUsPerPkt)
		fmt.Fprintf(w, "ianua ÷ floor: %.2f", rep.IanuaOverFloor)
		if rep.Janus != nil {
			fmt.Fprintf(w, "   janus ÷ floor: %.2f", rep.JanusOverFloor)
		}
		fmt.Fprintln(w)
	}
	if rep.JanusError != "" {
		fmt.Fprintln(w, "janus:", rep.JanusError)
	}
	line, _ := json.Marshal(rep)
	fmt.Fprintln(w, string(line))
}
