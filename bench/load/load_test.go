package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the whole tool in each mode — bench/server and
// bench/floor in processes of their own, 10 subscribers, a 5 s window —
// and checks that it completes with its JSON line, that every subscriber
// connected and that media (video too) went through the server. It
// asserts nothing about speed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server: not in -short")
	}
	testCases := []struct {
		mode string
	}{
		{modeVideoRoom},
		{modeStreaming},
		{modeCluster},
	}
	for _, tc := range testCases {
		t.Run(tc.mode, func(t *testing.T) { smoke(t, tc.mode) })
	}
}

func smoke(t *testing.T, mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 10
	o := options{
		mode:            mode,
		n:               n,
		duration:        5 * time.Second,
		warmup:          time.Second,
		idle:            time.Second,
		rampConcurrency: 10,
		setupTimeout:    20 * time.Second,
		client:          "pion",
		floor:           true,
		nodes:           3,
		// A race-enabled test builds race-enabled servers: they share the
		// build cache with the rest of the suite.
		buildFlags: raceFlags,
	}
	rep, err := run(ctx, o, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.print(&out)
	t.Log("\n" + out.String())

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got struct {
		Mode  string `json:"mode"`
		N     int    `json:"n"`
		Ianua *struct {
			Connected     int          `json:"connected"`
			ForwardedPPS  float64      `json:"forwarded_pps"`
			VideoPPS      float64      `json:"video_pps"`
			CPUUsPerPkt   float64      `json:"cpu_us_per_pkt"`
			IngestDropped *float64     `json:"ingest_dropped"`
			Nodes         []nodeResult `json:"nodes"`
		} `json:"ianua"`
		Single *struct {
			Connected    int     `json:"connected"`
			ForwardedPPS float64 `json:"forwarded_pps"`
		} `json:"single_node"`
		Overhead *overhead `json:"overhead"`
		Floor    *struct {
			Packets uint64 `json:"packets"`
		} `json:"floor"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("last line is not the JSON report: %v\n%s", err, lines[len(lines)-1])
	}
	if got.Mode != mode || got.N != n || got.Ianua == nil {
		t.Fatalf("report without mode %s, n=%d and ianua: %s", mode, n, lines[len(lines)-1])
	}
	if got.Ianua.Connected != n {
		t.Errorf("%d of %d subscribers connected", got.Ianua.Connected, n)
	}
	if got.Ianua.ForwardedPPS <= 0 || got.Ianua.VideoPPS <= 0 {
		t.Errorf("nothing forwarded (%.0f packets/s, %.0f video packets/s received)", got.Ianua.ForwardedPPS, got.Ianua.VideoPPS)
	}
	if mode == modeCluster {
		checkCluster(t, got.Ianua.Nodes, got.Single != nil && got.Single.Connected == n && got.Single.ForwardedPPS > 0, got.Overhead)
		return
	}
	if got.Floor == nil || got.Floor.Packets == 0 {
		t.Errorf("no floor, or nothing sent by it: %s", lines[len(lines)-1])
	}
	if streaming := mode == modeStreaming; streaming != (got.Ianua.IngestDropped != nil) {
		t.Errorf("ingest drops reported: %v, want only in streaming mode", got.Ianua.IngestDropped != nil)
	}
}

// checkCluster checks a cluster run's per-node figures: the publisher's
// node sends one relay per stream (audio, video) to each other node, which
// receives them and forwards to its own subscribers; the one-node run
// went through too, and the overhead was derived.
func checkCluster(t *testing.T, nodes []nodeResult, single bool, o *overhead) {
	t.Helper()
	if len(nodes) != 3 {
		t.Fatalf("%d nodes in the report, want 3", len(nodes))
	}
	for i, nr := range nodes {
		if nr.Subscribers == 0 || nr.ForwardedPPS <= 0 {
			t.Errorf("node %s: %d subscribers, %.0f packets/s forwarded", nr.ID, nr.Subscribers, nr.ForwardedPPS)
		}
		wantOut, wantIn := 0, 2
		if i == 0 {
			wantOut, wantIn = 4, 0
		}
		if nr.RelaysOut != wantOut || nr.RelaysIn != wantIn {
			t.Errorf("node %s: relays out/in %d/%d, want %d/%d", nr.ID, nr.RelaysOut, nr.RelaysIn, wantOut, wantIn)
		}
		if (i == 0) != (nr.RelayOutPPS > 0) || (i != 0) != (nr.RelayInPPS > 0) {
			t.Errorf("node %s: relay packets out %.0f/s, in %.0f/s", nr.ID, nr.RelayOutPPS, nr.RelayInPPS)
		}
	}
	if !single {
		t.Error("the one-node run is missing or forwarded nothing")
	}
	if o == nil || o.RelayedPPS <= 0 || o.Ratio <= 0 {
		t.Errorf("no overhead figures: %+v", o)
	}
}
