package ianua_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/testpeer"
)

// Datagrams that are not the call's reach the shared media port from a
// stranger during a call: random bytes, and junk shaped like what the port
// demultiplexes on its first byte (RFC 7983: STUN 0–3, DTLS 20–63, RTP and
// RTCP 128–191), including STUN binding requests with a magic cookie and
// made-up usernames. They are dropped: the call's echo goes on whole, a new
// call connects afterwards, and nothing is left behind (goleak).
func TestGarbageOnMediaPort(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	c := newEchoCall(t, r, newClient(t, clientOptions{}))
	video := c.addTrack("video", 2)
	c.offer(map[string]any{"audio": true, "video": true}, false)
	c.waitConnected()

	stranger, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	echoDuringJunk(t, c, video, stranger, r.UDPAddr())

	// The port still takes new calls.
	d := connectedCall(t, r, clientOptions{})
	if got, _ := d.counts("1"); got == 0 {
		t.Error("no echo on a call made after the garbage")
	}
}

// The same junk, but from the client's own address and port, which ICE
// has validated: it reaches the call's ICE agent, DTLS connection and SRTP
// sessions, which must drop it (SRTP and SRTCP by their authentication
// tag, RFC 3711 section 3.3; DTLS records of a wrong epoch or that do not
// decrypt, RFC 6347 section 4.1.2.7) without harming the call.
func TestGarbageFromThePeer(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = udp.Close() })
	c := newEchoCall(t, r, newClient(t, clientOptions{conn: &testpeer.SwitchConn{PacketConn: udp}}))
	video := c.addTrack("video", 2)
	dc, err := c.pc.CreateDataChannel("JanusDataChannel", nil)
	if err != nil {
		t.Fatal(err)
	}
	echoed := make(chan string, 64)
	dc.OnMessage(func(m webrtc.DataChannelMessage) { echoed <- string(m.Data) })
	c.offer(map[string]any{"audio": true, "video": true}, false)
	c.waitConnected()

	echoDuringJunk(t, c, video, udp, r.UDPAddr())
	if st := c.h.Info(); st.ICEState != "connected" && st.ICEState != "completed" {
		t.Errorf("ICE state %q after the garbage", st.ICEState)
	}
	// The DTLS/SCTP association survived: the data channel still echoes.
	testpeer.WaitFor(t, 5*time.Second, "data channel open", func() bool { return dc.ReadyState() == webrtc.DataChannelStateOpen })
	if err := dc.SendText("still here"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-echoed:
		if m != "still here" {
			t.Errorf("data echo %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Error("no data channel echo after the garbage")
	}
}

// echoDuringJunk sends 300 video packets on the call's only stream (mid
// "0") while junk goes from conn to the router's port dst, and checks that
// at least 95 % come back, none on a wrong stream.
func echoDuringJunk(t *testing.T, c *echoCall, video *webrtc.TrackLocalStaticRTP, conn net.PacketConn, dst net.Addr) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent int
	wg.Add(1)
	go func() {
		defer wg.Done()
		sent = sendJunk(conn, dst, stop)
	}()
	const n = 300
	c.send(video, 2, n)
	c.wg.Wait()
	close(stop)
	wg.Wait()
	time.Sleep(300 * time.Millisecond)
	right, wrong := c.counts("0")
	t.Logf("%d garbage datagrams sent from %s; %d of %d echoed", sent, conn.LocalAddr(), right, n)
	if right < n*95/100 || wrong != 0 {
		t.Errorf("echo with garbage on the port: %d of %d right, %d wrong", right, n, wrong)
	}
}

// sendJunk writes random datagrams to dst until stop, and returns how
// many: one in five random bytes, the others shaped like a STUN binding
// request (magic cookie, a USERNAME attribute of random bytes), DTLS,
// RTP/RTCP (the first byte of each range of RFC 7983) and random again.
func sendJunk(conn net.PacketConn, dst net.Addr, stop <-chan struct{}) int {
	rnd := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1500)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return i
		default:
		}
		n := 1 + rnd.IntN(len(buf))
		for j := range buf[:n] {
			buf[j] = byte(rnd.Uint32())
		}
		switch i % 5 {
		case 1:
			n = max(n, 40)
			buf[0], buf[1] = 0x00, 0x01
			binary.BigEndian.PutUint16(buf[2:], uint16(n-20)&^3)
			binary.BigEndian.PutUint32(buf[4:], 0x2112A442)
			binary.BigEndian.PutUint16(buf[20:], 0x0006) // USERNAME
			binary.BigEndian.PutUint16(buf[22:], 12)
		case 2:
			buf[0] = 20 + byte(rnd.IntN(44))
		case 3:
			buf[0] = 0x80 | byte(rnd.IntN(64))
		}
		if _, err := conn.WriteTo(buf[:n], dst); err != nil {
			return i
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}
