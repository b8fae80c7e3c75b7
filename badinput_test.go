package ianua_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/echotest"
	"github.com/ianua/ianua/internal/testpeer"
)

// clientOffer returns a valid offer from a pion client with audio, video
// and data.
func clientOffer(t *testing.T) string {
	t.Helper()
	pc := newClient(t, clientOptions{})
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pc.CreateDataChannel("d", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// unusableOffer keeps a valid offer's transport but offers only a codec
// nobody supports.
func unusableOffer(valid string) string {
	var out []string
	skip := false
	for _, line := range strings.Split(strings.TrimRight(valid, "\r\n"), "\r\n") {
		switch {
		case strings.HasPrefix(line, "m=application"):
			skip = true
			continue
		case strings.HasPrefix(line, "m=audio"):
			skip = false
			line = "m=audio 9 UDP/TLS/RTP/SAVPF 99"
			out = append(out, line, "a=rtpmap:99 speex/16000")
			continue
		case strings.HasPrefix(line, "m=video"):
			skip = false
			line = "m=video 9 UDP/TLS/RTP/SAVPF 98"
			out = append(out, line, "a=rtpmap:98 theora/90000")
			continue
		case strings.HasPrefix(line, "a=group:BUNDLE"):
			line = "a=group:BUNDLE 0 1"
		case strings.HasPrefix(line, "a=rtpmap:"), strings.HasPrefix(line, "a=fmtp:"), strings.HasPrefix(line, "a=rtcp-fb:"):
			continue
		}
		if !skip {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\r\n") + "\r\n"
}

func TestBadInput(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	valid := clientOffer(t)
	ctx := context.Background()

	type setup struct {
		s *ianua.Session
		h *ianua.Handle
	}
	fresh := func(t *testing.T) setup {
		s, err := r.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		testpeer.Watch(s)
		h, err := s.Attach(echotest.Name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Destroy() })
		return setup{s, h}
	}
	msg := func(body string, jsep *ianua.JSEP) func(t *testing.T, x setup) error {
		return func(t *testing.T, x setup) error {
			_, err := x.h.Message(ctx, ianua.Message{Body: []byte(body), JSEP: jsep})
			return err
		}
	}

	testCases := []struct {
		name string
		do   func(t *testing.T, x setup) error
		want error
		code int // Janus EchoTest error code, when the plugin refuses
	}{
		{"malformed JSON body", msg(`{"audio":`, nil), ianua.ErrMalformedBody, echotest.ErrorInvalidJSON},
		{"empty body", msg(``, nil), ianua.ErrMalformedBody, echotest.ErrorNoMessage},
		{"body not an object", msg(`[1,2]`, nil), ianua.ErrMalformedBody, echotest.ErrorInvalidJSON},
		{"wrong element type", msg(`{"audio":"yes"}`, nil), ianua.ErrInvalidElement, echotest.ErrorInvalidElement},
		{"unknown request", msg(`{"request":"dance"}`, nil), ianua.ErrUnknownRequest, echotest.ErrorInvalidElement},
		{"malformed body with a valid offer", msg(`{"audio":`, &ianua.JSEP{Type: "offer", SDP: valid}), ianua.ErrMalformedBody, echotest.ErrorInvalidJSON},
		{"invalid SDP", msg(`{}`, &ianua.JSEP{Type: "offer", SDP: "this is not SDP"}), ianua.ErrInvalidSDP, 0},
		{"empty SDP", msg(`{}`, &ianua.JSEP{Type: "offer", SDP: ""}), ianua.ErrInvalidSDP, 0},
		{"truncated SDP", msg(`{}`, &ianua.JSEP{Type: "offer", SDP: valid[:len(valid)/3]}), ianua.ErrInvalidSDP, 0},
		{"unknown JSEP type", msg(`{}`, &ianua.JSEP{Type: "bogus", SDP: valid}), ianua.ErrInvalidJSEP, 0},
		{"answer with no pending offer", msg(`{}`, &ianua.JSEP{Type: "answer", SDP: valid}), ianua.ErrNoPendingOffer, 0},
		{"offer with no usable codec", msg(`{}`, &ianua.JSEP{Type: "offer", SDP: unusableOffer(valid)}), ianua.ErrNoCommonCodec, 0},
		{"garbage candidate", func(t *testing.T, x setup) error {
			return x.h.Trickle(webrtc.ICECandidateInit{Candidate: "candidate:not a candidate"})
		}, ianua.ErrInvalidCandidate, 0},
		{"trickle after hangup", func(t *testing.T, x setup) error {
			if _, err := x.h.Message(ctx, ianua.Message{Body: []byte(`{}`), JSEP: &ianua.JSEP{Type: "offer", SDP: valid}}); err != nil {
				t.Fatal(err)
			}
			x.h.Hangup("test")
			return x.h.Trickle(webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"})
		}, ianua.ErrNoPeerConnection, 0},
		{"message after detach", func(t *testing.T, x setup) error {
			if err := x.h.Detach(); err != nil {
				t.Fatal(err)
			}
			_, err := x.h.Message(ctx, ianua.Message{Body: []byte(`{}`)})
			return err
		}, ianua.ErrHandleDetached, 0},
		{"trickle after detach", func(t *testing.T, x setup) error {
			_ = x.h.Detach()
			return x.h.Trickle(webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"})
		}, ianua.ErrHandleDetached, 0},
		{"message after destroy", func(t *testing.T, x setup) error {
			_ = x.s.Destroy()
			_, err := x.h.Message(ctx, ianua.Message{Body: []byte(`{}`)})
			return err
		}, ianua.ErrHandleDetached, 0},
		{"attach after destroy", func(t *testing.T, x setup) error {
			_ = x.s.Destroy()
			_, err := x.s.Attach(echotest.Name)
			return err
		}, ianua.ErrSessionDestroyed, 0},
		{"attach to an unknown plugin", func(t *testing.T, x setup) error {
			_, err := x.s.Attach("janus.plugin.nonesuch")
			return err
		}, ianua.ErrUnknownPlugin, 0},
		{"unknown session", func(t *testing.T, x setup) error {
			_, err := r.Session(x.s.ID() + 1)
			return err
		}, ianua.ErrUnknownSession, 0},
		{"unknown handle", func(t *testing.T, x setup) error {
			_, err := x.s.Handle(x.h.ID() + 1)
			return err
		}, ianua.ErrUnknownHandle, 0},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			x := fresh(t)
			err := tc.do(t, x)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.code != 0 {
				var pe *ianua.PluginError
				if !errors.As(err, &pe) || pe.Code != tc.code {
					t.Errorf("plugin error %v, want code %d", err, tc.code)
				}
			}
			// Refused input changes nothing: no PeerConnection was left
			// behind and the handle still works when it is attached.
			if x.h.Info().HasPeerConnection {
				t.Error("a PeerConnection was left behind")
			}
		})
	}

	// After all of that, the same handle still negotiates.
	t.Run("handle still usable", func(t *testing.T) {
		x := fresh(t)
		for _, tc := range testCases[:12] {
			_ = tc.do(t, x)
		}
		if _, err := x.h.Message(ctx, ianua.Message{Body: []byte(`{"audio":true}`), JSEP: &ianua.JSEP{Type: "offer", SDP: valid}}); err != nil {
			t.Fatalf("valid offer after bad input: %v", err)
		}
		if !x.h.Info().HasPeerConnection {
			t.Error("no PeerConnection after a valid offer")
		}
	})
}

// Concurrent messages on one handle are serialised, never interleaved.
func TestConcurrentMessages(t *testing.T) {
	checkLeaks(t)
	r := newRouter(t, nil)
	c := connectedCall(t, r, clientOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			body := mustJSON(map[string]any{"audio": i%2 == 0, "video": true, "bitrate": 100000 + i})
			if _, err := c.h.Message(ctx, ianua.Message{Body: body}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One ok event for the offer, one per message.
	testpeer.WaitFor(t, 2*time.Second, "41 ok events", func() bool { return c.log.Count(pluginResult("ok", "")) == 41 })
}
