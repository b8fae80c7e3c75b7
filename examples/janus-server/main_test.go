package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/streaming"

	"go.uber.org/goleak"
)

// TestMain checks that the servers, the router and chromedp leave no
// goroutine behind once every test has cleaned up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer runs the program in-process with every address on a ":0"
// loopback port. stop shuts it down and returns run's error; the test's
// cleanup calls it too and checks that the shutdown was clean.
func startServer(t *testing.T, mod func(*options)) (at listening, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan listening, 1)
	done := make(chan error, 1)
	o := defaultOptions()
	o.HTTP, o.WebSocket, o.Admin, o.Web, o.SIP = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	// The sample mountpoint, on ports of its own choosing.
	o.Streaming.Mountpoints = []streaming.MountpointParams{rtpMountpoint(sampleMountpoint, sampleDesc, 0, 0)}
	o.Logger = slog.New(slog.NewTextHandler(testpeer.Output(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
	if mod != nil {
		mod(&o)
	}
	go func() { done <- run(ctx, o, func(l listening) { ready <- l }) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	select {
	case at = <-ready:
		return at, stop
	case err := <-done:
		done <- err // for stop
		t.Fatalf("server did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start in 10 s")
	}
	return at, stop
}
