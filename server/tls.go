package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// serverTLS holds what the server's TLS needs from its files: the
// certificate and key (--tls-cert, --tls-key) and, for mutual TLS, the CA
// that signs client certificates (--tls-client-ca). Each door's listener
// has a fixed tls.Config whose GetConfigForClient returns the door's
// current per-handshake config; Reload builds new ones from the files and
// swaps them in atomically, so that new connections get the new
// certificate while open ones carry on.
type serverTLS struct {
	certFile, keyFile, clientCAFile string
	now                             func() time.Time

	http atomic.Pointer[tls.Config] // the HTTP door's: ALPN h2 and http/1.1
	wire atomic.Pointer[tls.Config] // the binary protocol's: no ALPN
}

// httpNextProtos are the protocols the HTTP door offers through ALPN, in
// order of preference.
var httpNextProtos = []string{"h2", "http/1.1"}

// newServerTLS checks the TLS settings and loads the files. It returns nil
// when TLS is off (no --tls-cert and no --tls-key).
func newServerTLS(cfg *Config) (*serverTLS, error) {
	switch {
	case cfg.TLSCert == "" && cfg.TLSKey == "":
		if cfg.TLSClientCA != "" {
			return nil, errors.New("--tls-client-ca requires --tls-cert and --tls-key: client certificates are checked only on TLS connections")
		}
		return nil, nil
	case cfg.TLSCert == "":
		return nil, fmt.Errorf("--tls-key %s was given without --tls-cert: give both (the server's certificate chain and its private key) or neither", cfg.TLSKey)
	case cfg.TLSKey == "":
		return nil, fmt.Errorf("--tls-cert %s was given without --tls-key: give both (the server's certificate chain and its private key) or neither", cfg.TLSCert)
	}
	t := &serverTLS{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, clientCAFile: cfg.TLSClientCA, now: cfg.Now}
	if t.now == nil {
		t.now = time.Now
	}
	if err := t.load(); err != nil {
		return nil, err
	}
	return t, nil
}

// load reads the files and, if they make a usable configuration, swaps it
// in. On error nothing changes.
func (t *serverTLS) load() error {
	cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		return fmt.Errorf("load the certificate --tls-cert %s and key --tls-key %s: %w", t.certFile, t.keyFile, err)
	}
	if now := t.now(); now.After(cert.Leaf.NotAfter) {
		return fmt.Errorf("the certificate --tls-cert %s (%s) expired at %s; renew it", t.certFile,
			cert.Leaf.Subject, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	base := tls.Config{
		// TLS 1.2 and 1.3 with Go's default cipher suites.
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if t.clientCAFile != "" {
		pemBytes, err := os.ReadFile(t.clientCAFile)
		if err != nil {
			return fmt.Errorf("read the client CA --tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return fmt.Errorf("the client CA --tls-client-ca %s holds no PEM certificate; it must hold the CA certificate(s) that sign client certificates", t.clientCAFile)
		}
		base.ClientCAs = pool
		base.ClientAuth = tls.RequireAndVerifyClientCert
	}
	h := base.Clone()
	h.NextProtos = httpNextProtos
	w := base.Clone()
	t.http.Store(h)
	t.wire.Store(w)
	return nil
}

// listenerConfig is the fixed config of a door's TLS listener: each
// handshake takes the door's current config.
func (t *serverTLS) listenerConfig(cur *atomic.Pointer[tls.Config]) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return cur.Load(), nil
		},
	}
	if cur == &t.http {
		c.NextProtos = httpNextProtos
	}
	return c
}

// certificate is the certificate in force (for logs and tests).
func (t *serverTLS) certificate() *x509.Certificate { return t.wire.Load().Certificates[0].Leaf }
