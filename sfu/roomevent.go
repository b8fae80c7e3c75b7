package sfu

// RoomEvent tells a host (a cluster node, say) that a room was created,
// edited or destroyed after the plugin started, by a request or by the Go
// API. Params are the room's settings after the change (defaults filled
// in); for a destroyed room, its last settings.
type RoomEvent struct {
	Params    RoomParams
	Destroyed bool
}

// AddRoomObserver adds f to the observers of room changes; the returned
// function removes it. f is called without the plugin's locks, on the
// goroutine that made the change, and must not block. The rooms of
// Params.Rooms are created before any observer is added, so they are not
// told.
func (p *Plugin) AddRoomObserver(f func(RoomEvent)) (remove func()) {
	return p.roomObs.add(f)
}

// RoomEdit is what EditRoom changes; nil fields stay as they are. These are
// the settings Janus VideoRoom's "edit" request changes.
type RoomEdit struct {
	Description  *string
	Secret       *string
	PIN          *string
	IsPrivate    *bool
	RequirePvtID *bool
	Bitrate      *uint32
	// Publishers is ignored unless positive.
	Publishers *int
}

// EditRoom changes a room's settings. Participants in the room keep what
// they have: a new bitrate cap applies to the next REMB, a new PIN or
// secret to the next request that needs one.
func (p *Plugin) EditRoom(id uint64, e RoomEdit) error {
	r, err := p.Room(id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&r.params.Description, e.Description)
	set(&r.params.Secret, e.Secret)
	set(&r.params.PIN, e.PIN)
	if e.IsPrivate != nil {
		r.params.IsPrivate = *e.IsPrivate
	}
	if e.RequirePvtID != nil {
		r.params.RequirePvtID = *e.RequirePvtID
	}
	if e.Bitrate != nil {
		r.params.Bitrate = *e.Bitrate
	}
	if e.Publishers != nil && *e.Publishers > 0 {
		r.params.Publishers = *e.Publishers
	}
	params := r.params
	r.mu.Unlock()
	p.roomObs.notify(RoomEvent{Params: params})
	return nil
}
