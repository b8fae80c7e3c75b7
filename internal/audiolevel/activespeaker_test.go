package audiolevel

import (
	"errors"
	"testing"
	"time"
)

func TestSpeakerParams(t *testing.T) {
	testCases := []struct {
		p   SpeakerParams
		err bool
	}{
		{SpeakerParams{}, false},
		{SpeakerParams{Hold: time.Nanosecond, MaxLevel: 127, Margin: 127}, false},
		{SpeakerParams{Hold: -1}, true},
		{SpeakerParams{MaxLevel: -1}, true},
		{SpeakerParams{MaxLevel: 128}, true},
		{SpeakerParams{Margin: -1}, true},
		{SpeakerParams{Margin: 128}, true},
	}
	for _, tc := range testCases {
		_, err := NewActiveSpeaker(tc.p)
		if tc.err != errors.Is(err, ErrParams) || (!tc.err && err != nil) {
			t.Errorf("%+v: error %v", tc.p, err)
		}
	}
}

// update is one call to Update, at at, and what must follow.
type update struct {
	at      time.Duration
	levels  []Level
	changed bool
	current uint64
	has     bool
}

func TestActiveSpeaker(t *testing.T) {
	s := time.Second
	testCases := []struct {
		name    string
		p       SpeakerParams
		updates []update
	}{
		{"nobody speaking", SpeakerParams{}, []update{
			{0, nil, false, 0, false},
			{0, []Level{{1, 127}, {2, 60}}, false, 0, false},
		}},
		{"first speaker at once", SpeakerParams{}, []update{
			{0, []Level{{1, 127}, {2, 20}}, true, 2, true},
		}},
		{"loudest wins", SpeakerParams{}, []update{
			{0, []Level{{1, 20}, {2, 10}, {3, 15}}, true, 2, true},
		}},
		{"tie goes to the first", SpeakerParams{}, []update{
			{0, []Level{{1, 10}, {2, 10}}, true, 1, true},
		}},
		{"tie keeps the current", SpeakerParams{}, []update{
			{0, []Level{{2, 10}}, true, 2, true},
			{3 * s, []Level{{1, 10}, {2, 10}}, false, 2, true},
		}},
		{"hold stops flapping", SpeakerParams{Hold: 2 * s}, []update{
			{0, []Level{{1, 10}, {2, 20}}, true, 1, true},
			{1 * s, []Level{{1, 20}, {2, 5}}, false, 1, true},
			{1999 * time.Millisecond, []Level{{1, 20}, {2, 5}}, false, 1, true},
			{2 * s, []Level{{1, 20}, {2, 5}}, true, 2, true},
			// The hold restarts with the new speaker.
			{3 * s, []Level{{1, 5}, {2, 20}}, false, 2, true},
			{4 * s, []Level{{1, 5}, {2, 20}}, true, 1, true},
		}},
		{"margin", SpeakerParams{Hold: s, Margin: 6}, []update{
			{0, []Level{{1, 20}}, true, 1, true},
			{2 * s, []Level{{1, 20}, {2, 15}}, false, 1, true}, // 5 dB louder only
			{3 * s, []Level{{1, 20}, {2, 14}}, true, 2, true},
		}},
		{"silent current loses to any speaker after hold", SpeakerParams{Hold: s, Margin: 6}, []update{
			{0, []Level{{1, 20}}, true, 1, true},
			{2 * s, []Level{{1, 127}, {2, 24}}, true, 2, true},
		}},
		{"last speaker keeps the floor in silence", SpeakerParams{Hold: s}, []update{
			{0, []Level{{1, 20}, {2, 127}}, true, 1, true},
			{5 * s, []Level{{1, 127}, {2, 127}}, false, 1, true},
		}},
		{"quieter than MaxLevel never takes it", SpeakerParams{MaxLevel: 30}, []update{
			{0, []Level{{1, 31}}, false, 0, false},
			{0, []Level{{1, 30}}, true, 1, true},
		}},
		{"speaker left: next at once, hold or not", SpeakerParams{Hold: time.Hour}, []update{
			{0, []Level{{1, 10}, {2, 20}}, true, 1, true},
			{s, []Level{{2, 20}}, true, 2, true},
		}},
		{"speaker left and nobody speaks", SpeakerParams{}, []update{
			{0, []Level{{1, 10}}, true, 1, true},
			{s, []Level{{2, 127}}, true, 0, false},
			{2 * s, []Level{{2, 127}}, false, 0, false},
		}},
	}
	base := time.Unix(1_700_000_000, 0)
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewActiveSpeaker(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			for i, u := range tc.updates {
				changed := a.Update(base.Add(u.at), u.levels)
				id, has := a.Current()
				if changed != u.changed || id != u.current || has != u.has {
					t.Fatalf("update %d: changed %v current %d %v; want %v %d %v", i, changed, id, has, u.changed, u.current, u.has)
				}
			}
		})
	}
}

func TestActiveSpeakerAllocs(t *testing.T) {
	a, _ := NewActiveSpeaker(SpeakerParams{Hold: time.Second})
	levels := []Level{{1, 20}, {2, 30}, {3, 10}, {4, 127}}
	now := time.Unix(1_700_000_000, 0)
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(100 * time.Millisecond)
		levels[0].Average, levels[2].Average = levels[2].Average, levels[0].Average
		a.Update(now, levels)
	}); n != 0 {
		t.Errorf("%v allocs per Update, want 0", n)
	}
}

func BenchmarkActiveSpeaker(b *testing.B) {
	a, _ := NewActiveSpeaker(SpeakerParams{})
	levels := make([]Level, 50)
	for i := range levels {
		levels[i] = Level{ID: uint64(i), Average: 20 + i%50}
	}
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(20 * time.Millisecond)
		a.Update(now, levels)
	}
}
