package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ianua/ianua/sfu"
)

// Rooms created, edited or destroyed at run time on any node (a "create"
// request, sfu.Plugin.CreateRoom…) are kept in the "rooms" bucket, one
// entry per room ("<room>": its sfu.RoomParams), and every node applies
// them to its own sfu plugin, so that a room made on one node can be
// joined on all. Rooms of the plugin's configuration are expected on every
// node and are not announced, but their edits and their destruction are.

// onRoom is the sfu room observer: a change made here goes to the bucket,
// unless it is this node applying the bucket.
func (n *Node) onRoom(e sfu.RoomEvent) {
	id := e.Params.ID
	n.mu.Lock()
	echo := n.applying[id]
	if !echo {
		if e.Destroyed {
			delete(n.rooms, id)
		} else {
			n.rooms[id] = e.Params
		}
	}
	n.mu.Unlock()
	if !e.Destroyed {
		// Feeds of this room that arrived before it can be added now.
		n.queue(func() { n.retryPending(id) })
	}
	if echo {
		return
	}
	key := strconv.FormatUint(id, 10)
	n.queue(func() {
		n.mu.Lock()
		kv := n.roomsKV
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(n.ctx, 2*time.Second)
		defer cancel()
		var err error
		if e.Destroyed {
			err = kv.Delete(ctx, key)
		} else {
			b, _ := json.Marshal(e.Params)
			_, err = kv.Put(ctx, key, b)
		}
		if err != nil && n.ctx.Err() == nil {
			n.log.Warn("cluster: announce room", "room", id, "destroyed", e.Destroyed, "err", err)
		}
	})
}

// applyRoom follows the rooms bucket: another node's room is created,
// edited or destroyed here.
func (n *Node) applyRoom(e jetstream.KeyValueEntry) {
	id, err := strconv.ParseUint(e.Key(), 10, 64)
	if err != nil || id == 0 {
		n.log.Warn("cluster: malformed room key, ignored", "key", e.Key())
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		n.withApplying(id, func() {
			n.mu.Lock()
			delete(n.rooms, id)
			n.mu.Unlock()
			if err := n.p.SFU.DestroyRoom(id); err == nil {
				n.log.Info("cluster: room destroyed on another node, destroyed here", "room", id)
			}
		})
		return
	}
	var rp sfu.RoomParams
	if err := json.Unmarshal(e.Value(), &rp); err != nil || rp.ID != id {
		n.log.Warn("cluster: malformed room entry, ignored", "room", e.Key(), "err", err)
		return
	}
	n.mu.Lock()
	n.rooms[id] = rp
	n.mu.Unlock()
	n.withApplying(id, func() {
		r, err := n.p.SFU.Room(id)
		if err != nil {
			if _, err := n.p.SFU.CreateRoom(rp); err != nil {
				n.log.Warn("cluster: room of another node", "room", id, "err", err)
			}
			return
		}
		if r.Params() == rp {
			return
		}
		err = n.p.SFU.EditRoom(id, sfu.RoomEdit{Description: &rp.Description, Secret: &rp.Secret, PIN: &rp.PIN,
			IsPrivate: &rp.IsPrivate, RequirePvtID: &rp.RequirePvtID, Bitrate: &rp.Bitrate, Publishers: &rp.Publishers})
		if err != nil {
			n.log.Warn("cluster: room edited on another node", "room", id, "err", err)
		}
	})
}

// withApplying runs f with the room marked as being applied from the
// bucket, so that the observer does not announce it back.
func (n *Node) withApplying(id uint64, f func()) {
	n.mu.Lock()
	n.applying[id] = true
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.applying, id)
		n.mu.Unlock()
	}()
	f()
}

// retryPending adds the remote feeds that waited for a room.
func (n *Node) retryPending(room uint64) {
	n.mu.Lock()
	var keys []string
	var infos []FeedInfo
	for k, info := range n.pending {
		if info.Room == room {
			keys = append(keys, k)
			infos = append(infos, info)
			delete(n.pending, k)
		}
	}
	n.mu.Unlock()
	for i, k := range keys {
		n.addRemote(k, infos[i])
	}
}

// putRooms puts the rooms this node knows back in the bucket (after a
// NATS restart that lost it).
func (n *Node) putRooms(ctx context.Context) error {
	n.mu.Lock()
	rooms := make([]sfu.RoomParams, 0, len(n.rooms))
	for _, rp := range n.rooms {
		rooms = append(rooms, rp)
	}
	kv := n.roomsKV
	n.mu.Unlock()
	var errs []error
	for _, rp := range rooms {
		b, _ := json.Marshal(rp)
		if _, err := kv.Put(ctx, strconv.FormatUint(rp.ID, 10), b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
