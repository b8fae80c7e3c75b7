package ianua

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// headerLog keeps the headers a writer subscription wrote.
type headerLog struct {
	mu   sync.Mutex
	hdrs []rtp.Header
}

func (l *headerLog) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	l.mu.Lock()
	l.hdrs = append(l.hdrs, *h)
	l.mu.Unlock()
	return len(payload), nil
}

func (l *headerLog) Write(b []byte) (int, error) { return len(b), nil }

func (l *headerLog) all() []rtp.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]rtp.Header(nil), l.hdrs...)
}

// A writer subscription stamps its own SSRC and payload type, and a
// Switch to another source goes on with the next sequence number and a
// later timestamp; the source's end is reported.
func TestSubscribeWriterSwitch(t *testing.T) {
	r, err := NewMediaRouter(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	opus := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
	feed := func(id string) (*Source, chan []byte, chan struct{}) {
		src, err := r.NewSource(SourceParams{ID: id, Kind: webrtc.RTPCodecTypeAudio, Codec: opus})
		if err != nil {
			t.Fatal(err)
		}
		in, done := make(chan []byte), make(chan struct{})
		go func() {
			defer close(done)
			_, _ = src.ReadPackets(0, func(b []byte) (int, error) {
				p, ok := <-in
				if !ok {
					return 0, errors.New("end")
				}
				return copy(b, p), nil
			})
		}()
		return src, in, done
	}
	a, inA, doneA := feed("a")
	b, inB, doneB := feed("b")
	defer func() {
		close(inA)
		close(inB)
		<-doneA
		<-doneB
	}()
	send := func(in chan []byte, ssrc uint32, seq uint16, ts uint32, n int) {
		for i := range n {
			raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: ssrc, SequenceNumber: seq + uint16(i), Timestamp: ts + uint32(i)*960}, Payload: []byte{1, 2, 3}}).Marshal()
			in <- raw
		}
	}

	if _, err := a.SubscribeWriter(SubscribeWriterParams{}); err == nil {
		t.Error("a subscription without a writer was accepted")
	}
	w := &headerLog{}
	closed := make(chan *Subscription, 1)
	sub, err := a.SubscribeWriter(SubscribeWriterParams{Writer: w, SSRC: 4242, PayloadType: 0x60, OnSourceClosed: func(s *Subscription) { closed <- s }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if sub.Handle() != nil || sub.ID() != "a/writer" {
		t.Errorf("handle %v, id %q", sub.Handle(), sub.ID())
	}
	wait := func(n int) {
		deadline := time.Now().Add(2 * time.Second)
		for len(w.all()) < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(inA, 1, 100, 1000, 10)
	wait(10) // the last one may still be on its way when send returns
	if err := sub.Switch(b); err != nil {
		t.Fatal(err)
	}
	send(inB, 2, 60000, 999999, 10)
	wait(20)
	hdrs := w.all()
	if len(hdrs) != 20 {
		t.Fatalf("%d packets written, want 20", len(hdrs))
	}
	for i, h := range hdrs {
		if h.SSRC != 4242 || h.PayloadType != 0x60 {
			t.Errorf("packet %d: SSRC %d PT %d", i, h.SSRC, h.PayloadType)
		}
		if i == 0 {
			continue
		}
		if h.SequenceNumber != hdrs[i-1].SequenceNumber+1 {
			t.Errorf("packet %d: sequence %d after %d", i, h.SequenceNumber, hdrs[i-1].SequenceNumber)
		}
		if d := h.Timestamp - hdrs[i-1].Timestamp; d == 0 || d > 48000 {
			t.Errorf("packet %d: timestamp step %d", i, d)
		}
	}

	b.Close()
	select {
	case s := <-closed:
		if s != sub {
			t.Error("OnSourceClosed got another subscription")
		}
	case <-time.After(time.Second):
		t.Error("OnSourceClosed not called")
	}
	if err := sub.Switch(a); err != nil {
		t.Errorf("switch back after the source closed: %v", err)
	}
	a.Close()
	<-closed
	if _, err := a.SubscribeWriter(SubscribeWriterParams{Writer: w}); !errors.Is(err, ErrSourceClosed) {
		t.Errorf("subscribe to a closed source: %v", err)
	}
}
