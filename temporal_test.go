package ianua

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// seqWriter records the sequence numbers written.
type seqWriter struct {
	mu   sync.Mutex
	seqs []uint16
}

func (w *seqWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	w.seqs = append(w.seqs, h.SequenceNumber)
	w.mu.Unlock()
	return len(payload), nil
}
func (w *seqWriter) Write(b []byte) (int, error) { return len(b), nil }

// With a temporal limit, VP8 frames of higher temporal layers are dropped
// and the outgoing sequence numbers stay contiguous.
func TestVP8TemporalLayers(t *testing.T) {
	src, _, done := benchSource(t, 0)
	defer done()
	s, err := src.r.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := src.Subscribe(SubscribeParams{Handle: newHandle(s, 2, nopPlugin{})})
	if err != nil {
		t.Fatal(err)
	}
	w := &seqWriter{}
	if _, err := sub.Bind(&fakeBinding{w: &nullWriter{}, ssrc: 9}); err != nil {
		t.Fatal(err)
	}
	sub.mu.Lock()
	sub.writer = w
	sub.mu.Unlock()
	if err := sub.SetTemporalLayer(0); err != nil {
		t.Fatal(err)
	}
	var fan fanout
	defer fan.close()
	// Temporal pattern 0,2,1,2 (RFC 7741 figure 4), one packet a frame;
	// the first packet is a keyframe of layer 0.
	pattern := []byte{0, 2, 1, 2}
	for i := range 40 {
		tid := pattern[i%4]
		payload := []byte{0x90, 0x20, tid << 6, 0x00, 0, 0} // X, S; T; TID; VP8 header
		if i > 0 {
			payload[4] = 0x01 // interframe
		}
		p := outPacket{src: src, header: rtp.Header{Version: 2, SSRC: 42, SequenceNumber: uint16(1000 + i), Timestamp: uint32(i) * 3000},
			payload: payload, keyframe: i == 0, now: time.Now()}
		src.forward(&fan, &p)
	}
	if len(w.seqs) != 10 {
		t.Fatalf("%d packets forwarded, want the 10 of layer 0", len(w.seqs))
	}
	for i := 1; i < len(w.seqs); i++ {
		if w.seqs[i] != w.seqs[i-1]+1 {
			t.Fatalf("sequence numbers not contiguous: %v", w.seqs)
		}
	}
	if err := sub.SetTemporalLayer(5); err == nil {
		t.Error("temporal layer 5 accepted")
	}
}
