package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// With sip_tcp and sip_tls_cert/sip_tls_key (-sip-tcp, -sip-tls-cert,
// -sip-tls-key) janus.plugin.sip answers SIP over TCP on its SIP address
// and over TLS on its TLS one: an OPTIONS sent each way gets a SIP
// response. A certificate that cannot be read stops the server with a
// clear error.
func TestSIPOverTCPAndTLS(t *testing.T) {
	cert, key := writeCert(t)
	at, _ := startServer(t, func(o *options) {
		o.SIPTCP = true
		o.SIPTLSCert, o.SIPTLSKey, o.SIPTLS = cert, key, "127.0.0.1:0"
	})
	if at.SIP == "" || at.SIPTLS == "" {
		t.Fatalf("SIP addresses %q, %q", at.SIP, at.SIPTLS)
	}
	tcp, err := net.DialTimeout("tcp", at.SIP, 5*time.Second)
	if err != nil {
		t.Fatalf("SIP over TCP on %s: %v", at.SIP, err)
	}
	defer tcp.Close()
	if line := sendOptions(t, tcp, "TCP", at.SIP); !strings.HasPrefix(line, "SIP/2.0 ") {
		t.Errorf("over TCP: %q, want a SIP response", line)
	}
	tl, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", at.SIPTLS, &tls.Config{InsecureSkipVerify: true}) // the test's own certificate
	if err != nil {
		t.Fatalf("SIP over TLS on %s: %v", at.SIPTLS, err)
	}
	defer tl.Close()
	if line := sendOptions(t, tl, "TLS", at.SIPTLS); !strings.HasPrefix(line, "SIP/2.0 ") {
		t.Errorf("over TLS: %q, want a SIP response", line)
	}

	o := defaultOptions()
	o.HTTP, o.WebSocket, o.Admin, o.Web, o.SIP = "127.0.0.1:0", "", "", "", "127.0.0.1:0"
	o.SIPTLSCert, o.SIPTLSKey = filepath.Join(t.TempDir(), "missing.pem"), key
	if err := run(context.Background(), o, nil); err == nil || !strings.Contains(err.Error(), "sip_tls_cert") {
		t.Errorf("a missing certificate: %v, want an error naming sip_tls_cert", err)
	}
}

// sendOptions sends an OPTIONS request on conn and returns the response's
// status line.
func sendOptions(t *testing.T, conn net.Conn, transport, to string) string {
	t.Helper()
	local := conn.LocalAddr().String()
	req := fmt.Sprintf("OPTIONS sip:%s;transport=%s SIP/2.0\r\n"+
		"Via: SIP/2.0/%s %s;branch=z9hG4bK-test-%d\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:test@%s>;tag=t1\r\nTo: <sip:%s>\r\n"+
		"Call-ID: options-%d@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		to, strings.ToLower(transport), transport, local, time.Now().UnixNano(), local, to, time.Now().UnixNano())
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatalf("%s: %v", transport, err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: no response: %v", transport, err)
	}
	return strings.TrimSpace(line)
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}
