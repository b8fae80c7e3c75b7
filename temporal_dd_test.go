package ianua

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Chrome sends VP8 with its temporal layers in the dependency descriptor
// alone when the descriptor is negotiated: no TID in the payload
// descriptor. "temporal" still drops the layers above the choice, and
// goes up at a switch point.
func TestVP8TemporalFromDD(t *testing.T) {
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	r, src, _ := ddSource(t, vp8)
	sub, rw := recordSubscription(t, r, src, nil)
	f := newFeeder(t, src)
	var seq uint16
	var frame uint16
	// One packet per frame of an L1T3 stream: a VP8 payload descriptor
	// with only S (no TID), the VP8 header's P bit clear on the
	// keyframe, then the temporal layer, for the checks.
	send := func(tid int, key bool) {
		payload := []byte{0x10, 0x01, byte(tid), 0, 0, 0}
		if key {
			payload[1] = 0x00
		}
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(frame) * 3000, SSRC: 11, Marker: true}
		if err := h.SetExtension(ddInID, ddDescriptor(1, 3, 0, tid, key, true, true, frame)); err != nil {
			t.Fatal(err)
		}
		raw, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		seq++
		frame++
		<-f.idle
		f.in <- raw
	}
	tids := func(pkts []rtp.Packet) []int {
		var out []int
		for _, p := range pkts {
			out = append(out, int(p.Payload[2]))
		}
		return out
	}
	send(0, true)
	f.sync()
	next := checkContiguous(t, "keyframe", rw.take(), 0)

	if err := sub.SetTemporalLayer(0); err != nil {
		t.Fatal(err)
	}
	for _, tid := range []int{2, 1, 2, 0, 2, 1, 2, 0} {
		send(tid, false)
	}
	f.sync()
	pkts := rw.take()
	if got := tids(pkts); len(got) != 2 || got[0] != 0 || got[1] != 0 {
		t.Errorf("temporal layer 0: frames of layers %v, want [0 0]", got)
	}
	next = checkContiguous(t, "temporal layer 0", pkts, next)

	// Up to all: not at a frame of layer 2 (not a switch point), from
	// the next of layer 1.
	if err := sub.SetTemporalLayer(-1); err != nil {
		t.Fatal(err)
	}
	for _, tid := range []int{2, 1, 2, 0} {
		send(tid, false)
	}
	f.sync()
	pkts = rw.take()
	if got := tids(pkts); len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 0 {
		t.Errorf("up to all: frames of layers %v, want [1 2 0]", got)
	}
	checkContiguous(t, "up to all", pkts, next)
}
