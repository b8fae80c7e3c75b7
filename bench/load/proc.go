package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat, from getconf (100 on Linux).
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || v <= 0 {
		return 100
	}
	return v
}

// cpuTicks is a process's user+system CPU time, in clock ticks, from
// /proc/PID/stat (proc(5): fields 14 utime and 15 stime, counted after the
// command name, which may hold spaces and parentheses).
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return u + s, nil
}

// rssKiB is a process's resident set size (VmRSS of /proc/PID/status).
func rssKiB(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// cpuMeter reads a process's CPU time at the start and end of a window.
type cpuMeter struct {
	pid   int
	tck   float64
	ticks uint64
	at    time.Time
}

func startCPU(pid int, tck float64) (*cpuMeter, error) {
	t, err := cpuTicks(pid)
	if err != nil {
		return nil, err
	}
	return &cpuMeter{pid: pid, tck: tck, ticks: t, at: time.Now()}, nil
}

// stop returns the CPU seconds used since start and the wall time.
func (m *cpuMeter) stop() (cpu, wall float64, err error) {
	t, err := cpuTicks(m.pid)
	if err != nil {
		return 0, 0, err
	}
	return float64(t-m.ticks) / m.tck, time.Since(m.at).Seconds(), nil
}

// loadAverage is the 1-minute load average (/proc/loadavg).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// machineCPU reads the whole machine's CPU time (the "cpu" line of
// /proc/stat) at the start and end of a window.
type machineCPU struct{ busy, total uint64 }

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machineCPU{}
	}
	var m machineCPU
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest time is already in user time
			break
		}
		m.total += n
		if i != 3 && i != 4 { // idle, iowait
			m.busy += n
		}
	}
	return m
}

func startMachineCPU() machineCPU { return readMachineCPU() }

// stop returns the busy share of all cores since start, in %.
func (m machineCPU) stop() float64 {
	now := readMachineCPU()
	if now.total <= m.total {
		return 0
	}
	return float64(now.busy-m.busy) / float64(now.total-m.total) * 100
}

// udpSocket is a UDP socket of this network namespace, from /proc/net/udp
// or /proc/net/udp6: its local address and the datagrams the kernel
// dropped on it (its receive buffer was full).
type udpSocket struct {
	addr  net.IP
	drops uint64
}

// udpSockets lists the namespace's UDP sockets by local port (proc(5):
// local_address is the address in hex, in the kernel's byte order, and the
// port; drops is the last field).
func udpSockets() (map[int][]udpSocket, error) {
	out := map[int][]udpSocket{}
	for _, file := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			if file == "/proc/net/udp6" {
				continue // no IPv6
			}
			return nil, err
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		for _, line := range lines[1:] {
			f := strings.Fields(line)
			if len(f) < 13 {
				continue
			}
			hexIP, hexPort, ok := strings.Cut(f[1], ":")
			port, err1 := strconv.ParseUint(hexPort, 16, 16)
			raw, err2 := hex.DecodeString(hexIP)
			drops, err3 := strconv.ParseUint(f[len(f)-1], 10, 64)
			if !ok || err1 != nil || err2 != nil || err3 != nil || len(raw)%4 != 0 {
				continue
			}
			// The address is in 32-bit words of host byte order.
			for i := 0; i < len(raw); i += 4 {
				binary.BigEndian.PutUint32(raw[i:], binary.NativeEndian.Uint32(raw[i:]))
			}
			out[int(port)] = append(out[int(port)], udpSocket{addr: net.IP(raw), drops: drops})
		}
	}
	return out, nil
}
