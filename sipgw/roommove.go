package sipgw

import (
	"context"

	"github.com/ianua/ianua"
)

// RoomJoin moves the handle's established call into a room (join_room):
// Room and PIN as in RoomDial, Display the peer's name in the room (its
// user part when empty).
type RoomJoin struct {
	Room    uint64
	PIN     string
	Display string
}

// JoinRoom moves the handle's established call into a room of the
// router's video-room plugin, as {"request":"join_room"} does: the SIP
// peer becomes a remote publisher of the room and hears its active
// speaker, the browser's PeerConnection is hung up, and the SIP dialog
// goes on untouched (same RTP ports, keys and codec; no re-INVITE). The
// call's codec must be one of the room's. Its event is "room_joined";
// afterwards the handle is in a room call (hangup ends it).
func (a *Agent) JoinRoom(transaction string, j RoomJoin) error {
	if err := safeText("display", j.Display); err != nil {
		return err
	}
	c, err := a.inCall()
	if err != nil {
		return err
	}
	c.mu.Lock()
	busy := c.reinviting || c.updating || c.relay != nil || c.inviteOut || c.inviteIn != nil
	held, neg, moved := c.holdDir != dirSendRecv || c.browserDir != dirSendRecv, c.neg, c.moved != nil
	local, remoteKey := c.local, c.remoteKey
	dlg, target := c.dlg, c.target
	c.mu.Unlock()
	switch {
	case moved:
		return perr(ErrorWrongState, ErrCallState, "Wrong state (moving into a room already)")
	case busy:
		return perr(ErrorWrongState, ErrCallState, "Wrong state (the call is being renegotiated)")
	case held:
		return perr(ErrorWrongState, ErrCallState, "Wrong state (the call is on hold)")
	}
	rdlg, ok := dlg.(roomDialog)
	if !ok {
		return perr(ErrorWrongState, ErrCallState, "Wrong state (no dialog)")
	}
	room, params, err := a.roomFor(j.Room, j.PIN)
	if err != nil {
		return err
	}
	if n, ok := roomCodec(mediaDesc{Codecs: neg.codecs()}, params.AudioCodec); !ok || !n.Media.same(neg.Media) {
		return perr(ErrorMissingSDP, ErrMissingSDP, "The call's codec (%s) is not one of room %d's (%s)", neg.Media.Name, j.Room, params.AudioCodec)
	}
	display := j.Display
	if display == "" {
		display = c.peer
		if u, err := parseURI("uri", c.peer); err == nil && u.User != "" {
			display = u.User
		}
	}
	local.Video = nil
	local.Codecs = neg.codecs()
	rc := &roomCall{p: a.p, id: c.id, localTag: c.localTag, caller: c.peer, display: display, room: room, neg: neg,
		media: c.media, dlg: rdlg, target: target, tp: c.tp, conn: c.conn, user: c.acct.uri.User,
		interval: a.p.rooms.switchInterval(), wake: make(chan struct{}, 1), local: local, remoteKey: remoteKey,
		a: a, acct: c.acct, transaction: transaction, inCall: true, finished: make(chan struct{})}
	rc.w.m = c.media
	rc.ctx, rc.cancel = context.WithCancel(a.p.ctx)
	if err := rc.join(a.h.Router(), params); err != nil {
		rc.cancel()
		return perr(ErrorUnknown, err, "Could not join room %d: %v", j.Room, err)
	}
	if !a.p.track() {
		rc.cancel()
		_ = room.RemoveRemotePublisher(rc.pid)
		return perr(ErrorSIPStack, ErrClosed, "Plugin closed")
	}
	// The dialog's requests go to the room call from now on; then the
	// call ends, without a BYE and with its sockets open.
	a.p.rooms.add(rc)
	a.p.dropCall(c)
	c.mu.Lock()
	ended := c.ended
	if !ended {
		c.moved = rc
		c.ended, c.code, c.reason = true, 200, "Moved to room"
	}
	c.mu.Unlock()
	if ended {
		// It ended meanwhile (a BYE): nothing to move.
		a.p.wg.Done()
		a.p.rooms.drop(rc)
		rc.cancel()
		_ = room.RemoveRemotePublisher(rc.pid)
		return perr(ErrorWrongState, ErrCallState, "Wrong state (the call ended)")
	}
	a.mu.Lock()
	a.room = rc
	a.mu.Unlock()
	c.cancel()
	go func() {
		defer a.p.wg.Done()
		// The call's owner is done with the leg: the browser's
		// PeerConnection hung up, its readers stopped.
		<-c.finished
		rc.media.stopReaders()
		rc.media.send.Store(true)
		rc.media.recv.Store(true)
		rc.run()
		a.log.Info("sipgw: call moved into the room", "call", rc.id, "room", room.ID(), "id", rc.pid, "codec", neg.Media.Name)
		rc.push(map[string]any{"event": "room_joined", "room": room.ID(), "id": rc.pid, "codec": neg.Media.Name, "username": rc.caller})
		rc.stay()
		rc.hungUp(200, "BYE")
	}()
	return nil
}

// joinRoom handles {"request":"join_room","room":...}.
func (a *Agent) joinRoom(msg ianua.Message, req Request) error {
	if msg.JSEP != nil {
		return perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (join_room takes no JSEP)")
	}
	if req.Room == nil {
		return perr(ErrorMissingElement, ErrMissingElement, "Missing element (room)")
	}
	return a.JoinRoom(msg.Transaction, RoomJoin{Room: *req.Room, PIN: req.PIN, Display: req.Display})
}
