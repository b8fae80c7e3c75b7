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

	// The observer saw the local participant only: its join, then its
	// going live.
	a.publish(publishOptions{video: true})
	testpeer.WaitFor(t, 5*time.Second, "observer told", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 1
	})
	mu.Lock()
	joined, live := seen[0], seen[1]
	mu.Unlock()
	if joined.Active || joined.Left || joined.Participant.ID() != a.id {
		t.Errorf("observer, first: active %v left %v participant %d, want the join of %d", joined.Active, joined.Left, joined.Participant.ID(), a.id)
	}
	if e := live; !e.Active || e.Left || e.Participant.ID() != a.id || e.Participant.Remote() || len(e.Participant.Streams()) != 1 {
		t.Errorf("observer: active %v participant %d remote %v streams %d", e.Active, e.Participant.ID(), e.Participant.Remote(), len(e.Participant.Streams()))
	}
}

// A remote participant may be in the room without publishing, then
// publish, change, and stop, without leaving.
func TestRemoteParticipantUpdates(t *testing.T) {
	checkLeaks(t)
	r, p := newRoomRouter(t, sfu.RoomParams{ID: 32, NotifyJoining: true})
	room, _ := p.Room(32)
	a := join(t, r, 32, 1)
	isEvent := func(key string) func(ianua.Event) bool {
		return func(e ianua.Event) bool {
			d := data(e)
			if e.Type != ianua.EventPlugin {
				return false
			}
			switch key {
			case "joining":
				j, _ := d["joining"].(map[string]any)
				return j != nil && num(j["id"]) == 90
			case "publishers":
				ps, _ := d["publishers"].([]any)
				return len(ps) == 1 && num(ps[0].(map[string]any)["id"]) == 90
			}
			return num(d[key]) == 90
		}
	}
	mark := a.log.Len()
	if _, err := room.AddRemotePublisher(sfu.RemotePublisherParams{ID: 90, Display: "quiet"}); err != nil {
		t.Fatal(err)
	}
	a.log.WaitFrom(t, mark, 5*time.Second, "joining", isEvent("joining"))
	pt, ok := room.Participant(90)
	if !ok || pt.Publishing() || !pt.Remote() {
		t.Fatalf("remote participant 90: present %v, want present and not publishing", ok)
	}

	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	src, err := r.NewSource(ianua.SourceParams{ID: "remote/90/v", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8})
	if err != nil {
		t.Fatal(err)
	}
	mark = a.log.Len()
	if err := room.UpdateRemotePublisher(sfu.RemotePublisherParams{ID: 90, Display: "loud", Streams: []sfu.Stream{{MID: "0", Kind: "video", Codec: "vp8", Source: src}}}); err != nil {
		t.Fatal(err)
	}
	a.log.WaitFrom(t, mark, 5*time.Second, "publishers", isEvent("publishers"))
	if !pt.Publishing() || pt.Display() != "loud" || len(pt.Streams()) != 1 {
		t.Errorf("after the update: publishing %v display %q streams %d", pt.Publishing(), pt.Display(), len(pt.Streams()))
	}
	// Bad input changes nothing.
	if err := room.UpdateRemotePublisher(sfu.RemotePublisherParams{ID: 90, Streams: []sfu.Stream{{MID: "0", Kind: "video"}}}); err == nil {
		t.Error("a stream without a source was accepted")
	}
	if err := room.UpdateRemotePublisher(sfu.RemotePublisherParams{ID: a.id}); err == nil {
		t.Error("a local participant was updated as remote")
	}
	if !pt.Publishing() || len(pt.Streams()) != 1 {
		t.Error("a refused update changed the participant")
	}
	if err := room.SendRemoteData(90, []byte("x"), true); err == nil {
		t.Error("data sent for a remote publisher without a data stream")
	}
	if err := room.SendRemoteData(4242, []byte("x"), true); err == nil {
		t.Error("data sent for an unknown remote publisher")
	}
	if err := room.UpdateRemotePublisher(sfu.RemotePublisherParams{ID: 90, Streams: []sfu.Stream{{MID: "1", Kind: "data", Source: src}}}); err == nil {
		t.Error("a data stream with a source was accepted")
	}

	mark = a.log.Len()
	if err := room.UpdateRemotePublisher(sfu.RemotePublisherParams{ID: 90, Display: "loud"}); err != nil {
		t.Fatal(err)
	}
	a.log.WaitFrom(t, mark, 5*time.Second, "unpublished", isEvent("unpublished"))
	select {
	case <-src.Done():
	case <-time.After(time.Second):
		t.Error("the old source is still open")
	}
	if _, ok := room.Participant(90); !ok || pt.Publishing() {
		t.Error("participant 90 left, or still publishes, after unpublishing")
	}
	if a.log.Count(isEvent("leaving")) != 0 {
		t.Error("told that 90 left")
	}
	if err := room.RemoveRemotePublisher(90); err != nil {
		t.Fatal(err)
	}
	a.log.WaitFrom(t, mark, 5*time.Second, "leaving", isEvent("leaving"))
}
