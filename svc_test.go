package ianua

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// vp9Binding is a TrackLocalContext that negotiated VP9.
type vp9Binding struct{ recordBinding }

func (b *vp9Binding) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}, PayloadType: 98}}
}

// svcPicture feeds one VP9 picture of three spatial layers, one packet
// each (RFC 9628: L bit, TID 0, SID 0..2, B and E on each; P clear on a
// keyframe; the marker on the last layer).
func (f *feeder) svcPicture(seq *uint16, ts uint32, key bool) {
	for sid := range 3 {
		b0 := byte(0x20 | 0x08 | 0x04) // L, B, E
		if !key || sid > 0 {
			b0 |= 0x40 // P: inter-picture (upper layers of a keyframe refer to the lower)
		}
		payload := []byte{b0, byte(sid) << 1, 0, byte(sid), 0, 0, 0, 0}
		raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 98, SequenceNumber: *seq, Timestamp: ts, SSRC: 9, Marker: sid == 2}, Payload: payload}).Marshal()
		*seq++
		<-f.idle
		f.in <- raw
	}
}

// A VP9 SVC subscriber gets the spatial layers it asked for: lower ones
// at once, with the marker bit on the last packet it gets of each
// picture; higher ones from the next keyframe, with contiguous numbers.
func TestVP9SpatialLayers(t *testing.T) {
	r, err := NewMediaRouter(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	vp9 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}, PayloadType: 98}
	src, err := r.NewSource(SourceParams{ID: "svc", Kind: webrtc.RTPCodecTypeVideo, Codec: vp9})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sub, rw := recordSubscription(t, r, src, func(b recordBinding) webrtc.TrackLocalContext { return &vp9Binding{b} })
	f := newFeeder(t, src)
	var seq uint16
	f.svcPicture(&seq, 0, true)
	f.sync()
	if got := rw.take(); len(got) != 3 {
		t.Fatalf("all layers: %d packets, want 3", len(got))
	}

	if err := sub.SetSpatialLayer(0); err != nil {
		t.Fatal(err)
	}
	f.svcPicture(&seq, 3000, false)
	f.svcPicture(&seq, 6000, false)
	f.sync()
	low := rw.take()
	if len(low) != 2 {
		t.Fatalf("layer 0: %d packets, want 2", len(low))
	}
	for _, p := range low {
		if p.Payload[3] != 0 || !p.Marker {
			t.Errorf("layer 0: a packet of layer %d, marker %v", p.Payload[3], p.Marker)
		}
	}

	// Up: not before a keyframe.
	if err := sub.SetSpatialLayer(2); err != nil {
		t.Fatal(err)
	}
	f.svcPicture(&seq, 9000, false)
	f.sync()
	if got := rw.take(); len(got) != 1 || got[0].Payload[3] != 0 {
		t.Fatalf("before the keyframe: %d packets, want layer 0's only", len(got))
	}
	f.svcPicture(&seq, 12000, true)
	f.sync()
	up := rw.take()
	if len(up) != 3 || up[0].Marker || !up[2].Marker {
		t.Fatalf("at the keyframe: %d packets, want 3 with the marker on the last", len(up))
	}
	if up[0].SequenceNumber != low[1].SequenceNumber+2 {
		t.Errorf("numbering: %d after %d and one packet of layer 0", up[0].SequenceNumber, low[1].SequenceNumber)
	}
	if cur, want := sub.SpatialLayer(); cur != 2 || want != 2 {
		t.Errorf("SpatialLayer() = %d, %d", cur, want)
	}
	if err := sub.SetSpatialLayer(3); err == nil {
		t.Error("spatial layer 3 accepted")
	}
}

// A VP9 source measures the bitrate of each spatial layer, which the
// automatic layer choice compares with a subscriber's bandwidth.
func TestSpatialBitrates(t *testing.T) {
	r, err := NewMediaRouter(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(t.Context()) }()
	vp9 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000}, PayloadType: 98}
	src, err := r.NewSource(SourceParams{ID: "svc", Kind: webrtc.RTPCodecTypeVideo, Codec: vp9})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sizes := []int{100, 300, 900}
	seq, i := uint16(0), 0
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = src.ReadPackets(0, func(b []byte) (int, error) {
			if time.Since(start) > 1300*time.Millisecond {
				return 0, io.EOF
			}
			sid := i % 3
			if sid == 0 {
				time.Sleep(2 * time.Millisecond)
			}
			payload := make([]byte, sizes[sid])
			payload[0] = 0x20 | 0x08 | 0x04 | 0x40 // L, B, E, P
			payload[1] = byte(sid) << 1
			raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 98, SequenceNumber: seq, Timestamp: uint32(i/3) * 3000, SSRC: 9, Marker: sid == 2}, Payload: payload}).Marshal()
			seq++
			i++
			return copy(b, raw), nil
		})
	}()
	<-done
	rates := src.SpatialBitrates()
	if rates[0] == 0 || rates[1] <= rates[0] || rates[2] <= rates[1] {
		t.Fatalf("spatial bitrates %v: want three, growing with the layers' sizes", rates)
	}
	// Same packet count per layer: the rates are in the ratio of the
	// packet sizes (RTP header included).
	if ratio := float64(rates[2]) / float64(rates[0]); ratio < 7 || ratio > 9.5 {
		t.Errorf("layer 2 / layer 0 = %.2f, want about 912/112 = 8.1", ratio)
	}
}
