package sfu

import (
	"slices"
	"sync"
)

// observers is a list of a host's callbacks for one kind of event. The
// list is copy-on-write: notify takes a snapshot under the lock and calls
// without it, so a callback may add or remove observers.
type observers[E any] struct {
	mu   sync.Mutex
	list []*func(E)
}

// add appends f; the returned function removes it.
func (o *observers[E]) add(f func(E)) (remove func()) {
	fp := &f
	o.mu.Lock()
	o.list = append(slices.Clone(o.list), fp)
	o.mu.Unlock()
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.list = slices.DeleteFunc(slices.Clone(o.list), func(x *func(E)) bool { return x == fp })
	}
}

// notify calls every observer with e, without the lock.
func (o *observers[E]) notify(e E) {
	o.mu.Lock()
	list := o.list
	o.mu.Unlock()
	for _, f := range list {
		(*f)(e)
	}
}
