package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ianua/ianua/echotest"
)

// dialWS opens the signaling socket and reads the "attached" greeting.
func dialWS(t *testing.T, ctx context.Context, addr string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if m := readMsg(t, ctx, c); m.Type != "attached" || m.SessionID == 0 || m.HandleID == 0 {
		t.Fatalf("first message %+v, want attached with ids", m)
	}
	return c
}

func readMsg(t *testing.T, ctx context.Context, c *websocket.Conn) serverMsg {
	t.Helper()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m serverMsg
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("bad server message %s: %v", data, err)
	}
	return m
}

// TestSignaling checks the answers of the WebSocket protocol (README.md,
// "Signaling") without a browser: acks, plugin events and error codes.
func TestSignaling(t *testing.T) {
	addr, _ := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialWS(t, ctx, addr)

	testCases := []struct {
		name string
		send string
		want serverMsg // Type, Tx and Code are compared
		// event: a plugin event with this tx follows (in either order)
		event bool
	}{
		{"keepalive", `{"type":"keepalive","tx":"k"}`, serverMsg{Type: "ack", Tx: "k"}, false},
		{"configure", `{"type":"message","tx":"m1","body":{"bitrate":128000,"keyframe":true}}`, serverMsg{Type: "ack", Tx: "m1"}, true},
		{"no body", `{"type":"message","tx":"m2"}`, serverMsg{Type: "error", Tx: "m2", Code: echotest.ErrorNoMessage}, false},
		{"body not an object", `{"type":"message","tx":"m3","body":"x"}`, serverMsg{Type: "error", Tx: "m3", Code: echotest.ErrorInvalidJSON}, false},
		{"wrong element type", `{"type":"message","tx":"m4","body":{"audio":"yes"}}`, serverMsg{Type: "error", Tx: "m4", Code: echotest.ErrorInvalidElement}, false},
		{"unknown JSEP type", `{"type":"message","tx":"m5","body":{},"jsep":{"type":"pranswer","sdp":""}}`, serverMsg{Type: "error", Tx: "m5", Code: codeJSEPUnknownType}, false},
		{"bad SDP", `{"type":"message","tx":"m6","body":{},"jsep":{"type":"offer","sdp":"v=0 garbage"}}`, serverMsg{Type: "error", Tx: "m6", Code: codeJSEPInvalidSDP}, false},
		{"answer without offer", `{"type":"message","tx":"m7","body":{},"jsep":{"type":"answer","sdp":"v=0"}}`, serverMsg{Type: "error", Tx: "m7", Code: codeUnexpectedAnswer}, false},
		{"candidate before the offer", `{"type":"trickle","tx":"t1","candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}}`, serverMsg{Type: "ack", Tx: "t1"}, false},
		{"candidate off loopback, skipped", `{"type":"trickle","tx":"t2","candidate":{"candidate":"candidate:2 1 udp 2122260223 192.0.2.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}}`, serverMsg{Type: "ack", Tx: "t2"}, false},
		{"bad candidate", `{"type":"trickle","tx":"t3","candidate":{"candidate":"candidate:nonsense","sdpMid":"0"}}`, serverMsg{Type: "error", Tx: "t3", Code: codeTrickleInvalid}, false},
		{"end of candidates", `{"type":"trickle","tx":"t4","completed":true}`, serverMsg{Type: "ack", Tx: "t4"}, false},
		{"unknown type", `{"type":"bogus","tx":"u"}`, serverMsg{Type: "error", Tx: "u", Code: codeUnknownRequest}, false},
		{"not JSON", `{`, serverMsg{Type: "error", Code: codeInvalidJSON}, false},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Write(ctx, websocket.MessageText, []byte(tc.send)); err != nil {
				t.Fatalf("write: %v", err)
			}
			var gotReply, gotEvent bool
			for !gotReply || (tc.event && !gotEvent) {
				m := readMsg(t, ctx, c)
				if m.Type == "event" {
					var data struct{ Echotest, Result string }
					if err := json.Unmarshal(m.Data, &data); err != nil || m.Tx != tc.want.Tx || data.Result != "ok" {
						t.Fatalf("event %+v (%s), want result ok for tx %q", m, m.Data, tc.want.Tx)
					}
					gotEvent = true
					continue
				}
				if m.Type != tc.want.Type || m.Tx != tc.want.Tx || m.Code != tc.want.Code {
					t.Fatalf("got %+v, want %+v", m, tc.want)
				}
				gotReply = true
			}
		})
	}
}

// TestShutdownClosesClients checks that run returns, cleanly and promptly,
// while a client is connected, and that the client's socket ends.
func TestShutdownClosesClients(t *testing.T) {
	addr, stop := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialWS(t, ctx, addr)

	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("the socket is still open after shutdown")
	}
	// A new client finds nobody.
	if c2, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil); err == nil {
		c2.CloseNow()
		t.Fatal("dial after shutdown succeeded")
	}
}
