package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TestMountpointOptions checks how the flags become mountpoint parameters.
func TestMountpointOptions(t *testing.T) {
	testCases := []struct {
		name    string
		o       mountpointOptions
		wantErr string
		host    string
		media   string // type:codec:port, ...
	}{
		{"defaults", mountpointOptions{ID: 1, Video: "127.0.0.1:5004", Audio: "127.0.0.1:5006", VideoCodec: "vp8"}, "", "127.0.0.1", "video:vp8:5004,audio:opus:5006"},
		{"h264, upper case", mountpointOptions{ID: 1, Video: "127.0.0.1:0", VideoCodec: "H264"}, "", "127.0.0.1", "video:h264:0"},
		{"audio only", mountpointOptions{ID: 1, Audio: "127.0.0.1:5006"}, "", "127.0.0.1", "audio:opus:5006"},
		{"every interface", mountpointOptions{ID: 1, Video: ":5004", Audio: ":5006", VideoCodec: "vp8"}, "", "0.0.0.0", "video:vp8:5004,audio:opus:5006"},
		{"IPv6", mountpointOptions{ID: 1, Video: "[::1]:5004", VideoCodec: "vp8"}, "", "::1", "video:vp8:5004"},
		{"no stream", mountpointOptions{ID: 1}, "give -mountpoint-video or -mountpoint-audio", "", ""},
		{"two hosts", mountpointOptions{ID: 1, Video: "127.0.0.1:5004", Audio: "0.0.0.0:5006", VideoCodec: "vp8"}, "same host", "", ""},
		{"host name", mountpointOptions{ID: 1, Video: "localhost:5004", VideoCodec: "vp8"}, "not an IP address", "", ""},
		{"no port", mountpointOptions{ID: 1, Video: "127.0.0.1", VideoCodec: "vp8"}, "-mountpoint-video", "", ""},
		{"bad port", mountpointOptions{ID: 1, Audio: "127.0.0.1:70000"}, "port", "", ""},
		{"VP9", mountpointOptions{ID: 1, Video: "127.0.0.1:5004", VideoCodec: "vp9"}, "neither vp8 nor h264", "", ""},
	}
	for _, tc := range testCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.o.params()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var media []string
			for _, m := range p.Media {
				media = append(media, fmt.Sprintf("%s:%s:%d", m.Type, m.Codec, m.Port))
			}
			if got := strings.Join(media, ","); got != tc.media || p.LocalIP != tc.host || p.ID != tc.o.ID {
				t.Errorf("got id %d host %q media %s, want host %q media %s", p.ID, p.LocalIP, got, tc.host, tc.media)
			}
		})
	}
}

// TestMountpointPortTaken: a mountpoint that cannot bind its port stops
// the program at start, with nothing left running.
func TestMountpointPortTaken(t *testing.T) {
	taken, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	opts := options{Addr: "127.0.0.1:0", ICEUDP: "127.0.0.1:0", Room: 1234,
		Mountpoint: mountpointOptions{ID: 1, Video: taken.LocalAddr().String(), VideoCodec: "vp8"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = run(ctx, opts, func(*app) { t.Error("the server started") })
	if err == nil || !strings.Contains(err.Error(), "mountpoint") {
		t.Errorf("run: %v, want a mountpoint error", err)
	}
}

// getMountpoints reads /mountpoints.
func getMountpoints(t *testing.T, base string) mountpointsReply {
	t.Helper()
	status, _, body := request(t, http.MethodGet, base+"/mountpoints", testToken, "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /mountpoints: %d %s", status, body)
	}
	var r mountpointsReply
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET /mountpoints: %v in %s", err, body)
	}
	return r
}

// sendRTP sends synthetic RTP to the mountpoint's ports, as an encoder
// would: VP8 keyframes and Opus-sized audio every 10 ms, until the
// returned func is called.
func sendRTP(t *testing.T, a *app) func() {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, m := range a.mountpoint.Params().Media {
		conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: m.Port})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			payload := make([]byte, 160)
			step := uint32(480)
			if m.Type == "video" {
				payload[0] = 0x10 // VP8 keyframe: the player starts at once
				step = 900
			}
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: m.PT, SSRC: uint32(m.Port), Marker: true}, Payload: payload}
			for i := 0; ; i++ {
				pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i)*step
				if b, err := pkt.Marshal(); err == nil {
					_, _ = conn.Write(b)
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}
	return sync.OnceFunc(func() { close(stop); wg.Wait() })
}

// TestMountpointToPlayer feeds the mountpoint with RTP, sees it in
// /mountpoints, plays it with a pion WHEP client, and checks that DELETE
// frees the session and the subscriptions.
func TestMountpointToPlayer(t *testing.T) {
	a := startServerWith(t, withMountpoint)
	base := "http://" + a.addr
	r := getMountpoints(t, base)
	if len(r.Mountpoints) != 1 || r.Mountpoints[0].ID != 1 || r.Mountpoints[0].Receiving || len(r.Mountpoints[0].Streams) != 2 {
		t.Fatalf("/mountpoints before RTP: %+v", r)
	}
	for i, s := range r.Mountpoints[0].Streams {
		if want := a.mountpoint.Params().Media[i]; s.Port != want.Port || s.Port == 0 || s.Codec != want.Codec {
			t.Errorf("stream %d: %+v, want port %d codec %s", i, s, want.Port, want.Codec)
		}
	}
	defer sendRTP(t, a)()
	waitFor(t, 5*time.Second, "/mountpoints says receiving", func() bool {
		r := getMountpoints(t, base)
		return len(r.Mountpoints) == 1 && r.Mountpoints[0].Receiving
	})

	view := newClient(t)
	var audio, video atomic.Int64
	view.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := &audio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			n = &video
		}
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			n.Add(1)
		}
	})
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := view.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	status, loc, answer := request(t, http.MethodPost, base+"/whep/mountpoint/1", testToken, "application/sdp", offerOf(t, view))
	if status != http.StatusCreated || !strings.HasPrefix(loc, "/whep/mountpoint/1/") {
		t.Fatalf("WHEP POST: %d %q %s", status, loc, answer)
	}
	if strings.Count(answer, "a=sendonly") != 2 || !strings.Contains(answer, "VP8/90000") || !strings.Contains(answer, "opus/48000") {
		t.Errorf("the WHEP answer does not send VP8 and Opus:\n%s", answer)
	}
	if err := view.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "audio and video from the mountpoint", func() bool {
		return audio.Load() > 20 && video.Load() > 20
	})

	if status, _, body := request(t, http.MethodDelete, base+loc, testToken, "", ""); status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	waitFor(t, 5*time.Second, "the session and subscriptions freed", func() bool {
		n := 0
		for _, s := range a.mountpoint.Sources() {
			n += len(s.Subscribers())
		}
		return a.liveSessions() == 0 && n == 0
	})
}
