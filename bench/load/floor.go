package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync/atomic"
	"time"
)

// floorResult is the floor's run: the same packets per second, sizes and
// receivers as the server forwarded to, one SRTP encryption and one UDP
// send each.
type floorResult struct {
	Profile     string  `json:"srtp"`
	Streams     int     `json:"streams"`
	PPS         float64 `json:"pps"`
	Packets     uint64  `json:"packets"`
	CPUSeconds  float64 `json:"cpu_s"`
	CPUUsPerPkt float64 `json:"cpu_us_per_pkt"`
	CPUPct      float64 `json:"cpu_pct"`
	Drained     uint64  `json:"drained"` // packets the sink read
}

// runFloor runs bench/floor for d at pps over streams receivers and reads
// its CPU time from /proc between its start and done lines. The packets go
// to a loopback socket this process drains, as the subscribers drain the
// server's.
func runFloor(ctx context.Context, bin, profile string, pps float64, streams int, audioShare float64, d time.Duration, tck float64, log io.Writer) (floorResult, error) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return floorResult{}, err
	}
	defer sink.Close()
	_ = sink.SetReadBuffer(8 << 20)
	var drained atomic.Uint64
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, err := sink.Read(buf); err != nil {
				return
			}
			drained.Add(1)
		}
	}()

	cmd := exec.CommandContext(ctx, bin,
		"-dst", sink.LocalAddr().String(),
		"-pps", strconv.FormatFloat(pps, 'f', 1, 64),
		"-streams", strconv.Itoa(streams),
		"-audio-share", strconv.FormatFloat(audioShare, 'f', 4, 64),
		"-video-size", strconv.Itoa(videoPayload),
		"-audio-size", strconv.Itoa(audioPayload),
		"-profile", profile,
		"-duration", d.String())
	cmd.Stderr = log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return floorResult{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return floorResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return floorResult{}, err
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()

	sc := bufio.NewScanner(stdout)
	var meter *cpuMeter
	for sc.Scan() {
		var ev struct {
			Event   string  `json:"event"`
			Packets uint64  `json:"packets"`
			Seconds float64 `json:"seconds"`
			Errors  uint64  `json:"errors"`
			Profile string  `json:"profile"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch ev.Event {
		case "start":
			if meter, err = startCPU(cmd.Process.Pid, tck); err != nil {
				return floorResult{}, err
			}
		case "done":
			if meter == nil {
				return floorResult{}, errors.New("floor: done before start")
			}
			cpu, wall, err := meter.stop()
			if err != nil {
				return floorResult{}, err
			}
			if ev.Packets == 0 {
				return floorResult{}, fmt.Errorf("floor sent nothing (%d errors)", ev.Errors)
			}
			return floorResult{
				Profile: ev.Profile, Streams: streams, PPS: float64(ev.Packets) / ev.Seconds, Packets: ev.Packets,
				CPUSeconds: cpu, CPUUsPerPkt: cpu * 1e6 / float64(ev.Packets), CPUPct: cpu / wall * 100, Drained: drained.Load(),
			}, nil
		}
	}
	return floorResult{}, errors.New("floor ended without a result")
}
