package sfu_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// errStop ends a test feeder.
var errStop = errors.New("stop")

// A remote publisher (what a cluster node adds for a feed published on
// another node) is listed to the room, its sources are subscribed to like
// a local publisher's, the source learns how many watch it, and removing
// it tells everyone. The observer sees local publishers only.
func TestRemotePublisher(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var seen []sfu.PublisherEvent
	subsCount := make(chan int, 16)
	p, err := sfu.New(sfu.Params{Rooms: []sfu.RoomParams{{ID: 31}}, Logger: testpeer.QuietLogger(),
		OnPublisher: func(e sfu.PublisherEvent) {
			mu.Lock()
			seen = append(seen, e)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	r := testpeer.NewRouter(t, nil, p)
	room, _ := p.Room(31)
	a := join(t, r, 31, 1)

	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	src, err := r.NewSource(ianua.SourceParams{ID: "remote/77/v", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8,
		OnSubscribers: func(_ *ianua.Source, n int) { subsCount <- n }})
	if err != nil {
		t.Fatal(err)
	}
	mark := a.log.Len()
	if _, err := room.AddRemotePublisher(sfu.RemotePublisherParams{ID: 77, Display: "far away", Streams: []sfu.Stream{{MID: "0", Kind: "video", Codec: "vp8", Source: src}}}); err != nil {
		t.Fatal(err)
	}
	a.log.WaitFrom(t, mark, 5*time.Second, "remote publisher announced", testpeer.Plugin(a.pubH.ID(), "videoroom", "event", ""))
	if _, err := room.AddRemotePublisher(sfu.RemotePublisherParams{ID: 77, Streams: []sfu.Stream{{MID: "0", Kind: "video", Source: src}}}); err == nil {
		t.Error("a second publisher 77 was accepted")
	}
	if _, err := room.AddRemotePublisher(sfu.RemotePublisherParams{ID: 78, Streams: []sfu.Stream{{MID: "0", Kind: "video"}}}); err == nil {
		t.Error("a stream without a source was accepted")
	}
	if err := p.Kick(31, 77); err == nil {
		t.Error("a remote publisher was kicked here")
	}

	// Feed it as a relay would.
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		payload := make([]byte, 200)
		payload[0], payload[2], payload[3] = 0x10, 9, kindVideo
		i := 0
		_, _ = src.ReadPackets(0, func(b []byte) (int, error) {
			select {
			case <-stop:
				return 0, errStop
			case <-time.After(10 * time.Millisecond):
			}
			i++
			raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, SSRC: 5, Marker: true}, Payload: payload}).Marshal()
			return copy(b, raw), nil
		})
	}()
	defer func() { close(stop); <-fed }()

	a.subscribe([]map[string]any{{"feed": 77}}, nil)
	testpeer.WaitFor(t, 5*time.Second, "remote video", func() bool { return a.received(9, kindVideo) > 20 })
	if n := <-subsCount; n != 1 {
		t.Errorf("OnSubscribers said %d, want 1", n)
	}

	mark = a.log.Len()
	if err := room.RemoveRemotePublisher(77); err != nil {
		t.Fatal(err)
	}
	a.log.WaitFrom(t, mark, 5*time.Second, "unpublished", func(e ianua.Event) bool {
		return e.Type == ianua.EventPlugin && num(data(e)["unpublished"]) == 77
	})
	if _, ok := room.Participant(77); ok {
		t.Error("the remote publisher is still listed")
	}
	if err := room.RemoveRemotePublisher(a.id); err == nil {
		t.Error("a local participant was removed as remote")
	}

	// The observer saw the local publisher only.
	a.publish(publishOptions{video: true})
	testpeer.WaitFor(t, 5*time.Second, "observer told", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0
	})
	mu.Lock()
	e := seen[0]
	mu.Unlock()
	if !e.Active || e.Participant.ID() != a.id || e.Participant.Remote() || len(e.Participant.Streams()) != 1 {
		t.Errorf("observer: active %v participant %d remote %v streams %d", e.Active, e.Participant.ID(), e.Participant.Remote(), len(e.Participant.Streams()))
	}
}
