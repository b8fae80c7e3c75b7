// Package srtpin decrypts SRTP (RFC 3711) arriving on a UDP socket for
// ianua.Source.ReadPackets, keyed the way Janus configures SRTP ingest: a
// suite (32 or 80, the AES_CM_128_HMAC_SHA1 tag length) and the base64
// master key and salt, as in SDES (RFC 4568).
package srtpin

import (
	"encoding/base64"
	"fmt"
	"net"

	"github.com/pion/srtp/v3"
)

// Decrypter decrypts one socket's SRTP (RFC 3711), keyed as Janus
// Streaming's srtpsuite / srtpcrypto settings say.
type Decrypter struct {
	ctx *srtp.Context
	buf [1500]byte
}

// New returns a Decrypter for a suite and a key.
func New(suite int, crypto string) (*Decrypter, error) {
	var profile srtp.ProtectionProfile
	switch suite {
	case 32:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_32
	case 80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return nil, fmt.Errorf("srtpsuite %d (want 32 or 80)", suite)
	}
	key, err := base64.StdEncoding.DecodeString(crypto)
	if err != nil {
		return nil, fmt.Errorf("srtpcrypto: %w", err)
	}
	keyLen, _ := profile.KeyLen()
	saltLen, _ := profile.SaltLen()
	if len(key) != keyLen+saltLen {
		return nil, fmt.Errorf("srtpcrypto: %d bytes, want %d (key and salt)", len(key), keyLen+saltLen)
	}
	ctx, err := srtp.CreateContext(key[:keyLen], key[keyLen:], profile, srtp.SRTPReplayProtection(256))
	if err != nil {
		return nil, fmt.Errorf("srtpcrypto: %w", err)
	}
	return &Decrypter{ctx: ctx}, nil
}

// Reader returns a read function for Source.ReadPackets: each call reads
// one datagram and decrypts it into the caller's buffer. A packet that
// does not authenticate (or a replay) reads as empty, which ReadPackets
// counts as dropped.
func (s *Decrypter) Reader(conn *net.UDPConn) func([]byte) (int, error) {
	return func(b []byte) (int, error) {
		n, err := conn.Read(s.buf[:])
		if err != nil {
			return 0, err
		}
		out, err := s.ctx.DecryptRTP(b[:0], s.buf[:n], nil)
		if err != nil {
			return 0, nil
		}
		return copy(b, out), nil
	}
}

// Decrypt decrypts one SRTP packet into dst (at least as long as pkt) and
// returns the RTP packet's length.
func (s *Decrypter) Decrypt(dst, pkt []byte) (int, error) {
	out, err := s.ctx.DecryptRTP(dst[:0], pkt, nil)
	if err != nil {
		return 0, err
	}
	return copy(dst, out), nil
}
