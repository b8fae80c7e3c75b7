package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/pion/rtp"
)

// mountpoint is a Streaming mountpoint (janus.plugin.streaming), created
// over the Janus API as an operator creates one — "create" with type rtp,
// one port per stream, the ports left to the server — and fed with the
// synthetic media as plain RTP from one UDP socket per stream, as ffmpeg
// or GStreamer feeds one:
//
//	ffmpeg -re -i in.webm -map 0:a -c copy -f rtp rtp://127.0.0.1:APORT -map 0:v -c copy -f rtp rtp://127.0.0.1:VPORT
//
// Nothing goes back to the sender: a keyframe comes every keyframeEvery,
// never on request, as from an encoder with a fixed GOP.
type mountpoint struct {
	*synthetic
	jc       *janusConn
	sid, hid uint64
	id       uint64
	// ports are the ingest ports the server bound, by kind.
	audioPort, videoPort int

	audio, video         *net.UDPConn
	audioSSRC, videoSSRC uint32
	buf                  []byte // run's marshalling buffer
}

// newMountpoint creates a mountpoint for VP8 and Opus and starts sending
// to it.
func newMountpoint(ctx context.Context, url string) (*mountpoint, error) {
	jc, err := dialJanus(ctx, url, janusProtocol)
	if err != nil {
		return nil, fmt.Errorf("mountpoint: %w", err)
	}
	m := &mountpoint{synthetic: newSynthetic(simulcastLayers[2:]), jc: jc, buf: make([]byte, 1500)}
	if err := m.create(ctx); err != nil {
		m.close()
		return nil, fmt.Errorf("mountpoint: %w", err)
	}
	if err := m.dial(); err != nil {
		m.close()
		return nil, fmt.Errorf("mountpoint: %w", err)
	}
	m.writeAudio = func(p *rtp.Packet) error { return m.write(m.audio, m.audioSSRC, p) }
	m.writeVideo = func(_ int, p *rtp.Packet) error { return m.write(m.video, m.videoSSRC, p) }
	m.start()
	return m, nil
}

// create asks the server for the mountpoint and learns its id and ports.
func (m *mountpoint) create(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var err error
	if m.sid, err = m.jc.create(ctx); err != nil {
		return err
	}
	if m.hid, _, err = m.jc.attach(ctx, m.sid, "janus.plugin.streaming"); err != nil {
		return err
	}
	// Janus 1.x multistream syntax; "codec" is ianua's short form,
	// "rtpmap" Janus's.
	body := map[string]any{
		"request": "create", "type": "rtp", "description": "bench",
		"media": []map[string]any{
			{"type": "audio", "mid": "a", "port": 0, "pt": opusPT, "codec": "opus", "rtpmap": "opus/48000/2"},
			{"type": "video", "mid": "v", "port": 0, "pt": vp8PT, "codec": "vp8", "rtpmap": "VP8/90000"},
		},
	}
	reply, err := m.jc.message(ctx, m.sid, m.hid, body, nil)
	if err != nil {
		return err
	}
	if reply.PluginData == nil {
		return fmt.Errorf("create: no plugin data in %q", reply.Janus)
	}
	var created struct {
		Streaming string `json:"streaming"`
		Stream    struct {
			ID    uint64 `json:"id"`
			Media []struct {
				Type string `json:"type"`
				Port int    `json:"port"`
			} `json:"media"`
		} `json:"stream"`
	}
	if err := json.Unmarshal(reply.PluginData.Data, &created); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if created.Streaming != "created" || created.Stream.ID == 0 {
		return fmt.Errorf("create: unexpected answer %s", reply.PluginData.Data)
	}
	m.id = created.Stream.ID
	for _, md := range created.Stream.Media {
		switch md.Type {
		case "audio":
			m.audioPort = md.Port
		case "video":
			m.videoPort = md.Port
		}
	}
	if m.audioPort == 0 || m.videoPort == 0 {
		return fmt.Errorf("create: no audio or video port in %s", reply.PluginData.Data)
	}
	return nil
}

// dial opens the sending sockets, one per stream, with an SSRC each.
func (m *mountpoint) dial() error {
	var err error
	to := func(port int) *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port} }
	if m.audio, err = net.DialUDP("udp4", nil, to(m.audioPort)); err != nil {
		return err
	}
	if m.video, err = net.DialUDP("udp4", nil, to(m.videoPort)); err != nil {
		return err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	m.audioSSRC, m.videoSSRC = binary.BigEndian.Uint32(b[:4]), binary.BigEndian.Uint32(b[4:])
	return nil
}

// write sends one packet as plain RTP; only run calls it.
func (m *mountpoint) write(c *net.UDPConn, ssrc uint32, p *rtp.Packet) error {
	p.SSRC = ssrc
	n, err := p.MarshalTo(m.buf)
	if err != nil {
		return err
	}
	_, err = c.Write(m.buf[:n])
	return err
}

// watch implements source: a viewer watches the mountpoint and starts
// with the answer.
func (m *mountpoint) watch() watchSpec {
	return watchSpec{
		plugin: "janus.plugin.streaming",
		join:   map[string]any{"request": "watch", "id": m.id},
		start:  map[string]any{"request": "start"},
	}
}

func (m *mountpoint) String() string {
	return fmt.Sprintf("mountpoint %d (RTP in on 127.0.0.1:%d audio, :%d video)", m.id, m.audioPort, m.videoPort)
}

// ingestDrops is what the kernel dropped on the server's ingest sockets
// (their receive buffers were full: the mountpoint's readers fell
// behind). It fails if a port is bound anywhere but on 127.0.0.1.
func (m *mountpoint) ingestDrops() (uint64, error) {
	socks, err := udpSockets()
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, port := range []int{m.audioPort, m.videoPort} {
		found := false
		for _, s := range socks[port] {
			if !s.addr.Equal(net.IPv4(127, 0, 0, 1)) {
				return 0, fmt.Errorf("ingest port %d is bound to %v, not to 127.0.0.1 only", port, s.addr)
			}
			found = true
			total += s.drops
		}
		if !found {
			return 0, fmt.Errorf("ingest port %d: no socket in /proc/net/udp", port)
		}
	}
	return total, nil
}

// close stops the media, destroys the mountpoint and the session.
func (m *mountpoint) close() {
	m.stopMedia()
	if m.id != 0 {
		// Mountpoints outlive the session that created them.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = m.jc.message(ctx, m.sid, m.hid, map[string]any{"request": "destroy", "id": m.id}, nil)
		cancel()
	}
	for _, c := range []*net.UDPConn{m.audio, m.video} {
		if c != nil {
			_ = c.Close()
		}
	}
	m.jc.close()
}
