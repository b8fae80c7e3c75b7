package sfu

import (
	"github.com/ianua/ianua"
)

// DataEvent is a data channel message of a local publisher, as its
// subscribers get it (a cluster node relays it to the subscribers of the
// other nodes).
type DataEvent struct {
	Room        *Room
	Participant *Participant
	Data        []byte
	IsString    bool
}

// AddDataObserver adds f to the observers of local publishers' data
// channel messages; the returned function removes it. f is called on the
// publisher's data channel goroutine, without the plugin's locks, must not
// block, and must not keep Data after it returns.
func (p *Plugin) AddDataObserver(f func(DataEvent)) (remove func()) {
	return p.dataObs.add(f)
}

// SendRemoteData sends a data channel message of a remote publisher (one
// its own node relayed) to the subscribers of its data stream here.
func (r *Room) SendRemoteData(feed uint64, data []byte, isString bool) error {
	pt, ok := r.Participant(feed)
	if !ok || !pt.remote {
		return perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such remote publisher %d", feed)
	}
	pt.mu.Lock()
	hasData := false
	for _, s := range pt.streams {
		hasData = hasData || s.kind == "data"
	}
	pt.mu.Unlock()
	if !hasData {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Remote publisher %d has no data stream", feed)
	}
	pt.relayData(ianua.DataMessage{Data: data, IsString: isString})
	return nil
}

func (p *Plugin) notifyData(e DataEvent) { p.dataObs.notify(e) }
