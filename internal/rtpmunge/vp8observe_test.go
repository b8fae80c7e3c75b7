package rtpmunge

import (
	"bytes"
	"testing"
)

// vp8WithPID is a VP8 payload with a 15-bit picture id.
func vp8WithPID(pid uint16) []byte {
	return []byte{0x90, 0x80, 0x80 | byte(pid>>8), byte(pid), 0x00, 1, 2, 3}
}

func TestVP8ObserveKeepsPayloadAndState(t *testing.T) {
	var v VP8Munger
	if v.Rewrites() {
		t.Fatal("a fresh munger rewrites")
	}
	for pid := uint16(100); pid < 105; pid++ {
		p := vp8WithPID(pid)
		orig := append([]byte(nil), p...)
		if _, err := v.Observe(p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, orig) {
			t.Fatalf("Observe wrote to the payload")
		}
		if v.Rewrites() {
			t.Fatalf("rewrites with no switch at pid %d", pid)
		}
	}
	// A switch to a stream at picture id 7000 must continue at 105.
	v.Switch()
	if !v.Rewrites() {
		t.Fatal("a pending switch after a first stream does not rewrite")
	}
	p := vp8WithPID(7000)
	d, err := v.Process(p)
	if err != nil || d.PictureID != 7000 {
		t.Fatalf("process: %v %+v", err, d)
	}
	out, _ := ParseVP8(p)
	if out.PictureID != 105 {
		t.Errorf("picture id after switch %d, want 105", out.PictureID)
	}
	if !v.Rewrites() {
		t.Error("an offset is in force but Rewrites is false")
	}
}
