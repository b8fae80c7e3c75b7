package sfu_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// Four participants each publish audio and video and subscribe, on one
// PeerConnection, to the other three: every stream arrives.
func TestRoomOfFour(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 10, Publishers: 4})
	var ps []*participant
	for i := range 4 {
		p := join(t, r, 10, byte(i+1))
		p.publish(publishOptions{audio: true, video: true})
		ps = append(ps, p)
	}
	for i, p := range ps {
		var others []*participant
		for j, o := range ps {
			if j != i {
				others = append(others, o)
			}
		}
		p.subscribe(feeds(others...), nil)
	}
	const n = 150
	for _, p := range ps {
		p.send(n)
	}
	for _, p := range ps {
		p.waitSent()
	}
	// Delivery, not timing, is asserted: wait until every stream is in
	// or the deadline passes.
	all := func() bool {
		for i, p := range ps {
			for j, o := range ps {
				if i != j && (p.received(o.marker, kindAudio) < n*95/100 || p.received(o.marker, kindVideo) < n*95/100) {
					return false
				}
			}
		}
		return true
	}
	deadline := time.Now().Add(5 * time.Second)
	for !all() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for i, p := range ps {
		for j, o := range ps {
			if i == j {
				if got := p.received(o.marker, kindVideo); got != 0 {
					t.Errorf("participant %d received %d of its own packets", i, got)
				}
				continue
			}
			for _, kind := range []byte{kindAudio, kindVideo} {
				got := p.received(o.marker, kind)
				if got < n*95/100 {
					t.Errorf("participant %d got %d/%d packets of kind %d from %d", i, got, n, kind, j)
				}
			}
		}
	}
}

// A publisher joining is announced, and the others subscribe to it; when it
// leaves, the room is told and subscribers get a renegotiation.
func TestJoinLeaveRenegotiation(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 11})
	a := join(t, r, 11, 1)
	a.publish(publishOptions{audio: true, video: true})
	b := join(t, r, 11, 2)
	b.publish(publishOptions{audio: true, video: true})
	// a hears of b.
	ev := a.log.Wait(t, 5*time.Second, "publishers", func(e ianua.Event) bool {
		return testpeer.Plugin(a.pubH.ID(), "videoroom", "event", "")(e) && data(e)["publishers"] != nil
	})
	pubs, _ := data(ev)["publishers"].([]any)
	if len(pubs) != 1 || num(pubs[0].(map[string]any)["id"]) != b.id {
		t.Fatalf("publishers event %s", ev.Data)
	}
	a.subscribe(feeds(b), nil)
	b.send(50)
	testpeer.WaitFor(t, 3*time.Second, "media from b", func() bool { return a.received(b.marker, kindVideo) > 20 })

	// c joins later: a subscribes to it too (renegotiation with "subscribe").
	c := join(t, r, 11, 3)
	c.publish(publishOptions{video: true})
	mark := a.log.Len()
	message(t, a.subH, map[string]any{"request": "subscribe", "streams": feeds(c)}, nil)
	a.log.WaitFrom(t, mark, 5*time.Second, "updated", testpeer.Plugin(a.subH.ID(), "videoroom", "updated", "offer"))
	c.send(50)
	testpeer.WaitFor(t, 5*time.Second, "media from c after renegotiation", func() bool { return a.received(c.marker, kindVideo) > 20 })

	// b leaves: a is told, and its subscription renegotiates by itself.
	mark = a.log.Len()
	message(t, b.pubH, map[string]any{"request": "leave"}, nil)
	a.log.WaitFrom(t, mark, 5*time.Second, "unpublished", func(e ianua.Event) bool {
		return testpeer.Plugin(a.pubH.ID(), "videoroom", "event", "")(e) && num(data(e)["unpublished"]) == b.id
	})
	a.log.WaitFrom(t, mark, 5*time.Second, "leaving", func(e ianua.Event) bool {
		return testpeer.Plugin(a.pubH.ID(), "videoroom", "event", "")(e) && num(data(e)["leaving"]) == b.id
	})
	ev = a.log.WaitFrom(t, mark, 5*time.Second, "updated after leave", testpeer.Plugin(a.subH.ID(), "videoroom", "updated", "offer"))
	streams, _ := data(ev)["streams"].([]any)
	for _, s := range streams {
		if num(s.(map[string]any)["feed_id"]) == b.id {
			t.Errorf("stream of the departed publisher still listed: %v", s)
		}
	}
	// c still flows.
	before := a.received(c.marker, kindVideo)
	c.send(30)
	testpeer.WaitFor(t, 5*time.Second, "media from c after b left", func() bool { return a.received(c.marker, kindVideo) > before+20 })
}

// Five percent random loss on the publisher's uplink is repaired by NACKs:
// at least 99 % of the packets reach the subscriber.
func TestPublisherLossRepaired(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 12})
	conn := testpeer.ListenSwitch(t)
	conn.DropEvery = 20 // 5 %
	a := join(t, r, 12, 1)
	a.publish(publishOptions{video: true, conn: conn})
	b := join(t, r, 12, 2)
	b.subscribe(feeds(a), nil)
	const n = 400
	a.send(n)
	a.waitSent()
	settle(func() int { return b.received(a.marker, kindVideo) }, n*99/100)
	got := b.received(a.marker, kindVideo)
	t.Logf("%d/%d delivered with 5%% publisher loss", got, n)
	if got < n*99/100 {
		t.Errorf("%d/%d delivered, want >= 99%%", got, n)
	}
}

// Fifty subscribers asking for keyframes all the time cost the publisher
// about two PLIs a second, not fifty times that.
func TestKeyframeRequestsThrottled(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 13})
	a := join(t, r, 13, 1)
	a.publish(publishOptions{video: true})
	a.send(3000) // until the end of the test
	var subs []*participant
	for i := range 50 {
		s := join(t, r, 13, byte(10+i))
		s.subscribe(feeds(a), nil)
		subs = append(subs, s)
	}
	testpeer.WaitFor(t, 15*time.Second, "media at the last subscriber", func() bool { return subs[49].received(a.marker, kindVideo) > 0 })
	before := a.pliCount()
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		for _, s := range subs {
			for _, tr := range s.subPC.GetTransceivers() {
				if tr.Receiver() != nil && len(tr.Receiver().Tracks()) > 0 {
					_ = s.subPC.WriteRTCP(pli(uint32(tr.Receiver().Tracks()[0].SSRC())))
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := a.pliCount() - before
	t.Logf("%d PLIs reached the publisher in 3 s from 50 subscribers", got)
	if got < 3 || got > 9 {
		t.Errorf("%d PLIs in 3 s, want about 6 (one per 500 ms)", got)
	}
}

// A subscriber whose client stopped reading does not slow the others.
func TestStalledSubscriber(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 14})
	a := join(t, r, 14, 1)
	a.publish(publishOptions{audio: true, video: true})
	stalledConn := testpeer.ListenSwitch(t)
	stalled := join(t, r, 14, 2)
	stalled.subscribe(feeds(a), stalledConn)
	ok := join(t, r, 14, 3)
	ok.subscribe(feeds(a), nil)
	stalledConn.Dead.Store(true)
	const n = 200
	a.send(n)
	a.waitSent()
	settle(func() int { return ok.received(a.marker, kindVideo) }, n*95/100)
	if got := ok.received(a.marker, kindVideo); got < n*95/100 {
		t.Errorf("healthy subscriber got %d/%d with a stalled one in the room", got, n)
	}
}

// Simulcast: the subscriber picks a layer with configure/substream and the
// layer actually received changes.
func TestSimulcastManualSwitch(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 15})
	a := join(t, r, 15, 1)
	a.publish(publishOptions{video: true, simulcast: true})
	b := join(t, r, 15, 2)
	b.subscribe(feeds(a), nil)
	a.send(600)
	testpeer.WaitFor(t, 5*time.Second, "highest layer by default", func() bool { return b.receivedLayer(2) > 20 })
	// Before the highest layer's first packet the subscriber may have got
	// a lower one (never left without video); after it, only layer 2.
	q, h := b.receivedLayer(0), b.receivedLayer(1)
	time.Sleep(300 * time.Millisecond)
	if b.receivedLayer(0) != q || b.receivedLayer(1) != h {
		t.Errorf("lower layers still forwarded: q %d->%d h %d->%d", q, b.receivedLayer(0), h, b.receivedLayer(1))
	}
	mid := subMID(t, b)
	// Janus tells the subscriber which substream each stream gets.
	layerEvent := func(n int) func(ianua.Event) bool {
		return func(e ianua.Event) bool {
			var d struct {
				Videoroom string `json:"videoroom"`
				Room      uint64 `json:"room"`
				MID       string `json:"mid"`
				Substream *int   `json:"substream"`
			}
			return e.Type == ianua.EventPlugin && e.HandleID == b.subH.ID() && json.Unmarshal(e.Data, &d) == nil &&
				d.Videoroom == "event" && d.Room == 15 && d.MID == mid && d.Substream != nil && *d.Substream == n
		}
	}
	b.log.Wait(t, 5*time.Second, "substream 2 told", layerEvent(2))
	mark := b.log.Len()
	message(t, b.subH, map[string]any{"request": "configure", "mid": mid, "substream": 0}, nil)
	testpeer.WaitFor(t, 5*time.Second, "switch to layer 0", func() bool { return b.receivedLayer(0) > 20 })
	b.log.WaitFrom(t, mark, 5*time.Second, "substream 0 told", layerEvent(0))
	mark = b.log.Len()
	message(t, b.subH, map[string]any{"request": "configure", "mid": mid, "temporal": 0}, nil)
	b.log.WaitFrom(t, mark, 5*time.Second, "temporal 0 told", func(e ianua.Event) bool {
		var d struct {
			MID      string `json:"mid"`
			Temporal *int   `json:"temporal"`
		}
		return e.Type == ianua.EventPlugin && e.HandleID == b.subH.ID() && json.Unmarshal(e.Data, &d) == nil &&
			d.MID == mid && d.Temporal != nil && *d.Temporal == 0
	})
	message(t, b.subH, map[string]any{"request": "configure", "mid": mid, "temporal": 2}, nil)
	high := b.receivedLayer(2)
	time.Sleep(300 * time.Millisecond)
	if b.receivedLayer(2) != high {
		t.Errorf("layer 2 still forwarded after the switch to 0")
	}
	// Janus 1.x's form: a "streams" array of changes by mid. One with a
	// mid that is not there fails and changes nothing.
	_, err := b.subH.Message(context.Background(), ianua.Message{Body: testpeer.JSON(map[string]any{"request": "configure",
		"streams": []any{map[string]any{"mid": mid, "substream": 1}, map[string]any{"mid": "nope", "send": false}}})})
	if !errors.Is(err, ianua.ErrInvalidElement) {
		t.Fatalf("configure with an unknown mid: %v", err)
	}
	low, mid1 := b.receivedLayer(0), b.receivedLayer(1)
	time.Sleep(300 * time.Millisecond)
	if b.receivedLayer(0) <= low || b.receivedLayer(1) != mid1 {
		t.Errorf("a refused configure changed the layer: q %d->%d, h %d->%d", low, b.receivedLayer(0), mid1, b.receivedLayer(1))
	}
	message(t, b.subH, map[string]any{"request": "configure", "streams": []any{map[string]any{"mid": mid, "substream": 1}}}, nil)
	testpeer.WaitFor(t, 5*time.Second, "switch to layer 1", func() bool { return b.receivedLayer(1) > 20 })
}

// A subscriber asks for a playout delay on a video stream (Janus 1.x
// "min_delay" / "max_delay" in configure's streams): the packets carry
// the playout-delay extension with it; a negative value takes it off;
// audio and out-of-range values are refused.
func TestPlayoutDelay(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 16})
	a := join(t, r, 16, 1)
	a.publish(publishOptions{video: true, audio: true})
	b := join(t, r, 16, 2)
	b.subscribe(feeds(a), nil)
	a.send(400)
	playout := func() string {
		b.mu.Lock()
		defer b.mu.Unlock()
		return string(b.playout)
	}
	testpeer.WaitFor(t, 5*time.Second, "video", func() bool { return b.receivedLayer(0) > 10 })
	if got := playout(); got != "" {
		t.Fatalf("playout delay % x before any was asked", got)
	}
	mid := subMID(t, b)
	message(t, b.subH, map[string]any{"request": "configure", "streams": []any{map[string]any{"mid": mid, "min_delay": 0, "max_delay": 20}}}, nil)
	testpeer.WaitFor(t, 3*time.Second, "playout delay 0..20", func() bool { return playout() == "\x00\x00\x14" })
	for _, bad := range []map[string]any{
		{"request": "configure", "streams": []any{map[string]any{"mid": mid, "max_delay": 4096}}},
		{"request": "configure", "streams": []any{map[string]any{"mid": audioMID(t, b), "min_delay": 10}}},
	} {
		if _, err := b.subH.Message(context.Background(), ianua.Message{Body: testpeer.JSON(bad)}); !errors.Is(err, ianua.ErrInvalidElement) {
			t.Errorf("%v: %v, want ErrInvalidElement", bad, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if got := playout(); got != "\x00\x00\x14" {
		t.Errorf("a refused configure changed the playout delay to % x", got)
	}
	message(t, b.subH, map[string]any{"request": "configure", "mid": mid, "min_delay": -1}, nil)
	testpeer.WaitFor(t, 3*time.Second, "no playout delay", func() bool { return playout() == "" })

	// The handles' state for an admin view (Janus: query_session).
	if ps, _ := a.pubH.Info().PluginSpecific.(map[string]any); ps["type"] != "publisher" || ps["room"] != uint64(16) || ps["publishing"] != true || ps["streams"] != 2 {
		t.Errorf("publisher's plugin_specific: %v", ps)
	}
	if ps, _ := b.subH.Info().PluginSpecific.(map[string]any); ps["type"] != "subscriber" || ps["room"] != uint64(16) {
		t.Errorf("subscriber's plugin_specific: %v", ps)
	} else if streams, _ := ps["streams"].([]map[string]any); len(streams) != 2 {
		t.Errorf("subscriber's plugin_specific streams: %v", ps["streams"])
	}
}

func audioMID(t testing.TB, p *participant) string {
	t.Helper()
	for _, tr := range p.subPC.GetTransceivers() {
		if tr.Kind().String() == "audio" {
			return tr.Mid()
		}
	}
	t.Fatal("no audio m-line")
	return ""
}

func subMID(t testing.TB, p *participant) string {
	t.Helper()
	for _, tr := range p.subPC.GetTransceivers() {
		if tr.Kind().String() == "video" {
			return tr.Mid()
		}
	}
	t.Fatal("no video m-line")
	return ""
}

// Audio levels (RFC 6464) become talking and stopped-talking events for
// the room, and listparticipants shows who talks.
func TestTalkingEvents(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 16, AudioLevelEvent: true, AudioActivePackets: 50, AudioLevelAverage: 25})
	a := join(t, r, 16, 1)
	a.publish(publishOptions{audio: true, audioLevel: true})
	b := join(t, r, 16, 2)

	loud := func(level byte, n int) {
		a.sendAudioLevel(level, n)
	}
	loud(10, 120)
	ev := b.log.Wait(t, 5*time.Second, "talking", testpeer.Plugin(b.pubH.ID(), "videoroom", "talking", ""))
	if num(data(ev)["id"]) != a.id {
		t.Errorf("talking event for %v, want %d", data(ev)["id"], a.id)
	}
	reply := message(t, b.pubH, map[string]any{"request": "listparticipants", "room": 16}, nil)
	if !strings.Contains(string(reply.Data), `"talking":true`) {
		t.Errorf("listparticipants while talking: %s", reply.Data)
	}
	sp := b.log.Wait(t, 5*time.Second, "active-speaker", testpeer.Plugin(b.pubH.ID(), "videoroom", "active-speaker", ""))
	if num(data(sp)["id"]) != a.id {
		t.Errorf("active speaker %v, want %d", data(sp)["id"], a.id)
	}
	loud(127, 120)
	b.log.Wait(t, 5*time.Second, "stopped-talking", testpeer.Plugin(b.pubH.ID(), "videoroom", "stopped-talking", ""))
}

// Destroying a room tells everyone and frees every handle's media.
func TestDestroyRoom(t *testing.T) {
	checkLeaks(t)
	r, plugin := newRoomRouter(t, sfu.RoomParams{ID: 17, Secret: "x"})
	a := join(t, r, 17, 1)
	a.publish(publishOptions{video: true})
	b := join(t, r, 17, 2)
	b.subscribe(feeds(a), nil)
	a.send(100)
	testpeer.WaitFor(t, 3*time.Second, "media", func() bool { return b.received(a.marker, kindVideo) > 10 })
	reply := message(t, b.pubH, map[string]any{"request": "destroy", "room": 17, "secret": "x"}, nil)
	if !strings.Contains(string(reply.Data), `"destroyed"`) {
		t.Errorf("destroy reply %s", reply.Data)
	}
	a.log.Wait(t, 3*time.Second, "destroyed", testpeer.Plugin(a.pubH.ID(), "videoroom", "destroyed", ""))
	b.log.Wait(t, 3*time.Second, "destroyed (subscriber)", testpeer.Plugin(b.subH.ID(), "videoroom", "destroyed", ""))
	testpeer.WaitFor(t, 3*time.Second, "media torn down", func() bool {
		return !a.pubH.HasPeerConnection() && !b.subH.HasPeerConnection()
	})
	if _, err := plugin.Room(17); err == nil {
		t.Error("room still there")
	}
}

// Five percent loss on a subscriber's downlink is repaired from the
// source's packet cache (pion's own NACK responder is off for sfu handles).
func TestSubscriberLossRepaired(t *testing.T) {
	checkLeaks(t)
	r, plugin := newRoomRouter(t, sfu.RoomParams{ID: 18})
	a := join(t, r, 18, 1)
	a.publish(publishOptions{video: true})
	conn := testpeer.ListenSwitch(t)
	conn.DropInEvery = 20
	b := join(t, r, 18, 2)
	b.subscribe(feeds(a), conn)
	const n = 400
	a.send(n)
	a.waitSent()
	settle(func() int { return b.received(a.marker, kindVideo) }, n*99/100)
	got := b.received(a.marker, kindVideo)
	room, _ := plugin.Room(18)
	pt, _ := room.Participant(a.id)
	var resent uint64
	for _, src := range pt.Sources() {
		for _, sub := range src.Subscribers() {
			resent += sub.Retransmitted()
		}
	}
	t.Logf("%d/%d delivered with 5%% subscriber loss, %d retransmitted from the cache", got, n, resent)
	if got < n*99/100 {
		t.Errorf("%d/%d delivered, want >= 99%%", got, n)
	}
	if resent == 0 {
		t.Error("nothing was retransmitted from the source cache")
	}
}

// Losses on a publisher's uplink and on a subscriber's downlink are told
// to each as Janus VideoRoom does ("videoroom": "slow_link"), the publisher
// with its bitrate cap; losses the other way are not (a publisher receives
// nothing, a subscriber sends nothing).
func TestSlowLinkEvents(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 28, Bitrate: 300000})
	up := testpeer.ListenSwitch(t)
	up.DropEvery = 5
	a := join(t, r, 28, 1)
	a.publish(publishOptions{video: true, conn: up})
	down := testpeer.ListenSwitch(t)
	down.DropInEvery = 5
	b := join(t, r, 28, 2)
	b.subscribe(feeds(a), down)
	a.send(300)
	a.waitSent()
	isSlowLink := func(h uint64) func(ianua.Event) bool {
		return func(e ianua.Event) bool {
			return e.HandleID == h && e.Type == ianua.EventPlugin && data(e)["videoroom"] == "slow_link"
		}
	}
	pe := data(a.log.Wait(t, 5*time.Second, "publisher slow_link", isSlowLink(a.pubH.ID())))
	if pe["media"] != "video" || num(pe["current-bitrate"]) != 300000 || num(pe["lost"]) == 0 {
		t.Errorf("publisher slow_link %v, want video, current-bitrate 300000 and losses", pe)
	}
	se := data(b.log.Wait(t, 5*time.Second, "subscriber slow_link", isSlowLink(b.subH.ID())))
	if se["media"] != "video" || se["mid"] == nil || num(se["lost"]) == 0 {
		t.Errorf("subscriber slow_link %v, want video with a mid and losses", se)
	}
	if _, ok := se["current-bitrate"]; ok {
		t.Errorf("subscriber slow_link %v has a publisher's bitrate cap", se)
	}
	if n := b.log.Count(isSlowLink(b.pubH.ID())); n != 0 {
		t.Errorf("%d slow_link events on b's publisher handle, which sends nothing", n)
	}
}

// A subscriber whose downlink narrows below the highest layer is moved down
// by the bandwidth estimate.
func TestSimulcastAutoSwitch(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 19})
	a := join(t, r, 19, 1)
	a.publish(publishOptions{video: true, simulcast: true})
	conn := testpeer.ListenSwitch(t)
	b := join(t, r, 19, 2)
	b.subscribe(feeds(a), conn)
	a.send(3000)
	testpeer.WaitFor(t, 5*time.Second, "highest layer first", func() bool { return b.receivedLayer(2) > 50 })

	conn.InRate.Store(600_000) // f (~880 kbit/s) no longer fits, h (~400) does
	lower := func() int { return b.receivedLayer(0) + b.receivedLayer(1) }
	testpeer.WaitFor(t, 20*time.Second, "a switch down to a lower layer", func() bool {
		l := lower()
		time.Sleep(300 * time.Millisecond)
		return lower() > l+10
	})
	t.Logf("after the squeeze: q %d h %d f %d", b.receivedLayer(0), b.receivedLayer(1), b.receivedLayer(2))
	f := b.receivedLayer(2)
	time.Sleep(time.Second)
	// Forwarded, layer 2 would bring about 100 packets a second; a brief
	// probe back up (the estimate recovering for a moment on a loaded
	// machine) brings a few.
	if got := b.receivedLayer(2); got > f+30 {
		t.Errorf("layer 2 still forwarded on a narrow link: %d -> %d", f, got)
	}

	// Going back up depends on how fast the estimate grows again (GCC
	// adds about 8 % a second), too slow and load-dependent to assert in
	// a test; chooseLayer and the up-vote rule are tested on their own.

}

// Data channel messages of a publisher reach the subscribers of its data
// stream.
func TestDataRelay(t *testing.T) {
	checkLeaks(t)
	r, _ := newRoomRouter(t, sfu.RoomParams{ID: 22})
	a := join(t, r, 22, 1)
	a.publish(publishOptions{video: true, data: true})
	b := join(t, r, 22, 2)
	b.subscribe(feeds(a), nil)
	testpeer.WaitFor(t, 5*time.Second, "publisher data channel open", func() bool { return a.dc.ReadyState() == webrtc.DataChannelStateOpen })
	// The subscriber's channel opens after the subscription: retry.
	testpeer.WaitFor(t, 5*time.Second, "relayed message", func() bool {
		_ = a.dc.SendText("hello room")
		time.Sleep(100 * time.Millisecond)
		for _, m := range b.chatLog() {
			if m == "hello room" {
				return true
			}
		}
		return false
	})
}

// settle waits up to 5 s for count to reach want (packets in flight, NACK
// repairs), and returns early when it does.
func settle(count func() int, want int) {
	deadline := time.Now().Add(5 * time.Second)
	for count() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// A VP9 SVC subscriber whose downlink narrows is moved down a spatial
// layer by the bandwidth estimate, as a simulcast one is moved down a
// layer; a spatial layer asked for by hand stays.
func TestSVCAutoSwitch(t *testing.T) {
	checkLeaks(t)
	r, p := newRoomRouter(t, sfu.RoomParams{ID: 23, VideoCodec: "vp9"})
	a := join(t, r, 23, 1)
	a.publish(publishOptions{video: true, svc: true})
	conn := testpeer.ListenSwitch(t)
	b := join(t, r, 23, 2)
	b.subscribe(feeds(a), conn)
	a.send(3000)
	testpeer.WaitFor(t, 5*time.Second, "all three spatial layers", func() bool { return b.receivedLayer(2) > 50 })
	// The server's choice, seen on the subscription (the narrowed link
	// itself drops packets, so what arrives does not tell).
	room, _ := p.Room(23)
	pub, _ := room.Participant(a.id)
	spatial := func() (current, target int) {
		for _, src := range pub.Sources() {
			for _, sub := range src.Subscribers() {
				return sub.SpatialLayer()
			}
		}
		return -2, -2
	}
	if cur, target := spatial(); target >= 0 && target < 2 {
		t.Fatalf("spatial layer %d (target %d) before any squeeze", cur, target)
	}

	conn.InRate.Store(600_000) // all three (~1.4 Mbit/s) no longer fit
	testpeer.WaitFor(t, 20*time.Second, "a switch down to spatial layer 0 or 1", func() bool {
		cur, target := spatial()
		return target >= 0 && target < 2 && cur == target
	})
	top := b.receivedLayer(2)
	time.Sleep(500 * time.Millisecond)
	if got := b.receivedLayer(2); got > top+5 {
		t.Errorf("layer 2 still forwarded: %d -> %d", top, got)
	}
	if low := b.receivedLayer(0); low == 0 {
		t.Error("no layer 0")
	}

	// By hand, the automatic choice stops: layer 0 only, even with room.
	conn.InRate.Store(0)
	message(t, b.subH, map[string]any{"request": "configure", "mid": subMID(t, b), "spatial_layer": 0}, nil)
	time.Sleep(2 * time.Second) // more than upVotes allocation rounds
	if cur, target := spatial(); cur != 0 || target != 0 {
		t.Errorf("spatial layer %d (target %d) after asking for 0", cur, target)
	}
	l1 := b.receivedLayer(1)
	time.Sleep(300 * time.Millisecond)
	if b.receivedLayer(1) != l1 {
		t.Error("layer 1 forwarded after asking for 0")
	}
	// The subscriber was told, as Janus tells it ({"spatial_layer": 0}).
	b.log.Wait(t, 3*time.Second, "spatial layer 0 told", func(e ianua.Event) bool {
		var d struct {
			MID     string `json:"mid"`
			Spatial *int   `json:"spatial_layer"`
		}
		return e.Type == ianua.EventPlugin && e.HandleID == b.subH.ID() && json.Unmarshal(e.Data, &d) == nil &&
			d.MID == subMID(t, b) && d.Spatial != nil && *d.Spatial == 0
	})
}
