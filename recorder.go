package ianua

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264writer"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// RecordParams describe a recording of a source.
type RecordParams struct {
	// Path is the file to write without its extension; the extension
	// follows the codec: .ogg (Opus), .ivf (VP8, VP9, AV1), .h264.
	Path string
	// Layer picks a simulcast layer (nil: the highest live one).
	Layer *int
}

// Recording writes one source to a file that ordinary tools open
// (ffprobe, ffmpeg, VLC). Each file starts at the source's first keyframe;
// Started says when, so that audio and video files of one participant can
// be lined up.
type Recording struct {
	src  *Source
	sub  *Subscription
	path string

	mu      sync.Mutex
	w       rtpFileWriter
	pkt     rtp.Packet
	closed  bool
	started time.Time
	packets uint64
}

// rtpFileWriter is what pion's media writers have in common.
type rtpFileWriter interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

// Record starts recording the source.
func (s *Source) Record(p RecordParams) (*Recording, error) {
	codec := s.sourceCodec()
	rec, err := NewRecording(p, codec)
	if err != nil {
		return nil, err
	}
	rec.src = s
	sub, err := s.subscribeWriter(s.id+"/rec", recorderWriter{rec}, 1, uint8(codec.PayloadType), codec, p.Layer, rec.Stop, 0)
	if err != nil {
		rec.Stop()
		return nil, err
	}
	rec.mu.Lock()
	rec.sub = sub
	rec.mu.Unlock()
	return rec, nil
}

// NewRecording opens a recording of a stream of this codec that the caller
// feeds with WriteRTP: for a plugin that reads a track itself (the echo
// test) instead of subscribing to a Source. p.Layer is not used. Video
// files start at the first keyframe the writer sees: ask for one.
func NewRecording(p RecordParams, codec webrtc.RTPCodecParameters) (*Recording, error) {
	mime := strings.ToLower(codec.MimeType)
	var (
		w   rtpFileWriter
		ext string
		err error
	)
	if p.Path == "" {
		return nil, fmt.Errorf("%w: recording without a path", ErrInvalidElement)
	}
	switch mime {
	case "audio/opus", "video/vp8", "video/vp9", "video/av1", "video/h264":
	default:
		return nil, fmt.Errorf("%w: cannot record %q", ErrNoCommonCodec, codec.MimeType)
	}
	if err := os.MkdirAll(filepath.Dir(p.Path), 0o755); err != nil {
		return nil, fmt.Errorf("ianua: recording directory: %w", err)
	}
	switch mime {
	case "audio/opus":
		ext = ".ogg"
		w, err = oggwriter.New(p.Path+ext, 48000, 2)
	case "video/h264":
		ext = ".h264"
		w, err = h264writer.New(p.Path + ext)
	default:
		ext = ".ivf"
		w, err = ivfwriter.New(p.Path+ext, ivfwriter.WithCodec(codec.MimeType))
	}
	if err != nil {
		return nil, fmt.Errorf("ianua: recording file: %w", err)
	}
	return &Recording{path: p.Path + ext, w: w}, nil
}

// WriteRTP writes one packet of a recording made by NewRecording. The
// packet is not kept.
func (r *Recording) WriteRTP(pkt *rtp.Packet) error {
	_, err := r.write(&pkt.Header, pkt.Payload)
	return err
}

// recorderWriter adapts a Recording to webrtc.TrackLocalWriter.
type recorderWriter struct{ r *Recording }

func (w recorderWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	return w.r.write(h, payload)
}

func (w recorderWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return w.r.write(&p.Header, p.Payload)
}

func (r *Recording) write(h *rtp.Header, payload []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrSourceClosed
	}
	if r.packets == 0 {
		r.started = time.Now()
	}
	// The file writers keep what they need: the payload is the source's
	// shared buffer, valid only during this call.
	r.pkt.Header = *h
	r.pkt.Payload = payload
	if err := r.w.WriteRTP(&r.pkt); err != nil {
		return 0, err
	}
	r.packets++
	return len(payload), nil
}

// Path is the file being written.
func (r *Recording) Path() string { return r.path }

// Started is when the first packet was written (zero before).
func (r *Recording) Started() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started
}

// Packets is the number of RTP packets written.
func (r *Recording) Packets() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.packets
}

// Stop ends the recording and closes the file (it also ends when the
// source goes away).
func (r *Recording) Stop() {
	r.mu.Lock()
	sub := r.sub
	already := r.closed
	r.closed = true
	r.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
	if !already {
		// Closing after the subscription: no write runs any more.
		r.mu.Lock()
		_ = r.w.Close()
		r.mu.Unlock()
	}
}

var _ webrtc.TrackLocalWriter = recorderWriter{}
