package streaming

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
)

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
	// NoMediaTimeout: with no packet for that long the viewers are told
	// ("no-media"), and again when media comes back (default 3 s).
	NoMediaTimeout time.Duration `json:"-"`
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
	wg      sync.WaitGroup
}

type mpMedia struct {
	params MediaParams
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecParameters
	conn   *net.UDPConn
	src    *ianua.Source
}

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
	for i, m := range mp.params.Media {
		kind, codec, err := codecOf(m)
		if err != nil {
			mp.closeMedia()
			return err
		}
		if m.MID == "" {
			m.MID = fmt.Sprintf("v%d", i)
			if kind == webrtc.RTPCodecTypeAudio {
				m.MID = fmt.Sprintf("a%d", i)
			}
		}
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: m.Port})
		if err != nil {
			mp.closeMedia()
			return fmt.Errorf("port %d: %w", m.Port, err)
		}
		m.Port = conn.LocalAddr().(*net.UDPAddr).Port
		mp.params.Media[i] = m
		src, err := r.NewSource(ianua.SourceParams{ID: fmt.Sprintf("mountpoint-%d/%s", mp.params.ID, m.MID), Kind: kind, Codec: codec})
		if err != nil {
			_ = conn.Close()
			mp.closeMedia()
			return err
		}
		mp.media = append(mp.media, &mpMedia{params: m, kind: kind, codec: codec, conn: conn, src: src})
	}
	for _, m := range mp.media {
		mp.wg.Add(1)
		go mp.read(m)
	}
	mp.wg.Add(1)
	go mp.watch()
	return nil
}

// read feeds one ingest port into its source until the socket closes.
func (mp *Mountpoint) read(m *mpMedia) {
	defer mp.wg.Done()
	_, _ = m.src.ReadPackets(0, m.conn.Read)
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
			now = now || m.src.Receiving(timeout)
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

func (mp *Mountpoint) notify(data any) {
	mp.mu.Lock()
	vs := make([]*viewer, 0, len(mp.viewers))
	for v := range mp.viewers {
		vs = append(vs, v)
	}
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
		out = append(out, m.src)
	}
	return out
}

// Dropped is the number of packets on the ingest ports that were not RTP.
func (mp *Mountpoint) Dropped() uint64 {
	var n uint64
	for _, m := range mp.media {
		n += m.src.Dropped()
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
		media = append(media, map[string]any{"mindex": i, "mid": m.params.MID, "type": m.kind.String(),
			"codec": strings.ToLower(strings.TrimPrefix(m.codec.MimeType, m.kind.String()+"/")), "port": m.params.Port,
			"age_ms": ageMS(m.src)})
	}
	return map[string]any{"id": mp.params.ID, "type": "live", "description": mp.params.Description,
		"enabled": true, "media": media, "viewers": mp.Viewers()}
}

func ageMS(src *ianua.Source) int64 {
	if src.Receiving(time.Second) {
		return 0
	}
	return -1
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
	mp.mu.Unlock()
	mp.closeMedia()
	mp.wg.Wait()
}

func (mp *Mountpoint) closeMedia() {
	for _, m := range mp.media {
		_ = m.conn.Close()
		m.src.Close() // viewers see their subscriptions end
	}
}
