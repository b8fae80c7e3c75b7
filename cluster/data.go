package cluster

import (
	"encoding/json"

	"github.com/nats-io/nats.go"

	"github.com/ianua/ianua/sfu"
)

// dataMsg carries a local publisher's data channel message to the other
// nodes, on subject "<prefix>.data": data channel messages are few and
// small next to media, and NATS already links every node, so they take
// that way rather than a relay of their own. Each node hands it to the
// subscribers of the publisher's data stream it has.
type dataMsg struct {
	From     string `json:"from"`
	Room     uint64 `json:"room"`
	Feed     uint64 `json:"feed"`
	Data     []byte `json:"data"`
	IsString bool   `json:"string,omitempty"`
}

func (n *Node) dataSubject() string { return n.p.Prefix + ".data" }

// onData is the sfu data observer (on the publisher's data channel
// goroutine): the message goes out from the worker, in order.
func (n *Node) onData(e sfu.DataEvent) {
	m := dataMsg{From: n.p.ID, Room: e.Room.ID(), Feed: e.Participant.ID(), Data: append([]byte(nil), e.Data...), IsString: e.IsString}
	n.queue(func() {
		b, _ := json.Marshal(m)
		if err := n.p.Conn.Publish(n.dataSubject(), b); err != nil {
			n.log.Debug("cluster: data message not relayed", "feed", feedKey(m.Room, m.Feed), "err", err)
		}
	})
}

// onDataMsg gives another node's publisher's message to its subscribers
// here (on the NATS subscription's goroutine).
func (n *Node) onDataMsg(msg *nats.Msg) {
	var m dataMsg
	if err := json.Unmarshal(msg.Data, &m); err != nil || !validID.MatchString(m.From) {
		n.log.Warn("cluster: malformed data message, dropped", "err", err)
		return
	}
	f := n.feedFrom(m.From, m.Room, m.Feed)
	if f == nil {
		return
	}
	if err := f.room.SendRemoteData(m.Feed, m.Data, m.IsString); err != nil {
		n.log.Debug("cluster: data message", "feed", feedKey(m.Room, m.Feed), "err", err)
	}
}
