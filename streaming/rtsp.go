package streaming

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/ianua/ianua/internal/rtsp"
)

const (
	// rtspTimeout bounds one RTSP request, and the connection to the
	// server.
	rtspTimeout = 10 * time.Second
	// defaultRTSPReconnect is how long a mountpoint waits before pulling
	// again from a server that failed (Janus rtsp_reconnect_delay).
	defaultRTSPReconnect = 5 * time.Second
	// rtspFailCheck: with no RTP for that long, the RTSP session is taken
	// for dead and made again (Janus rtsp_failcheck).
	rtspFailCheck = 10 * time.Second
	// rtspQueue is how many interleaved packets of a stream may wait for
	// its source's reader (a keyframe's burst).
	rtspQueue = 512
)

// rtspMedia is one stream of the server's SDP that the mountpoint takes.
type rtspMedia struct {
	params  MediaParams
	control string
}

// describeRTSP connects to the mountpoint's RTSP server, asks for its SDP
// and returns the client with the streams to take: the first audio and
// the first video stream of the SDP whose codec a browser can take
// untranscoded (Opus, G.711, G.722; VP8, VP9, H.264, AV1), limited to
// the kinds of want when it is not empty.
func (mp *Mountpoint) describeRTSP(ctx context.Context, want []MediaParams) (*rtsp.Client, []rtspMedia, error) {
	c, err := rtsp.Dial(ctx, mp.params.URL, mp.params.RTSPUser, mp.params.RTSPPassword, rtspTimeout)
	if err != nil {
		return nil, nil, err
	}
	raw, err := c.Describe(ctx)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	media, err := rtspStreams(raw, want)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	return c, media, nil
}

// rtspStreams picks the streams of an RTSP server's SDP (see
// describeRTSP).
func rtspStreams(raw []byte, want []MediaParams) ([]rtspMedia, error) {
	var desc sdp.SessionDescription
	if err := desc.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("the server's SDP: %w", err)
	}
	wanted := func(kind string) (MediaParams, bool) {
		if len(want) == 0 {
			return MediaParams{Type: kind}, true
		}
		for _, w := range want {
			if w.Type == kind {
				return w, true
			}
		}
		return MediaParams{}, false
	}
	var out []rtspMedia
	taken := map[string]bool{}
	for _, m := range desc.MediaDescriptions {
		kind := m.MediaName.Media
		if (kind != "audio" && kind != "video") || taken[kind] {
			continue
		}
		w, ok := wanted(kind)
		if !ok {
			continue
		}
		control, _ := m.Attribute("control")
		for _, f := range m.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil || pt < 0 || pt > 127 {
				continue
			}
			// The server's SDP says the codec; what the request said
			// of ports and codecs does not apply.
			p := w
			p.Type, p.PT, p.Port, p.Rtpmap, p.Codec, p.Fmtp = kind, uint8(pt), 0, rtpmapOf(m, f, pt), "", ""
			p.Simulcast, p.Port2, p.Port3 = false, 0, 0
			if p.MID == "" {
				p.MID = kind[:1]
			}
			if p.Rtpmap == "" {
				continue
			}
			if _, _, err := codecOf(p); err != nil {
				continue // a codec that does not reach browsers as it is
			}
			if strings.HasPrefix(strings.ToLower(p.Rtpmap), "h264/") {
				p.Fmtp = h264Fmtp(fmtpOf(m, f))
			}
			out = append(out, rtspMedia{params: p, control: control})
			taken[kind] = true
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no audio or video stream in a codec browsers take in the server's SDP")
	}
	return out, nil
}

// rtpmapOf is a format's rtpmap ("H264/90000"), or the static payload
// type's (RFC 3551: 0 PCMU, 8 PCMA, 9 G722).
func rtpmapOf(m *sdp.MediaDescription, format string, pt int) string {
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		if f, v, ok := strings.Cut(a.Value, " "); ok && f == format {
			return strings.TrimSpace(v)
		}
	}
	switch pt {
	case 0:
		return "PCMU/8000"
	case 8:
		return "PCMA/8000"
	case 9:
		return "G722/8000"
	}
	return ""
}

func fmtpOf(m *sdp.MediaDescription, format string) string {
	for _, a := range m.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		if f, v, ok := strings.Cut(a.Value, " "); ok && f == format {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// h264Fmtp is the fmtp a browser is offered for a camera's H.264: its
// packetization mode, and a profile-level-id of the profile the camera
// sends (from its profile-level-id, or the SPS of its
// sprop-parameter-sets, RFC 6184 section 8.1), in the form WebRTC
// endpoints list (constrained baseline 42e01f, baseline 42001f, main
// 4d001f, high 64001f), with the level left open
// (level-asymmetry-allowed): the packets go as they come.
func h264Fmtp(fmtp string) string {
	mode := "1"
	var profile, iop byte = 0x42, 0xe0
	found := false
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch strings.ToLower(k) {
		case "packetization-mode":
			mode = v
		case "profile-level-id":
			if b, err := hex.DecodeString(v); err == nil && len(b) == 3 {
				profile, iop, found = b[0], b[1], true
			}
		case "sprop-parameter-sets":
			if found {
				continue
			}
			sps, _, _ := strings.Cut(v, ",")
			if b, err := base64.StdEncoding.DecodeString(sps); err == nil && len(b) >= 4 && b[0]&0x1f == 7 {
				profile, iop, found = b[1], b[2], true
			}
		}
	}
	id := "42e01f"
	switch {
	case profile == 0x42 && iop&0x40 == 0:
		id = "42001f" // baseline
	case profile == 0x4d:
		id = "4d001f"
	case profile == 0x64:
		id = "64001f"
	}
	return "level-asymmetry-allowed=1;packetization-mode=" + mode + ";profile-level-id=" + id
}

// listenPair binds an even UDP port and the next one on ip, for a
// stream's RTP and RTCP (RFC 3550 section 11).
func listenPair(ip net.IP) (rtp, rtcp *net.UDPConn, err error) {
	for range 50 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, nil, err
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port > 65534 {
			_ = c.Close()
			continue
		}
		c2, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port + 1})
		if err != nil {
			_ = c.Close()
			continue
		}
		return c, c2, nil
	}
	return nil, nil, fmt.Errorf("no free pair of UDP ports")
}

// playRTSP sets up every stream of the mountpoint on c and starts the
// media. Over UDP the RTP goes to each stream's ports; over TCP (tcp, or
// when the server refuses UDP and the mountpoint leaves the choice open)
// it is interleaved on c, stream i on channels 2i and 2i+1. It returns
// whether the media comes over TCP.
func (mp *Mountpoint) playRTSP(ctx context.Context, c *rtsp.Client, tcp bool) (bool, error) {
	for i, m := range mp.media {
		if !tcp {
			_, err := c.Setup(ctx, c.Control(m.control), m.params.Port, m.params.Port+1)
			if err == nil {
				continue
			}
			refused := errors.Is(err, rtsp.ErrStatus) || errors.Is(err, rtsp.ErrBadResponse)
			if i > 0 || mp.params.RTSPTransport == "udp" || !refused {
				return false, err
			}
			tcp = true
		}
		if _, err := c.SetupTCP(ctx, c.Control(m.control), 2*i); err != nil {
			return true, err
		}
	}
	return tcp, c.Play(ctx)
}

// interleave turns the mountpoint's media to RTSP over TCP: their UDP
// sockets, if any, are closed, and a queue takes their packets.
func (mp *Mountpoint) interleave() {
	for i, m := range mp.media {
		for _, c := range m.conns {
			_ = c.Close()
		}
		if m.rtcp != nil {
			_ = m.rtcp.Close()
		}
		m.conns, m.rtcp, m.params.Port = nil, nil, 0
		mp.params.Media[i].Port = 0
		m.queue = make(chan []byte, rtspQueue)
	}
}

// readQueue feeds a stream's interleaved packets into its source until the
// mountpoint closes.
func (mp *Mountpoint) readQueue(m *mpMedia) {
	defer mp.wg.Done()
	_, _ = m.src.ReadPackets(0, func(b []byte) (int, error) {
		select {
		case p := <-m.queue:
			return copy(b, p), nil
		case <-mp.quit:
			return 0, io.EOF
		}
	})
}

// takeInterleaved hands an interleaved RTP packet (even channel 2i) to
// stream i's queue; RTCP (odd channels) is not used, and a full queue
// drops.
func (mp *Mountpoint) takeInterleaved(channel byte, packet []byte) {
	i := int(channel / 2)
	if channel%2 != 0 || i >= len(mp.media) || mp.media[i].queue == nil {
		return
	}
	select {
	case mp.media[i].queue <- bytes.Clone(packet):
	default:
	}
}

// pullRTSP owns the RTSP session of a mountpoint while it lives: it keeps
// the session alive, and when the server stops answering, the
// connection breaks or no RTP comes for rtspFailCheck, it pulls again
// after the reconnect delay, on the same ports. At the end it tears the
// session down.
func (mp *Mountpoint) pullRTSP(c *rtsp.Client, tcp bool) {
	defer mp.wg.Done()
	delay := mp.params.RTSPReconnectDelay
	if delay <= 0 {
		delay = defaultRTSPReconnect
	}
	ended := func() bool {
		select {
		case <-mp.quit:
			return true
		default:
			return false
		}
	}
	for {
		if c != nil {
			// Over TCP, a goroutine reads the interleaved packets off
			// the connection until it closes; done says it returned.
			var done chan struct{}
			if tcp {
				done = make(chan struct{})
				go func(c *rtsp.Client) {
					defer close(done)
					_ = c.ReadInterleaved(mp.takeInterleaved)
				}(c)
			}
			err := mp.keepRTSP(c, done)
			if ended() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = c.Teardown(ctx)
				cancel()
			} else {
				mp.p.log.Warn("streaming: RTSP source lost, pulling again", "mountpoint", mp.params.ID, "url", mp.params.URL, "err", err)
			}
			_ = c.Close()
			if done != nil {
				<-done
			}
			c = nil
			if ended() {
				return
			}
		}
		select {
		case <-mp.quit:
			return
		case <-time.After(delay):
		}
		var err error
		if c, err = mp.reconnectRTSP(); err != nil {
			mp.p.log.Warn("streaming: RTSP pull failed", "mountpoint", mp.params.ID, "url", mp.params.URL, "err", err)
			c = nil
		}
	}
}

// keepRTSP keeps the session alive until the mountpoint closes (nil) or
// the session fails (the error); over TCP, done is closed when the
// connection's reader returns.
func (mp *Mountpoint) keepRTSP(c *rtsp.Client, done <-chan struct{}) error {
	every := min(c.SessionTimeout()/2, 20*time.Second)
	keep := time.NewTicker(every)
	defer keep.Stop()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	started := time.Now()
	for {
		select {
		case <-mp.quit:
			return nil
		case <-done:
			return fmt.Errorf("the RTSP connection ended")
		case <-keep.C:
			ctx, cancel := mp.rtspContext(rtspTimeout)
			err := c.KeepAlive(ctx)
			cancel()
			if err != nil {
				return fmt.Errorf("keep-alive: %w", err)
			}
		case <-check.C:
			if time.Since(started) < rtspFailCheck {
				continue
			}
			flowing := false
			for _, m := range mp.media {
				flowing = flowing || mp.receiving(m, rtspFailCheck)
			}
			if !flowing {
				return fmt.Errorf("no RTP for %v", rtspFailCheck)
			}
		}
	}
}

// reconnectRTSP pulls the stream again into the mountpoint's ports.
func (mp *Mountpoint) reconnectRTSP() (*rtsp.Client, error) {
	ctx, cancel := mp.rtspContext(3 * rtspTimeout)
	defer cancel()
	c, err := rtsp.Dial(ctx, mp.params.URL, mp.params.RTSPUser, mp.params.RTSPPassword, rtspTimeout)
	if err != nil {
		return nil, err
	}
	raw, err := c.Describe(ctx)
	if err == nil {
		// The server's streams may have been renumbered: take the
		// controls anew, keeping the mountpoint's ports and codecs.
		var media []rtspMedia
		if media, err = rtspStreams(raw, mp.params.Media); err == nil {
			for _, m := range mp.media {
				for _, s := range media {
					if s.params.Type == m.params.Type {
						m.control = s.control
					}
				}
			}
			var tcp bool
			if tcp, err = mp.playRTSP(ctx, c, mp.media[0].queue != nil); err == nil && tcp != (mp.media[0].queue != nil) {
				err = fmt.Errorf("the server now wants another transport")
			}
		}
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// rtspContext bounds one exchange with the RTSP server by d, and by the
// mountpoint's end.
func (mp *Mountpoint) rtspContext(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(mp.ctx, d)
}
