package playoutdelay

import (
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, d := range []Delay{{0, 0}, {10, 50}, {1, 4095}, {4095, 4095}, {0x123, 0x456}} {
		b, err := d.Marshal()
		if err != nil {
			t.Fatalf("%+v: %v", d, err)
		}
		got, err := Unmarshal(b[:])
		if err != nil || got != d {
			t.Errorf("%+v: got %+v, %v (bytes % x)", d, got, err, b)
		}
	}
	// The layout: 12 bits of 0x123, then 12 bits of 0x456.
	if b, _ := (Delay{0x123, 0x456}).Marshal(); b != [3]byte{0x12, 0x34, 0x56} {
		t.Errorf("bytes % x, want 12 34 56", b)
	}
}

func TestBadInput(t *testing.T) {
	for _, d := range []Delay{{4096, 4096}, {0, 4096}, {20, 10}} {
		if _, err := d.Marshal(); !errors.Is(err, ErrRange) {
			t.Errorf("%+v: %v, want ErrRange", d, err)
		}
	}
	for _, b := range [][]byte{nil, {1}, {1, 2, 3, 4}} {
		if _, err := Unmarshal(b); !errors.Is(err, ErrSize) {
			t.Errorf("% x: %v, want ErrSize", b, err)
		}
	}
}

func TestNext(t *testing.T) {
	n := func(v int) *int { return &v }
	for _, tc := range []struct {
		cur      *Delay
		min, max *int
		want     *Delay
	}{
		{nil, n(10), n(50), &Delay{10, 50}},
		{&Delay{10, 50}, n(60), nil, &Delay{60, 60}},
		{&Delay{10, 50}, nil, n(5), &Delay{5, 5}},
		{&Delay{10, 50}, n(-1), nil, nil},
		{&Delay{10, 50}, nil, n(-1), nil},
		{nil, nil, n(30), &Delay{0, 30}},
		{&Delay{10, 50}, nil, nil, &Delay{10, 50}},
	} {
		got := Next(tc.cur, tc.min, tc.max)
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("Next(%v, %v, %v) = %v, want %v", tc.cur, tc.min, tc.max, got, tc.want)
		}
	}
}
