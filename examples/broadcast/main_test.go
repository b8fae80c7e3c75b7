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

// TestMain checks that the server, the router, the WHIP handler and
// chromedp leave no goroutine behind once every test has cleaned up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testToken is the bearer token of the tests' server.
const testToken = "s3cret"

// startServer runs the demo in-process on loopback ports, as main does but
// with ":0" ports, testToken and no mountpoint. The test's cleanup shuts it
// down and checks that the shutdown was clean.
func startServer(t *testing.T) *app {
	t.Helper()
	return startServerWith(t, nil)
}

// withMountpoint gives the server a VP8 and Opus mountpoint, id 1, on
// loopback ports the system picks (app.mountpoint has them).
func withMountpoint(o *options) {
	o.Mountpoint = mountpointOptions{ID: 1, Video: "127.0.0.1:0", Audio: "127.0.0.1:0", VideoCodec: "vp8"}
}

// startServerWith is startServer with options changed by mod, if not nil.
func startServerWith(t *testing.T, mod func(*options)) *app {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	apps := make(chan *app, 1)
	done := make(chan error, 1)
	opts := options{
		Addr:   "127.0.0.1:0",
		ICEUDP: "127.0.0.1:0",
		Token:  testToken,
		Room:   1234,
		Logger: slog.New(slog.NewTextHandler(testpeer.Output(t), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if mod != nil {
		mod(&opts)
	}
	go func() { done <- run(ctx, opts, func(a *app) { apps <- a }) }()
	stop := sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	})
	select {
	case a := <-apps:
		return a
	case err := <-done:
		done <- err // for stop
		t.Fatalf("server did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start in 10 s")
	}
	return nil
}
