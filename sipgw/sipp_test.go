package sipgw

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/ianua/ianua/internal/testpeer"
)

// Real SIP peers: SIPp (Debian package sip-tester), installed by
// scripts/test.sh. These tests fail, not skip, without it.

func sippPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp not found: apt-get install sip-tester (scripts/test.sh does)")
	}
	return path
}

// freePort returns a UDP port of 127.0.0.1 that was free a moment ago (for
// SIPp media, an even one with the next one free too).
func freePort(t *testing.T, pair bool) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		_ = c.Close()
		if !pair {
			return port
		}
		if port%2 != 0 || port > 65000 {
			continue
		}
		c2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err == nil {
			_ = c2.Close()
			return port
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// sipp runs SIPp with args until it exits (or the test ends) and returns
// its exit error and output.
func runSIPp(t *testing.T, args ...string) (done <-chan error, out *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, sippPath(t), append(args, "-nostdin", "-timeout", "30s", "-timeout_error")...)
	cmd.Dir = t.TempDir()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() {
		ch <- cmd.Wait()
		cancel()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
		}
	})
	return ch, &buf
}

func TestSIPpUAS(t *testing.T) {
	e := newEnv(t)
	port, media := freePort(t, false), freePort(t, true)
	done, out := runSIPp(t, "-sn", "uas", "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-p", strconv.Itoa(port), "-mp", strconv.Itoa(media), "-m", "1")
	time.Sleep(300 * time.Millisecond) // SIPp binds its socket

	e.guest(e.h, e.log)
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "call", "uri": "sip:echo@127.0.0.1:" + strconv.Itoa(port)}, b.offer())
	b.flush()
	acc := e.wait(e.log, e.h, "accepted")
	b.apply(acc.JSEP)
	b.sendAudio()
	waitPackets(t, "RTP echoed by SIPp", func() bool { return b.received.Load() > 25 })
	st := e.h.Attachment().(*Agent).Status()
	t.Logf("browser sent %d, got %d back through SIPp; gateway: %d to SIPp, %d from it", b.sent.Load(), b.received.Load(), st.PacketsToPeer, st.PacketsFromPeer)

	e.must(e.h, map[string]any{"request": "hangup"}, nil)
	e.wait(e.log, e.h, "hangup")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sipp: %v\n%s", err, out)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("sipp did not finish its call\n%s", out)
	}
}

func TestSIPpUAC(t *testing.T) {
	e := newEnv(t)
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	media := freePort(t, true)
	// SIPp's uac scenario: INVITE (PCMU), ACK, a pause of -d, BYE.
	done, out := runSIPp(t, "-sn", "uac", "-rtp_echo", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(media),
		"-p", strconv.Itoa(freePort(t, false)), "-s", "alice", "-d", "3000", "-m", "1", e.gw.Addr().String())

	ev := e.wait(e.log, e.h, "incomingcall")
	b := newBrowser(t, e.h, e.log, "pcmu")
	e.must(e.h, map[string]any{"request": "accept"}, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")
	b.sendAudio()
	waitPackets(t, "RTP echoed by SIPp", func() bool { return b.received.Load() > 25 })
	// SIPp hangs up after its pause.
	if r := resultOf(e.log.Wait(t, 15*time.Second, "hangup", sipEvent(e.h.ID(), "hangup"))); r["code"] != float64(200) {
		t.Errorf("hangup: %v", r)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sipp: %v\n%s", err, out)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("sipp did not finish its call\n%s", out)
	}
	testpeer.WaitFor(t, time.Second, "idle", func() bool { return e.h.Attachment().(*Agent).Status().CallStatus == "idle" })
}
