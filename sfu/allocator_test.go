package sfu

import "testing"

func TestChooseLayer(t *testing.T) {
	testCases := []struct {
		rates  [3]uint64
		budget uint64
		want   int
	}{
		{[3]uint64{150_000, 500_000, 1_500_000}, 2_000_000, 2},
		{[3]uint64{150_000, 500_000, 1_500_000}, 1_000_000, 1},
		{[3]uint64{150_000, 500_000, 1_500_000}, 200_000, 0},
		{[3]uint64{150_000, 500_000, 1_500_000}, 50_000, 0}, // nothing fits: lowest
		{[3]uint64{0, 500_000, 1_500_000}, 100_000, 1},      // lowest live
		{[3]uint64{150_000, 0, 1_500_000}, 1_000_000, 0},    // h silent
		{[3]uint64{}, 1_000_000, -1},
	}
	for _, tc := range testCases {
		if got := chooseLayer(tc.rates, tc.budget); got != tc.want {
			t.Errorf("chooseLayer(%v, %d) = %d, want %d", tc.rates, tc.budget, got, tc.want)
		}
	}
}
