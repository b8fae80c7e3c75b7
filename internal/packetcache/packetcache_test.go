package packetcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// packet returns a fake RTP packet of n bytes whose content identifies seq,
// so that a torn or misplaced copy shows.
func packet(seq uint16, n int) []byte {
	p := make([]byte, n)
	fill(p, seq)
	return p
}

func fill(p []byte, seq uint16) {
	for i := range p {
		p[i] = byte(seq) ^ byte(seq>>8) ^ byte(i)
	}
	if len(p) >= 4 {
		binary.BigEndian.PutUint16(p[2:], seq)
	}
}

func TestNew(t *testing.T) {
	testCases := []struct {
		size int
		err  error
	}{
		{1, nil}, {2, nil}, {512, nil}, {MaxSize, nil},
		{0, ErrSize}, {-4, ErrSize}, {3, ErrSize}, {500, ErrSize}, {2 * MaxSize, ErrSize},
	}
	for _, tc := range testCases {
		c, err := New(tc.size)
		if !errors.Is(err, tc.err) {
			t.Errorf("New(%d): error %v, want %v", tc.size, err, tc.err)
			continue
		}
		if err == nil && c.Size() != tc.size {
			t.Errorf("New(%d).Size() = %d", tc.size, c.Size())
		}
	}
}

// op is one step of a scripted test: store a packet, or expect a Get.
type op struct {
	store bool
	seq   uint16
	n     int  // packet length to store, or dst length for Get (0: MaxPacketSize)
	ok    bool // what Store or Get must report
	reset bool
}

func TestScript(t *testing.T) {
	testCases := []struct {
		name string
		size int
		ops  []op
	}{
		{"store then get", 8, []op{
			{store: true, seq: 10, n: 100, ok: true},
			{seq: 10, ok: true},
			{seq: 11, ok: false},
			{seq: 9, ok: false},
		}},
		{"never stored", 8, []op{{seq: 0, ok: false}, {seq: 5, ok: false}}},
		{"overwritten a ring later", 8, []op{
			{store: true, seq: 1, n: 50, ok: true},
			{store: true, seq: 9, n: 60, ok: true},
			{seq: 1, ok: false},
			{seq: 9, ok: true},
		}},
		{"wraparound", 8, []op{
			{store: true, seq: 65534, n: 20, ok: true},
			{store: true, seq: 65535, n: 20, ok: true},
			{store: true, seq: 0, n: 20, ok: true},
			{store: true, seq: 1, n: 20, ok: true},
			{seq: 65534, ok: true}, {seq: 65535, ok: true}, {seq: 0, ok: true}, {seq: 1, ok: true},
			{seq: 2, ok: false},
		}},
		{"late packet whose slot holds a newer one is refused", 8, []op{
			{store: true, seq: 20, n: 30, ok: true},
			{store: true, seq: 12, n: 30, ok: false},
			{seq: 20, ok: true},
			{seq: 12, ok: false},
		}},
		{"late packet across wraparound is refused", 8, []op{
			{store: true, seq: 3, n: 30, ok: true},
			{store: true, seq: 65531, n: 30, ok: false}, // 3 - 8
			{seq: 3, ok: true},
		}},
		{"reordered packet within the ring is kept", 8, []op{
			{store: true, seq: 100, n: 30, ok: true},
			{store: true, seq: 102, n: 30, ok: true},
			{store: true, seq: 101, n: 30, ok: true},
			{seq: 100, ok: true}, {seq: 101, ok: true}, {seq: 102, ok: true},
		}},
		{"duplicate replaces", 8, []op{
			{store: true, seq: 7, n: 30, ok: true},
			{store: true, seq: 7, n: 40, ok: true},
			{seq: 7, ok: true},
		}},
		{"sizes", 8, []op{
			{store: true, seq: 1, n: 0, ok: false},
			{store: true, seq: 2, n: MaxPacketSize + 1, ok: false},
			{store: true, seq: 3, n: MaxPacketSize, ok: true},
			{seq: 1, ok: false}, {seq: 2, ok: false}, {seq: 3, ok: true},
			{seq: 3, n: MaxPacketSize - 1, ok: false}, // short dst
		}},
		{"reset empties", 8, []op{
			{store: true, seq: 5, n: 30, ok: true},
			{reset: true},
			{seq: 5, ok: false},
			// After a reset an older number is accepted: a new numbering.
			{store: true, seq: 65000, n: 30, ok: true},
			{seq: 65000, ok: true},
		}},
		{"one slot", 1, []op{
			{store: true, seq: 5, n: 30, ok: true},
			{store: true, seq: 6, n: 30, ok: true},
			{seq: 5, ok: false}, {seq: 6, ok: true},
		}},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.size)
			if err != nil {
				t.Fatal(err)
			}
			stored := map[uint16][]byte{}
			for i, o := range tc.ops {
				switch {
				case o.reset:
					c.Reset()
				case o.store:
					p := packet(o.seq, o.n)
					if got := c.Store(o.seq, p); got != o.ok {
						t.Fatalf("op %d: Store(%d) = %v, want %v", i, o.seq, got, o.ok)
					}
					if o.ok {
						stored[o.seq] = p
					}
				default:
					dst := make([]byte, MaxPacketSize)
					if o.n != 0 {
						dst = dst[:o.n]
					}
					n, ok := c.Get(o.seq, dst)
					if ok != o.ok {
						t.Fatalf("op %d: Get(%d) ok = %v, want %v", i, o.seq, ok, o.ok)
					}
					if ok && !bytes.Equal(dst[:n], stored[o.seq]) {
						t.Fatalf("op %d: Get(%d) returned the wrong bytes", i, o.seq)
					}
					if !ok && n != 0 {
						t.Fatalf("op %d: Get(%d) = %d bytes with false", i, o.seq, n)
					}
				}
			}
		})
	}
}

// TestStoreCopies checks that the cache keeps its own copy: the reader
// reuses its buffer for the next packet.
func TestStoreCopies(t *testing.T) {
	c, _ := New(4)
	buf := packet(1, 64)
	want := bytes.Clone(buf)
	c.Store(1, buf)
	fill(buf, 2)
	dst := make([]byte, MaxPacketSize)
	n, ok := c.Get(1, dst)
	if !ok || !bytes.Equal(dst[:n], want) {
		t.Fatal("the cache shares the caller's buffer")
	}
}

// TestConcurrent has one writer and many readers, as a source with many
// subscribers sending NACKs. Every packet read must be whole and the one
// asked for; the race detector checks the locking.
func TestConcurrent(t *testing.T) {
	c, _ := New(64)
	const packets = 20000
	var done atomic.Bool
	var hits atomic.Int64
	var wg sync.WaitGroup
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, MaxPacketSize)
			for i := uint16(r); !done.Load(); i += 7 {
				n, ok := c.Get(i, dst)
				if !ok {
					continue
				}
				hits.Add(1)
				if n != 200+int(i%1000) || binary.BigEndian.Uint16(dst[2:]) != i {
					t.Errorf("Get(%d): %d bytes, seq %d", i, n, binary.BigEndian.Uint16(dst[2:]))
					return
				}
				for j := range n {
					if j != 2 && j != 3 && dst[j] != byte(i)^byte(i>>8)^byte(j) {
						t.Errorf("Get(%d): byte %d torn", i, j)
						return
					}
				}
			}
		}()
	}
	buf := make([]byte, MaxPacketSize)
	for i := range packets {
		seq := uint16(i + 65000) // crosses the wraparound
		p := buf[:200+int(seq%1000)]
		fill(p, seq)
		c.Store(seq, p)
	}
	done.Store(true)
	wg.Wait()
	if hits.Load() == 0 {
		t.Log("readers never hit a stored packet")
	}
}

func TestAllocs(t *testing.T) {
	c, _ := New(512)
	pkt := packet(1, 1200)
	dst := make([]byte, MaxPacketSize)
	var seq uint16
	if a := testing.AllocsPerRun(1000, func() {
		seq++
		c.Store(seq, pkt)
	}); a != 0 {
		t.Errorf("Store: %v allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(1000, func() {
		c.Get(seq-100, dst)
	}); a != 0 {
		t.Errorf("Get: %v allocs, want 0", a)
	}
}

func BenchmarkStore(b *testing.B) {
	c, _ := New(512)
	pkt := packet(1, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	var seq uint16
	for b.Loop() {
		seq++
		c.Store(seq, pkt)
	}
}

func BenchmarkGet(b *testing.B) {
	c, _ := New(512)
	for i := range 512 {
		c.Store(uint16(i), packet(uint16(i), 1200))
	}
	dst := make([]byte, MaxPacketSize)
	b.ReportAllocs()
	b.SetBytes(1200)
	var seq uint16
	for b.Loop() {
		seq++
		if _, ok := c.Get(seq&511, dst); !ok {
			b.Fatal("miss")
		}
	}
}

// getter is what the parallel benchmark measures: Cache, and for
// comparison a ring behind one mutex.
type getter interface {
	Store(uint16, []byte) bool
	Get(uint16, []byte) (int, bool)
}

// oneLock is a ring behind a single mutex, the simplest design: kept here
// only to measure what per-slot locks buy.
type oneLock struct {
	mu    sync.Mutex
	seq   [512]uint16
	n     [512]uint16
	bytes [512][MaxPacketSize]byte
}

func (o *oneLock) Store(seq uint16, p []byte) bool {
	o.mu.Lock()
	i := seq & 511
	o.seq[i], o.n[i] = seq, uint16(copy(o.bytes[i][:], p))
	o.mu.Unlock()
	return true
}

func (o *oneLock) Get(seq uint16, dst []byte) (int, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := seq & 511
	if o.n[i] == 0 || o.seq[i] != seq {
		return 0, false
	}
	return copy(dst, o.bytes[i][:o.n[i]]), true
}

// BenchmarkGetParallel fetches from GOMAXPROCS goroutines, with no
// writer and with one storing about 20,000 packets a second (a busy
// source), as NACK handlers do while the reader runs.
func BenchmarkGetParallel(b *testing.B) {
	for _, bc := range []struct {
		name   string
		g      func() getter
		writer bool
	}{
		{"slotlock", func() getter { c, _ := New(512); return c }, false},
		{"onelock", func() getter { return &oneLock{} }, false},
		{"slotlock-writer", func() getter { c, _ := New(512); return c }, true},
		{"onelock-writer", func() getter { return &oneLock{} }, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := bc.g()
			for i := range 512 {
				g.Store(uint16(i), packet(uint16(i), 1200))
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if bc.writer {
				wg.Add(1)
				go func() {
					defer wg.Done()
					pkt := packet(0, 1200)
					tick := time.NewTicker(50 * time.Microsecond)
					defer tick.Stop()
					// The same 512 numbers again and again, so
					// that every Get hits and copies.
					for seq := uint16(0); ; seq = (seq + 1) & 511 {
						select {
						case <-stop:
							return
						case <-tick.C:
						}
						g.Store(seq, pkt)
					}
				}()
			}
			b.ReportAllocs()
			b.SetBytes(1200)
			b.RunParallel(func(pb *testing.PB) {
				dst := make([]byte, MaxPacketSize)
				var seq uint16
				for pb.Next() {
					seq += 3
					if _, ok := g.Get(seq&511, dst); !ok {
						b.Error("miss")
						return
					}
				}
			})
			b.StopTimer()
			close(stop)
			wg.Wait()
		})
	}
}
