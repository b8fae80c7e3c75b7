// Command floor is the physical floor of forwarding, the part of a
// server's work per outbound packet that no SFU can avoid: one SRTP
// encryption and one UDP send. It runs that loop and nothing else, at a
// given packet rate, mix of packet sizes and number of receivers, so that
// bench/load can read its CPU time from /proc and divide a server's CPU
// per forwarded packet by it.
//
//	go run ./bench/floor -dst 127.0.0.1:9999 -pps 40000 -streams 200 -duration 10s
//
// Each stream stands for one subscriber: an SRTP context of its own (its
// own keys, as each subscriber's DTLS handshake gives) with an audio and a
// video SSRC. Packets go out in rounds, one packet per stream, as a server
// fans one source packet out to its subscribers; a round is audio with
// probability -audio-share. Packets carry a one-byte header extension
// like the transport-wide-cc one pion adds to forwarded packets.
//
// On stdout it prints {"event":"start"} when the loop begins and
// {"event":"done",...} when it ends, then waits for stdin to close, so
// that the process is still there when bench/load reads its CPU time.
package main

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// done is the last line printed.
type done struct {
	Event   string  `json:"event"`
	Packets uint64  `json:"packets"`
	Seconds float64 `json:"seconds"`
	Errors  uint64  `json:"errors"`
	Profile string  `json:"profile"`
}

func main() {
	dst := flag.String("dst", "", "UDP address to send to (a loopback socket someone drains)")
	pps := flag.Float64("pps", 1000, "total packets per second")
	streams := flag.Int("streams", 1, "receivers: SRTP contexts, packets per round")
	audioShare := flag.Float64("audio-share", 0.25, "fraction of rounds that are audio packets")
	videoSize := flag.Int("video-size", 1100, "RTP payload bytes of a video packet")
	audioSize := flag.Int("audio-size", 160, "RTP payload bytes of an audio packet")
	profile := flag.String("profile", srtp.ProtectionProfileAeadAes128Gcm.String(), "SRTP protection profile, by its DTLS-SRTP name")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	tick := flag.Duration("tick", 5*time.Millisecond, "pacing interval (a server sends a source packet's copies in one burst)")
	flag.Parse()

	d, err := run(*dst, *profile, *pps, *streams, *audioShare, *videoSize, *audioSize, *duration, *tick)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(d)
	fmt.Println(string(line))
	// Wait for the reader of /proc to let go.
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// stream is one receiver's SRTP context and its two RTP streams.
type stream struct {
	ctx                *srtp.Context
	audioSeq, videoSeq uint16
	audioTS, videoTS   uint32
	audioSSRC          uint32
	videoSSRC          uint32
}

func run(dst, profileName string, pps float64, nstreams int, audioShare float64, videoSize, audioSize int, duration, tick time.Duration) (done, error) {
	if nstreams < 1 || pps <= 0 || videoSize < 1 || audioSize < 1 {
		return done{}, fmt.Errorf("bad parameters: -streams %d -pps %g -video-size %d -audio-size %d", nstreams, pps, videoSize, audioSize)
	}
	to, err := netip.ParseAddrPort(dst)
	if err != nil {
		return done{}, fmt.Errorf("-dst: %w", err)
	}
	profile, err := parseProfile(profileName)
	if err != nil {
		return done{}, err
	}
	keyLen, err := profile.KeyLen()
	if err != nil {
		return done{}, err
	}
	saltLen, err := profile.SaltLen()
	if err != nil {
		return done{}, err
	}
	streams := make([]stream, nstreams)
	for i := range streams {
		key, salt := make([]byte, keyLen), make([]byte, saltLen)
		_, _ = rand.Read(key)
		_, _ = rand.Read(salt)
		ctx, err := srtp.CreateContext(key, salt, profile)
		if err != nil {
			return done{}, err
		}
		streams[i] = stream{ctx: ctx, audioSSRC: uint32(2*i + 1), videoSSRC: uint32(2*i + 2)}
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return done{}, err
	}
	defer conn.Close()

	// Plaintext packets, built once: header with the extension, payload
	// of filler. Per packet only the sequence number, timestamp and SSRC
	// change.
	build := func(pt uint8, size int) ([]byte, rtp.Header) {
		h := rtp.Header{Version: 2, PayloadType: pt}
		_ = h.SetExtension(1, []byte{0, 0})
		p := rtp.Packet{Header: h, Payload: make([]byte, size)}
		for i := range p.Payload {
			p.Payload[i] = byte(i)
		}
		b, _ := p.Marshal()
		return b, h
	}
	videoPkt, videoHdr := build(96, videoSize)
	audioPkt, audioHdr := build(111, audioSize)
	out := make([]byte, 0, 1500)

	fmt.Println(`{"event":"start"}`)
	rounds := pps / float64(nstreams)
	var sent, errs, round uint64
	var audioAcc float64
	start := time.Now()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		elapsed := time.Since(start)
		if elapsed >= duration {
			break
		}
		due := uint64(elapsed.Seconds() * rounds)
		for ; round < due; round++ {
			audioAcc += audioShare
			audio := audioAcc >= 1
			if audio {
				audioAcc--
			}
			for i := range streams {
				s := &streams[i]
				pkt, hdr := videoPkt, &videoHdr
				if audio {
					pkt, hdr = audioPkt, &audioHdr
					s.audioSeq++
					s.audioTS += 960
					setHeader(pkt, s.audioSeq, s.audioTS, s.audioSSRC)
				} else {
					s.videoSeq++
					s.videoTS += 600
					setHeader(pkt, s.videoSeq, s.videoTS, s.videoSSRC)
				}
				// The one encryption...
				enc, err := s.ctx.EncryptRTP(out[:0], pkt, hdr)
				if err != nil {
					errs++
					continue
				}
				// ...and the one send.
				if _, err := conn.WriteToUDPAddrPort(enc, to); err != nil {
					errs++
					continue
				}
				sent++
			}
		}
		<-ticker.C
	}
	return done{Event: "done", Packets: sent, Seconds: time.Since(start).Seconds(), Errors: errs, Profile: profile.String()}, nil
}

// setHeader writes sequence number, timestamp and SSRC into a marshalled
// RTP packet (RFC 3550 section 5.1).
func setHeader(b []byte, seq uint16, ts, ssrc uint32) {
	b[2], b[3] = byte(seq>>8), byte(seq)
	b[4], b[5], b[6], b[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	b[8], b[9], b[10], b[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
}

// parseProfile maps a DTLS-SRTP profile name, as pion's stats report it
// (webrtc TransportStats.SRTPCipher), to the srtp profile.
func parseProfile(name string) (srtp.ProtectionProfile, error) {
	for _, p := range []srtp.ProtectionProfile{
		srtp.ProtectionProfileAeadAes128Gcm,
		srtp.ProtectionProfileAeadAes256Gcm,
		srtp.ProtectionProfileAes128CmHmacSha1_80,
		srtp.ProtectionProfileAes128CmHmacSha1_32,
		srtp.ProtectionProfileAes256CmHmacSha1_80,
	} {
		if p.String() == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown SRTP profile %q", name)
}
