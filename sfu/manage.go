package sfu

import (
	"context"
	"encoding/json"

	"github.com/ianua/ianua"
)

// isManagement says whether a request manages rooms rather than a
// participant: answered synchronously, on any handle or none.
func isManagement(request string) bool {
	switch request {
	case "create", "edit", "destroy", "exists", "list", "listparticipants", "kick", "moderate",
		"rtp_forward", "stop_rtp_forward", "listforwarders":
		return true
	}
	return false
}

// HandleAdminMessage implements ianua.AdminHandler: the room management
// requests, as on a handle (Janus VideoRoom's handle_admin_message,
// reached with the Admin API's message_plugin). A room's admin_key and
// secret are still asked for where they are on a handle.
func (p *Plugin) HandleAdminMessage(_ context.Context, body json.RawMessage) (json.RawMessage, error) {
	req, err := parseRequest(body)
	if err != nil {
		return nil, err
	}
	if !isManagement(req.Request) {
		return nil, perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Unknown request '%s' (not a room management request)", req.Request)
	}
	data, err := p.manage(req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(data)
}

// manage answers the synchronous room requests.
func (p *Plugin) manage(req request) (map[string]any, error) {
	switch req.Request {
	case "create":
		if p.params.AdminKey != "" && req.AdminKey != p.params.AdminKey {
			return nil, perr(ErrorUnauthorized, ErrUnauthorized, "Unauthorized (wrong admin_key)")
		}
		rp := req.RoomParams
		if req.Room != nil {
			rp.ID = *req.Room
		}
		rp.Description, rp.Secret, rp.PIN = req.Description, req.Secret, req.PIN
		for _, list := range []string{rp.AudioCodec, rp.VideoCodec} {
			for _, c := range codecList(list) {
				if !knownCodec(c) {
					return nil, perr(ErrorInvalidElement, ianua.ErrInvalidElement, "Invalid element (codec %q)", c)
				}
			}
		}
		r, err := p.CreateRoom(rp)
		if err != nil {
			return nil, err
		}
		return map[string]any{"videoroom": "created", "room": r.ID(), "permanent": false}, nil
	case "list":
		var list []any
		for _, r := range p.Rooms() {
			if r.Params().IsPrivate && (p.params.AdminKey == "" || req.AdminKey != p.params.AdminKey) {
				continue
			}
			list = append(list, r.info())
		}
		if list == nil {
			list = []any{}
		}
		return map[string]any{"videoroom": "success", "list": list}, nil
	}

	id, err := req.room()
	if err != nil {
		return nil, err
	}
	if req.Request == "exists" {
		_, err := p.Room(id)
		return map[string]any{"videoroom": "success", "room": id, "exists": err == nil}, nil
	}
	r, err := p.Room(id)
	if err != nil {
		return nil, err
	}
	switch req.Request {
	case "listparticipants":
		var parts []any
		for _, pt := range r.Participants() {
			info := map[string]any{"id": pt.id, "publisher": pt.isActive(), "talking": pt.info()["talking"]}
			if d := pt.Display(); d != "" {
				info["display"] = d
			}
			parts = append(parts, info)
		}
		if parts == nil {
			parts = []any{}
		}
		return map[string]any{"videoroom": "participants", "room": id, "participants": parts}, nil
	}
	if err := r.checkSecret(req.Secret); err != nil {
		return nil, err
	}
	switch req.Request {
	case "edit":
		err := p.EditRoom(id, RoomEdit{Description: req.NewDescription, Secret: req.NewSecret, PIN: req.NewPIN,
			IsPrivate: req.NewIsPrivate, RequirePvtID: req.NewRequirePvt, Bitrate: req.NewBitrate, Publishers: req.NewPublishers})
		if err != nil {
			return nil, err
		}
		return map[string]any{"videoroom": "edited", "room": id}, nil
	case "destroy":
		if err := p.DestroyRoom(id); err != nil {
			return nil, err
		}
		return map[string]any{"videoroom": "destroyed", "room": id}, nil
	case "kick":
		if req.ID == nil {
			return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (id)")
		}
		if err := p.Kick(id, *req.ID); err != nil {
			return nil, err
		}
		return map[string]any{"videoroom": "success"}, nil
	case "rtp_forward":
		return p.rtpForward(r, req)
	case "stop_rtp_forward":
		if req.PublisherID == nil || req.StreamID == nil {
			return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (publisher_id, stream_id)")
		}
		if !r.stopForwarder(*req.PublisherID, *req.StreamID) {
			return nil, perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such stream (%d)", *req.StreamID)
		}
		return map[string]any{"videoroom": "stop_rtp_forward", "room": id, "publisher_id": *req.PublisherID, "stream_id": *req.StreamID}, nil
	case "listforwarders":
		return map[string]any{"videoroom": "forwarders", "room": id, "publishers": r.listForwarders()}, nil
	case "moderate":
		if req.ID == nil || req.MID == "" || req.Mute == nil {
			return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (id, mid, mute)")
		}
		if err := p.Moderate(id, *req.ID, req.MID, *req.Mute); err != nil {
			return nil, err
		}
		return map[string]any{"videoroom": "success"}, nil
	}
	return nil, perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Unknown request '%s'", req.Request)
}

func knownCodec(c string) bool {
	switch c {
	case "opus", "pcmu", "pcma", "g722", "vp8", "vp9", "h264", "av1", "h265":
		return true
	}
	return false
}

// Kick removes a participant from a room: everyone is told ("kicked") and
// its PeerConnection is closed.
func (p *Plugin) Kick(roomID, participant uint64) error {
	r, err := p.Room(roomID)
	if err != nil {
		return err
	}
	pt, ok := r.Participant(participant)
	if !ok {
		return perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such user %d in room %d", participant, roomID)
	}
	if pt.remote {
		return perr(ErrorInvalidElement, ErrNoSuchFeed, "User %d is a remote publisher: kick it on its own node", participant)
	}
	ev := map[string]any{"videoroom": "event", "room": roomID, "kicked": participant}
	_ = pt.h.PushEvent("", ev, nil)
	wasActive := pt.isActive()
	pt.leave("kicked", false)
	if wasActive {
		r.notify(map[string]any{"videoroom": "event", "room": roomID, "unpublished": participant}, pt)
	}
	r.notify(ev, pt)
	return nil
}

// Moderate mutes or unmutes one stream of a participant.
func (p *Plugin) Moderate(roomID, participant uint64, mid string, mute bool) error {
	r, err := p.Room(roomID)
	if err != nil {
		return err
	}
	pt, ok := r.Participant(participant)
	if !ok {
		return perr(ErrorNoSuchFeed, ErrNoSuchFeed, "No such user %d in room %d", participant, roomID)
	}
	return pt.moderate(mid, mute)
}

// hasPrivateID says whether a participant of the room has this private id.
func (r *Room) hasPrivateID(id uint64) bool {
	if id == 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.participants {
		if p.privateID == id {
			return true
		}
	}
	return false
}
