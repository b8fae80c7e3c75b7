// Package cluster lets sfu rooms span several ianua nodes. Nodes meet over
// NATS (https://nats.io): each announces itself and its load, the
// publishers it hosts are kept in a JetStream key-value bucket that every
// node watches, and a subscriber on one node of a feed published on
// another gets it through a media relay between the two nodes — once per
// (stream, node), however many subscribers the second node has.
//
// # What a node does
//
// Join(Params) connects a node: it claims its id in the "nodes" bucket
// (refused while another live node holds it), heartbeats there every
// Params.Heartbeat, and watches the buckets. Every local participant of
// the sfu plugin (joined as a publisher) is put in the "feeds" bucket
// ("<room>.<feed>": node, display, and while it publishes its streams with
// their codecs) and deleted when it leaves. Another node's participant
// becomes a remote publisher of the same room here
// (sfu.Room.AddRemotePublisher, UpdateRemotePublisher): Janus clients on
// this node get "joining" (in rooms that notify joins), "publishers",
// "unpublished" and "leaving" as it comes, publishes, stops and goes, see
// it in listparticipants, and subscribe to it, as for a local one.
//
// # Rooms
//
// Rooms created, edited or destroyed at run time on any node — a Janus
// "create", "edit" or "destroy" request, or sfu.Plugin's CreateRoom,
// EditRoom and DestroyRoom — are kept in the "rooms" bucket
// ("<room>": its sfu.RoomParams, secret and PIN included: NATS is the
// deployment's trusted control channel), and every node, including one
// that joins later, applies them to its own plugin: a room made on one
// node can be joined on all, and destroying it on one destroys it
// everywhere (participants get "destroyed"). The rooms of the plugin's
// configuration (sfu.Params.Rooms) are expected on every node and are not
// announced, though their edits and destruction are. Two nodes creating
// the same room at once both succeed locally; the last entry written
// wins, and the other node takes its editable settings. A feed of a room
// this node does not have waits until the room is created here.
//
// # Media relay: SRTP over UDP, asked for over NATS
//
// Each remote stream has a source here, fed from a UDP socket of its own
// (Params.RelayIP). While it has subscribers, this node asks the
// publisher's node over NATS to forward the stream there: an
// ianua.RTPForwarder (the same as VideoRoom's rtp_forward), SRTP with a
// fresh random key and SSRC sent in the request, so a packet that does
// not come from that forwarder (another node, a stray sender) fails
// authentication and is dropped. A grace period after the last subscriber
// leaves, the relay is stopped. NACKs of the subscribers here are
// answered from this node's packet cache; keyframe requests go to the
// publisher's node over NATS (its source throttles them). A simulcast
// stream is relayed layer by layer — three relays, each with its own
// socket and key, into the three layers of one source here — so that
// each subscriber here gets the layer it asks for or its bandwidth
// allows, as from a local publisher; all three run while the stream has
// subscribers here, whichever layers they take.
//
// SRTP over UDP rather than a PeerConnection between nodes: node
// addresses are known and reachable inside a deployment, so ICE and a
// DTLS handshake per relay would add setup time and per-packet work
// without use; NATS already carries an authenticated (and, with TLS,
// private) control channel for the keys. A loss on the hop is repaired
// as a NACK would (RFC 4585): the receiving node finds the gap in the
// relay's sequence numbers and asks over NATS for the missing packets (up
// to 64 at once), which the sending node's forwarder sends again from its
// source's packet cache (RelayStats: NACKed, Resent).
//
// # Failure
//
// A node whose heartbeat has not been seen for Params.DeadAfter, and that
// does not answer a direct ping over NATS either, is dead:
// every other node removes its remote publishers (subscribers get
// "unpublished"), stops the relays towards it, and deletes its entries.
// While this node itself cannot reach NATS it declares no one dead, and
// when it can again it puts its own entries back (a NATS server restarted
// without persistence loses the buckets; the nodes rebuild them).
//
// For large broadcasts Params.FanOut bounds the relays of a stream each
// node sends: the publisher's node relays to FanOut nodes ("relays"),
// which relay to the next ones ("edges"), FanOut each; nodes announce,
// with their heartbeat, where they are in each stream's tree, and a node
// that needs a stream picks the origin while it has room, then the relay
// node with the most room. The tree has two levels so that it cannot
// loop; when it is full the origin takes the overflow, and when a relay
// node dies the edges it served pick another.
//
// With each heartbeat a node announces its load (NodeInfo): sessions,
// PeerConnections, publishers, relays, its process's CPU use and the
// packets it sent per second, and with Params.Capacity the sessions it
// still takes. Place helps a host's front door choose a node for a new
// participant from it: a full node is passed over, a small room stays on
// the node that has most of it, anything else goes to the least loaded
// node.
//
// # Talking
//
// The relays do not carry the audio levels (RFC 6464): the publisher's
// node detects talking, and its talking and stopped-talking changes go to
// the other nodes over NATS ("<prefix>.talking"), where the remote
// publisher's participants get the same events (sfu.Room.SetRemoteTalking).
// The active speaker of a node counts a remote publisher at its talking
// level while it talks, silent otherwise.
//
// A publisher's data channel messages go to the other nodes over NATS
// ("<prefix>.data"), where the subscribers of its data stream get them:
// they are few and small next to media, and NATS already links every
// node.
//
// Not yet: the room's publisher limit is checked by each node on its own
// view (two joins at once on two nodes may both pass the last place).
package cluster
