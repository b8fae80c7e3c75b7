package streaming

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/rtsp"
	"github.com/ianua/ianua/internal/srtpin"
)

// ingestReadBuffer is the receive buffer asked for an ingest socket.
const ingestReadBuffer = 1 << 20

// MediaParams describe one RTP stream of a mountpoint.
type MediaParams struct {
	Type string `json:"type"` // "audio" or "video"
	MID  string `json:"mid,omitempty"`
	// Port is the UDP port the stream arrives on (0: pick one).
	Port int `json:"port,omitempty"`
	// PT is the payload type the sender uses; Codec names the codec
	// ("opus", "pcmu", "pcma", "g722", "vp8", "vp9", "h264", "av1");
	// Rtpmap and Fmtp (Janus style, "opus/48000/2") may say it instead.
	PT     uint8  `json:"pt,omitempty"`
	Codec  string `json:"codec,omitempty"`
	Rtpmap string `json:"rtpmap,omitempty"`
	Fmtp   string `json:"fmtp,omitempty"`
	// Simulcast video: Port carries the lowest layer (substream 0),
	// Port2 and Port3 the next ones (0: pick one).
	Simulcast bool `json:"simulcast,omitempty"`
	Port2     int  `json:"port2,omitempty"`
	Port3     int  `json:"port3,omitempty"`
	// BufferKeyframe keeps the latest video keyframe and sends it first
	// to a new viewer, who sees a picture at once instead of waiting for
	// the sender's next keyframe (an RTP sender cannot be asked for one).
	// Default true; Janus's "videobufferkf" defaults to false.
	BufferKeyframe *bool `json:"videobufferkf,omitempty"`
	// For Type "data": each datagram on Port is one message to every
	// viewer's data channel, as text ("text", the default) or binary
	// ("binary"); BufferMsg keeps the last one for new viewers.
	DataType  string `json:"datatype,omitempty"`
	BufferMsg bool   `json:"buffermsg,omitempty"`
}

// MountpointParams describe a mountpoint: RTP in on UDP ports, WebRTC out
// to any number of viewers.
type MountpointParams struct {
	ID          uint64        `json:"id,omitempty"`
	Description string        `json:"description,omitempty"`
	Secret      string        `json:"secret,omitempty"`
	PIN         string        `json:"pin,omitempty"`
	IsPrivate   bool          `json:"is_private,omitempty"`
	Media       []MediaParams `json:"media,omitempty"`
	// LocalIP is where the ingest ports listen (default 127.0.0.1).
	LocalIP string `json:"host,omitempty"`
	// SRTPSuite (32 or 80: AES_CM_128_HMAC_SHA1_32 or _80) and
	// SRTPCrypto (base64 of the 16-byte master key and 14-byte salt, as
	// in SDES, RFC 4568) make every RTP port of the mountpoint take SRTP
	// (RFC 3711) instead of plain RTP.
	SRTPSuite  int    `json:"srtpsuite,omitempty"`
	SRTPCrypto string `json:"srtpcrypto,omitempty"`
	// NoMediaTimeout: with no packet for that long the viewers are told
	// ("no-media"), and again when media comes back (default 3 s).
	NoMediaTimeout time.Duration `json:"-"`

	// Type is "rtp" (the default: RTP arrives on the ports of Media) or
	// "rtsp": the mountpoint pulls URL from an RTSP server, a camera say
	// (RFC 2326, RTP over UDP to ports of LocalIP), as Janus's "rtsp"
	// mountpoints do. Its streams are the first audio and the first
	// video stream of the server's SDP in a codec browsers take as it
	// is; Media, if given, only says which kinds to take (and their mid
	// and keyframe buffering). When the server or its RTP fails, the
	// mountpoint pulls again every RTSPReconnectDelay (default 5 s).
	//
	// RTSPTransport chooses how the RTP comes: "udp" to ports of
	// LocalIP, "tcp" interleaved on the RTSP connection (RFC 2326
	// section 10.12; through NATs and firewalls), or "" for UDP, falling
	// back to TCP when the server refuses UDP.
	Type               string        `json:"type,omitempty"`
	URL                string        `json:"url,omitempty"`
	RTSPUser           string        `json:"rtsp_user,omitempty"`
	RTSPPassword       string        `json:"rtsp_pwd,omitempty"`
	RTSPTransport      string        `json:"rtsp_transport,omitempty"`
	RTSPReconnectDelay time.Duration `json:"-"`
}

// Mountpoint is one live stream.
type Mountpoint struct {
	p      *Plugin
	params MountpointParams
	media  []*mpMedia

	mu      sync.Mutex
	viewers map[*viewer]struct{}
	closed  bool
	quit    chan struct{}
	// ctx ends with quit, for the RTSP exchanges it bounds.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type mpMedia struct {
	params MediaParams
	kind   webrtc.RTPCodecType // 0 for data
	codec  webrtc.RTPCodecParameters
	// conns are the ingest sockets: one, or one per simulcast layer.
	conns []*net.UDPConn
	// RTSP only: the RTCP socket beside the RTP one (the server sends
	// its reports there; they are not read), and the stream's control
	// URL in the server's SDP (owned by the RTSP puller once it runs).
	rtcp    *net.UDPConn
	control string
	// RTSP over TCP: the packets the interleaved reader takes off the
	// connection, for the source's reader.
	queue chan []byte
	src   *ianua.Source // nil for data
	// Data media only, guarded by the mountpoint's mu: when the last
	// message came, and (BufferMsg) the message.
	lastData time.Time
	lastMsg  []byte
}

func (m *mpMedia) isData() bool { return m.params.Type == "data" }

// codecOf resolves a media's codec.
func codecOf(m MediaParams) (webrtc.RTPCodecType, webrtc.RTPCodecParameters, error) {
	name := strings.ToLower(m.Codec)
	if name == "" && m.Rtpmap != "" {
		name, _, _ = strings.Cut(strings.ToLower(m.Rtpmap), "/")
	}
	type c struct {
		kind  webrtc.RTPCodecType
		mime  string
		clock uint32
		ch    uint16
	}
	table := map[string]c{
		"opus": {webrtc.RTPCodecTypeAudio, webrtc.MimeTypeOpus, 48000, 2},
		"pcmu": {webrtc.RTPCodecTypeAudio, webrtc.MimeTypePCMU, 8000, 0},
		"pcma": {webrtc.RTPCodecTypeAudio, webrtc.MimeTypePCMA, 8000, 0},
		"g722": {webrtc.RTPCodecTypeAudio, webrtc.MimeTypeG722, 8000, 0},
		"vp8":  {webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8, 90000, 0},
		"vp9":  {webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP9, 90000, 0},
		"h264": {webrtc.RTPCodecTypeVideo, webrtc.MimeTypeH264, 90000, 0},
		"av1":  {webrtc.RTPCodecTypeVideo, webrtc.MimeTypeAV1, 90000, 0},
	}
	e, ok := table[name]
	if !ok {
		return 0, webrtc.RTPCodecParameters{}, fmt.Errorf("unknown codec %q", m.Codec+m.Rtpmap)
	}
	if m.Type != "" && m.Type != e.kind.String() {
		return 0, webrtc.RTPCodecParameters{}, fmt.Errorf("codec %s is not %s", name, m.Type)
	}
	fmtp := m.Fmtp
	if fmtp == "" && name == "h264" {
		fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	}
	return e.kind, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: e.mime, ClockRate: e.clock, Channels: e.ch, SDPFmtpLine: fmtp},
		PayloadType:        webrtc.PayloadType(m.PT),
	}, nil
}

// open binds the ingest ports and starts reading; on error nothing stays
// open.
func (mp *Mountpoint) open(r *ianua.MediaRouter) error {
	ip := net.ParseIP(mp.params.LocalIP)
	if ip == nil {
		return fmt.Errorf("invalid host %q", mp.params.LocalIP)
	}
	if mp.params.SRTPSuite != 0 || mp.params.SRTPCrypto != "" {
		if _, err := srtpin.New(mp.params.SRTPSuite, mp.params.SRTPCrypto); err != nil {
			return err
		}
	}
	var (
		client   *rtsp.Client
		ctx      context.Context
		controls []string
	)
	if mp.params.Type == "rtsp" {
		var cancel context.CancelFunc
		ctx, cancel = mp.rtspContext(3 * rtspTimeout)
		defer cancel()
		var streams []rtspMedia
		var err error
		if client, streams, err = mp.describeRTSP(ctx, mp.params.Media); err != nil {
			return fmt.Errorf("RTSP %s: %w", mp.params.URL, err)
		}
		mp.params.Media = mp.params.Media[:0]
		for _, s := range streams {
			mp.params.Media = append(mp.params.Media, s.params)
			controls = append(controls, s.control)
		}
	}
	for i, m := range mp.params.Media {
		media, err := mp.openMedia(r, ip, i, m)
		if err != nil {
			mp.closeMedia()
			if client != nil {
				_ = client.Close()
			}
			return err
		}
		mp.params.Media[i] = media.params
		mp.media = append(mp.media, media)
	}
	tcp := mp.params.RTSPTransport == "tcp"
	if client != nil {
		for i, m := range mp.media {
			m.control = controls[i]
		}
		var err error
		if tcp, err = mp.playRTSP(ctx, client, tcp); err != nil {
			_ = client.Close()
			mp.closeMedia()
			return fmt.Errorf("RTSP %s: %w", mp.params.URL, err)
		}
		if tcp {
			mp.interleave()
		}
	}
	for _, m := range mp.media {
		if m.queue != nil {
			mp.wg.Add(1)
			go mp.readQueue(m)
		}
		for layer, conn := range m.conns {
			mp.wg.Add(1)
			if m.isData() {
				go mp.readData(m, conn)
			} else {
				go mp.read(m, layer, conn)
			}
		}
	}
	mp.wg.Add(1)
	go mp.watch()
	if client != nil {
		mp.wg.Add(1)
		go mp.pullRTSP(client, tcp)
	}
	return nil
}

// openMedia binds one media's ports and makes its source.
func (mp *Mountpoint) openMedia(r *ianua.MediaRouter, ip net.IP, i int, m MediaParams) (*mpMedia, error) {
	media := &mpMedia{params: m}
	if m.Type == "data" {
		if m.DataType != "" && m.DataType != "text" && m.DataType != "binary" {
			return nil, fmt.Errorf("invalid datatype %q", m.DataType)
		}
		if media.params.MID == "" {
			media.params.MID = fmt.Sprintf("d%d", i)
		}
	} else {
		kind, codec, err := codecOf(m)
		if err != nil {
			return nil, err
		}
		if m.Simulcast && kind != webrtc.RTPCodecTypeVideo {
			return nil, fmt.Errorf("simulcast %s", kind)
		}
		media.kind, media.codec = kind, codec
		if media.params.MID == "" {
			media.params.MID = fmt.Sprintf("v%d", i)
			if kind == webrtc.RTPCodecTypeAudio {
				media.params.MID = fmt.Sprintf("a%d", i)
			}
		}
	}
	ports := []*int{&media.params.Port}
	if m.Simulcast {
		ports = append(ports, &media.params.Port2, &media.params.Port3)
	}
	if mp.params.Type == "rtsp" && mp.params.RTSPTransport == "tcp" {
		ports = nil
	} else if mp.params.Type == "rtsp" {
		// RTP and RTCP on an even port and the next one, as the
		// server's SETUP expects (client_port).
		conn, rtcp, err := listenPair(ip)
		if err != nil {
			return nil, err
		}
		_ = conn.SetReadBuffer(ingestReadBuffer)
		media.params.Port = conn.LocalAddr().(*net.UDPAddr).Port
		media.conns, media.rtcp, ports = []*net.UDPConn{conn}, rtcp, nil
	}
	for _, port := range ports {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: *port})
		if err != nil {
			media.close()
			return nil, fmt.Errorf("port %d: %w", *port, err)
		}
		// A keyframe comes as a burst: room for it while the reader is
		// descheduled (the kernel caps it at net.core.rmem_max).
		_ = conn.SetReadBuffer(ingestReadBuffer)
		*port = conn.LocalAddr().(*net.UDPAddr).Port
		media.conns = append(media.conns, conn)
	}
	if media.isData() {
		return media, nil
	}
	var err error
	media.src, err = r.NewSource(ianua.SourceParams{
		ID: fmt.Sprintf("mountpoint-%d/%s", mp.params.ID, media.params.MID), Kind: media.kind, Codec: media.codec,
		KeepKeyframe: m.BufferKeyframe == nil || *m.BufferKeyframe,
	})
	if err != nil {
		media.close()
		return nil, err
	}
	return media, nil
}

// close closes the media's sockets and source.
func (m *mpMedia) close() {
	for _, c := range m.conns {
		_ = c.Close()
	}
	if m.rtcp != nil {
		_ = m.rtcp.Close()
	}
	if m.src != nil {
		m.src.Close() // viewers see their subscriptions end
	}
}

// read feeds one ingest port into its source (one layer of it) until the
// socket closes.
func (mp *Mountpoint) read(m *mpMedia, layer int, conn *net.UDPConn) {
	defer mp.wg.Done()
	read := conn.Read
	if mp.params.SRTPSuite != 0 {
		in, err := srtpin.New(mp.params.SRTPSuite, mp.params.SRTPCrypto)
		if err != nil {
			return // checked when the mountpoint was created
		}
		read = in.Reader(conn)
	}
	_, _ = m.src.ReadPackets(layer, read)
}

// watch tells the viewers when media stops and comes back.
func (mp *Mountpoint) watch() {
	defer mp.wg.Done()
	timeout := mp.params.NoMediaTimeout
	t := time.NewTicker(timeout / 3)
	defer t.Stop()
	flowing := false
	for {
		select {
		case <-mp.quit:
			return
		case <-t.C:
		}
		now := false
		for _, m := range mp.media {
			now = now || mp.receiving(m, timeout)
		}
		if now == flowing {
			continue
		}
		flowing = now
		status := "no-media"
		if now {
			status = "media"
		}
		mp.notify(map[string]any{"streaming": "event", "result": map[string]any{"status": status, "id": mp.params.ID}})
	}
}

// receiving says whether a media got something within d.
func (mp *Mountpoint) receiving(m *mpMedia, d time.Duration) bool {
	if m.src != nil {
		return m.src.Receiving(d)
	}
	mp.mu.Lock()
	defer mp.mu.Unlock()
	return !m.lastData.IsZero() && time.Since(m.lastData) < d
}

func (mp *Mountpoint) notify(data any) {
	mp.mu.Lock()
	vs := mp.viewerList()
	mp.mu.Unlock()
	for _, v := range vs {
		_ = v.h.PushEvent("", data, nil)
	}
}

// ID is the mountpoint's id.
func (mp *Mountpoint) ID() uint64 { return mp.params.ID }

// Params returns the mountpoint's settings, with the ports bound.
func (mp *Mountpoint) Params() MountpointParams { return mp.params }

// Sources returns the mountpoint's sources, one per media, in order: they
// can be recorded, forwarded or subscribed to like any other.
func (mp *Mountpoint) Sources() []*ianua.Source {
	out := make([]*ianua.Source, 0, len(mp.media))
	for _, m := range mp.media {
		if m.src != nil {
			out = append(out, m.src)
		}
	}
	return out
}

// Dropped is the number of packets on the ingest ports that were not RTP.
func (mp *Mountpoint) Dropped() uint64 {
	var n uint64
	for _, m := range mp.media {
		if m.src != nil {
			n += m.src.Dropped()
		}
	}
	return n
}

// Viewers is the number of viewers.
func (mp *Mountpoint) Viewers() int {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	return len(mp.viewers)
}

func (mp *Mountpoint) info() map[string]any {
	media := make([]any, 0, len(mp.media))
	for i, m := range mp.media {
		age := int64(-1)
		if mp.receiving(m, time.Second) {
			age = 0
		}
		info := map[string]any{"mindex": i, "mid": m.params.MID, "type": m.params.Type, "port": m.params.Port, "age_ms": age}
		if m.isData() {
			info["datatype"] = cmp.Or(m.params.DataType, "text")
		} else {
			info["type"] = m.kind.String()
			info["codec"] = strings.ToLower(strings.TrimPrefix(m.codec.MimeType, m.kind.String()+"/"))
		}
		if m.params.Simulcast {
			info["simulcast"] = true
			info["port2"], info["port3"] = m.params.Port2, m.params.Port3
		}
		media = append(media, info)
	}
	return map[string]any{"id": mp.params.ID, "type": "live", "description": mp.params.Description,
		"enabled": true, "media": media, "viewers": mp.Viewers()}
}

// close stops ingest and tells the viewers.
func (mp *Mountpoint) close() {
	mp.mu.Lock()
	if mp.closed {
		mp.mu.Unlock()
		return
	}
	mp.closed = true
	close(mp.quit)
	mp.cancel()
	mp.mu.Unlock()
	mp.closeMedia()
	mp.wg.Wait()
}

func (mp *Mountpoint) closeMedia() {
	for _, m := range mp.media {
		m.close()
	}
}
