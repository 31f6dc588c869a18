package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/auth"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/wire"
	"github.com/sluicedb/sluice/wire/wireserver"
)

const testCredentialsFile = `# keys of two profiles
[default]
aws_access_key_id = AKIADEFAULT000000001
aws_secret_access_key = default-secret-0123456789

[ci]
aws_access_key_id=AKIACI00000000000001
; a comment
aws_secret_access_key=ci-secret-0123456789
region = eu-west-1

[half]
aws_access_key_id = AKIAHALF000000000001
`

func TestResolveCredentials(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "credentials")
	if err := os.WriteFile(file, []byte(testCredentialsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope")
	cases := []struct {
		name       string
		key, sec   string
		env        map[string]string
		wantID     string // "" with wantErr "": no credentials
		wantSource string
		wantErr    string
	}{
		{name: "flags", key: "AKIAFLAG000000000001", sec: "s", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV0000000000001", "AWS_SECRET_ACCESS_KEY": "e"},
			wantID: "AKIAFLAG000000000001", wantSource: "--access-key"},
		{name: "half flags", key: "AKIAFLAG000000000001", wantErr: "--access-key and --secret-key go together"},
		{name: "env", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV0000000000001", "AWS_SECRET_ACCESS_KEY": "e", "AWS_SHARED_CREDENTIALS_FILE": file},
			wantID: "AKIAENV0000000000001", wantSource: "AWS_ACCESS_KEY_ID"},
		{name: "half env", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV0000000000001"}, wantErr: "AWS_SECRET_ACCESS_KEY is not"},
		{name: "default profile", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": file},
			wantID: "AKIADEFAULT000000001", wantSource: "profile default of " + file},
		{name: "named profile", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "ci"},
			wantID: "AKIACI00000000000001", wantSource: "profile ci of " + file},
		{name: "unknown profile", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "prod"}, wantErr: "has no [prod] section"},
		{name: "incomplete profile", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "half"}, wantErr: "needs both"},
		{name: "no file", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": missing}},
		{name: "no file for a named profile", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": missing, "AWS_PROFILE": "ci"}, wantErr: "cannot be read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			creds, source, err := resolveCredentials(c.key, c.sec, func(k string) string { return c.env[k] })
			switch {
			case c.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v; want one containing %q", err, c.wantErr)
				}
			case err != nil:
				t.Fatalf("error %v", err)
			case c.wantID == "":
				if creds != nil {
					t.Fatalf("credentials %+v; want none", creds)
				}
			case creds == nil || creds.AccessKeyID != c.wantID || creds.SecretAccessKey == "" || string(source) != c.wantSource:
				t.Fatalf("credentials %+v from %q; want %s from %q", creds, source, c.wantID, c.wantSource)
			}
		})
	}
}

// startAuthServer serves the binary protocol with auth's users: admin may
// do anything kinesis: allows, ingest may only put to orders-*.
func startAuthServer(t *testing.T) string {
	t.Helper()
	u, err := auth.ParseUsers([]byte(`{"account": "123456789012", "users": [
	 {"name": "admin", "access_key_id": "AKIAADMIN00000000001", "secret_access_key": "admin-secret-0123456789",
	  "policy": {"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}},
	 {"name": "ingest", "access_key_id": "AKIAINGEST0000000001", "secret_access_key": "ingest-secret-0123456789",
	  "policy": {"Statement": [{"Effect": "Allow", "Action": "kinesis:PutRecord*", "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Open(engine.Options{Dir: t.TempDir(), Durability: api.Always, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := wireserver.NewServer(eng, wireserver.ServerOptions{Auth: auth.NewStore(u), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, wire.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		eng.Close()
	})
	return l.Addr().String()
}

// noAmbientCredentials keeps the machine's AWS settings out of a test.
func noAmbientCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

func TestCLI_Authentication(t *testing.T) {
	noAmbientCredentials(t)
	addr := startAuthServer(t)
	admin := []string{"--access-key", "AKIAADMIN00000000001", "--secret-key", "admin-secret-0123456789"}
	ingest := []string{"--access-key", "AKIAINGEST0000000001", "--secret-key", "ingest-secret-0123456789"}
	mustCLI(t, addr, "", append(admin, "stream", "create", "orders-1", "--shards", "1")...)
	if out := mustCLI(t, addr, "", append(ingest, "put", "orders-1", "a", "b")...); out != "" {
		t.Logf("put printed %q", out)
	}

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no key", []string{"stream", "list"}, []string{"the server at " + addr + " requires authentication", "--access-key", "AWS_ACCESS_KEY_ID", "~/.aws/credentials"}},
		{"unknown key", []string{"--access-key", "AKIANOBODY0000000001", "--secret-key", "x", "stream", "list"},
			[]string{"does not know access key AKIANOBODY0000000001 (from --access-key)", "UnrecognizedClientException", "sluice auth add-user"}},
		{"wrong secret", []string{"--access-key", "AKIAADMIN00000000001", "--secret-key", "wrong", "stream", "list"},
			[]string{"is not the secret of access key AKIAADMIN00000000001", "InvalidSignatureException"}},
		{"denied", append(ingest, "stream", "delete", "orders-1"),
			[]string{"AccessDeniedException: User: arn:aws:iam::123456789012:user/ingest is not authorized to perform: kinesis:DeleteStream on resource: arn:aws:kinesis:us-east-1:123456789012:stream/orders-1", "--access-key"}},
		{"half flags", []string{"--access-key", "AKIAADMIN00000000001", "stream", "list"}, []string{"--access-key and --secret-key go together"}},
	}
	for _, c := range cases {
		code, _, stderr := cli(t, addr, "", c.args...)
		if code == exitOK {
			t.Errorf("%s: exit 0; want an error", c.name)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q lacks %q", c.name, stderr, w)
			}
		}
	}
	if out := mustCLI(t, addr, "", append(admin, "stream", "list")...); !strings.Contains(out, "orders-1") {
		t.Fatalf("stream list as admin: %q", out)
	}
}

func TestCLI_CredentialsFromEnvironmentAndProfile(t *testing.T) {
	noAmbientCredentials(t)
	addr := startAuthServer(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAADMIN00000000001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "admin-secret-0123456789")
	mustCLI(t, addr, "", "stream", "create", "orders-2", "--shards", "1")

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	file := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(file, []byte("[ops]\naws_access_key_id = AKIAADMIN00000000001\naws_secret_access_key = admin-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", file)
	t.Setenv("AWS_PROFILE", "ops")
	if out := mustCLI(t, addr, "", "stream", "list"); !strings.Contains(out, "orders-2") {
		t.Fatalf("stream list with the ops profile: %q", out)
	}
}

func TestBench_PassesCredentials(t *testing.T) {
	noAmbientCredentials(t)
	addr := startAuthServer(t)
	// Without a key the bench cannot connect, and says why.
	code, _, stderr := runCLI(t, "", "bench", "put", "--addr", addr, "--records", "10", "--quiet")
	if code == exitOK || !strings.Contains(stderr, "requires authentication") {
		t.Fatalf("bench without a key: exit %d, stderr %q; want the authentication error", code, stderr)
	}
	code, _, stderr = runCLI(t, "", "--access-key", "AKIAADMIN00000000001", "--secret-key", "admin-secret-0123456789",
		"bench", "put", "--addr", addr, "--records", "100", "--producers", "1", "--quiet")
	if code != exitOK {
		t.Fatalf("bench with the admin key: exit %d, stderr %q", code, stderr)
	}
}
