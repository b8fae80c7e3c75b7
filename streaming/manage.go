package streaming

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ianua/ianua"
)

// isManagement says whether a request manages mountpoints rather than a
// viewer: answered synchronously, on any handle or none.
func isManagement(request string) bool {
	switch request {
	case "list", "info", "create", "destroy":
		return true
	}
	return false
}

// HandleAdminMessage implements ianua.AdminHandler: the mountpoint
// management requests, as on a handle (Janus Streaming's
// handle_admin_message, reached with the Admin API's message_plugin). A
// mountpoint's secret and the plugin's admin_key are still asked for
// where they are on a handle.
func (p *Plugin) HandleAdminMessage(_ context.Context, body json.RawMessage) (json.RawMessage, error) {
	req, err := parseRequest(body)
	if err != nil {
		return nil, err
	}
	if !isManagement(req.Request) {
		return nil, perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Unknown request '%s' (not a mountpoint management request)", req.Request)
	}
	data, err := p.manage(req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(data)
}

// manage answers the synchronous requests.
func (p *Plugin) manage(req request) (map[string]any, error) {
	switch req.Request {
	case "list":
		list := []any{}
		for _, m := range p.Mountpoints() {
			if m.params.IsPrivate {
				continue
			}
			list = append(list, m.info())
		}
		return map[string]any{"streaming": "list", "list": list}, nil
	case "create":
		if p.params.AdminKey != "" && req.AdminKey != p.params.AdminKey {
			return nil, perr(ErrorUnauthorized, ErrUnauthorized, "Unauthorized (wrong admin_key)")
		}
		mp := MountpointParams{Description: req.Desc, Secret: req.Secret, PIN: req.PIN, IsPrivate: req.IsPrivate, Media: req.Media,
			SRTPSuite: req.SRTPSuite, SRTPCrypto: req.SRTPCrypto, Type: req.Type,
			URL: req.URL, RTSPUser: req.RTSPUser, RTSPPassword: req.RTSPPassword, RTSPTransport: req.RTSPTransport,
			RTSPReconnectDelay: time.Duration(req.RTSPReconnectDelay) * time.Second}
		if req.ID != nil {
			mp.ID = *req.ID
		}
		if len(mp.Media) == 0 {
			if req.Audio {
				mp.Media = append(mp.Media, MediaParams{Type: "audio", MID: "a", Port: req.AudioPort, PT: req.AudioPT, Rtpmap: req.AudioCodec, Codec: req.AudioCodecName})
			}
			if req.Video {
				mp.Media = append(mp.Media, MediaParams{Type: "video", MID: "v", Port: req.VideoPort, PT: req.VideoPT, Rtpmap: req.VideoCodec, Codec: req.VideoCodecName, Fmtp: req.VideoFmtp,
					Simulcast: req.VideoSimulcast, Port2: req.VideoPort2, Port3: req.VideoPort3, BufferKeyframe: req.VideoBufferKF})
			}
			if req.Data {
				mp.Media = append(mp.Media, MediaParams{Type: "data", MID: "d", Port: req.DataPort, DataType: req.DataType, BufferMsg: req.DataBufferMsg})
			}
		}
		m, err := p.CreateMountpoint(mp)
		if err != nil {
			return nil, err
		}
		return map[string]any{"streaming": "created", "created": m.params.Description, "permanent": false, "stream": m.info()}, nil
	}
	if req.ID == nil {
		return nil, perr(ErrorMissingElement, ianua.ErrMalformedBody, "Missing element (id)")
	}
	m, err := p.Mountpoint(*req.ID)
	if err != nil {
		return nil, err
	}
	switch req.Request {
	case "info":
		return map[string]any{"streaming": "info", "info": m.info()}, nil
	case "destroy":
		if m.params.Secret != "" && m.params.Secret != req.Secret {
			return nil, perr(ErrorUnauthorized, ErrUnauthorized, "Unauthorized (wrong secret)")
		}
		if err := p.DestroyMountpoint(m.ID()); err != nil {
			return nil, err
		}
		return map[string]any{"streaming": "destroyed", "destroyed": m.ID()}, nil
	}
	return nil, perr(ErrorInvalidRequest, ianua.ErrUnknownRequest, "Unknown request '%s'", req.Request)
}
