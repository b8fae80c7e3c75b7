package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/sfu"
)

// Defaults of Params.
const (
	DefaultHeartbeat  = time.Second
	DefaultRelayGrace = 2 * time.Second
	DefaultPrefix     = "ianua"
)

// Params configure a node.
type Params struct {
	// ID names the node: letters, digits, '-' and '_'.
	ID string
	// Conn is the NATS connection. The host chooses its options
	// (credentials, TLS); nats.MaxReconnects(-1) keeps it trying through
	// a NATS outage, which the node survives.
	Conn *nats.Conn
	// Router and SFU are the node's media router and video-room plugin.
	Router *ianua.MediaRouter
	SFU    *sfu.Plugin
	// RelayIP is where relays to this node arrive: an address of this
	// machine the other nodes reach (default 127.0.0.1).
	RelayIP string
	// Prefix starts the NATS subjects and bucket names (default
	// "ianua"): clusters with different prefixes share a NATS server
	// without seeing each other.
	Prefix string
	// Heartbeat is how often the node says it is alive (default 1 s);
	// DeadAfter how long without a heartbeat makes a node dead (default
	// three heartbeats).
	Heartbeat time.Duration
	DeadAfter time.Duration
	// Capacity, if set, is how many sessions this node takes: it
	// announces the room left (NodeInfo.Free), and Place sends no one to
	// a full node. Zero: unbounded, placed by load alone.
	Capacity int
	// FanOut, if set, bounds the relays of one stream a node sends: the
	// publisher's node relays to at most FanOut nodes, which relay to
	// the others, FanOut each (a two-level tree for large broadcasts:
	// origin, relays, edges); past that the origin takes the overflow.
	// Zero: every node gets every stream from its publisher's node.
	FanOut int
	// RelayGrace is how long a relay keeps running without subscribers
	// (default 2 s), so that a subscriber who renegotiates or a quick
	// rejoin does not restart it.
	RelayGrace time.Duration
	Logger     *slog.Logger
}

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NodeInfo is what a node says of itself in the "nodes" bucket.
type NodeInfo struct {
	ID      string    `json:"id"`
	RelayIP string    `json:"relay_ip"`
	Started time.Time `json:"started"`
	// Load, for placement: live sessions, PeerConnections, publishers,
	// relays out and in.
	Sessions        int `json:"sessions"`
	PeerConnections int `json:"peer_connections"`
	Feeds           int `json:"feeds"`
	RelaysOut       int `json:"relays_out"`
	RelaysIn        int `json:"relays_in"`
	// CPU is the node's process CPU use over the last heartbeat, in
	// cores (1.5: one core and a half), negative where it is not
	// measured; PacketsPerSec the packets it sent to subscribers and
	// relays per second over the same time.
	CPU           float64 `json:"cpu"`
	PacketsPerSec float64 `json:"pps"`
	// Capacity is Params.Capacity, and Free the sessions it still takes
	// (Capacity - Sessions, at least 0); both 0 when unbounded.
	Capacity int `json:"capacity,omitempty"`
	Free     int `json:"free,omitempty"`
	// Rooms is the number of local participants (publishers joined
	// here) per room.
	Rooms map[uint64]int `json:"rooms,omitempty"`
	// Relays, per stream ("<room>.<feed>/<mid>") this node sends or
	// receives: its depth (0 at the publisher's node, 1 relayed from
	// there, 2 through a relay node) and how many relays of it it sends.
	Relays map[string]RelayLoad `json:"relays,omitempty"`
}

// RelayLoad is one stream's place in the relay tree, on one node.
type RelayLoad struct {
	Depth int `json:"depth"`
	Out   int `json:"out"`
}

// Node is one member of a cluster.
type Node struct {
	p   Params
	log *slog.Logger
	js  jetstream.JetStream

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	info   NodeInfo
	sub    *nats.Subscription
	// unobserve and unobserveRooms remove the sfu observers.
	unobserve        func()
	unobserveRooms   func()
	unobserveTalking func()
	unobserveData    func()
	talkSub          *nats.Subscription
	dataSub          *nats.Subscription
	// kick wakes the relay loop.
	kick chan struct{}
	// work is the queue of feed announcements, run in order by one
	// goroutine: the sfu observer must not block on NATS.
	workMu sync.Mutex
	work   []func()
	workCh chan struct{}

	mu        sync.Mutex
	nodesKV   jetstream.KeyValue
	feedsKV   jetstream.KeyValue
	roomsKV   jetstream.KeyValue
	watchStop context.CancelFunc // stops the current watchers
	connected bool               // our last heartbeat went through
	peers     map[string]*peer
	local     map[string]FeedInfo    // our feeds, by key
	remote    map[string]*remoteFeed // other nodes' feeds, by key
	out       map[string]*outRelay   // relays we send, by id
	// pending are other nodes' feeds of rooms this node does not have
	// (yet), by key: added when the room is created here.
	pending map[string]FeedInfo
	// rooms are the rooms made at run time that this node knows, its
	// own and the bucket's (put back after a NATS restart); applying
	// marks those being applied from the bucket (rooms.go).
	rooms      map[uint64]sfu.RoomParams
	applying   map[uint64]bool
	closed     bool
	staleSince time.Time // when the connection was lost
	// rates measures CPU and packets between heartbeats (heartbeat
	// goroutine only).
	rates rateMeter

	// lossHook, set by tests only, drops relay packets as the hop
	// would lose them.
	lossHook atomic.Pointer[func(seq uint16) bool]
}

// peer is another node as last heard of.
type peer struct {
	info     NodeInfo
	lastSeen time.Time
}

// Join makes a node of the cluster: it claims its id, announces its local
// publishers and starts following the others. Close leaves.
func Join(ctx context.Context, p Params) (*Node, error) {
	if !validID.MatchString(p.ID) || p.Conn == nil || p.Router == nil || p.SFU == nil {
		return nil, fmt.Errorf("%w: need an id of letters, digits, '-' and '_', a NATS connection, a router and the sfu plugin", ErrInvalidParams)
	}
	if p.RelayIP == "" {
		p.RelayIP = "127.0.0.1"
	}
	if net.ParseIP(p.RelayIP) == nil {
		return nil, fmt.Errorf("%w: relay ip %q", ErrInvalidParams, p.RelayIP)
	}
	if p.Prefix == "" {
		p.Prefix = DefaultPrefix
	}
	if !validID.MatchString(p.Prefix) {
		return nil, fmt.Errorf("%w: prefix %q", ErrInvalidParams, p.Prefix)
	}
	if p.Heartbeat <= 0 {
		p.Heartbeat = DefaultHeartbeat
	}
	if p.DeadAfter <= 0 {
		p.DeadAfter = 3 * p.Heartbeat
	}
	if p.RelayGrace <= 0 {
		p.RelayGrace = DefaultRelayGrace
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	js, err := jetstream.New(p.Conn)
	if err != nil {
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	n := &Node{
		p: p, log: p.Logger.With("node", p.ID), js: js,
		info:   NodeInfo{ID: p.ID, RelayIP: p.RelayIP, Started: time.Now().UTC()},
		kick:   make(chan struct{}, 1),
		workCh: make(chan struct{}, 1),
		peers:  map[string]*peer{}, local: map[string]FeedInfo{}, remote: map[string]*remoteFeed{}, out: map[string]*outRelay{},
		pending: map[string]FeedInfo{}, rooms: map[uint64]sfu.RoomParams{}, applying: map[uint64]bool{},
	}
	if err := n.ensureBuckets(ctx); err != nil {
		return nil, err
	}
	if err := n.claim(ctx); err != nil {
		return nil, err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.sub, err = p.Conn.Subscribe(n.relaySubject(p.ID), n.onRelayMsg)
	if err != nil {
		n.cancel()
		n.release()
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	n.talkSub, err = p.Conn.Subscribe(n.talkingSubject(), n.onTalkingMsg)
	if err == nil {
		n.dataSub, err = p.Conn.Subscribe(n.dataSubject(), n.onDataMsg)
		if err != nil {
			_ = n.talkSub.Unsubscribe()
		}
	}
	if err != nil {
		_ = n.sub.Unsubscribe()
		n.cancel()
		n.release()
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	n.connected = true
	// The room observer first: a room created while the watchers start
	// is announced all the same.
	n.unobserveRooms = p.SFU.AddRoomObserver(n.onRoom)
	if err := n.startWatchers(); err != nil {
		n.unobserveRooms()
		_ = n.talkSub.Unsubscribe()
		_ = n.dataSub.Unsubscribe()
		_ = n.sub.Unsubscribe()
		n.cancel()
		n.release()
		return nil, err
	}
	n.unobserve = p.SFU.AddPublisherObserver(n.onPublisher)
	n.unobserveTalking = p.SFU.AddTalkingObserver(n.onTalking)
	n.unobserveData = p.SFU.AddDataObserver(n.onData)
	// Participants already there before Join.
	for _, r := range p.SFU.Rooms() {
		for _, pt := range r.Participants() {
			if !pt.Remote() {
				n.onPublisher(sfu.PublisherEvent{Room: r, Participant: pt, Active: pt.Publishing()})
			}
		}
	}
	n.wg.Add(3)
	go n.heartbeat()
	go n.relayLoop()
	go n.worker()
	return n, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.p.ID }

// Nodes returns the live nodes this node knows of, itself included.
func (n *Node) Nodes() []NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []NodeInfo{n.loadLocked()}
	for _, p := range n.peers {
		out = append(out, p.info)
	}
	return out
}

// Feeds returns the participants of the cluster this node knows of, its
// own and the other nodes' (FeedInfo.Node says where each is): the
// publishers with their streams, and those that do not publish.
func (n *Node) Feeds() []FeedInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]FeedInfo, 0, len(n.local)+len(n.remote))
	for _, f := range n.local {
		out = append(out, f)
	}
	for _, f := range n.remote {
		out = append(out, f.info)
	}
	slices.SortFunc(out, func(a, b FeedInfo) int { return cmp.Or(cmp.Compare(a.Room, b.Room), cmp.Compare(a.Feed, b.Feed)) })
	return out
}

func (n *Node) bucket(name string) string { return n.p.Prefix + "-" + name }

func (n *Node) relaySubject(node string) string { return n.p.Prefix + ".relay." + node }

// ensureBuckets creates the buckets, or finds them.
func (n *Node) ensureBuckets(ctx context.Context) error {
	// Memory storage: the state is the nodes' own, put back after a
	// NATS restart; a host wanting replicas configures the stream.
	nodes, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.bucket("nodes"), Storage: jetstream.MemoryStorage, History: 1})
	if err != nil {
		return fmt.Errorf("cluster: nodes bucket: %w", err)
	}
	feeds, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.bucket("feeds"), Storage: jetstream.MemoryStorage, History: 1})
	if err != nil {
		return fmt.Errorf("cluster: feeds bucket: %w", err)
	}
	rooms, err := n.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.bucket("rooms"), Storage: jetstream.MemoryStorage, History: 1})
	if err != nil {
		return fmt.Errorf("cluster: rooms bucket: %w", err)
	}
	n.mu.Lock()
	n.nodesKV, n.feedsKV, n.roomsKV = nodes, feeds, rooms
	n.mu.Unlock()
	return nil
}

// claim takes the node's id in the nodes bucket: refused while a live
// node holds it, taken over from a dead one.
func (n *Node) claim(ctx context.Context) error {
	b, _ := json.Marshal(n.info)
	if _, err := n.nodesKV.Create(ctx, n.p.ID, b); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("cluster: claim id: %w", err)
	}
	// The entry's age says whether its owner still heartbeats.
	e, err := n.nodesKV.Get(ctx, n.p.ID)
	if err != nil {
		return fmt.Errorf("cluster: claim id: %w", err)
	}
	if time.Since(e.Created()) < n.p.DeadAfter {
		return fmt.Errorf("%w: %q (a node that stopped without leaving frees its id after %v)", ErrNodeIDInUse, n.p.ID, n.p.DeadAfter)
	}
	if _, err := n.nodesKV.Update(ctx, n.p.ID, b, e.Revision()); err != nil {
		return fmt.Errorf("%w: %q (%v)", ErrNodeIDInUse, n.p.ID, err)
	}
	return nil
}

// release deletes the node's entries, best effort.
func (n *Node) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n.mu.Lock()
	keys := make([]string, 0, len(n.local))
	for k := range n.local {
		keys = append(keys, k)
	}
	nodes, feeds := n.nodesKV, n.feedsKV
	n.mu.Unlock()
	for _, k := range keys {
		_ = feeds.Delete(ctx, k)
	}
	_ = nodes.Delete(ctx, n.p.ID)
}

// Close leaves the cluster: the node's entries are deleted (the others
// remove its publishers at once), its relays stop, and the remote
// publishers it added are removed.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	stopWatch := n.watchStop
	n.mu.Unlock()
	n.unobserve()
	n.unobserveRooms()
	n.unobserveTalking()
	n.unobserveData()
	_ = n.sub.Unsubscribe()
	_ = n.talkSub.Unsubscribe()
	_ = n.dataSub.Unsubscribe()
	n.cancel()
	if stopWatch != nil {
		stopWatch()
	}
	n.wg.Wait()
	n.release()
	n.mu.Lock()
	outs := make([]*outRelay, 0, len(n.out))
	for _, o := range n.out {
		outs = append(outs, o)
	}
	n.out = map[string]*outRelay{}
	feeds := make([]*remoteFeed, 0, len(n.remote))
	for _, f := range n.remote {
		feeds = append(feeds, f)
	}
	n.remote = map[string]*remoteFeed{}
	n.mu.Unlock()
	for _, o := range outs {
		o.fwd.Stop()
	}
	for _, f := range feeds {
		n.removeFeed(f)
	}
	return nil
}

// loadLocked is the node's info with its current load.
func (n *Node) loadLocked() NodeInfo {
	info := n.info
	sessions := n.p.Router.Sessions()
	info.Sessions = len(sessions)
	for _, s := range sessions {
		for _, h := range s.Handles() {
			if h.HasPeerConnection() {
				info.PeerConnections++
			}
		}
	}
	if n.p.Capacity > 0 {
		info.Capacity = n.p.Capacity
		info.Free = max(n.p.Capacity-info.Sessions, 0)
	}
	for _, f := range n.local {
		if len(f.Streams) > 0 {
			info.Feeds++
		}
	}
	info.RelaysOut = len(n.out)
	info.Relays = map[string]RelayLoad{}
	seen := map[[2]string]bool{} // (stream, node): a simulcast stream has a relay per layer
	for _, o := range n.out {
		if seen[[2]string{o.key, o.to}] {
			continue
		}
		seen[[2]string{o.key, o.to}] = true
		r := info.Relays[o.key]
		r.Out++
		info.Relays[o.key] = r
	}
	info.Rooms = map[uint64]int{}
	for _, r := range n.p.SFU.Rooms() {
		for _, pt := range r.Participants() {
			if !pt.Remote() {
				info.Rooms[r.ID()]++
			}
		}
	}
	for _, f := range n.remote {
		for _, s := range f.streams {
			s.mu.Lock()
			depth := s.depth
			s.mu.Unlock()
			if depth > 0 {
				info.RelaysIn++
				r := info.Relays[s.key()]
				r.Depth = depth
				info.Relays[s.key()] = r
			}
		}
	}
	return info
}

// heartbeat puts the node's info every Heartbeat, rebuilds the buckets
// after an outage, and declares silent nodes dead.
func (n *Node) heartbeat() {
	defer n.wg.Done()
	t := time.NewTicker(n.p.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.beat()
		n.reap()
	}
}

func (n *Node) beat() {
	// As long as a node may stay silent before it is dead: a slow
	// server is not an outage.
	ctx, cancel := context.WithTimeout(n.ctx, n.p.DeadAfter)
	defer cancel()
	n.mu.Lock()
	info := n.loadLocked()
	kv := n.nodesKV
	was := n.connected
	n.mu.Unlock()
	info.CPU, info.PacketsPerSec = n.rates.sample(time.Now(), n.packetsSent())
	n.mu.Lock()
	n.info.CPU, n.info.PacketsPerSec = info.CPU, info.PacketsPerSec // for Nodes() here
	n.mu.Unlock()
	b, _ := json.Marshal(info)
	_, err := kv.Put(ctx, n.p.ID, b)
	// A failed put is an outage, even if the next try works: the server
	// may have restarted (and lost the buckets and our watchers).
	outage := err != nil
	if err != nil && n.ctx.Err() == nil {
		// The bucket may be gone with a restarted server: make it again.
		bctx, bcancel := context.WithTimeout(n.ctx, n.p.DeadAfter)
		defer bcancel()
		if berr := n.ensureBuckets(bctx); berr == nil {
			n.mu.Lock()
			kv = n.nodesKV
			n.mu.Unlock()
			_, err = kv.Put(bctx, n.p.ID, b)
		} else {
			err = berr
		}
	}
	if err != nil {
		n.log.Debug("cluster: heartbeat failed", "err", err)
		n.mu.Lock()
		if n.connected {
			n.connected = false
			n.staleSince = time.Now()
			n.log.Warn("cluster: lost NATS", "err", err)
		}
		n.mu.Unlock()
		return
	}
	if !was || outage {
		n.rebuild()
	}
}

// rebuild puts the node's feeds back and restarts the watchers, after
// NATS came back; the other nodes get a grace period to do the same.
func (n *Node) rebuild() {
	n.log.Info("cluster: NATS is back, rebuilding the state")
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	n.mu.Lock()
	local := make(map[string]FeedInfo, len(n.local))
	for k, v := range n.local {
		local[k] = v
	}
	kv := n.feedsKV
	n.mu.Unlock()
	for k, v := range local {
		b, _ := json.Marshal(v)
		if _, err := kv.Put(ctx, k, b); err != nil {
			return // still down: the next heartbeat tries again
		}
	}
	if err := n.putRooms(ctx); err != nil {
		return
	}
	if err := n.startWatchers(); err != nil {
		n.log.Warn("cluster: watchers", "err", err)
		return
	}
	n.mu.Lock()
	n.connected = true
	now := time.Now()
	for _, p := range n.peers {
		p.lastSeen = now
	}
	n.mu.Unlock()
}

// reap declares dead the nodes not heard of for DeadAfter, unless we are
// the one cut off.
func (n *Node) reap() {
	n.mu.Lock()
	if !n.connected {
		n.mu.Unlock()
		return
	}
	var silent []string
	for id, p := range n.peers {
		if time.Since(p.lastSeen) > n.p.DeadAfter {
			silent = append(silent, id)
		}
	}
	n.mu.Unlock()
	for _, id := range silent {
		// A node whose heartbeats are late (a starved machine, a slow
		// server) but that answers is alive: taking it for dead would
		// unpublish its feeds everywhere.
		if n.ping(id) {
			n.mu.Lock()
			if p := n.peers[id]; p != nil {
				p.lastSeen = time.Now()
			}
			n.mu.Unlock()
			continue
		}
		n.mu.Lock()
		_, still := n.peers[id]
		delete(n.peers, id)
		n.mu.Unlock()
		if still {
			n.log.Warn("cluster: node is dead", "dead", id)
			n.forgetNode(id, true)
		}
	}
}

// ping asks a node directly whether it is alive.
func (n *Node) ping(id string) bool {
	return n.request(id, relayMsg{Op: "ping", From: n.p.ID}) == nil
}

// forgetNode removes what came from a node that left or died: its
// publishers here, our relays to it, and (when it died) its entries.
func (n *Node) forgetNode(id string, died bool) {
	n.mu.Lock()
	var feeds []*remoteFeed
	var keys []string
	for k, f := range n.remote {
		if f.info.Node == id {
			feeds = append(feeds, f)
			keys = append(keys, k)
			delete(n.remote, k)
		}
	}
	for k, info := range n.pending {
		if info.Node == id {
			delete(n.pending, k)
			keys = append(keys, k)
		}
	}
	var outs []*outRelay
	for k, o := range n.out {
		if o.to == id {
			outs = append(outs, o)
			delete(n.out, k)
		}
	}
	var orphans []*remoteStream
	for _, f := range n.remote {
		for _, s := range f.streams {
			s.mu.Lock()
			if s.upstream == id {
				orphans = append(orphans, s)
			}
			s.mu.Unlock()
		}
	}
	feedsKV, nodesKV := n.feedsKV, n.nodesKV
	n.mu.Unlock()
	for _, o := range outs {
		o.fwd.Stop()
	}
	for _, s := range orphans {
		n.lostUpstream(s)
	}
	for _, f := range feeds {
		n.removeFeed(f)
	}
	if died {
		ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
		defer cancel()
		for _, k := range keys {
			_ = feedsKV.Delete(ctx, k)
		}
		_ = nodesKV.Delete(ctx, id)
	}
}

// queue runs f on the worker goroutine, in order.
func (n *Node) queue(f func()) {
	n.workMu.Lock()
	n.work = append(n.work, f)
	n.workMu.Unlock()
	select {
	case n.workCh <- struct{}{}:
	default:
	}
}

func (n *Node) worker() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.workCh:
		}
		for {
			n.workMu.Lock()
			if len(n.work) == 0 {
				n.workMu.Unlock()
				break
			}
			f := n.work[0]
			n.work = n.work[1:]
			n.workMu.Unlock()
			f()
		}
	}
}
