package sfu_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/ianua/ianua/internal/testpeer"
	"github.com/ianua/ianua/sfu"
)

// "record": true writes each published stream to a file pion's readers
// (and ffprobe) open: Opus in Ogg, VP8 in IVF.
func TestRecordPublisher(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	r, plugin := newRoomRouter(t, sfu.RoomParams{ID: 24, RecDir: dir})
	a := join(t, r, 24, 1)
	a.publish(publishOptions{audio: true, video: true})
	message(t, a.pubH, map[string]any{"request": "configure", "record": true, "filename": "rec"}, nil)
	room, _ := plugin.Room(24)
	pt, _ := room.Participant(a.id)
	if n := len(pt.Recordings()); n != 2 {
		t.Fatalf("%d recordings, want 2", n)
	}
	const n = 100
	a.send(n)
	a.waitSent()
	testpeer.WaitFor(t, 3*time.Second, "packets recorded", func() bool {
		for _, rec := range pt.Recordings() {
			if rec.Packets() < n*9/10 {
				return false
			}
		}
		return true
	})
	message(t, a.pubH, map[string]any{"request": "configure", "record": false}, nil)
	if n := len(pt.Recordings()); n != 0 {
		t.Fatalf("%d recordings after record:false", n)
	}

	ivfs, _ := filepath.Glob(filepath.Join(dir, "rec-video-*.ivf"))
	oggs, _ := filepath.Glob(filepath.Join(dir, "rec-audio-*.ogg"))
	if len(ivfs) != 1 || len(oggs) != 1 {
		t.Fatalf("files: ivf %v ogg %v", ivfs, oggs)
	}
	f, err := os.Open(ivfs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ivf, hdr, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(hdr.FourCC[:]) != "VP80" {
		t.Errorf("IVF codec %q", hdr.FourCC)
	}
	frames := 0
	for {
		if _, _, err := ivf.ParseNextFrame(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Logf("ivf: %v", err)
			}
			break
		}
		frames++
	}
	if frames < n*9/10 {
		t.Errorf("%d VP8 frames in the recording, want about %d", frames, n)
	}
	g, err := os.Open(oggs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ogg, oh, err := oggreader.NewWith(g)
	if err != nil {
		t.Fatal(err)
	}
	if oh.SampleRate != 48000 {
		t.Errorf("Ogg sample rate %d", oh.SampleRate)
	}
	pages := 0
	for {
		if _, _, err := ogg.ParseNextPage(); err != nil {
			break
		}
		pages++
	}
	if pages < n*9/10 {
		t.Errorf("%d Ogg pages, want about %d", pages, n)
	}
}
