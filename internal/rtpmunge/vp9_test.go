package rtpmunge

import "testing"

func TestParseVP9(t *testing.T) {
	testCases := []struct {
		name    string
		payload []byte
		want    VP9Descriptor
		ok      bool
	}{
		{"empty", nil, VP9Descriptor{}, false},
		{"no layers, keyframe start", []byte{0x08, 0}, VP9Descriptor{Start: true}, true},
		// I, 15-bit picture id, L: TID 2, U, SID 1; B and E; P.
		{"layers", []byte{0x80 | 0x40 | 0x20 | 0x08 | 0x04, 0x81, 0x23, 2<<5 | 0x10 | 1<<1, 0x07}, VP9Descriptor{LayersPresent: true, TID: 2, SID: 1, SwitchingUp: true, Start: true, End: true, InterPicture: true}, true},
		// I with a 7-bit picture id, L: TID 0, SID 2.
		{"short picture id", []byte{0x80 | 0x20, 0x05, 2 << 1, 0}, VP9Descriptor{LayersPresent: true, SID: 2}, true},
		{"truncated picture id", []byte{0x80}, VP9Descriptor{}, false},
		{"truncated layers", []byte{0x80 | 0x20, 0x85, 0x01}, VP9Descriptor{}, false},
	}
	for _, tc := range testCases {
		got, ok := ParseVP9(tc.payload)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
