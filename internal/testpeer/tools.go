package testpeer

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
)

// Tool returns the path of a program the README's test command installs
// (ffmpeg, ffprobe, sipp…); a missing one fails the test rather than
// skipping it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run the README's test command (scripts/test.sh), which installs it", name)
	}
	return p
}

// Probe returns a media file's first stream's codec and its duration in
// seconds, as ffprobe reads them.
func Probe(t testing.TB, file string) (codec string, seconds float64) {
	t.Helper()
	out, err := exec.Command(Tool(t, "ffprobe"), "-v", "error", "-show_entries", "stream=codec_name:format=duration", "-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var r struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) == 0 {
		t.Fatalf("ffprobe output %s", out)
	}
	d, _ := strconv.ParseFloat(r.Format.Duration, 64)
	return r.Streams[0].CodecName, d
}
