package streaming_test

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/streaming"
)

// The plugin's offer names its m-lines with the mountpoint's mids, as
// Janus does, so that a viewer's mids are those of "info" and "configure";
// mids that cannot all be used (twice the same, or the one pion gives the
// data m-line, the number of audio and video ones) leave pion's numbering.
func TestOfferMids(t *testing.T) {
	testCases := []struct {
		name  string
		media []streaming.MediaParams
		want  []string // the offer's mids, in order
	}{
		{"audio and video", []streaming.MediaParams{{Type: "audio", MID: "a", Codec: "opus"}, {Type: "video", MID: "v", Codec: "vp8"}}, []string{"a", "v"}},
		{"with data", []streaming.MediaParams{{Type: "video", MID: "v1", Codec: "vp8"}, {Type: "data", MID: "d"}}, []string{"v1", "1"}},
		{"default mids", []streaming.MediaParams{{Type: "video", Codec: "vp8"}, {Type: "audio", Codec: "opus"}}, []string{"v0", "a1"}},
		{"mid of the data m-line", []streaming.MediaParams{{Type: "video", MID: "0", Codec: "vp8"}, {Type: "audio", MID: "2", Codec: "opus"}, {Type: "data", MID: "d"}},
			[]string{"0", "1", "2"}},
		{"same mid twice", []streaming.MediaParams{{Type: "video", MID: "x", Codec: "vp8"}, {Type: "audio", MID: "x", Codec: "opus"}}, []string{"0", "1"}},
	}
	p := streaming.New(streaming.Params{Logger: testpeer.QuietLogger()})
	r := testpeer.NewRouter(t, nil, p)
	if err := p.Start(r); err != nil {
		t.Fatal(err)
	}
	for i, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			id := uint64(100 + i)
			if _, err := p.CreateMountpoint(streaming.MountpointParams{ID: id, Media: tc.media}); err != nil {
				t.Fatal(err)
			}
			s, err := r.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Destroy() }()
			log := testpeer.Watch(s)
			h, err := s.Attach(streaming.Name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := send(t, h, map[string]any{"request": "watch", "id": id}, nil); err != nil {
				t.Fatal(err)
			}
			ev := log.Wait(t, 5*time.Second, "offer", func(e ianua.Event) bool { return e.JSEP != nil && e.JSEP.Type == "offer" })
			var d sdp.SessionDescription
			if err := d.UnmarshalString(ev.JSEP.SDP); err != nil {
				t.Fatal(err)
			}
			var mids []string
			for _, m := range d.MediaDescriptions {
				mid, _ := m.Attribute("mid")
				mids = append(mids, mid)
			}
			if !slices.Equal(mids, tc.want) {
				t.Errorf("offer mids %q, want %q", mids, tc.want)
			}
		})
	}
}
