package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/awshttp"
	"github.com/sluicedb/sluice/internal/testcert"
)

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:4568": true, "127.3.2.1:0": true, "[::1]:4568": true, "localhost:4568": true, "LOCALHOST:1": true,
		"0.0.0.0:4568": false, ":4568": false, "[::]:4568": false, "192.168.1.20:4568": false, "10.0.0.1:0": false,
		"[fe80::1]:1": false, "sluice.example.com:4568": false, "localhost.example.com:1": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v; want %v", addr, got, want)
		}
	}
}

// TestStart_NonLoopbackWithoutAuth: without --auth, a door on a
// non-loopback address is refused with a message naming the door and the
// flags that fix it; --insecure starts it anyway, with a warning.
func TestStart_NonLoopbackWithoutAuth(t *testing.T) {
	for _, tc := range []struct {
		name, listen, http, flag string
	}{
		{"binary door on every interface", "0.0.0.0:0", "127.0.0.1:0", "--listen 0.0.0.0:0"},
		{"HTTP door on every interface", "127.0.0.1:0", ":0", "--http :0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{DataDir: t.TempDir(), Listen: tc.listen, HTTP: tc.http, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			s, err := Start(cfg)
			if err == nil {
				s.Shutdown(context.Background())
				t.Fatal("started without --auth on a non-loopback address")
			}
			for _, want := range []string{tc.flag, "--auth FILE", "--insecure", "loopback"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the refusal %q does not say %q", err, want)
				}
			}
			var logged syncBuffer
			cfg.Insecure = true
			cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			s, err = Start(cfg)
			if err != nil {
				t.Fatalf("--insecure: %v", err)
			}
			defer s.Shutdown(context.Background())
			if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "--insecure") {
				t.Errorf("no warning logged:\n%s", logged.String())
			}
			resp, err := http.Get("http://" + s.HTTPAddr().String() + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
}

// TestMetrics_BearerToken: with --metrics-token, /metrics answers 401 with
// a Bearer challenge to a request without the token or with a wrong one,
// and 200 with it; /healthz stays open.
func TestMetrics_BearerToken(t *testing.T) {
	s := startWith(t, Config{MetricsToken: "s3cret-token"})
	get := func(path, authz string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+s.HTTPAddr().String()+path, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, authz := range []string{"", "Bearer wrong", "Bearer s3cret-toke", "Bearer s3cret-token2", "Basic s3cret-token", "s3cret-token"} {
		resp := get("/metrics", authz)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("/metrics with Authorization %q: %s, WWW-Authenticate %q; want 401 and a Bearer challenge", authz, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	for _, authz := range []string{"Bearer s3cret-token", "bearer s3cret-token"} {
		if resp := get("/metrics", authz); resp.StatusCode != http.StatusOK {
			t.Errorf("/metrics with the token (%q): %s", authz, resp.Status)
		}
	}
	if resp := get("/healthz", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz without a token: %s", resp.Status)
	}
}

// usersFile writes a users file (mode 0600) and returns its path.
func usersFile(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "users.json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	adminUsers = `{"account": "123456789012", "users": [
	  {"name": "admin", "access_key_id": "AKIAADMIN00000000001", "secret_access_key": "admin-secret-0123456789",
	   "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:*", "sluice:*"], "Resource": "*"}]}}]}`
	twoUsers = `{"account": "123456789012", "users": [
	  {"name": "admin", "access_key_id": "AKIAADMIN00000000001", "secret_access_key": "admin-secret-0123456789",
	   "policy": {"Statement": [{"Effect": "Allow", "Action": ["kinesis:*", "sluice:*"], "Resource": "*"}]}},
	  {"name": "ingest", "access_key_id": "AKIAINGEST0000000001", "secret_access_key": "ingest-secret-0123456789"}]}`
)

// TestStart_AuthFile: with --auth the server may bind beyond loopback and
// takes the users file's account; both doors get the users (the binary
// door refuses a client without a key, admits the file's, and judges its
// requests by their policies); Reload re-reads the file (a broken one is
// refused and the users in force stay); --audit-log is opened 0600,
// receives the doors' events and is closed at Shutdown.
func TestStart_AuthFile(t *testing.T) {
	dir := t.TempDir()
	users := usersFile(t, dir, adminUsers)
	audit := filepath.Join(dir, "audit.log")
	s := startWith(t, Config{AuthFile: users, AuditLog: audit, HTTP: "0.0.0.0:0"})
	if s.cfg.Account != "123456789012" {
		t.Fatalf("the server's account is %s; want the users file's 123456789012", s.cfg.Account)
	}
	if fi, err := os.Stat(audit); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit log: %v, %v", fi, err)
	}
	ctx := context.Background()
	dial := func(key, secret string) (*client.Client, error) {
		opts := client.ClientOptions{}
		if key != "" {
			opts.Credentials = &client.Credentials{AccessKeyID: key, SecretAccessKey: secret}
		}
		return client.Dial(ctx, s.WireAddr().String(), opts)
	}
	if c, err := dial("", ""); err == nil {
		c.Close()
		t.Fatal("the binary door admitted a client without a key")
	}
	admin, err := dial("AKIAADMIN00000000001", "admin-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.CreateStream(ctx, api.CreateStreamInput{Name: "orders", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if c, err := dial("AKIAINGEST0000000001", "ingest-secret-0123456789"); err == nil {
		c.Close()
		t.Fatal("a key not yet in the users file was admitted")
	}

	// The HTTP door has the users too: a request signed with a key the
	// file does not hold is refused.
	c := sdk.New(sdk.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:" + portOf(s.HTTPAddr().String())),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000001", "unknown-secret-0123456789", ""), Retryer: aws.NopRetryer{},
		HTTPClient: awshttp.HTTPClient(),
	})
	if _, err := c.ListStreams(ctx, &sdk.ListStreamsInput{}); err == nil {
		t.Fatal("the HTTP door served a request signed with a key the users file does not hold")
	}

	usersFile(t, dir, twoUsers)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	ingest, err := dial("AKIAINGEST0000000001", "ingest-secret-0123456789")
	if err != nil {
		t.Fatalf("after Reload, the user added to the file: %v", err)
	}
	defer ingest.Close()
	if err := ingest.DeleteStream(ctx, "orders", false); err == nil {
		t.Fatal("a user without a policy deleted a stream")
	}
	usersFile(t, dir, `{"users": [{"name": "x"}]}`)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "--auth") {
		t.Fatalf("a broken users file: Reload returned %v", err)
	}
	if c, err := dial("AKIAINGEST0000000001", "ingest-secret-0123456789"); err != nil {
		t.Fatalf("after a refused reload, the users in force changed: %v", err)
	} else {
		c.Close()
	}
	admin.Close()
	ingest.Close()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kinesis:CreateStream", "user/admin", "kinesis:DeleteStream", "user/ingest", "denied"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the audit log lacks %q:\n%s", want, log)
		}
	}
}

func TestStart_AuthAccountMismatchRefused(t *testing.T) {
	users := usersFile(t, t.TempDir(), adminUsers)
	cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", AuthFile: users, Account: "999999999999",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s, err := Start(cfg)
	if err == nil {
		s.Shutdown(context.Background())
		t.Fatal("started with --account differing from the users file's")
	}
	if !strings.Contains(err.Error(), "999999999999") || !strings.Contains(err.Error(), "123456789012") {
		t.Fatalf("the refusal does not name both accounts: %v", err)
	}
}

// TestStart_AuthFileWithoutAccountRefusesOtherAccount: a users file that
// names no account puts its users in 000000000000; a server given another
// --account would judge their ARNs against streams of a different account,
// so it refuses to start and says how to fix it.
func TestStart_AuthFileWithoutAccountRefusesOtherAccount(t *testing.T) {
	users := usersFile(t, t.TempDir(), `{"users": [{"name": "admin", "access_key_id": "AKIAADMIN00000000001",
	  "secret_access_key": "admin-secret-0123456789", "policy": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}]}`)
	cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", AuthFile: users, Account: "999999999999",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s, err := Start(cfg)
	if err == nil {
		s.Shutdown(context.Background())
		t.Fatal("started with --account 999999999999 and a users file in the default account")
	}
	if !strings.Contains(err.Error(), `"account": "999999999999"`) {
		t.Fatalf("the refusal does not say what to add to the file: %v", err)
	}
}

// syncBuffer is a log destination that a test reads while the server
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// TestStart_AuthOverTLS: the binary door's authentication runs inside TLS
// (mutual TLS too): a client with the CA, a client certificate and the
// admin's key works; without the key it is refused after the TLS handshake.
func TestStart_AuthOverTLS(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	p := ca.Server("server")
	users := usersFile(t, t.TempDir(), adminUsers)
	s := startWith(t, Config{AuthFile: users, TLSCert: p.CertFile, TLSKey: p.KeyFile, TLSClientCA: ca.CertFile})
	ctx := context.Background()
	tlsConfig := ca.ClientConfig(ca.Client("admin"))
	c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{TLS: tlsConfig,
		Credentials: &client.Credentials{AccessKeyID: "AKIAADMIN00000000001", SecretAccessKey: "admin-secret-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateStream(ctx, api.CreateStreamInput{Name: "orders", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	if c, err := client.Dial(ctx, s.WireAddr().String(), client.ClientOptions{TLS: tlsConfig}); err == nil {
		c.Close()
		t.Fatal("a TLS client without a key was admitted by a server with --auth")
	}
}
