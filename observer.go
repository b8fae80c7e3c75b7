package ianua

// Observer sees every event of a router (Janus: event handlers). Observe is
// called synchronously from the goroutine that produced the event, never
// with a lock held; it must return quickly.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe implements Observer.
func (f ObserverFunc) Observe(e Event) { f(e) }
