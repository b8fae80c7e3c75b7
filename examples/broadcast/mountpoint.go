package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ianua/ianua/streaming"
)

// Payload types the mountpoint expects; ffmpeg's -payload_type sets them
// (the mountpoint takes any, these name the codec in the SDP ffmpeg could
// write with -sdp_file).
const (
	videoPT = 96
	audioPT = 111
)

// mountpointOptions describe the RTP mountpoint of the streaming plugin: an
// encoder (ffmpeg, GStreamer) sends plain RTP to its UDP ports, and WHEP
// players play it at /whep/mountpoint/{ID}.
type mountpointOptions struct {
	// ID is the mountpoint's id; 0 means no mountpoint.
	ID uint64
	// Video and Audio are the host:port the RTP streams arrive on ("" for
	// none, port 0 picks one). Both must have the same host, an IP
	// address; an empty host listens on every interface.
	Video, Audio string
	// VideoCodec is "vp8" or "h264"; the audio is Opus.
	VideoCodec string
}

// params turns the options into the plugin's mountpoint parameters.
func (o mountpointOptions) params() (streaming.MountpointParams, error) {
	mp := streaming.MountpointParams{ID: o.ID, Description: "RTP in"}
	if o.Video == "" && o.Audio == "" {
		return mp, fmt.Errorf("-mountpoint %d: give -mountpoint-video or -mountpoint-audio an address", o.ID)
	}
	host := ""
	port := func(flag, addr string) (int, error) {
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", flag, err)
		}
		if h == "" {
			h = "0.0.0.0"
		}
		if net.ParseIP(h) == nil {
			return 0, fmt.Errorf("%s: %q is not an IP address", flag, h)
		}
		if host != "" && h != host {
			return 0, fmt.Errorf("-mountpoint-video and -mountpoint-audio must listen on the same host (%s, %s)", host, h)
		}
		host = h
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%s: port %q", flag, p)
		}
		return int(n), nil
	}
	if o.Video != "" {
		codec := strings.ToLower(o.VideoCodec)
		if codec != "vp8" && codec != "h264" {
			return mp, fmt.Errorf("-mountpoint-video-codec: %q is neither vp8 nor h264", o.VideoCodec)
		}
		p, err := port("-mountpoint-video", o.Video)
		if err != nil {
			return mp, err
		}
		mp.Media = append(mp.Media, streaming.MediaParams{Type: "video", MID: "v", Port: p, PT: videoPT, Codec: codec})
	}
	if o.Audio != "" {
		p, err := port("-mountpoint-audio", o.Audio)
		if err != nil {
			return mp, err
		}
		mp.Media = append(mp.Media, streaming.MediaParams{Type: "audio", MID: "a", Port: p, PT: audioPT, Codec: "opus"})
	}
	mp.LocalIP = host
	return mp, nil
}

// mountpointStream is one RTP stream of a mountpoint, as /mountpoints
// lists it.
type mountpointStream struct {
	Type  string `json:"type"`
	Codec string `json:"codec"`
	Port  int    `json:"port"`
}

// mountpointInfo is one mountpoint, as /mountpoints lists it.
type mountpointInfo struct {
	ID          uint64             `json:"id"`
	Description string             `json:"description"`
	Streams     []mountpointStream `json:"streams"`
	// Receiving says whether RTP came in the last few seconds.
	Receiving bool `json:"receiving"`
}

// mountpointsReply is the body of GET /mountpoints.
type mountpointsReply struct {
	Mountpoints []mountpointInfo `json:"mountpoints"`
}

// receivingWithin is how recent the last packet must be for a mountpoint
// to count as receiving.
const receivingWithin = 3 * time.Second

// mountpointList serves GET /mountpoints: the public mountpoints, for the
// player page to pick one. It asks for the same token as WHEP.
type mountpointList struct {
	plugin *streaming.Plugin
	token  string
}

func (m *mountpointList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.token != "" && !bearerIs(r, m.token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ianua"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	reply := mountpointsReply{Mountpoints: []mountpointInfo{}}
	for _, mp := range m.plugin.Mountpoints() {
		p := mp.Params()
		if p.IsPrivate {
			continue
		}
		info := mountpointInfo{ID: mp.ID(), Description: p.Description, Streams: []mountpointStream{}}
		for _, media := range p.Media {
			if media.Type == "audio" || media.Type == "video" {
				info.Streams = append(info.Streams, mountpointStream{Type: media.Type, Codec: media.Codec, Port: media.Port})
			}
		}
		for _, s := range mp.Sources() {
			info.Receiving = info.Receiving || s.Receiving(receivingWithin)
		}
		reply.Mountpoints = append(reply.Mountpoints, info)
	}
	writeJSON(w, reply)
}
