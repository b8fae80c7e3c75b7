package testsip

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// FreePort returns a UDP port of 127.0.0.1 that was free a moment ago;
// with pair (for SIPp media, RTP and RTCP), an even one with the next one
// free too.
func FreePort(t testing.TB, pair bool) int {
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

// WaitBound waits up to 10 s until a process (SIPp) has bound port on
// 127.0.0.1 — a UDP socket, or with tcp a listening TCP one — as the
// kernel's socket tables (/proc/net/udp, /proc/net/tcp) say, and fails
// the test if none has: a fixed pause after starting SIPp was too short
// on a loaded machine, and binding the port ourselves to test it could
// take it from SIPp.
func WaitBound(t testing.TB, port int, tcp bool) {
	t.Helper()
	table, listen := "/proc/net/udp", "07" // UDP sockets show state 07
	if tcp {
		table, listen = "/proc/net/tcp", "0A" // TCP_LISTEN
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(table)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 3 && f[1] == local && f[3] == listen {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing bound 127.0.0.1:%d (%s) in 10 s", port, table)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
