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
// heartbeat.
func (n *Node) Place(p PlaceParams) NodeInfo {
	if p.SmallRoom <= 0 {
		p.SmallRoom = DefaultSmallRoom
	}
	nodes := n.Nodes()
	// Stable choice among equals: by id.
	slices.SortFunc(nodes, func(a, b NodeInfo) int { return cmp.Compare(a.ID, b.ID) })
	total := 0
	for _, x := range nodes {
		total += x.Rooms[p.Room]
	}
	if total > 0 && total < p.SmallRoom {
		return slices.MaxFunc(nodes, func(a, b NodeInfo) int {
			return cmp.Or(cmp.Compare(a.Rooms[p.Room], b.Rooms[p.Room]), cmp.Compare(b.Sessions, a.Sessions))
		})
	}
	return slices.MinFunc(nodes, func(a, b NodeInfo) int { return cmp.Compare(a.Sessions, b.Sessions) })
}
