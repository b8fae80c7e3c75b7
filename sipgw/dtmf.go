package sipgw

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// dtmfEvents are the RFC 4733 section 3.2 event codes 0-15 as the
// characters Janus reports.
const dtmfEvents = "0123456789*#ABCD"

// dtmfDetector turns RFC 4733 telephone-event packets into key presses.
// An event is reported once, on its first packet with the E (end) bit: the
// end packet is sent three times (RFC 4733 section 2.5.1.4) and all three
// carry the same RTP timestamp, which tells the copies apart from a new
// press of the same key.
type dtmfDetector struct {
	seen     bool
	lastTS   uint32
	lastCode uint8
}

// packet reads one telephone-event payload with the RTP timestamp of its
// packet. It returns the key and its duration in milliseconds when the
// packet ends a new event.
func (d *dtmfDetector) packet(ts uint32, payload []byte, clock uint32) (signal string, ms int, ok bool) {
	// event (8) | E R volume (8) | duration (16), RFC 4733 section 2.3.
	if len(payload) < 4 || clock == 0 {
		return "", 0, false
	}
	code := payload[0]
	end := payload[1]&0x80 != 0
	if !end || code >= uint8(len(dtmfEvents)) {
		return "", 0, false
	}
	if d.seen && d.lastTS == ts && d.lastCode == code {
		return "", 0, false
	}
	d.seen, d.lastTS, d.lastCode = true, ts, code
	duration := binary.BigEndian.Uint16(payload[2:4])
	return dtmfEvents[code : code+1], int(uint32(duration) * 1000 / clock), true
}

// parseDTMFRelay reads an application/dtmf-relay INFO body:
//
//	Signal=5
//	Duration=160
//
// (the de facto format, draft-kaplan-dispatch-info-dtmf-package-00).
func parseDTMFRelay(body []byte) (signal string, ms int, ok bool) {
	for line := range strings.SplitSeq(string(body), "\n") {
		k, v, found := strings.Cut(strings.TrimSpace(line), "=")
		if !found {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "signal":
			signal = v
		case "duration":
			ms, _ = strconv.Atoi(v)
		}
	}
	if len(signal) != 1 {
		return "", 0, false
	}
	return signal, ms, true
}

// dtmfRelayBody writes an application/dtmf-relay body. Janus bounds the
// duration to 5 s and defaults to 160 ms; so do we.
func dtmfRelayBody(digit string, ms int) []byte {
	if ms <= 0 || ms > 5000 {
		ms = 160
	}
	return fmt.Appendf(nil, "Signal=%s\r\nDuration=%d\r\n", digit, ms)
}

// validDigit says whether s is one DTMF key.
func validDigit(s string) bool {
	return len(s) == 1 && strings.ContainsAny(strings.ToUpper(s), dtmfEvents)
}
