package ianua

import (
	"runtime"
	"sync"
)

// fanout spreads one packet's writes over worker goroutines when a source
// has many subscribers: with hundreds of them, one goroutine encrypting and
// sending for all would be the bottleneck (pion's TrackLocalStaticRTP does
// that; LiveKit spreads above 20 down tracks).
//
// A fanout belongs to one reading goroutine, which alone calls run and, when
// it stops reading, close; the workers start on first need. Each packet is a
// barrier: the reader hands out chunks, writes one itself and waits for the
// rest, so its buffer may be reused for the next read and each subscription
// sees its packets in order.
type fanout struct {
	workers int
	jobs    chan fanJob
	quit    chan struct{}
	wg      sync.WaitGroup
	barrier sync.WaitGroup
}

type fanJob struct {
	subs []*Subscription
	p    *outPacket
}

func (f *fanout) start() {
	f.workers = min(max(runtime.GOMAXPROCS(0)-1, 1), 4)
	f.jobs = make(chan fanJob, f.workers)
	f.quit = make(chan struct{})
	for range f.workers {
		f.wg.Add(1)
		go f.work()
	}
}

func (f *fanout) work() {
	defer f.wg.Done()
	for {
		select {
		case <-f.quit:
			return
		case j := <-f.jobs:
			for _, s := range j.subs {
				s.writeRTP(j.p)
			}
			f.barrier.Done()
		}
	}
}

// run writes p to every subscription, in parallel chunks.
func (f *fanout) run(subs []*Subscription, p *outPacket) {
	if f.jobs == nil {
		f.start()
	}
	chunk := (len(subs) + f.workers) / (f.workers + 1)
	for lo := chunk; lo < len(subs); lo += chunk {
		f.barrier.Add(1)
		f.jobs <- fanJob{subs: subs[lo:min(lo+chunk, len(subs))], p: p}
	}
	for _, s := range subs[:chunk] {
		s.writeRTP(p)
	}
	f.barrier.Wait()
}

// close stops the workers, if any, and waits for them.
func (f *fanout) close() {
	if f.quit == nil {
		return
	}
	close(f.quit)
	f.wg.Wait()
}
