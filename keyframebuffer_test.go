package ianua

import (
	"cmp"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// recordWriter keeps what a subscription wrote.
type recordWriter struct {
	mu   sync.Mutex
	pkts []rtp.Packet
}

func (w *recordWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pkts = append(w.pkts, rtp.Packet{Header: h.Clone(), Payload: append([]byte(nil), payload...)})
	return len(payload), nil
}
func (w *recordWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *recordWriter) take() []rtp.Packet {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pkts
	w.pkts = nil
	return p
}

type recordBinding struct {
	fakeBinding
	rw *recordWriter
}

func (b *recordBinding) WriteStream() webrtc.TrackLocalWriter { return b.rw }

// recordSubscription subscribes a handle of a new session to src and binds
// it to a recorder, through the binding bind makes around it (nil: the
// plain recordBinding).
func recordSubscription(t *testing.T, r *MediaRouter, src *Source, bind func(recordBinding) webrtc.TrackLocalContext) (*Subscription, *recordWriter) {
	t.Helper()
	s, err := r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	rw := &recordWriter{}
	sub, err := src.Subscribe(SubscribeParams{Handle: newHandle(s, 1, nopPlugin{})})
	if err != nil {
		t.Fatal(err)
	}
	rb := recordBinding{fakeBinding: fakeBinding{ssrc: 7}, rw: rw}
	var b webrtc.TrackLocalContext = &rb
	if bind != nil {
		b = bind(rb)
	}
	if _, err := sub.Bind(b); err != nil {
		t.Fatal(err)
	}
	return sub, rw
}

// feeder feeds a source one packet at a time through ReadPackets and knows
// when the last one has been forwarded.
type feeder struct {
	ssrc uint32 // of the packets fed (default 42)
	in   chan []byte
	idle chan struct{}
	done chan struct{}
}

func newFeeder(t *testing.T, src *Source) *feeder {
	f := &feeder{in: make(chan []byte), idle: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		_, _ = src.ReadPackets(0, func(b []byte) (int, error) {
			f.idle <- struct{}{} // the previous packet is through
			raw, ok := <-f.in
			if !ok {
				return 0, io.EOF
			}
			return copy(b, raw), nil
		})
	}()
	t.Cleanup(func() { close(f.in); <-f.done })
	return f
}

// frame feeds one VP8 frame of n packets; the frame index is in every
// payload's second byte's upper bits, after the keyframe (P) bit.
func (f *feeder) frame(seq *uint16, ts uint32, n int, key bool) {
	f.partialFrame(seq, ts, n, n, key)
}

// partialFrame feeds the first sent of a frame's n packets: the others are
// lost.
func (f *feeder) partialFrame(seq *uint16, ts uint32, n, sent int, key bool) {
	for i := range n {
		if i >= sent {
			*seq++
			continue
		}
		payload := make([]byte, 20)
		if i == 0 {
			payload[0] = 0x10 // S: start of partition 0 (RFC 7741 section 4.2)
			if !key {
				payload[1] = 0x01 // P: an interframe (section 4.3)
			}
		}
		payload[2] = byte(ts / 3000)
		raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: *seq, Timestamp: ts, SSRC: cmp.Or(f.ssrc, 42), Marker: i == n-1}, Payload: payload}).Marshal()
		*seq++
		<-f.idle
		f.in <- raw
	}
}

// sync waits until the packets fed so far are forwarded.
func (f *feeder) sync() {
	<-f.idle
	f.idle <- struct{}{}
}

// A subscriber that starts between keyframes of a source that keeps its
// keyframe gets a copy of the latest one at once, with continuous
// numbering, then nothing until the next keyframe.
func TestKeepKeyframe(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(map[bool]string{true: "kept", false: "not kept"}[keep], func(t *testing.T) {
			r, err := NewMediaRouter(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = r.Close(t.Context()) }()
			vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
			src, err := r.NewSource(SourceParams{ID: "ingest", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8, KeepKeyframe: keep})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			f := newFeeder(t, src)
			var seq uint16 = 65530 // across the wrap
			f.frame(&seq, 0, 3, true)
			for i := 1; i <= 4; i++ {
				f.frame(&seq, uint32(i)*3000, 2, false)
			}
			// A keyframe whose last packet is lost is not kept.
			f.partialFrame(&seq, 5*3000, 3, 2, true)
			f.frame(&seq, 6*3000, 1, false)
			f.sync()

			_, rw := recordSubscription(t, r, src, nil)
			f.frame(&seq, 7*3000, 2, false)
			f.sync()
			got := rw.take()
			if !keep {
				if len(got) != 0 {
					t.Fatalf("%d packets before a keyframe", len(got))
				}
			} else {
				if len(got) != 3 {
					t.Fatalf("got %d packets at start, want the 3 of the kept keyframe", len(got))
				}
				for i, p := range got {
					if p.Payload[2] != 0 || p.SSRC != 7 || p.Marker != (i == 2) {
						t.Errorf("packet %d: frame %d ssrc %d marker %v, want frame 0 ssrc 7", i, p.Payload[2], p.SSRC, p.Marker)
					}
					if i > 0 && p.SequenceNumber != got[i-1].SequenceNumber+1 {
						t.Errorf("packet %d: seq %d after %d", i, p.SequenceNumber, got[i-1].SequenceNumber)
					}
				}
			}
			// Interframes that refer to frames the subscriber never got
			// are held back until the next keyframe.
			f.frame(&seq, 8*3000, 2, false)
			f.frame(&seq, 9*3000, 2, true)
			f.frame(&seq, 10*3000, 1, false)
			f.sync()
			after := rw.take()
			if len(after) != 3 || after[0].Payload[2] != 9 || after[2].Payload[2] != 10 {
				t.Fatalf("after the start: %d packets (%v), want frames 9 and 10", len(after), after)
			}
			if keep {
				if after[0].SequenceNumber != got[2].SequenceNumber+1 {
					t.Errorf("seq %d after the kept keyframe's %d: want continuous numbering", after[0].SequenceNumber, got[2].SequenceNumber)
				}
				if d := after[0].Timestamp - got[2].Timestamp; d == 0 || d > 1<<31 {
					t.Errorf("timestamp goes from %d to %d", got[2].Timestamp, after[0].Timestamp)
				}
			}
		})
	}
}

// A fed source whose sender starts over with a new SSRC (ffmpeg run again,
// a relay restarted) goes on for its subscribers from the new stream's
// first keyframe, numbered on from the old one.
func TestSenderRestart(t *testing.T) {
	r, err := NewMediaRouter(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	src, err := r.NewSource(SourceParams{ID: "ingest", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, rw := recordSubscription(t, r, src, nil)
	f := newFeeder(t, src)
	var seq uint16 = 1000
	f.frame(&seq, 0, 2, true)
	f.frame(&seq, 3000, 1, false)
	f.sync()
	before := rw.take()
	// The sender starts over: another SSRC, numbering from scratch.
	f.ssrc = 43
	seq = 7
	f.frame(&seq, 9000, 1, false) // not a keyframe: held back
	f.frame(&seq, 12000, 2, true)
	f.sync()
	after := rw.take()
	if len(before) != 3 || len(after) != 2 {
		t.Fatalf("%d packets before the restart, %d after; want 3 and 2", len(before), len(after))
	}
	if after[0].SequenceNumber != before[2].SequenceNumber+1 || after[0].Payload[2] != 4 {
		t.Errorf("after the restart: seq %d (frame %d) after %d", after[0].SequenceNumber, after[0].Payload[2], before[2].SequenceNumber)
	}
}
