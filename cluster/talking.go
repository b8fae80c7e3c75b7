package cluster

import (
	"encoding/json"

	"github.com/nats-io/nats.go"

	"github.com/ianua/ianua/sfu"
)

// talkingMsg carries a local publisher's talking change to the other
// nodes, on subject "<prefix>.talking": the publisher's node has the
// audio levels (RFC 6464), the relays do not carry them, so the other
// nodes take its word.
type talkingMsg struct {
	From    string `json:"from"`
	Room    uint64 `json:"room"`
	Feed    uint64 `json:"feed"`
	MID     string `json:"mid"`
	Talking bool   `json:"talking"`
	Level   int    `json:"level"`
}

func (n *Node) talkingSubject() string { return n.p.Prefix + ".talking" }

// onTalking is the sfu talking observer (on a source's reading
// goroutine): the message goes out from the worker.
func (n *Node) onTalking(e sfu.TalkingEvent) {
	m := talkingMsg{From: n.p.ID, Room: e.Room.ID(), Feed: e.Participant.ID(), MID: e.MID, Talking: e.Talking, Level: e.Level}
	n.queue(func() {
		b, _ := json.Marshal(m)
		_ = n.p.Conn.Publish(n.talkingSubject(), b)
	})
}

// onTalkingMsg applies another node's talking change to its remote
// publisher here (on the NATS subscription's goroutine).
func (n *Node) onTalkingMsg(msg *nats.Msg) {
	var m talkingMsg
	if err := json.Unmarshal(msg.Data, &m); err != nil || !validID.MatchString(m.From) {
		n.log.Warn("cluster: malformed talking message, dropped", "err", err)
		return
	}
	f := n.feedFrom(m.From, m.Room, m.Feed)
	if f == nil {
		return
	}
	if err := f.room.SetRemoteTalking(m.Feed, m.MID, m.Talking, m.Level); err != nil {
		n.log.Debug("cluster: talking", "feed", feedKey(m.Room, m.Feed), "err", err)
	}
}

// feedFrom returns the remote feed a message from another node is about,
// nil if this node does not have it or it is not that node's (a message
// of ours, or a forgery).
func (n *Node) feedFrom(from string, room, feed uint64) *remoteFeed {
	if from == n.p.ID {
		return nil
	}
	n.mu.Lock()
	f := n.remote[feedKey(room, feed)]
	n.mu.Unlock()
	if f == nil || f.info.Node != from {
		return nil
	}
	return f
}
