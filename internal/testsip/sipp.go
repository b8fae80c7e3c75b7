package testsip

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Options configure a run of SIPp.
type Options struct {
	// Name, if any, names this SIPp in Check's failure ("sipp callee:
	// ..."), where a test runs several.
	Name string
	// Dir is SIPp's working directory, where it writes its files; a new
	// t.TempDir() if empty.
	Dir string
	// Timeout is SIPp's -timeout, with -timeout_error: a run longer than
	// that ends, failed. Required, in whole seconds.
	Timeout time.Duration
	// Lifetime, if not zero, is how long SIPp may run before it is
	// killed, whatever it is doing.
	Lifetime time.Duration
	// TraceMessages writes the scenario's messages to a file of Dir
	// (-trace_msg), which Check shows if the test fails.
	TraceMessages bool
}

// SIPp is a running SIPp, killed when the test ends if it has not exited
// by then.
type SIPp struct {
	name   string
	trace  string // the -message_file, if any
	cancel context.CancelFunc
	out    Buffer
	exited chan struct{} // closed once SIPp has exited and err is set
	err    error
}

// Start runs SIPp with args (a scenario, addresses, ports) and -nostdin
// and opts' timeout, until it exits or the test ends.
func Start(t testing.TB, opts Options, args ...string) *SIPp {
	t.Helper()
	if opts.Timeout <= 0 || opts.Timeout%time.Second != 0 {
		t.Fatalf("testsip: SIPp's timeout %v is not a whole number of seconds", opts.Timeout)
	}
	path := Path(t)
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	p := &SIPp{name: opts.Name, exited: make(chan struct{})}
	args = append(slices.Clip(args), "-nostdin", "-timeout", fmt.Sprintf("%ds", opts.Timeout/time.Second), "-timeout_error")
	if opts.TraceMessages {
		p.trace = filepath.Join(dir, "messages.log")
		args = append(args, "-trace_msg", "-message_file", p.trace)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if opts.Lifetime > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), opts.Lifetime)
	}
	p.cancel = cancel
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	// The one goroutine of p: it ends when SIPp does, which stop brings
	// about at the latest.
	go func() {
		p.err = cmd.Wait()
		cancel()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop kills SIPp if it is still running and waits until it has exited.
func (p *SIPp) stop() {
	p.cancel()
	<-p.exited
}

// Wait waits until SIPp exits and returns how it ended: nil (exit status
// 0) if every call of its scenario passed.
func (p *SIPp) Wait() error {
	<-p.exited
	return p.err
}

// Output returns what SIPp has printed so far.
func (p *SIPp) Output() string { return p.out.String() }

// Check waits up to timeout for SIPp to end, kills it after that, and
// fails the test (but goes on) unless it ended with every call of its
// scenario successful (exit status 0), showing its output and, with
// TraceMessages, the messages.
func (p *SIPp) Check(t testing.TB, timeout time.Duration) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var err error
	select {
	case <-p.exited:
		err = p.err
	case <-timer.C:
		p.stop()
		err = fmt.Errorf("still running after %v", timeout)
	}
	if err == nil {
		return
	}
	who := "sipp"
	if p.name != "" {
		who += " " + p.name
	}
	msg := fmt.Sprintf("%s: %v\n%s", who, err, p.Output())
	if p.trace != "" {
		msgs, _ := os.ReadFile(p.trace)
		msg += "\nmessages:\n" + string(msgs)
	}
	t.Error(msg)
}
