package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/sfu"
)

// FeedInfo is a participant as the "feeds" bucket holds it, under the key
// "<room>.<feed>": a publisher with its streams, or (no streams) one in the
// room that does not publish.
type FeedInfo struct {
	Room    uint64       `json:"room"`
	Feed    uint64       `json:"feed"`
	Node    string       `json:"node"`
	Display string       `json:"display,omitempty"`
	Streams []StreamInfo `json:"streams"`
	// E2EE: the publisher's media is end-to-end encrypted; remote
	// subscribers are told so in their offer.
	E2EE bool `json:"e2ee,omitempty"`
}

// StreamInfo is one stream of a feed, with its codec as the publisher's
// node negotiated it (the relay carries the packets unchanged).
type StreamInfo struct {
	MID         string `json:"mid"`
	Kind        string `json:"type"`
	Codec       string `json:"codec,omitempty"`
	MimeType    string `json:"mime"`
	ClockRate   uint32 `json:"clock"`
	Channels    uint16 `json:"channels,omitempty"`
	Fmtp        string `json:"fmtp,omitempty"`
	PT          uint8  `json:"pt"`
	Simulcast   bool   `json:"simulcast,omitempty"`
	Description string `json:"description,omitempty"`
}

func feedKey(room, feed uint64) string { return fmt.Sprintf("%d.%d", room, feed) }

// onPublisher is the sfu observer: local participants go to the bucket,
// with their streams while they publish, and leave it when they leave.
func (n *Node) onPublisher(e sfu.PublisherEvent) {
	key := feedKey(e.Room.ID(), e.Participant.ID())
	if e.Left {
		n.queue(func() {
			n.mu.Lock()
			delete(n.local, key)
			kv := n.feedsKV
			n.mu.Unlock()
			ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
			defer cancel()
			if err := kv.Delete(ctx, key); err != nil && n.ctx.Err() == nil {
				n.log.Warn("cluster: withdraw feed", "feed", key, "err", err)
			}
		})
		return
	}
	info := FeedInfo{Room: e.Room.ID(), Feed: e.Participant.ID(), Node: n.p.ID, Display: e.Participant.Display(), E2EE: e.Participant.E2EE()}
	for _, st := range e.Participant.Streams() {
		if !e.Active {
			break // in the room, not publishing
		}
		if st.Kind == "data" {
			// Its messages go over NATS (data.go).
			info.Streams = append(info.Streams, StreamInfo{MID: st.MID, Kind: st.Kind, Description: st.Description})
			continue
		}
		c := st.Source.Codec()
		info.Streams = append(info.Streams, StreamInfo{
			MID: st.MID, Kind: st.Kind, Codec: st.Codec, Simulcast: st.Simulcast, Description: st.Description,
			MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels, Fmtp: c.SDPFmtpLine, PT: uint8(c.PayloadType),
		})
	}
	n.queue(func() {
		n.mu.Lock()
		n.local[key] = info
		n.mu.Unlock()
		n.putFeed(key, info)
	})
}

// putFeed announces a local feed, if it is still live.
func (n *Node) putFeed(key string, info FeedInfo) {
	n.mu.Lock()
	_, live := n.local[key]
	kv := n.feedsKV
	n.mu.Unlock()
	if !live {
		return
	}
	b, _ := json.Marshal(info)
	ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
	defer cancel()
	if _, err := kv.Put(ctx, key, b); err != nil && n.ctx.Err() == nil {
		// Put again when NATS is back (rebuild).
		n.log.Warn("cluster: announce feed", "feed", key, "err", err)
	}
}

// startWatchers (re)starts following both buckets.
func (n *Node) startWatchers() error {
	n.mu.Lock()
	if n.watchStop != nil {
		n.watchStop()
	}
	ctx, stop := context.WithCancel(n.ctx)
	n.watchStop = stop
	nodesKV, feedsKV, roomsKV := n.nodesKV, n.feedsKV, n.roomsKV
	n.mu.Unlock()
	nw, err := nodesKV.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("cluster: watch nodes: %w", err)
	}
	fw, err := feedsKV.WatchAll(ctx)
	if err != nil {
		_ = nw.Stop()
		return fmt.Errorf("cluster: watch feeds: %w", err)
	}
	rw, err := roomsKV.WatchAll(ctx)
	if err != nil {
		_ = nw.Stop()
		_ = fw.Stop()
		return fmt.Errorf("cluster: watch rooms: %w", err)
	}
	n.wg.Add(3)
	go n.watch(ctx, nw, n.applyNode)
	go n.watch(ctx, fw, n.applyFeed)
	go n.watch(ctx, rw, n.applyRoom)
	return nil
}

func (n *Node) watch(ctx context.Context, w jetstream.KeyWatcher, apply func(jetstream.KeyValueEntry)) {
	defer n.wg.Done()
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil { // nil marks the end of the initial values
				apply(e)
			}
		}
	}
}

// applyNode follows the nodes bucket.
func (n *Node) applyNode(e jetstream.KeyValueEntry) {
	id := e.Key()
	if id == n.p.ID {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		n.mu.Lock()
		_, known := n.peers[id]
		delete(n.peers, id)
		n.mu.Unlock()
		if known {
			n.forgetNode(id, false)
		}
		return
	}
	var info NodeInfo
	if err := json.Unmarshal(e.Value(), &info); err != nil || info.ID != id {
		n.log.Warn("cluster: malformed node entry, ignored", "key", id, "err", err)
		return
	}
	n.mu.Lock()
	n.peers[id] = &peer{info: info, lastSeen: time.Now()}
	n.mu.Unlock()
}

// applyFeed follows the feeds bucket: other nodes' feeds become remote
// publishers here.
func (n *Node) applyFeed(e jetstream.KeyValueEntry) {
	key := e.Key()
	n.mu.Lock()
	old := n.remote[key]
	mine, isMine := n.local[key]
	delete(n.pending, key)
	n.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		if old != nil {
			n.dropFeed(key, old)
		}
		if isMine {
			// Deleted by a node that took us for dead (we were slow, or
			// cut off): still live here, so put it back.
			n.log.Warn("cluster: our feed was withdrawn by another node, announcing it again", "feed", key)
			n.queue(func() { n.putFeed(key, mine) })
		}
		return
	}
	var info FeedInfo
	if err := json.Unmarshal(e.Value(), &info); err != nil || feedKey(info.Room, info.Feed) != key || info.Node == "" {
		n.log.Warn("cluster: malformed feed entry, ignored", "key", key, "err", err)
		return
	}
	if info.Node == n.p.ID {
		return // ours
	}
	if old != nil {
		if sameFeed(old.info, info) {
			return
		}
		if old.info.Node == info.Node && old.pt != nil {
			n.updateFeed(key, old, info)
			return
		}
		n.dropFeed(key, old)
	}
	n.addRemote(key, info)
}

// updateFeed applies a change of another node's participant — it started
// or stopped publishing, changed its streams or its name — to its remote
// publisher here, which stays in the room: new streams (sockets, sources)
// replace the old ones, whose relays stop.
func (n *Node) updateFeed(key string, old *remoteFeed, info FeedInfo) {
	nf := &remoteFeed{info: info, room: old.room, pt: old.pt}
	streams, err := n.openStreams(nf)
	if err == nil {
		err = old.room.UpdateRemotePublisher(sfu.RemotePublisherParams{ID: info.Feed, Display: info.Display, Streams: streams, E2EE: info.E2EE})
		if err != nil {
			n.closeStreams(nf)
		}
	}
	if err != nil {
		n.log.Warn("cluster: remote feed changed", "feed", key, "from", info.Node, "err", err)
		n.dropFeed(key, old)
		return
	}
	n.mu.Lock()
	current := n.remote[key] == old && !n.closed
	if current {
		n.remote[key] = nf
	}
	n.mu.Unlock()
	if !current {
		// Dropped meanwhile (its node died, or this one is leaving).
		n.removeFeed(nf)
	}
	// The old streams: the room closed their sources; their relays and
	// sockets go.
	for _, s := range old.streams {
		if s.isRunning() {
			n.stopRelay(s)
		}
	}
	n.closeStreams(old)
}

// addRemote makes another node's feed a remote publisher here; a feed of a
// room this node does not have waits for it (pending).
func (n *Node) addRemote(key string, info FeedInfo) {
	f, err := n.addFeed(info)
	if errors.Is(err, sfu.ErrNoSuchRoom) {
		n.mu.Lock()
		n.pending[key] = info
		n.mu.Unlock()
		// The room may have come between the failure and now.
		if _, err := n.p.SFU.Room(info.Room); err == nil {
			n.queue(func() { n.retryPending(info.Room) })
		}
		return
	}
	if err != nil {
		n.log.Warn("cluster: remote feed", "feed", key, "from", info.Node, "err", err)
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		n.removeFeed(f)
		return
	}
	n.remote[key] = f
	n.mu.Unlock()
}

func sameFeed(a, b FeedInfo) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// dropFeed removes a remote feed if it is still the one registered.
func (n *Node) dropFeed(key string, f *remoteFeed) {
	n.mu.Lock()
	if n.remote[key] != f {
		n.mu.Unlock()
		return
	}
	delete(n.remote, key)
	n.mu.Unlock()
	n.removeFeed(f)
}

// addFeed makes a remote feed: a source and a relay socket per stream,
// and a remote publisher in the room.
func (n *Node) addFeed(info FeedInfo) (*remoteFeed, error) {
	room, err := n.p.SFU.Room(info.Room)
	if err != nil {
		return nil, err
	}
	f := &remoteFeed{info: info, room: room}
	streams, err := n.openStreams(f)
	if err != nil {
		return nil, err
	}
	pt, err := room.AddRemotePublisher(sfu.RemotePublisherParams{ID: info.Feed, Display: info.Display, Streams: streams, E2EE: info.E2EE})
	if err != nil {
		n.closeStreams(f)
		return nil, err
	}
	f.pt = pt
	return f, nil
}

// openStreams opens a remote feed's streams (f.streams), and returns them
// as the room takes them; on error none stays open.
func (n *Node) openStreams(f *remoteFeed) ([]sfu.Stream, error) {
	var streams []sfu.Stream
	for _, st := range f.info.Streams {
		if st.Kind == "data" {
			streams = append(streams, sfu.Stream{MID: st.MID, Kind: st.Kind, Description: st.Description})
			continue
		}
		kind := webrtc.NewRTPCodecType(st.Kind)
		if kind == 0 || st.MimeType == "" || st.ClockRate == 0 {
			n.closeStreams(f)
			return nil, fmt.Errorf("stream %q: kind %q codec %q", st.MID, st.Kind, st.MimeType)
		}
		rs, err := n.openStream(f, st, kind)
		if err != nil {
			n.closeStreams(f)
			return nil, err
		}
		f.streams = append(f.streams, rs)
		streams = append(streams, sfu.Stream{MID: st.MID, Kind: st.Kind, Codec: st.Codec, Simulcast: st.Simulcast, Description: st.Description, Source: rs.src})
	}
	return streams, nil
}

// removeFeed removes a remote feed's publisher (which closes its sources)
// and its sockets.
func (n *Node) removeFeed(f *remoteFeed) {
	if f.pt != nil {
		_ = f.room.RemoveRemotePublisher(f.info.Feed)
	}
	for _, s := range f.streams {
		if s.isRunning() {
			n.stopRelay(s)
		}
	}
	n.closeStreams(f)
}

// remoteFeed is another node's publisher, as this node relays it.
type remoteFeed struct {
	info    FeedInfo
	room    *sfu.Room
	pt      *sfu.Participant
	streams []*remoteStream
}

func sourceID(info FeedInfo, mid string) string {
	return strings.Join([]string{"relay", info.Node, fmt.Sprint(info.Room), fmt.Sprint(info.Feed), mid}, "/")
}

func codecOf(st StreamInfo) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: st.MimeType, ClockRate: st.ClockRate, Channels: st.Channels, SDPFmtpLine: st.Fmtp},
		PayloadType:        webrtc.PayloadType(st.PT),
	}
}
