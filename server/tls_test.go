package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/awshttp"
	"github.com/sluicedb/sluice/internal/testcert"
	"github.com/sluicedb/sluice/wire/wireserver"
)

// startWith starts a server for a test with cfg on free loopback ports and
// a fresh data directory (where cfg leaves them unset), and shuts it down
// when the test ends.
func startWith(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.HTTP == "" {
		cfg.HTTP = "127.0.0.1:0"
	}
	cfg.Quotas, cfg.Fsync = "unlimited", "none"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// certFiles copies a certificate and key to cert.pem and key.pem of a
// directory of their own (which a test then rewrites to reload).
func certFiles(t *testing.T, p *testcert.Pair) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, p.CertPEM)
	writeFile(t, keyFile, p.KeyPEM)
	return certFile, keyFile
}

// writeFile replaces a file's contents through a rename, as a certificate
// manager does.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startTLS starts a server with the certificate p; clientCA, if set, is
// the file of the CA that must sign client certificates.
func startTLS(t *testing.T, p *testcert.Pair, clientCA string) *Server {
	t.Helper()
	certFile, keyFile := certFiles(t, p)
	return startWith(t, Config{TLSCert: certFile, TLSKey: keyFile, TLSClientCA: clientCA})
}

// protoRecorder is an HTTP transport that records the protocol of every
// response.
type protoRecorder struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	protos []string
}

func (p *protoRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.rt.RoundTrip(r)
	if err == nil {
		p.mu.Lock()
		p.protos = append(p.protos, resp.Proto)
		p.mu.Unlock()
	}
	return resp, err
}

func (p *protoRecorder) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.protos...)
}

// httpsTransport trusts only the CA; h2 offers HTTP/2 through ALPN, else
// only HTTP/1.1 is spoken.
func httpsTransport(ca *testcert.CA, clientCert *testcert.Pair, h2 bool) *http.Transport {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(h2)
	return &http.Transport{TLSClientConfig: ca.ClientConfig(clientCert), Protocols: &protos}
}

// exerciseSDK creates a stream, puts records and reads them back through
// the unmodified SDK client.
func exerciseSDK(t *testing.T, c *sdk.Client) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	var entries []sdktypes.PutRecordsRequestEntry
	for i := range 50 {
		entries = append(entries, sdktypes.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("record-%d", i)), PartitionKey: aws.String("k")})
	}
	out, err := c.PutRecords(ctx, &sdk.PutRecordsInput{StreamName: aws.String("orders"), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v, %+v", err, out)
	}
	it, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != len(entries) {
		t.Fatalf("GetRecords returned %d records; %d were put", len(got.Records), len(entries))
	}
	for i, r := range got.Records {
		if string(r.Data) != fmt.Sprintf("record-%d", i) {
			t.Fatalf("record %d is %q", i, r.Data)
		}
	}
}

func sdkClient(endpoint string, rt http.RoundTripper) *sdk.Client {
	return sdk.New(sdk.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSERVER", "secret", ""), Retryer: aws.NopRetryer{},
		HTTPClient: &http.Client{Transport: awshttp.CopyBodyTransport{Next: rt}},
	})
}

func TestTLS_HTTPSWithHTTP2ThroughALPN(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	s := startTLS(t, ca.Server("server"), "")
	rec := &protoRecorder{rt: httpsTransport(ca, nil, true)}
	exerciseSDK(t, sdkClient("https://"+s.HTTPAddr().String(), rec))
	protos := rec.seen()
	if len(protos) < 4 {
		t.Fatalf("%d responses recorded", len(protos))
	}
	for _, p := range protos {
		if p != "HTTP/2.0" {
			t.Fatalf("responses came over %v; want HTTP/2.0 for every one (ALPN h2)", protos)
		}
	}
}

func TestTLS_HTTP1OverTLS(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	s := startTLS(t, ca.Server("server"), "")
	rec := &protoRecorder{rt: httpsTransport(ca, nil, false)}
	exerciseSDK(t, sdkClient("https://"+s.HTTPAddr().String(), rec))
	for _, p := range rec.seen() {
		if p != "HTTP/1.1" {
			t.Fatalf("a response came over %s; the client speaks only HTTP/1.1", p)
		}
	}
	// Plaintext is not served on a TLS door.
	resp, err := http.Get("http://" + s.HTTPAddr().String() + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plaintext HTTP was served on the TLS door")
		}
	}
}

// TestTLS_MutualOnBothDoors: with --tls-client-ca, a client certificate
// signed by that CA is accepted on both doors; no certificate, or one from
// another CA, is refused on both.
func TestTLS_MutualOnBothDoors(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	other := testcert.NewCA(t, "other")
	s := startTLS(t, ca.Server("server"), ca.CertFile)
	good, foreign := ca.Client("good"), other.Client("foreign")

	cases := []struct {
		name   string
		cert   *testcert.Pair
		accept bool
	}{
		{"signed by the client CA", good, true},
		{"no certificate", nil, false},
		{"signed by another CA", foreign, false},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hc := &http.Client{Transport: httpsTransport(ca, tc.cert, true)}
			resp, err := hc.Get("https://" + s.HTTPAddr().String() + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			if tc.accept && (err != nil || resp.StatusCode != http.StatusOK) {
				t.Errorf("HTTP door: GET /healthz: %v", err)
			}
			if !tc.accept && err == nil {
				t.Errorf("HTTP door: accepted a client %s (status %s)", tc.name, resp.Status)
			}

			c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{TLS: ca.ClientConfig(tc.cert)})
			if err == nil {
				err = c.Ping(ctx, []byte("hi"))
				c.Close()
			}
			if tc.accept && err != nil {
				t.Errorf("binary door: %v", err)
			}
			if !tc.accept && err == nil {
				t.Errorf("binary door: accepted a client %s", tc.name)
			}
			if !tc.accept && err != nil && !strings.Contains(err.Error(), "certificate") {
				t.Errorf("binary door: the refusal does not say it is about the certificate: %v", err)
			}
		})
	}
}

// TestTLS_BinaryClient: puts (single, batched, pipelined, small and larger
// than a TLS record), reads and a subscription over TLS return exactly
// what was put.
func TestTLS_BinaryClient(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	s := startTLS(t, ca.Server("server"), "")
	ctx := context.Background()
	c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{TLS: ca.ClientConfig(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateStream(ctx, api.CreateStreamInput{Name: "orders", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	sub, err := c.SubscribeShard(ctx, "orders", "shardId-000000000000", api.IteratorSpec{Type: api.TrimHorizon}, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]byte
	data := func() []byte {
		n := rng.IntN(100)
		if rng.IntN(10) == 0 {
			n = rng.IntN(70 << 10) // some records span several TLS records
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want = append(want, b)
		return b
	}
	if _, err := c.PutRecord(ctx, "orders", api.PutRecord{Key: []byte("k"), Data: data()}); err != nil {
		t.Fatal(err)
	}
	batch := make([]api.PutRecord, 500)
	for i := range batch {
		batch[i] = api.PutRecord{Key: []byte("k"), Data: data()}
	}
	if failed, err := c.PutRecords(ctx, "orders", batch, make([]api.PutResult, len(batch))); err != nil || failed != 0 {
		t.Fatalf("PutRecords: %d failed, %v", failed, err)
	}
	// Pipelined single puts: many small frames in each write. Their
	// acknowledgements may complete in any order, but they are put one
	// after another on one shard, so the stored order is the send order
	// only if each waits; send them all and compare as a set below.
	const async = 300
	var wg sync.WaitGroup
	errs := make(chan error, async)
	asyncStart := len(want)
	for range async {
		wg.Add(1)
		if err := c.PutRecordAsync("orders", api.PutRecord{Key: []byte("k"), Data: data()}, func(_ api.SeqNum, err error) {
			if err != nil {
				errs <- err
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	check := func(how string, got [][]byte) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d records; %d were put", how, len(got), len(want))
		}
		for i := range asyncStart {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s: record %d differs (%d bytes; %d put)", how, i, len(got[i]), len(want[i]))
			}
		}
		seen := map[string]int{}
		for _, b := range want[asyncStart:] {
			seen[string(b)]++
		}
		for _, b := range got[asyncStart:] {
			seen[string(b)]--
		}
		for _, n := range seen {
			if n != 0 {
				t.Fatalf("%s: the pipelined puts read back differ from those put", how)
			}
		}
	}

	pos, err := c.GetIterator(ctx, "orders", "shardId-000000000000", api.IteratorSpec{Type: api.TrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var read [][]byte
	for len(read) < len(want) {
		res, err := c.Read(ctx, pos, 10000, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			t.Fatalf("a read returned nothing after %d of %d records", len(read), len(want))
		}
		for _, r := range res.Records {
			read = append(read, bytes.Clone(r.Data))
		}
		pos = res.Next
		res.Release()
	}
	check("read", read)

	var pushed [][]byte
	for len(pushed) < len(want) {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range ev.Records {
			pushed = append(pushed, bytes.Clone(r.Data))
		}
	}
	check("subscription", pushed)
}

// serialOf dials addr over TLS and returns the serial number of the
// certificate the server presents.
func serialOf(t *testing.T, ca *testcert.CA, addr string, clientCert *testcert.Pair) (string, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, ca.ClientConfig(clientCert))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// TestTLS_ReloadCertificate: Reload serves a new certificate to new
// connections on both doors while open connections carry on; a broken
// certificate, or one whose key does not match, is refused with the reason
// and the one in force stays.
func TestTLS_ReloadCertificate(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	first, second, third := ca.Server("first"), ca.Server("second"), ca.Server("third")
	certFile, keyFile := certFiles(t, first)
	s := startWith(t, Config{TLSCert: certFile, TLSKey: keyFile})
	ctx := context.Background()
	addrs := map[string]string{"binary": s.WireAddr().String(), "http": s.HTTPAddr().String()}
	expect := func(want *testcert.Pair) {
		t.Helper()
		for door, addr := range addrs {
			got, err := serialOf(t, ca, addr, nil)
			if err != nil {
				t.Fatalf("%s door: %v", door, err)
			}
			if got != want.Leaf.SerialNumber.String() {
				t.Fatalf("%s door presents serial %s; want %s's %s", door, got, want.Leaf.Subject.CommonName, want.Leaf.SerialNumber)
			}
		}
	}
	expect(first)
	open, err := client.Dial(ctx, addrs["binary"], client.ClientOptions{TLS: ca.ClientConfig(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	writeFile(t, certFile, second.CertPEM)
	writeFile(t, keyFile, second.KeyPEM)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	expect(second)
	if err := open.Ping(ctx, nil); err != nil {
		t.Fatalf("a connection opened before the reload: %v", err)
	}

	broken := []struct {
		name       string
		cert, key  []byte
		wantReason string
	}{
		{"garbage certificate", []byte("not a certificate"), second.KeyPEM, "--tls-cert"},
		{"key of another certificate", third.CertPEM, second.KeyPEM, "private key does not match"},
		{"empty key", third.CertPEM, nil, "--tls-key"},
	}
	for _, b := range broken {
		writeFile(t, certFile, b.cert)
		writeFile(t, keyFile, b.key)
		err := s.Reload()
		if err == nil || !strings.Contains(err.Error(), b.wantReason) {
			t.Fatalf("%s: Reload returned %v; want a refusal naming %q", b.name, err, b.wantReason)
		}
		expect(second)
	}
}

// TestTLS_ReloadClientCA: Reload re-reads --tls-client-ca: after the file
// names another CA, that CA's clients are accepted and the old one's are
// refused.
func TestTLS_ReloadClientCA(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	oldCA, newCA := testcert.NewCA(t, "old-clients"), testcert.NewCA(t, "new-clients")
	caFile := filepath.Join(t.TempDir(), "clients.pem")
	writeFile(t, caFile, oldCA.CertPEM)
	s := startTLS(t, ca.Server("server"), caFile)
	oldClient, newClient := oldCA.Client("old"), newCA.Client("new")
	ping := func(p *testcert.Pair) error {
		ctx := context.Background()
		c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{TLS: ca.ClientConfig(p)})
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Ping(ctx, nil)
	}
	if err := ping(oldClient); err != nil {
		t.Fatal(err)
	}
	if ping(newClient) == nil {
		t.Fatal("a client of a CA not yet named was accepted")
	}
	writeFile(t, caFile, newCA.CertPEM)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := ping(newClient); err != nil {
		t.Fatalf("after the reload, the new CA's client: %v", err)
	}
	if ping(oldClient) == nil {
		t.Fatal("after the reload, the old CA's client was still accepted")
	}
	writeFile(t, caFile, []byte("no PEM here"))
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "--tls-client-ca") {
		t.Fatalf("a client CA file without a certificate: Reload returned %v", err)
	}
	if err := ping(newClient); err != nil {
		t.Fatalf("after a refused reload, the CA in force: %v", err)
	}
}

func TestStart_TLSSettingsRefusedWithReason(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	p := ca.Server("server")
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"cert without key", Config{TLSCert: p.CertFile}, "--tls-cert " + p.CertFile + " was given without --tls-key"},
		{"key without cert", Config{TLSKey: p.KeyFile}, "--tls-key " + p.KeyFile + " was given without --tls-cert"},
		{"client CA without cert", Config{TLSClientCA: ca.CertFile}, "--tls-client-ca requires --tls-cert and --tls-key"},
		{"missing cert file", Config{TLSCert: p.CertFile + ".missing", TLSKey: p.KeyFile}, "no such file"},
		{"certificate for a key", Config{TLSCert: p.KeyFile, TLSKey: p.KeyFile}, "--tls-cert"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.DataDir, cfg.Listen, cfg.HTTP = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
			cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			s, err := Start(cfg)
			if err == nil {
				s.Shutdown(context.Background())
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestServerTLS_RefusesExpiredCertificate(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	p := ca.Server("server")
	later := p.Leaf.NotAfter.Add(time.Hour)
	_, err := newServerTLS(&Config{TLSCert: p.CertFile, TLSKey: p.KeyFile, Now: func() time.Time { return later }})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired certificate: %v", err)
	}
}

// TestTLS_HelloTimeoutCoversHandshake: on the binary door the TLS
// handshake runs inside the read of the client's hello, so a client that
// connects and stalls in (or before) its ClientHello is dropped after the
// hello timeout rather than holding a connection forever.
func TestTLS_HelloTimeoutCoversHandshake(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	p := ca.Server("server")
	st, err := newServerTLS(&Config{TLSCert: p.CertFile, TLSKey: p.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(engine.Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	const helloTimeout = 200 * time.Millisecond
	ws := wireserver.NewServer(eng, wireserver.ServerOptions{HandshakeTimeout: helloTimeout, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ws.Serve(tls.NewListener(ln, st.listenerConfig(&st.wire)))
	defer ws.Close()

	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"silent", nil},
		{"half a ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			conn.SetReadDeadline(start.Add(10 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server held a stalled TLS handshake open for 10s; the hello timeout is %v", helloTimeout)
			}
			if waited := time.Since(start); waited < helloTimeout/2 {
				t.Fatalf("the server closed after %v, before the hello timeout %v", waited, helloTimeout)
			}
		})
	}
}
