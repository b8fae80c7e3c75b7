package janusapi

import "sync"

// eventQueue holds a session's events for the HTTP long polls (or until a
// claim). It is bounded: a client that stops polling loses the oldest
// events rather than growing the server's memory.
type eventQueue struct {
	max int

	mu     sync.Mutex
	events [][]byte
	ready  chan struct{} // closed when events arrive or the queue closes
	closed bool
}

func newEventQueue(max int) *eventQueue {
	return &eventQueue{max: max, ready: make(chan struct{})}
}

// push appends an event, dropping the oldest beyond max. Never blocks.
func (q *eventQueue) push(b []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if len(q.events) >= q.max {
		q.events = q.events[1:]
	}
	q.events = append(q.events, b)
	q.wakeLocked()
}

func (q *eventQueue) wakeLocked() {
	close(q.ready)
	q.ready = make(chan struct{})
}

// take removes and returns up to n events (all with n <= 0).
func (q *eventQueue) take(n int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n <= 0 || n > len(q.events) {
		n = len(q.events)
	}
	out := q.events[:n:n]
	q.events = q.events[n:]
	if len(q.events) == 0 {
		q.events = nil
	}
	return out
}

// wait returns a channel closed when events may be there to take, and
// whether the queue is closed (its session is over).
func (q *eventQueue) wait() (<-chan struct{}, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.events) > 0 {
		c := make(chan struct{})
		close(c)
		return c, q.closed
	}
	return q.ready, q.closed
}

// close wakes the long polls for good; what is queued can still be taken.
func (q *eventQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.wakeLocked()
	}
}
