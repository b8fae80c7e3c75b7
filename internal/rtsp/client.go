// Package rtsp is a small RTSP 1.0 client (RFC 2326) for pulling a live
// stream from a camera or a media server into plain RTP sockets: OPTIONS,
// DESCRIBE, SETUP with UDP transport (client_port), PLAY, keep-alives
// (GET_PARAMETER, or OPTIONS when the server does not take it) and
// TEARDOWN, with Basic or Digest authentication (RFC 2617). The RTP itself
// goes to the caller's UDP ports; this package only speaks the control
// protocol.
//
// When the server will not send over UDP (a camera behind NAT, a server
// that only interleaves), SetupTCP asks for the RTP interleaved on the
// RTSP connection itself (RFC 2326 section 10.12), and ReadInterleaved
// hands each packet to the caller while requests still go on.
//
// It imports nothing of ianua's.
package rtsp

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxBody bounds a response body (an SDP): a camera's is a few KiB.
const maxBody = 64 << 10

// Client is one RTSP connection to a server, for one presentation.
// Its methods must not be called concurrently, but Close may be called
// at any time, from any goroutine, to end a request in flight.
type Client struct {
	url        *url.URL // without credentials
	user, pass string
	timeout    time.Duration

	conn net.Conn
	br   *bufio.Reader
	cseq int
	auth string // the challenge to answer ("Digest ..." or "Basic ...")
	nc   int    // digest nonce count

	session        string
	sessionTimeout time.Duration
	base           string // Content-Base or Content-Location of DESCRIBE
	noGetParameter bool   // the server refused GET_PARAMETER

	// Once ReadInterleaved runs it owns the reading side: the answers
	// to requests come through responses.
	interleaving atomic.Bool
	responses    chan *response
	readDone     chan struct{}

	closeOnce sync.Once
}

// Dial connects to the server of rawURL (rtsp://[user:pass@]host[:port]/path);
// user and pass, when set, win over the URL's. timeout bounds each request.
func Dial(ctx context.Context, rawURL, user, pass string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "rtsp" || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrBadURL, rawURL)
	}
	if u.User != nil && user == "" {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	u.User = nil
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "554")
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	return &Client{url: u, user: user, pass: pass, timeout: timeout, conn: conn, br: bufio.NewReader(conn),
		responses: make(chan *response, 4), readDone: make(chan struct{})}, nil
}

// Close closes the connection (without TEARDOWN).
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.conn.Close() })
	return err
}

// response is an RTSP answer.
type response struct {
	status int
	reason string
	header map[string]string // canonical (lower-case) names
	body   []byte
}

// Describe asks for the presentation's SDP (RFC 2326 section 10.2).
func (c *Client) Describe(ctx context.Context) ([]byte, error) {
	r, err := c.do(ctx, "DESCRIBE", c.url.String(), map[string]string{"Accept": "application/sdp"})
	if err != nil {
		return nil, err
	}
	if len(r.body) == 0 {
		return nil, fmt.Errorf("%w: DESCRIBE without an SDP", ErrBadResponse)
	}
	c.base = c.url.String()
	if b := r.header["content-base"]; b != "" {
		c.base = b
	} else if l := r.header["content-location"]; l != "" {
		c.base = l
	}
	return r.body, nil
}

// Control resolves a media's a=control attribute against the
// presentation's base URL (RFC 2326 appendix C.1.1).
func (c *Client) Control(control string) string {
	base := c.base
	if base == "" {
		base = c.url.String()
	}
	switch {
	case control == "" || control == "*":
		return base
	case strings.HasPrefix(strings.ToLower(control), "rtsp://"):
		return control
	}
	b, err := url.Parse(base)
	if err != nil {
		return base
	}
	if !strings.HasSuffix(b.Path, "/") {
		// The control is relative to the presentation itself, as
		// servers mean it (live555, GStreamer, cameras).
		b.Path += "/"
	}
	ref, err := url.Parse(control)
	if err != nil {
		return base
	}
	return b.ResolveReference(ref).String()
}

// Transport is what a SETUP agreed: the server's RTP and RTCP ports, and
// the SSRC it will send from, when it says.
type Transport struct {
	ServerRTP, ServerRTCP int
	SSRC                  uint32
}

// Setup asks the server to send one media's RTP to rtpPort and its RTCP
// to rtcpPort of this host, over UDP (RFC 2326 section 12.39). The first
// SETUP opens the session; the next ones join it.
func (c *Client) Setup(ctx context.Context, control string, rtpPort, rtcpPort int) (Transport, error) {
	h := map[string]string{"Transport": fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", rtpPort, rtcpPort)}
	r, err := c.do(ctx, "SETUP", control, h)
	if err != nil {
		return Transport{}, err
	}
	if err := c.takeSession(r); err != nil {
		return Transport{}, err
	}
	var t Transport
	tr := r.header["transport"]
	if tr == "" {
		return Transport{}, fmt.Errorf("%w: SETUP without a Transport", ErrBadResponse)
	}
	for _, p := range strings.Split(tr, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(k) {
		case "server_port":
			a, b, _ := strings.Cut(v, "-")
			t.ServerRTP, _ = strconv.Atoi(a)
			t.ServerRTCP, _ = strconv.Atoi(b)
		case "ssrc":
			if n, err := strconv.ParseUint(v, 16, 32); err == nil {
				t.SSRC = uint32(n)
			}
		case "interleaved":
			return Transport{}, fmt.Errorf("%w: the server chose TCP interleaving, not UDP", ErrBadResponse)
		}
	}
	return t, nil
}

// SetupTCP asks the server to interleave one media's RTP and RTCP on the
// RTSP connection, on channels rtpChannel and rtpChannel+1 (RFC 2326
// section 10.12).
func (c *Client) SetupTCP(ctx context.Context, control string, rtpChannel int) (Transport, error) {
	h := map[string]string{"Transport": fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", rtpChannel, rtpChannel+1)}
	r, err := c.do(ctx, "SETUP", control, h)
	if err != nil {
		return Transport{}, err
	}
	if err := c.takeSession(r); err != nil {
		return Transport{}, err
	}
	if !strings.Contains(strings.ToLower(r.header["transport"]), "interleaved") {
		return Transport{}, fmt.Errorf("%w: the server did not agree to interleave", ErrBadResponse)
	}
	return Transport{}, nil
}

// ReadInterleaved reads the connection after a PLAY over TCP: each RTP or
// RTCP packet goes to handle with its channel (the slice is reused after
// handle returns), and the answers to requests made meanwhile
// (KeepAlive) to those requests. It returns when the connection fails or
// is closed.
func (c *Client) ReadInterleaved(handle func(channel byte, packet []byte)) error {
	c.interleaving.Store(true)
	defer close(c.readDone)
	_ = c.conn.SetReadDeadline(time.Time{})
	buf := make([]byte, 65536)
	for {
		b, err := c.br.Peek(1)
		if err != nil {
			return err
		}
		if b[0] != '$' {
			r, err := c.read()
			if err != nil {
				return err
			}
			select {
			case c.responses <- r:
			default: // nobody waits for it any more
			}
			continue
		}
		var hdr [4]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return err
		}
		n := int(hdr[2])<<8 | int(hdr[3])
		if _, err := io.ReadFull(c.br, buf[:n]); err != nil {
			return err
		}
		handle(hdr[1], buf[:n])
	}
}

// takeSession keeps the Session of the first SETUP's answer, and its
// timeout (RFC 2326 section 12.37: 60 s when it does not say).
func (c *Client) takeSession(r *response) error {
	if c.session != "" {
		return nil
	}
	s := r.header["session"]
	if s == "" {
		return fmt.Errorf("%w: SETUP without a Session", ErrBadResponse)
	}
	id, params, _ := strings.Cut(s, ";")
	c.session = strings.TrimSpace(id)
	c.sessionTimeout = 60 * time.Second
	for _, p := range strings.Split(params, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "timeout") {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				c.sessionTimeout = time.Duration(n) * time.Second
			}
		}
	}
	return nil
}

// Play starts the media (RFC 2326 section 10.5).
func (c *Client) Play(ctx context.Context) error {
	_, err := c.do(ctx, "PLAY", c.base, map[string]string{"Range": "npt=0.000-"})
	return err
}

// SessionTimeout is how long the server keeps the session without a
// request (its Session header's timeout, 60 s by default).
func (c *Client) SessionTimeout() time.Duration { return c.sessionTimeout }

// KeepAlive tells the server the session is in use: GET_PARAMETER with no
// body (RFC 2326 section 10.8), or OPTIONS for servers that do not take it.
func (c *Client) KeepAlive(ctx context.Context) error {
	if !c.noGetParameter {
		_, err := c.do(ctx, "GET_PARAMETER", c.base, nil)
		if !errors.Is(err, ErrStatus) {
			return err
		}
		c.noGetParameter = true
	}
	_, err := c.do(ctx, "OPTIONS", c.url.String(), nil)
	return err
}

// Teardown ends the session (RFC 2326 section 10.7).
func (c *Client) Teardown(ctx context.Context) error {
	if c.session == "" {
		return nil
	}
	_, err := c.do(ctx, "TEARDOWN", c.base, nil)
	return err
}

// do sends a request and reads its answer, answering one authentication
// challenge.
func (c *Client) do(ctx context.Context, method, uri string, header map[string]string) (*response, error) {
	r, err := c.roundTrip(ctx, method, uri, header)
	if err != nil {
		return nil, err
	}
	if r.status == 401 && c.user != "" {
		challenge := r.header["www-authenticate"]
		if challenge == "" || challenge == c.auth {
			return nil, ErrUnauthorized
		}
		c.auth, c.nc = challenge, 0
		if r, err = c.roundTrip(ctx, method, uri, header); err != nil {
			return nil, err
		}
	}
	switch {
	case r.status == 401:
		return nil, ErrUnauthorized
	case r.status < 200 || r.status > 299:
		return nil, fmt.Errorf("%w: %s %d %s", ErrStatus, method, r.status, r.reason)
	}
	return r, nil
}

func (c *Client) roundTrip(ctx context.Context, method, uri string, header map[string]string) (*response, error) {
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	interleaving := c.interleaving.Load()
	if interleaving {
		// ReadInterleaved owns the reads: bound the write only.
		_ = c.conn.SetWriteDeadline(deadline)
	} else {
		_ = c.conn.SetDeadline(deadline)
		stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Now()) })
		defer stop()
	}

	c.cseq++
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: ianua\r\n", method, uri, c.cseq)
	if c.session != "" {
		fmt.Fprintf(&b, "Session: %s\r\n", c.session)
	}
	if a := c.authorization(method, uri); a != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", a)
	}
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return nil, err
	}
	if interleaving {
		wait := time.NewTimer(time.Until(deadline))
		defer wait.Stop()
		for {
			select {
			case r := <-c.responses:
				if cs, _ := strconv.Atoi(r.header["cseq"]); cs == c.cseq {
					return r, nil
				}
			case <-c.readDone:
				return nil, io.ErrUnexpectedEOF
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-wait.C:
				return nil, fmt.Errorf("rtsp: %s: no answer in time: %w", method, os.ErrDeadlineExceeded)
			}
		}
	}
	for {
		r, err := c.read()
		if err != nil {
			return nil, err
		}
		// Servers may send their own requests or interleaved data;
		// only the answer to this request counts.
		if cs, _ := strconv.Atoi(r.header["cseq"]); cs == c.cseq {
			return r, nil
		}
	}
}

// read reads one response.
func (c *Client) read() (*response, error) {
	line, err := c.br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	proto, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	code, reason, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "RTSP/") || err != nil {
		return nil, fmt.Errorf("%w: %q", ErrBadResponse, strings.TrimSpace(line))
	}
	r := &response{status: status, reason: reason, header: map[string]string{}}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: header %q", ErrBadResponse, line)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if k == "www-authenticate" && r.header[k] != "" {
			// Prefer Digest when offered with Basic.
			if strings.HasPrefix(strings.ToLower(r.header[k]), "digest") {
				continue
			}
		}
		r.header[k] = v
	}
	if n, err := strconv.Atoi(r.header["content-length"]); err == nil && n > 0 {
		if n > maxBody {
			return nil, fmt.Errorf("%w: a body of %d bytes", ErrBadResponse, n)
		}
		r.body = make([]byte, n)
		if _, err := io.ReadFull(c.br, r.body); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// authorization answers the server's challenge for one request: Basic, or
// Digest with MD5 and qop "auth" when offered (RFC 2617 section 3.2.2).
func (c *Client) authorization(method, uri string) string {
	if c.auth == "" {
		return ""
	}
	scheme, params, _ := strings.Cut(c.auth, " ")
	if strings.EqualFold(scheme, "Basic") {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))
	}
	p := parseParams(params)
	md5hex := func(s string) string {
		h := md5.Sum([]byte(s))
		return hex.EncodeToString(h[:])
	}
	ha1 := md5hex(c.user + ":" + p["realm"] + ":" + c.pass)
	ha2 := md5hex(method + ":" + uri)
	out := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s"`, c.user, p["realm"], p["nonce"], uri)
	if qop := p["qop"]; qop != "" && strings.Contains(qop, "auth") {
		c.nc++
		var raw [8]byte
		_, _ = rand.Read(raw[:])
		cnonce := hex.EncodeToString(raw[:])
		nc := fmt.Sprintf("%08x", c.nc)
		resp := md5hex(ha1 + ":" + p["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
		out += fmt.Sprintf(`, qop=auth, nc=%s, cnonce="%s", response="%s"`, nc, cnonce, resp)
	} else {
		out += fmt.Sprintf(`, response="%s"`, md5hex(ha1+":"+p["nonce"]+":"+ha2))
	}
	if o := p["opaque"]; o != "" {
		out += fmt.Sprintf(`, opaque="%s"`, o)
	}
	return out
}

// parseParams reads the key="value" list of a challenge.
func parseParams(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " ,")
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				v, s = rest[1:], ""
			} else {
				v, s = rest[1:1+end], rest[2+end:]
			}
		} else {
			v, s, _ = strings.Cut(rest, ",")
		}
		out[k] = strings.TrimSpace(v)
	}
	return out
}
