package sipgw

import "testing"

func TestDTMFDetector(t *testing.T) {
	var d dtmfDetector
	ev := func(code byte, end bool, dur uint16) []byte {
		b := []byte{code, 10, byte(dur >> 8), byte(dur)}
		if end {
			b[1] |= 0x80
		}
		return b
	}
	testCases := []struct {
		ts      uint32
		payload []byte
		signal  string
		ms      int
	}{
		{1000, ev(5, false, 160), "", 0},
		{1000, ev(5, false, 320), "", 0},
		{1000, ev(5, true, 800), "5", 100},
		{1000, ev(5, true, 800), "", 0}, // the end packet's copies
		{1000, ev(5, true, 800), "", 0},
		{2000, ev(5, true, 400), "5", 50}, // same key again
		{3000, ev(11, true, 1600), "#", 200},
		{4000, ev(16, true, 1600), "", 0}, // flash: not a key
		{5000, []byte{1, 0x80}, "", 0},    // short
	}
	for i, tc := range testCases {
		sig, ms, ok := d.packet(tc.ts, tc.payload, 8000)
		if ok != (tc.signal != "") || sig != tc.signal || ms != tc.ms {
			t.Errorf("case %d: %q %d %v", i, sig, ms, ok)
		}
	}
}

func TestDTMFRelay(t *testing.T) {
	body := dtmfRelayBody("7", 250)
	sig, ms, ok := parseDTMFRelay(body)
	if !ok || sig != "7" || ms != 250 {
		t.Fatalf("%q: %q %d %v", body, sig, ms, ok)
	}
	if string(dtmfRelayBody("1", 0)) != "Signal=1\r\nDuration=160\r\n" {
		t.Errorf("default duration: %q", dtmfRelayBody("1", 0))
	}
	if _, _, ok := parseDTMFRelay([]byte("Signal=12\nDuration=1")); ok {
		t.Error("two-key signal accepted")
	}
	if sig, ms, ok := parseDTMFRelay([]byte("signal = #\r\nduration= 90\r\n")); !ok || sig != "#" || ms != 90 {
		t.Errorf("%q %d %v", sig, ms, ok)
	}
	for _, s := range []string{"0", "9", "*", "#", "a", "D"} {
		if !validDigit(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "12", "x", "\n"} {
		if validDigit(s) {
			t.Errorf("%q accepted", s)
		}
	}
}
