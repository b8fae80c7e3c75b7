package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/ianua/ianua/cluster"
)

// clusterStatus is what GET /api/cluster answers: which node serves the
// page, the live nodes with their load, and the publishers of the rooms
// here, local or relayed from another node.
type clusterStatus struct {
	Node  string             `json:"node"`
	Nodes []cluster.NodeInfo `json:"nodes"`
	Feeds []feedStatus       `json:"feeds"`
}

// feedStatus is one publisher of a room of this node.
type feedStatus struct {
	Room    uint64 `json:"room"`
	ID      uint64 `json:"id"`
	Display string `json:"display,omitempty"`
	// Remote: published on another node, relayed here.
	Remote bool `json:"remote"`
}

func (n *node) status() clusterStatus {
	s := clusterStatus{Node: n.id, Nodes: n.member.Nodes(), Feeds: []feedStatus{}}
	slices.SortFunc(s.Nodes, func(a, b cluster.NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	for _, r := range n.sfu.Rooms() {
		for _, pt := range r.Participants() {
			if pt.Publishing() {
				s.Feeds = append(s.Feeds, feedStatus{Room: r.ID(), ID: pt.ID(), Display: pt.Display(), Remote: pt.Remote()})
			}
		}
	}
	return s
}

func (n *node) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(n.status())
}
