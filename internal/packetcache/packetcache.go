// Package packetcache keeps the last packets of one RTP source so that the
// NACKs of many subscribers (RFC 4585 section 6.2.1) can be answered without
// asking the publisher again.
//
// The cache is a fixed ring of preallocated slots indexed by sequence
// number: storing and fetching copy bytes and never allocate. Usually one
// goroutine (the source's reader) stores while any number of goroutines (the
// subscribers' RTCP readers) fetch; every method is safe for concurrent use.
//
// It imports nothing of ianua's.
package packetcache

import (
	"errors"
	"sync"
	"sync/atomic"
)

// MaxPacketSize is the largest packet a slot holds: a full Ethernet MTU,
// more than any WebRTC sender puts in one datagram.
const MaxPacketSize = 1500

// MaxSize is the largest number of slots. Beyond half the sequence space
// (RFC 3550 appendix A.1) an older packet could not be told from a newer one.
const MaxSize = 1 << 15

// ErrSize is returned by New for a size that is not a power of two between
// 1 and MaxSize.
var ErrSize = errors.New("packetcache: size must be a power of two between 1 and 32768")

// slot holds one packet. Each has its own lock, held only for the copy, so
// a fetch waits only for a store into the same slot, never for the whole
// ring. A seqlock would let readers copy while the writer writes: the Go
// memory model calls that a data race, and the race detector reports it.
type slot struct {
	mu    sync.Mutex
	gen   uint32 // Cache.gen when stored; another value means empty
	seq   uint16
	n     uint16 // 0: empty
	bytes [MaxPacketSize]byte
}

// Cache is the packet cache of one RTP source. Create it with New.
type Cache struct {
	slots []slot
	mask  uint16
	// gen is bumped by Reset: it empties every slot at once without
	// touching (or locking) them.
	gen atomic.Uint32
}

// New returns a cache of size slots, size a power of two. 512 slots hold
// about one second of 4 Mbit/s video, enough for a few round trips.
func New(size int) (*Cache, error) {
	if size < 1 || size > MaxSize || size&(size-1) != 0 {
		return nil, ErrSize
	}
	return &Cache{slots: make([]slot, size), mask: uint16(size - 1)}, nil
}

// Size is the number of slots.
func (c *Cache) Size() int { return len(c.slots) }

// Store copies pkt, the raw RTP packet with sequence number seq, into the
// cache. It reports false, storing nothing, for an empty packet, one larger
// than MaxPacketSize, or one so late (a retransmission a whole ring behind)
// that its slot already holds a newer packet worth keeping.
//
// Sequence numbers are compared modulo 2^16 (RFC 3550 appendix A.1), so
// wraparound needs nothing special. Call Reset when the source restarts its
// numbering (a new SSRC): otherwise the old packets stay until overwritten.
func (c *Cache) Store(seq uint16, pkt []byte) bool {
	if len(pkt) == 0 || len(pkt) > MaxPacketSize {
		return false
	}
	gen := c.gen.Load()
	s := &c.slots[seq&c.mask]
	s.mu.Lock()
	if s.n != 0 && s.gen == gen && int16(s.seq-seq) > 0 {
		s.mu.Unlock()
		return false
	}
	s.n = uint16(copy(s.bytes[:], pkt))
	s.seq = seq
	s.gen = gen
	s.mu.Unlock()
	return true
}

// Get copies the packet with sequence number seq into dst and returns its
// length. It reports false if the packet is not in the cache (never stored,
// or overwritten by one a whole ring later), or if dst is shorter than the
// packet: give it MaxPacketSize bytes.
func (c *Cache) Get(seq uint16, dst []byte) (int, bool) {
	gen := c.gen.Load()
	s := &c.slots[seq&c.mask]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 || s.gen != gen || s.seq != seq || len(dst) < int(s.n) {
		return 0, false
	}
	return copy(dst, s.bytes[:s.n]), true
}

// Reset empties the cache, for a source that restarted its numbering.
func (c *Cache) Reset() { c.gen.Add(1) }
