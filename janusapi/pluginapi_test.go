package janusapi

import (
	"encoding/json"
	"testing"
)

// TestPluginAPISynchronous checks which plugin errors are answered
// synchronously, per plugin, as the Janus plugins answer them.
func TestPluginAPISynchronous(t *testing.T) {
	apis := DefaultPlugins()
	testCases := []struct {
		plugin string
		body   string
		sync   bool
	}{
		{VideoRoomPlugin, `{"request":"create"}`, true},
		{VideoRoomPlugin, `{"request":"LIST"}`, true},
		{VideoRoomPlugin, `{"request":"rtp_forward","room":1}`, true},
		{VideoRoomPlugin, `{"request":"join","ptype":"publisher"}`, false},
		{VideoRoomPlugin, `{"request":"start"}`, false},
		{VideoRoomPlugin, `{"request":"nonsense"}`, true}, // Janus: unknown requests synchronously
		{VideoRoomPlugin, `{}`, true},
		{VideoRoomPlugin, `{"request":5}`, true},
		{EchoTestPlugin, `{"audio":true}`, false},
		{EchoTestPlugin, `{"request":"nonsense"}`, false},
		{"janus.plugin.other", `{"request":"create"}`, false},
	}
	for _, tc := range testCases {
		api := apis[tc.plugin].withDefaults(tc.plugin)
		if got := api.synchronous(json.RawMessage(tc.body)); got != tc.sync {
			t.Errorf("%s %s: synchronous %v, want %v", tc.plugin, tc.body, got, tc.sync)
		}
	}
	var d map[string]any
	if err := json.Unmarshal(PluginAPI{}.withDefaults("janus.plugin.other").errorData(499, "oops"), &d); err != nil ||
		d["other"] != "event" || d["error_code"] != float64(499) || d["error"] != "oops" {
		t.Errorf("error data %v (%v)", d, err)
	}
}

// TestEventQueue checks the long-poll queue: order, batches, the bound,
// wake-ups and the end.
func TestEventQueue(t *testing.T) {
	q := newEventQueue(3)
	ready, over := q.wait()
	select {
	case <-ready:
		t.Fatal("an empty queue is ready")
	default:
	}
	for _, e := range []string{"a", "b", "c", "d"} {
		q.push([]byte(e))
	}
	select {
	case <-ready:
	default:
		t.Fatal("push did not wake the waiter")
	}
	if over {
		t.Fatal("a live queue is over")
	}
	got := q.take(2)
	if len(got) != 2 || string(got[0]) != "b" || string(got[1]) != "c" {
		t.Fatalf("take(2) = %q, want the oldest kept (a dropped)", got)
	}
	q.close()
	if _, over := q.wait(); !over {
		t.Error("a closed queue is not over")
	}
	if got := q.take(0); len(got) != 1 || string(got[0]) != "d" {
		t.Errorf("take after close = %q", got)
	}
	q.push([]byte("e"))
	if got := q.take(0); len(got) != 0 {
		t.Errorf("a closed queue took %q", got)
	}
}
