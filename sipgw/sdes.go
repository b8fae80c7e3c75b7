package sipgw

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/srtp/v3"
)

// SDES-SRTP (RFC 4568): keys in a=crypto lines of the SDP, SRTP (RFC 3711)
// on the SIP leg. The WebRTC leg has its own DTLS-SRTP keys, so packets are
// decrypted and re-encrypted at the gateway; the payload stays untouched.

// srtpMode is what the "srtp" field of call and accept asks for.
type srtpMode int

const (
	srtpOff       srtpMode = iota
	srtpOptional           // sdes_optional: RTP/AVP with a=crypto
	srtpMandatory          // sdes_mandatory: RTP/SAVP
)

func parseSRTPMode(s string) (srtpMode, bool) {
	switch s {
	case "":
		return srtpOff, true
	case "sdes_optional":
		return srtpOptional, true
	case "sdes_mandatory":
		return srtpMandatory, true
	}
	return srtpOff, false
}

func (m srtpMode) String() string {
	switch m {
	case srtpOptional:
		return "sdes_optional"
	case srtpMandatory:
		return "sdes_mandatory"
	}
	return ""
}

// The crypto suites we offer and accept (RFC 4568 section 6.2), with the
// key and salt lengths of AES-CM-128.
const (
	suite80 = "AES_CM_128_HMAC_SHA1_80"
	suite32 = "AES_CM_128_HMAC_SHA1_32"
)

const (
	sdesKeyLen  = 16
	sdesSaltLen = 14
)

var errCrypto = errors.New("sdes: unusable a=crypto")

// sdesKey is one a=crypto line: a tag, a suite and the master key and
// salt.
type sdesKey struct {
	Tag   int
	Suite string
	Key   []byte // master key || master salt, 30 bytes
}

func suiteProfile(suite string) (srtp.ProtectionProfile, bool) {
	switch suite {
	case suite80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, true
	case suite32:
		return srtp.ProtectionProfileAes128CmHmacSha1_32, true
	}
	return 0, false
}

// parseCrypto reads the value of an a=crypto attribute:
//
//	<tag> <suite> inline:<base64 key||salt>[|lifetime][|MKI:length] [params]
//
// Keys with an MKI, several keys, or session parameters are refused.
func parseCrypto(v string) (sdesKey, error) {
	fields := strings.Fields(v)
	if len(fields) != 3 {
		return sdesKey{}, fmt.Errorf("%w: %q", errCrypto, v)
	}
	tag, err := strconv.Atoi(fields[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return sdesKey{}, fmt.Errorf("%w: tag %q", errCrypto, fields[0])
	}
	if _, ok := suiteProfile(fields[1]); !ok {
		return sdesKey{}, fmt.Errorf("%w: suite %s", errCrypto, fields[1])
	}
	inline, ok := strings.CutPrefix(fields[2], "inline:")
	if !ok || strings.Contains(inline, ";") {
		return sdesKey{}, fmt.Errorf("%w: key params %q", errCrypto, fields[2])
	}
	b64, rest, _ := strings.Cut(inline, "|")
	if strings.Contains(rest, ":") {
		return sdesKey{}, fmt.Errorf("%w: MKI", errCrypto)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return sdesKey{}, fmt.Errorf("%w: key: %v", errCrypto, err)
		}
	}
	if len(key) != sdesKeyLen+sdesSaltLen {
		return sdesKey{}, fmt.Errorf("%w: key of %d bytes", errCrypto, len(key))
	}
	return sdesKey{Tag: tag, Suite: fields[1], Key: key}, nil
}

// newKey makes a fresh master key and salt for suite.
func newKey(tag int, suite string) (sdesKey, error) {
	key := make([]byte, sdesKeyLen+sdesSaltLen)
	if _, err := rand.Read(key); err != nil {
		return sdesKey{}, err
	}
	return sdesKey{Tag: tag, Suite: suite, Key: key}, nil
}

// attribute is the value of our a=crypto line.
func (k sdesKey) attribute() string {
	return fmt.Sprintf("%d %s inline:%s", k.Tag, k.Suite, base64.StdEncoding.EncodeToString(k.Key))
}

// context makes the SRTP context of this key. An inbound one keeps a
// replay window (RFC 3711 section 3.3.2).
func (k sdesKey) context(inbound bool) (*srtp.Context, error) {
	profile, ok := suiteProfile(k.Suite)
	if !ok {
		return nil, errCrypto
	}
	var opts []srtp.ContextOption
	if inbound {
		opts = append(opts, srtp.SRTPReplayProtection(64), srtp.SRTCPReplayProtection(64))
	}
	return srtp.CreateContext(k.Key[:sdesKeyLen], k.Key[sdesKeyLen:], profile, opts...)
}

// pickCrypto is the first of the peer's keys we can use.
func pickCrypto(keys []sdesKey) (sdesKey, bool) {
	for _, k := range keys {
		if _, ok := suiteProfile(k.Suite); ok {
			return k, true
		}
	}
	return sdesKey{}, false
}

// srtpPair is the SRTP state of one media stream (RFC 4568 keys are per
// stream): our key (to encrypt what we send) and the peer's (to decrypt
// what we get), each with a context for RTP and one for RTCP (SRTCP, RFC
// 3711 section 3.4). Each RTP context is used by one goroutine only: out
// by the browser's track handler, in by the reader. The RTCP ones serve
// several (both readers, the keyframe requests) and lock.
type srtpPair struct {
	out, in         *srtp.Context
	rtcpOut, rtcpIn *srtcpContext
}

// srtcpContext is an SRTCP context shared by goroutines.
type srtcpContext struct {
	mu  sync.Mutex
	ctx *srtp.Context
}

func newSRTPPair(local, remote sdesKey) (*srtpPair, error) {
	out, err := local.context(false)
	if err != nil {
		return nil, err
	}
	rtcpOut, err := local.context(false)
	if err != nil {
		return nil, err
	}
	return rekeyed(&srtpPair{out: out, rtcpOut: &srtcpContext{ctx: rtcpOut}}, remote)
}

// rekeyed is a pair with the outbound contexts of p (our key does not
// change, and a new context would reuse its packet indexes: RFC 3711
// section 9.1) and inbound ones for the peer's key remote.
func rekeyed(p *srtpPair, remote sdesKey) (*srtpPair, error) {
	in, err := remote.context(true)
	if err != nil {
		return nil, err
	}
	rtcpIn, err := remote.context(true)
	if err != nil {
		return nil, err
	}
	return &srtpPair{out: p.out, rtcpOut: p.rtcpOut, in: in, rtcpIn: &srtcpContext{ctx: rtcpIn}}, nil
}

// encryptRTCP appends the SRTCP form of the compound packet b to dst.
func (s *srtpPair) encryptRTCP(dst, b []byte) ([]byte, error) {
	s.rtcpOut.mu.Lock()
	defer s.rtcpOut.mu.Unlock()
	return s.rtcpOut.ctx.EncryptRTCP(dst, b, nil)
}

// decryptRTCP authenticates and decrypts the peer's SRTCP packet b into
// dst; a failed authentication or a replay is an error (RFC 3711 section
// 3.4).
func (s *srtpPair) decryptRTCP(dst, b []byte) ([]byte, error) {
	s.rtcpIn.mu.Lock()
	defer s.rtcpIn.mu.Unlock()
	return s.rtcpIn.ctx.DecryptRTCP(dst, b, nil)
}
