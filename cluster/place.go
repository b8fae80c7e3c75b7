package cluster

import (
	"cmp"
	"slices"
)

// DefaultSmallRoom is PlaceParams.SmallRoom's default.
const DefaultSmallRoom = 10

// PlaceParams describe who needs a node.
type PlaceParams struct {
	// Room is the room the participant or viewer joins.
	Room uint64
	// SmallRoom: a room with fewer local participants than this over the
	// whole cluster stays on the node that has most of them (its
	// subscribers need no relay); a larger one, or an empty one, goes to
	// the least loaded node. Default DefaultSmallRoom.
	SmallRoom int
}

// Place picks a live node for a new participant or viewer, for a host's
// front door to redirect the client there (the host maps node ids to its
// own addresses). It uses the load every node announces with its
// heartbeat: a node with no room left (Params.Capacity) is passed over
// while another has some; a small room stays where most of it is; else
// the least loaded node wins — the least full by capacity, then the one
// using the least CPU (by tenths of a core: closer is noise), then the one
// with the fewest sessions.
func (n *Node) Place(p PlaceParams) NodeInfo {
	if p.SmallRoom <= 0 {
		p.SmallRoom = DefaultSmallRoom
	}
	nodes := n.Nodes()
	// Stable choice among equals: by id.
	slices.SortFunc(nodes, func(a, b NodeInfo) int { return cmp.Compare(a.ID, b.ID) })
	if open := slices.DeleteFunc(slices.Clone(nodes), func(x NodeInfo) bool { return x.Capacity > 0 && x.Free == 0 }); len(open) > 0 {
		nodes = open
	}
	total := 0
	for _, x := range nodes {
		total += x.Rooms[p.Room]
	}
	if total > 0 && total < p.SmallRoom {
		return slices.MaxFunc(nodes, func(a, b NodeInfo) int {
			return cmp.Or(cmp.Compare(a.Rooms[p.Room], b.Rooms[p.Room]), compareLoad(b, a))
		})
	}
	return slices.MinFunc(nodes, compareLoad)
}

// compareLoad orders nodes from the least loaded.
func compareLoad(a, b NodeInfo) int {
	full := func(x NodeInfo) float64 {
		if x.Capacity <= 0 {
			return 0
		}
		return float64(x.Sessions) / float64(x.Capacity)
	}
	tenths := func(x NodeInfo) int {
		if x.CPU < 0 {
			return 0 // not measured
		}
		return int(x.CPU * 10)
	}
	return cmp.Or(cmp.Compare(full(a), full(b)), cmp.Compare(tenths(a), tenths(b)), cmp.Compare(a.Sessions, b.Sessions))
}
