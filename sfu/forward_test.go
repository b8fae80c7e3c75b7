package sfu_test

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// udpSink counts the RTP packets arriving on a loopback port.
type udpSink struct {
	conn    *net.UDPConn
	packets atomic.Int64
	bad     atomic.Int64
	ssrc    atomic.Uint32
	pt      atomic.Uint32
	srtp    *srtp.Context
}

func newSink(t *testing.T, ctx *srtp.Context) *udpSink {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &udpSink{conn: conn, srtp: ctx}
	done := make(chan struct{})
	t.Cleanup(func() { _ = conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1600)
		var p rtp.Packet
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			raw := buf[:n]
			if s.srtp != nil {
				var h rtp.Header
				if raw, err = s.srtp.DecryptRTP(nil, raw, &h); err != nil {
					s.bad.Add(1)
					continue
				}
			}
			if p.Unmarshal(raw) != nil {
				s.bad.Add(1)
				continue
			}
			s.ssrc.Store(p.SSRC)
			s.pt.Store(uint32(p.PayloadType))
			s.packets.Add(1)
		}
	}()
	return s
}

func (s *udpSink) port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// rtp_forward sends a publisher's stream as plain RTP (and SRTP with a
// given key) to a UDP port; stop_rtp_forward and unpublishing stop it.
func TestRTPForward(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 23, Secret: "adm"})
	a := join(t, r, 23, 1)
	a.publish(publishOptions{video: true})
	b := join(t, r, 23, 2)

	plain := newSink(t, nil)
	reply := message(t, b.pubH, map[string]any{"request": "rtp_forward", "room": 23, "secret": "adm", "publisher_id": a.id,
		"host": "127.0.0.1", "streams": []any{map[string]any{"mid": "0", "port": plain.port(), "ssrc": 4321, "pt": 100}}}, nil)
	if !strings.Contains(string(reply.Data), `"rtp_forward"`) {
		t.Fatalf("rtp_forward reply %s", reply.Data)
	}
	var key [30]byte
	_, _ = rand.Read(key[:])
	ctx, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	secure := newSink(t, ctx)
	message(t, b.pubH, map[string]any{"request": "rtp_forward", "room": 23, "secret": "adm", "publisher_id": a.id, "host": "127.0.0.1",
		"srtp_suite": 80, "srtp_crypto": base64.StdEncoding.EncodeToString(key[:]),
		"streams": []any{map[string]any{"mid": "0", "port": secure.port()}}}, nil)

	const n = 100
	a.send(n)
	a.waitSent()
	settle(func() int { return int(min(plain.packets.Load(), secure.packets.Load())) }, n*95/100)
	if got := plain.packets.Load(); got < n*95/100 {
		t.Errorf("plain forwarder delivered %d/%d", got, n)
	}
	if plain.ssrc.Load() != 4321 || plain.pt.Load() != 100 {
		t.Errorf("forwarded SSRC %d PT %d, want 4321 and 100", plain.ssrc.Load(), plain.pt.Load())
	}
	if got := secure.packets.Load(); got < n*95/100 || secure.bad.Load() != 0 {
		t.Errorf("SRTP forwarder delivered %d/%d, %d undecryptable", got, n, secure.bad.Load())
	}

	list := message(t, b.pubH, map[string]any{"request": "listforwarders", "room": 23, "secret": "adm"}, nil)
	var plainID uint64
	count := 0
	for _, p := range data2(list.Data)["publishers"].([]any) {
		for _, f := range p.(map[string]any)["forwarders"].([]any) {
			count++
			if fm := f.(map[string]any); num(fm["ssrc"]) == 4321 {
				plainID = num(fm["stream_id"])
			}
		}
	}
	if count != 2 || plainID == 0 {
		t.Fatalf("listforwarders: %s", list.Data)
	}
	// Stop the plain one: its packets stop, the other goes on.
	message(t, b.pubH, map[string]any{"request": "stop_rtp_forward", "room": 23, "secret": "adm", "publisher_id": a.id, "stream_id": plainID}, nil)
	before, beforeSecure := plain.packets.Load(), secure.packets.Load()
	a.send(50)
	a.waitSent()
	settle(func() int { return int(secure.packets.Load() - beforeSecure) }, 40)
	if plain.packets.Load() != before {
		t.Errorf("stopped forwarder still sends")
	}
	if secure.packets.Load() < beforeSecure+40 {
		t.Errorf("the other forwarder stopped too")
	}

	// Unpublishing ends the remaining forwarder.
	message(t, a.pubH, map[string]any{"request": "unpublish"}, nil)
	testpeer.WaitFor(t, 3*time.Second, "forwarders gone", func() bool {
		lr := message(t, b.pubH, map[string]any{"request": "listforwarders", "room": 23, "secret": "adm"}, nil)
		return strings.Contains(string(lr.Data), `"publishers":[]`)
	})
}
