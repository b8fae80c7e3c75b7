package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ianua/ianua/cluster"
)

// target is a server under test: a process speaking the Janus API over
// WebSocket with the VideoRoom plugin and room 1234.
type target interface {
	name() string
	url() string
	pid() int
	// stats returns goroutines and heap, if the server tells them.
	stats(ctx context.Context, gc bool) (serverStats, bool)
	// forwarded is the packets the server has sent to subscribers so far,
	// by its own count.
	forwarded(ctx context.Context) (uint64, bool)
	// profile writes a CPU profile of d to path, if the server can.
	profile(ctx context.Context, d time.Duration, path string) error
	// heapProfile writes a heap profile to path, if the server can.
	heapProfile(ctx context.Context, path string) error
	close() error
}

// serverStats is bench/server's /stats.
type serverStats struct {
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	HeapInuse  uint64 `json:"heap_inuse"`
	Sessions   int    `json:"sessions"`
	Forwarded  uint64 `json:"forwarded"`
	// Publishers and Relay: see bench/server's Stats.
	Publishers int                 `json:"publishers"`
	Relay      *cluster.RelayStats `json:"relay"`
}

// buildBinaries builds bench/server and bench/floor into dir, so that each
// runs as its own process (go run would put the go command in between).
// flags go to go build.
func buildBinaries(dir string, log io.Writer, flags ...string) (server, floor string, err error) {
	server = filepath.Join(dir, "ianua-bench-server")
	floor = filepath.Join(dir, "ianua-bench-floor")
	for _, b := range []struct{ out, pkg string }{
		{server, "github.com/ianua/ianua/bench/server"},
		{floor, "github.com/ianua/ianua/bench/floor"},
	} {
		args := append(append([]string{"build"}, flags...), "-o", b.out, b.pkg)
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return "", "", fmt.Errorf("go build %s: %w", b.pkg, err)
		}
	}
	return server, floor, nil
}

// ianuaTarget is bench/server in a process of its own.
type ianuaTarget struct {
	cmd   *exec.Cmd
	ws    string
	debug string
	exit  chan error
	// closers run after the process exited (its log file).
	closers []func() error
}

// startIanua starts bench/server on loopback ports and waits for its ready
// line.
func startIanua(ctx context.Context, bin string, flags []string, log io.Writer) (*ianuaTarget, error) {
	cmd := exec.Command(bin, append([]string{"-ws", "127.0.0.1:0", "-debug", "127.0.0.1:0", "-ice-udp", "127.0.0.1:0"}, flags...)...)
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &ianuaTarget{cmd: cmd, exit: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
		t.exit <- cmd.Wait()
	}()
	select {
	case line, ok := <-lines:
		var r struct {
			WS    string `json:"ws"`
			Debug string `json:"debug"`
		}
		if !ok || json.Unmarshal([]byte(line), &r) != nil || r.WS == "" {
			_ = t.close()
			return nil, fmt.Errorf("ianua server did not start (line %q)", line)
		}
		t.ws, t.debug = r.WS, r.Debug
		return t, nil
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	_ = t.close()
	return nil, errors.New("ianua server did not start in 30 s")
}

func (t *ianuaTarget) name() string { return "ianua" }
func (t *ianuaTarget) url() string  { return "ws://" + t.ws + "/" }
func (t *ianuaTarget) pid() int     { return t.cmd.Process.Pid }

func (t *ianuaTarget) stats(ctx context.Context, gc bool) (serverStats, bool) {
	var st serverStats
	u := "http://" + t.debug + "/stats"
	if gc {
		u += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return st, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

func (t *ianuaTarget) forwarded(ctx context.Context) (uint64, bool) {
	st, ok := t.stats(ctx, false)
	return st.Forwarded, ok
}

func (t *ianuaTarget) profile(ctx context.Context, d time.Duration, path string) error {
	return t.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", t.debug, int(d.Seconds())), path)
}

func (t *ianuaTarget) heapProfile(ctx context.Context, path string) error {
	return t.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", t.debug), path)
}

// fetch writes what u answers to path.
func (t *ianuaTarget) fetch(ctx context.Context, u, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// close stops the server gracefully (SIGTERM), or kills it after 15 s.
func (t *ianuaTarget) close() error {
	errs := []error{stopProcess(t.cmd.Process, t.exit, 15*time.Second)}
	for _, c := range t.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// stopProcess sends SIGTERM and waits for exit (which the process's
// waiter reports), then kills.
func stopProcess(p *os.Process, exit <-chan error, grace time.Duration) error {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case err := <-exit:
		return err
	case <-time.After(grace):
		_ = p.Kill()
		<-exit
		return fmt.Errorf("pid %d did not stop in %v: killed", p.Pid, grace)
	}
}
