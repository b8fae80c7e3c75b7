package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the whole tool — bench/server and bench/floor in
// processes of their own, 10 subscribers, a 5 s window — and checks that
// it completes with its JSON line and that the subscribers connected. It
// asserts nothing about speed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := options{
		n:               10,
		duration:        5 * time.Second,
		warmup:          time.Second,
		idle:            time.Second,
		rampConcurrency: 10,
		setupTimeout:    20 * time.Second,
		client:          "pion",
		floor:           true,
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
		N     int `json:"n"`
		Ianua *struct {
			Connected    int     `json:"connected"`
			ForwardedPPS float64 `json:"forwarded_pps"`
			CPUUsPerPkt  float64 `json:"cpu_us_per_pkt"`
		} `json:"ianua"`
		Floor *struct {
			Packets uint64 `json:"packets"`
		} `json:"floor"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("last line is not the JSON report: %v\n%s", err, lines[len(lines)-1])
	}
	if got.N != 10 || got.Ianua == nil || got.Floor == nil {
		t.Fatalf("report without n=10, ianua and floor: %s", lines[len(lines)-1])
	}
	if got.Ianua.Connected*100 < got.N*99 {
		t.Errorf("%d of %d subscribers connected, want ≥ 99 %%", got.Ianua.Connected, got.N)
	}
	if got.Ianua.ForwardedPPS <= 0 || got.Floor.Packets == 0 {
		t.Errorf("nothing forwarded (%.0f packets/s) or nothing sent by the floor (%d packets)", got.Ianua.ForwardedPPS, got.Floor.Packets)
	}
}
