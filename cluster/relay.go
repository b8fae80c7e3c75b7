package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/av1dd"
	"github.com/ianua/ianua/internal/srtpin"
)

// relayTimeout bounds a relay request to the publisher's node.
const relayTimeout = 2 * time.Second

// relayRetry is how long a relay that could not start waits to try again.
const relayRetry = time.Second

// srtpSuite is the relays' SRTP suite: AES_CM_128_HMAC_SHA1_80 (RFC 3711).
const srtpSuite = 80

// relayExtensions are the header extensions a relay carries, with the ids
// both ends use: the AV1 dependency descriptor, without which the
// receiving node could not choose AV1 SVC layers, nor browsers decode
// them. The others (audio levels, transport-wide-cc) are the hop's own
// business or travel over NATS.
func relayExtensions() []webrtc.RTPHeaderExtensionParameter {
	return []webrtc.RTPHeaderExtensionParameter{{URI: av1dd.URI, ID: 1}}
}

// relayMsg is a request to the publisher's node, on subject
// "<prefix>.relay.<node>".
type relayMsg struct {
	// Op is "start" or "ping" (reply expected), "stop", "keyframe" or
	// "nack".
	Op   string `json:"op"`
	From string `json:"from"`
	// ID names the relay (start, stop).
	ID   string `json:"id,omitempty"`
	Room uint64 `json:"room,omitempty"`
	Feed uint64 `json:"feed,omitempty"`
	MID  string `json:"mid,omitempty"`
	// Where to send, how: SRTP with this SSRC and key (start).
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	SSRC uint32 `json:"ssrc,omitempty"`
	Key  string `json:"key,omitempty"`
	// Layer is the simulcast layer to send (0 lowest .. 2), for a
	// simulcast stream, whose layers are relayed each on its own.
	Layer *int `json:"layer,omitempty"`
	// Seqs are the relay packets to send again (nack).
	Seqs []uint16 `json:"seqs,omitempty"`
}

// relayReadBuffer is the receive buffer asked for a relay socket.
const relayReadBuffer = 1 << 20

// maxNACK bounds the packets one nack asks for: a longer gap is an outage,
// which the subscribers' keyframe requests repair better.
const maxNACK = 64

type relayReply struct {
	Error string `json:"error,omitempty"`
}

// remoteStream is one stream of a remote feed: its source here, fed from
// relay sockets of its own, one per layer (three for a simulcast stream,
// so that subscribers here choose their layer as they would of a local
// publisher).
type remoteStream struct {
	feed   *remoteFeed
	info   StreamInfo
	src    *ianua.Source
	layers []*relayLayer

	// Relay state, owned by the relay loop.
	mu sync.Mutex
	// relayIDs are the running relays, one per layer; nil while none.
	relayIDs  []string
	upstream  string    // the node sending the running relay
	depth     int       // hops from the publisher's node: 1, or 2 through a relay node
	idleSince time.Time // no subscribers since, zero while some
	retryAt   time.Time
}

// key names the stream across the cluster: "<room>.<feed>/<mid>".
func (s *remoteStream) key() string {
	return feedKey(s.feed.info.Room, s.feed.info.Feed) + "/" + s.info.MID
}

// source returns the node a relay request or keyframe request goes to.
func (s *remoteStream) source() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.upstream != "" {
		return s.upstream
	}
	return s.feed.info.Node
}

func (s *remoteStream) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.relayIDs) > 0
}

// relayLayer is one layer's relay socket and its reader.
type relayLayer struct {
	conn *net.UDPConn
	// dec decrypts the current relay; nil while none runs, when
	// whatever arrives is dropped.
	dec  atomic.Pointer[srtpin.Decrypter]
	done chan struct{} // the reader ended
	// nacked counts the packets asked for again.
	nacked atomic.Uint64
}

// gapTracker follows a relay's sequence numbers (owned by its reader) to
// find the packets lost on the hop.
type gapTracker struct {
	dec     *srtpin.Decrypter // the relay followed; another starts over
	highest uint16
}

// next takes a packet's sequence number and returns the first missing one
// and how many are missing before it (0 for none, or for a late or
// repeated packet, or a gap too long to ask for).
func (g *gapTracker) next(dec *srtpin.Decrypter, seq uint16) (first uint16, missing int) {
	if g.dec != dec {
		g.dec, g.highest = dec, seq
		return 0, 0
	}
	diff := seq - g.highest
	if diff == 0 || diff >= 1<<15 {
		return 0, 0 // a repeat, or late (a retransmission, reordering)
	}
	first, g.highest = g.highest+1, seq
	if diff == 1 || int(diff)-1 > maxNACK {
		return 0, 0
	}
	return first, int(diff) - 1
}

// simulcastLayers is how many layers of a simulcast stream are relayed:
// all a source may have; a layer the publisher does not send costs an
// idle socket and forwarder.
const simulcastLayers = 3

// openStream makes a remote stream's sockets, source and readers.
func (n *Node) openStream(f *remoteFeed, st StreamInfo, kind webrtc.RTPCodecType) (*remoteStream, error) {
	rs := &remoteStream{feed: f, info: st}
	var err error
	rs.src, err = n.p.Router.NewSource(ianua.SourceParams{
		ID: sourceID(f.info, st.MID), Kind: kind, Codec: codecOf(st), HeaderExtensions: relayExtensions(),
		OnKeyframeRequest: func(*ianua.Source) { n.requestKeyframe(rs) },
		OnSubscribers:     func(*ianua.Source, int) { n.wake() },
	})
	if err != nil {
		return nil, err
	}
	count := 1
	if st.Simulcast {
		count = simulcastLayers
	}
	for i := range count {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(n.p.RelayIP)})
		if err != nil {
			n.closeStream(rs)
			return nil, fmt.Errorf("relay socket: %w", err)
		}
		// A keyframe comes as a burst: room for it while the reader is
		// descheduled (the kernel caps it at net.core.rmem_max).
		_ = conn.SetReadBuffer(relayReadBuffer)
		l := &relayLayer{conn: conn, done: make(chan struct{})}
		rs.layers = append(rs.layers, l)
		buf := make([]byte, 1500)
		var gaps gapTracker
		read := func(b []byte) (int, error) {
			m, err := conn.Read(buf)
			if err != nil {
				return 0, err
			}
			if drop := n.lossHook.Load(); drop != nil && m >= 12 && (*drop)(uint16(buf[2])<<8|uint16(buf[3])) {
				return 0, nil // a test's loss on the hop (SRTP leaves the header clear)
			}
			d := l.dec.Load()
			if d == nil {
				return 0, nil // no relay running: counted as dropped
			}
			k, err := d.Decrypt(b, buf[:m])
			if err != nil || k < 12 {
				return 0, nil // not from our relay (or a replay): dropped
			}
			seq := uint16(b[2])<<8 | uint16(b[3])
			if first, missing := gaps.next(d, seq); missing > 0 {
				n.nackRelay(rs, i, first, missing)
			}
			return k, nil
		}
		// Owned by the stream: ends when closeStream closes the socket.
		go func() {
			defer close(l.done)
			_, _ = rs.src.ReadPackets(i, read)
		}()
	}
	return rs, nil
}

// closeStreams closes a remote feed's sockets and sources and waits for
// their readers.
func (n *Node) closeStreams(f *remoteFeed) {
	for _, s := range f.streams {
		n.closeStream(s)
	}
}

func (n *Node) closeStream(s *remoteStream) {
	for _, l := range s.layers {
		_ = l.conn.Close()
	}
	s.src.Close()
	for _, l := range s.layers {
		<-l.done
	}
}

func (n *Node) wake() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// relayLoop starts a remote stream's relay when it has subscribers and
// stops it RelayGrace after the last one left.
func (n *Node) relayLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.p.RelayGrace / 4)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kick:
		case <-t.C:
		}
		n.mu.Lock()
		var streams []*remoteStream
		for _, f := range n.remote {
			streams = append(streams, f.streams...)
		}
		n.mu.Unlock()
		now := time.Now()
		for _, s := range streams {
			watched := len(s.src.Subscribers()) > 0
			s.mu.Lock()
			running := len(s.relayIDs) > 0
			switch {
			case watched:
				s.idleSince = time.Time{}
			case s.idleSince.IsZero():
				s.idleSince = now
			}
			idle := !s.idleSince.IsZero() && now.Sub(s.idleSince) >= n.p.RelayGrace
			retry := now.After(s.retryAt)
			s.mu.Unlock()
			switch {
			case watched && !running && retry:
				n.startRelay(s)
			case running && idle:
				n.stopRelay(s)
			}
		}
	}
}

// startRelay asks a node for a stream — the publisher's, or with
// Params.FanOut a relay node that gets it from there — SRTP with a fresh
// key and SSRC.
func (n *Node) startRelay(s *remoteStream) {
	up, depth := n.upstream(s)
	err := n.startRelayFrom(s, up, depth)
	if err != nil && up != s.feed.info.Node {
		// The relay node is full or gone: the publisher's node serves.
		n.log.Debug("cluster: relay node refused, asking the origin", "via", up, "err", err)
		up, depth = s.feed.info.Node, 1
		err = n.startRelayFrom(s, up, depth)
	}
	if err != nil {
		n.log.Warn("cluster: relay did not start", "stream", s.key(), "from", up, "err", err)
		s.mu.Lock()
		s.retryAt = time.Now().Add(relayRetry)
		s.mu.Unlock()
	}
}

// startRelayFrom asks up for the stream's relays, one per layer; all or
// none run.
func (n *Node) startRelayFrom(s *remoteStream, up string, depth int) error {
	ids := make([]string, 0, len(s.layers))
	undo := func() {
		for i, id := range ids {
			s.layers[i].dec.Store(nil)
			n.publish(up, relayMsg{Op: "stop", From: n.p.ID, ID: id})
		}
	}
	for i, l := range s.layers {
		key := make([]byte, 30)
		_, _ = rand.Read(key)
		keyB64 := base64.StdEncoding.EncodeToString(key)
		dec, err := srtpin.New(srtpSuite, keyB64)
		if err != nil {
			undo()
			return err
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		addr := l.conn.LocalAddr().(*net.UDPAddr)
		msg := relayMsg{Op: "start", From: n.p.ID, ID: randomID(), Room: s.feed.info.Room, Feed: s.feed.info.Feed, MID: s.info.MID,
			Host: addr.IP.String(), Port: addr.Port, SSRC: binary.BigEndian.Uint32(b[:]) | 1, Key: keyB64}
		if len(s.layers) > 1 {
			msg.Layer = &i
		}
		l.dec.Store(dec)
		if err := n.request(up, msg); err != nil {
			l.dec.Store(nil)
			undo()
			return err
		}
		ids = append(ids, msg.ID)
	}
	s.mu.Lock()
	s.relayIDs, s.upstream, s.depth = ids, up, depth
	s.mu.Unlock()
	n.log.Debug("cluster: relay started", "stream", s.key(), "from", up, "depth", depth, "ids", ids)
	return nil
}

// upstream picks the node to relay a stream from. Without FanOut, or
// while the publisher's node sends fewer than FanOut relays of it, that
// node; else the relay node (a node that gets it straight from there)
// sending the fewest, under FanOut. Two levels at most (origin, relays,
// edges), so that relays never form a loop.
func (n *Node) upstream(s *remoteStream) (string, int) {
	origin := s.feed.info.Node
	if n.p.FanOut <= 0 {
		return origin, 1
	}
	key := s.key()
	n.mu.Lock()
	defer n.mu.Unlock()
	if p, ok := n.peers[origin]; !ok || p.info.Relays[key].Out < n.p.FanOut {
		return origin, 1
	}
	best, bestOut := "", 0
	for id, p := range n.peers {
		r, ok := p.info.Relays[key]
		if !ok || r.Depth != 1 || r.Out >= n.p.FanOut {
			continue
		}
		if best == "" || r.Out < bestOut || (r.Out == bestOut && id < best) {
			best, bestOut = id, r.Out
		}
	}
	if best == "" {
		return origin, 1 // every relay node is full: the origin takes more
	}
	return best, 2
}

// stopRelay tells the publisher's node to stop forwarding a stream here.
func (n *Node) stopRelay(s *remoteStream) {
	s.mu.Lock()
	ids := s.relayIDs
	s.relayIDs = nil
	up := s.upstream
	s.upstream, s.depth = "", 0
	s.mu.Unlock()
	for _, l := range s.layers {
		l.dec.Store(nil)
	}
	n.log.Debug("cluster: relay stopped", "stream", s.key(), "ids", ids)
	for _, id := range ids {
		n.publish(up, relayMsg{Op: "stop", From: n.p.ID, ID: id})
	}
}

// lostUpstream forgets a running relay whose sending node died: the relay
// loop starts it again from another.
func (n *Node) lostUpstream(s *remoteStream) {
	s.mu.Lock()
	ids, up := s.relayIDs, s.upstream
	s.relayIDs, s.upstream, s.depth = nil, "", 0
	s.mu.Unlock()
	for _, l := range s.layers {
		l.dec.Store(nil)
	}
	for _, id := range ids {
		// In case it is alive after all (cut off from us only).
		n.publish(up, relayMsg{Op: "stop", From: n.p.ID, ID: id})
	}
	n.wake()
}

// nackRelay asks the node sending a layer's relay for the packets lost on
// the hop (from the relay reader, on a gap: rare, so it may allocate).
func (n *Node) nackRelay(s *remoteStream, layer int, first uint16, missing int) {
	s.mu.Lock()
	var id string
	if layer < len(s.relayIDs) {
		id = s.relayIDs[layer]
	}
	up := s.upstream
	s.mu.Unlock()
	if id == "" {
		return
	}
	seqs := make([]uint16, missing)
	for i := range seqs {
		seqs[i] = first + uint16(i)
	}
	s.layers[layer].nacked.Add(uint64(missing))
	n.publish(up, relayMsg{Op: "nack", From: n.p.ID, ID: id, Seqs: seqs})
}

// requestKeyframe relays a keyframe request of this node's subscribers
// (already throttled by the source) to the publisher's node.
func (n *Node) requestKeyframe(s *remoteStream) {
	n.publish(s.source(), relayMsg{Op: "keyframe", From: n.p.ID, Room: s.feed.info.Room, Feed: s.feed.info.Feed, MID: s.info.MID})
}

func (n *Node) request(node string, m relayMsg) error {
	b, _ := json.Marshal(m)
	reply, err := n.p.Conn.Request(n.relaySubject(node), b, relayTimeout)
	if err != nil {
		return err
	}
	var r relayReply
	if err := json.Unmarshal(reply.Data, &r); err != nil {
		return fmt.Errorf("malformed reply: %w", err)
	}
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}

func (n *Node) publish(node string, m relayMsg) {
	b, _ := json.Marshal(m)
	_ = n.p.Conn.Publish(n.relaySubject(node), b)
}

// outRelay is a relay this node sends: one of its publishers' streams to
// another node.
type outRelay struct {
	id  string
	to  string
	key string // the stream, "<room>.<feed>/<mid>"
	fwd *ianua.RTPForwarder
}

// relaysOf counts the nodes this node relays one stream to (a simulcast
// stream goes to each in one relay per layer).
func (n *Node) relaysOf(room, feed uint64, mid string) int {
	key := feedKey(room, feed) + "/" + mid
	n.mu.Lock()
	defer n.mu.Unlock()
	to := map[string]bool{}
	for _, o := range n.out {
		if o.key == key {
			to[o.to] = true
		}
	}
	return len(to)
}

// onRelayMsg serves the other nodes' relay requests (on the NATS
// subscription's goroutine).
func (n *Node) onRelayMsg(msg *nats.Msg) {
	var m relayMsg
	if err := json.Unmarshal(msg.Data, &m); err != nil || !validID.MatchString(m.From) {
		n.log.Warn("cluster: malformed relay message, dropped", "err", err)
		return
	}
	switch m.Op {
	case "start":
		err := n.startOut(m)
		r := relayReply{}
		if err != nil {
			r.Error = err.Error()
		}
		b, _ := json.Marshal(r)
		_ = msg.Respond(b)
	case "stop":
		n.mu.Lock()
		o := n.out[m.ID]
		if o != nil && o.to == m.From {
			delete(n.out, m.ID)
		} else {
			o = nil
		}
		n.mu.Unlock()
		if o != nil {
			o.fwd.Stop()
		}
	case "ping":
		b, _ := json.Marshal(relayReply{})
		_ = msg.Respond(b)
	case "keyframe":
		if src := n.localSource(m.Room, m.Feed, m.MID); src != nil {
			src.RequestKeyframe(-1)
		}
	case "nack":
		n.mu.Lock()
		o := n.out[m.ID]
		n.mu.Unlock()
		if o == nil || o.to != m.From || len(m.Seqs) > maxNACK {
			return // not a relay of ours to that node, or too much
		}
		o.fwd.Retransmit(m.Seqs...)
	}
}

// localSource finds a stream this node can send on: one of a local
// publisher's, or (relay node) one it gets straight from its publisher's
// node.
func (n *Node) localSource(room, feed uint64, mid string) *ianua.Source {
	r, err := n.p.SFU.Room(room)
	if err != nil {
		return nil
	}
	pt, ok := r.Participant(feed)
	if !ok {
		return nil
	}
	if pt.Remote() {
		n.mu.Lock()
		f := n.remote[feedKey(room, feed)]
		n.mu.Unlock()
		if f == nil {
			return nil
		}
		for _, s := range f.streams {
			s.mu.Lock()
			relay := s.info.MID == mid && len(s.relayIDs) > 0 && s.depth == 1
			s.mu.Unlock()
			if relay {
				return s.src
			}
		}
		return nil
	}
	for _, st := range pt.Streams() {
		if st.MID == mid {
			return st.Source
		}
	}
	return nil
}

// startOut starts forwarding a local stream to the node that asked.
func (n *Node) startOut(m relayMsg) error {
	src := n.localSource(m.Room, m.Feed, m.MID)
	if src == nil {
		return fmt.Errorf("%w: %s mid %s", ErrNoSuchFeed, feedKey(m.Room, m.Feed), m.MID)
	}
	if n.p.FanOut > 0 && n.relaysOf(m.Room, m.Feed, m.MID) >= n.p.FanOut && src.Publisher() == nil {
		// A relay node keeps its fan-out; the origin takes the overflow.
		return fmt.Errorf("relay node full (%d)", n.p.FanOut)
	}
	if net.ParseIP(m.Host) == nil || m.Port <= 0 || m.Port > 65535 || m.ID == "" || (m.Layer != nil && (*m.Layer < 0 || *m.Layer >= simulcastLayers)) {
		return fmt.Errorf("%w: relay to %s:%d", ErrInvalidParams, m.Host, m.Port)
	}
	o := &outRelay{id: m.ID, to: m.From, key: feedKey(m.Room, m.Feed) + "/" + m.MID}
	fwd, err := src.Forward(ianua.RTPForwarderParams{
		Host: m.Host, Port: m.Port, SSRC: m.SSRC, SRTPKey: m.Key, SRTPTag: srtpSuite, Layer: m.Layer, HeaderExtensions: relayExtensions(),
		OnStop: func(*ianua.RTPForwarder) {
			n.mu.Lock()
			if n.out[o.id] == o {
				delete(n.out, o.id)
			}
			n.mu.Unlock()
		},
	})
	if err != nil {
		return err
	}
	o.fwd = fwd
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		fwd.Stop()
		return ErrClosed
	}
	old := n.out[m.ID]
	n.out[m.ID] = o
	n.mu.Unlock()
	if old != nil {
		old.fwd.Stop()
	}
	return nil
}

// RelaysOut returns, per node, how many streams this node relays to it.
func (n *Node) RelaysOut() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]int{}
	for _, o := range n.out {
		out[o.to]++
	}
	return out
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
