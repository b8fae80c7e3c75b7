package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"

	"go.uber.org/goleak"
)

// TestMain checks that the server, the router, the SIP gateway and
// chromedp leave no goroutine behind once every test has cleaned up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer runs the phone in-process on loopback ports, as main does
// but with ":0" ports (mod may change the options). stop shuts it down and
// returns run's error; the test's cleanup calls it too, and checks that
// the shutdown was clean.
func startServer(t *testing.T, mod func(*options)) (at listening, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan listening, 1)
	done := make(chan error, 1)
	opts := options{
		Addr:   "127.0.0.1:0",
		SIP:    "127.0.0.1:0",
		ICEUDP: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(testpeer.Output(t), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if mod != nil {
		mod(&opts)
	}
	go func() { done <- run(ctx, opts, func(at listening) { ready <- at }) }()
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
	return listening{}, stop
}
