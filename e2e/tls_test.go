//go:build unix

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/internal/testcert"
)

// tlsServer is a sluiced serving TLS with a certificate of ca, whose
// files the test may replace.
type tlsServer struct {
	*server
	ca                *testcert.CA
	certFile, keyFile string
}

func startTLSServer(t *testing.T, bin binaries, ca *testcert.CA, p *testcert.Pair, extra ...string) *tlsServer {
	t.Helper()
	dir := t.TempDir()
	ts := &tlsServer{ca: ca, certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	ts.install(t, p.CertPEM, p.KeyPEM)
	args := append([]string{"--tls-cert", ts.certFile, "--tls-key", ts.keyFile, "--fsync", "none"}, extra...)
	ts.server = startServer(t, bin, t.TempDir(), args...)
	return ts
}

// The key the AWS CLI and the JavaScript SDK sign with: the one user of
// the users file their servers are started with (--auth), allowed
// everything, so that every request of theirs is verified and authorized.
const (
	e2eKeyID  = "AKIAE2ETEST000000001"
	e2eSecret = "e2e-test-secret-0123456789"
)

// e2eUsersFile writes a users file holding the e2e key and returns its path.
func e2eUsersFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.json")
	doc := `{"users": [{"name": "e2e", "access_key_id": "` + e2eKeyID + `", "secret_access_key": "` + e2eSecret + `",
	  "policy": {"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// install replaces the certificate and key files, each through a rename.
func (ts *tlsServer) install(t *testing.T, cert, key []byte) {
	t.Helper()
	for path, b := range map[string][]byte{ts.certFile: cert, ts.keyFile: key} {
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
}

// serial returns the serial number of the certificate a new TLS
// connection to addr sees.
func (ts *tlsServer) serial(addr string) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, ts.ca.ClientConfig(nil))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// TestEndToEnd_TLS runs the real sluiced with TLS: certificate reload on
// SIGHUP, the CLI with --ca-cert, the refusal of a non-loopback address
// without --auth, and the AWS CLI and the JavaScript SDK over HTTPS where
// they are installed.
func TestEndToEnd_TLS(t *testing.T) {
	bin := build(t)
	ca := testcert.NewCA(t, "sluice-e2e")
	t.Run("ReloadOnSIGHUP", func(t *testing.T) { testReloadOnSIGHUP(t, bin, ca) })
	t.Run("InsecureRequiredBeyondLoopback", func(t *testing.T) { testInsecure(t, bin) })
	t.Run("AWSCLI", func(t *testing.T) { testAWSCLI(t, bin, ca) })
	t.Run("JSSDK", func(t *testing.T) { testJSSDK(t, bin, ca) })
}

func testReloadOnSIGHUP(t *testing.T, bin binaries, ca *testcert.CA) {
	first, second := ca.Server("first"), ca.Server("second")
	s := startTLSServer(t, bin, ca, first)
	doors := map[string]string{"binary": s.wireAddr, "http": s.httpAddr}
	sees := func(want *testcert.Pair) bool {
		for _, addr := range doors {
			if got, err := s.serial(addr); err != nil || got != want.Leaf.SerialNumber.String() {
				return false
			}
		}
		return true
	}
	if !sees(first) {
		t.Fatal("the doors do not present the certificate sluiced started with")
	}
	// The CLI over TLS, against the real binary.
	mustSluice(t, bin, s.server, nil, "--ca-cert", ca.CertFile, "stream", "create", "orders", "--shards", "1")
	mustSluice(t, bin, s.server, []byte("x\ny\n"), "--ca-cert", ca.CertFile, "put", "orders", "--key", "k")

	s.install(t, second.CertPEM, second.KeyPEM)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !pollUntil(10*time.Second, func() bool { return sees(second) }) {
		t.Fatalf("10s after SIGHUP the doors still do not present the new certificate\n%s", s.logText())
	}

	// A broken certificate is refused; the one in force stays and the
	// server keeps serving.
	s.install(t, []byte("not a certificate"), second.KeyPEM)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	failed := func() bool { return len(s.logged("reload failed; serving on with what was in force")) > 0 }
	if !pollUntil(10*time.Second, failed) {
		t.Fatalf("no failed reload logged after a broken certificate\n%s", s.logText())
	}
	if msg := s.logged("reload failed; serving on with what was in force")[0]["err"]; !strings.Contains(msg.(string), "--tls-cert") {
		t.Errorf("the failed reload's reason does not name the file: %v", msg)
	}
	if !sees(second) {
		t.Fatal("after a refused reload the doors no longer present the certificate in force")
	}
	out := mustSluice(t, bin, s.server, nil, "--ca-cert", ca.CertFile, "get", "orders", "--from", "trim-horizon")
	if string(out) != "x\ny\n" {
		t.Fatalf("get after the reloads printed %q", out)
	}
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("sluiced exited with %v after SIGTERM\n%s", err, s.logText())
	}
}

func testInsecure(t *testing.T, bin binaries) {
	cmd := exec.Command(bin.sluiced, "--data-dir", t.TempDir(), "--listen", "0.0.0.0:0", "--http", "127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("sluiced on 0.0.0.0 without --auth: %v\n%s", err, out)
	}
	for _, want := range []string{"--listen 0.0.0.0:0", "--auth FILE", "--insecure"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	s := startServer(t, bin, t.TempDir(), "--listen", "0.0.0.0:0", "--insecure")
	if len(s.logged("serving without authentication on a non-loopback address (--insecure): anyone who can connect may read, write and delete every stream")) != 1 {
		t.Errorf("no warning logged for --insecure\n%s", s.logText())
	}
}

// awsEnv is an environment for the AWS CLI that reads no configuration of
// the machine's.
func awsEnv(t *testing.T) []string {
	home := t.TempDir()
	env := []string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID=" + e2eKeyID, "AWS_SECRET_ACCESS_KEY=" + e2eSecret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
	}
	for _, k := range []string{"PYENV_ROOT", "PYENV_VERSION", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func testAWSCLI(t *testing.T, bin binaries, ca *testcert.CA) {
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI (aws) is not installed")
	}
	env := awsEnv(t)
	vcmd := exec.Command(aws, "--version")
	vcmd.Env = env
	ver, err := vcmd.CombinedOutput()
	if err != nil {
		t.Skipf("the AWS CLI does not run in a clean environment: aws --version: %v: %s", err, ver)
	}
	s := startTLSServer(t, bin, ca, ca.Server("server"), "--auth", e2eUsersFile(t))
	endpoint := "https://" + s.httpAddr
	run := func(args ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, aws, append([]string{"--endpoint-url", endpoint, "--ca-bundle", ca.CertFile, "--output", "json"}, args...)...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, errors.New(err.Error() + ": " + stderr.String())
		}
		return out, nil
	}
	must := func(args ...string) []byte {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	// AWS CLI v2 reads blob arguments as base64 unless told otherwise; v1
	// takes them raw.
	var raw []string
	if strings.HasPrefix(string(ver), "aws-cli/2") {
		raw = []string{"--cli-binary-format", "raw-in-base64-out"}
	}
	must("kinesis", "create-stream", "--stream-name", "cli-orders", "--shard-count", "1")
	must(append([]string{"kinesis", "put-record", "--stream-name", "cli-orders", "--partition-key", "k", "--data", "hello over tls"}, raw...)...)
	var it struct{ ShardIterator string }
	if err := json.Unmarshal(must("kinesis", "get-shard-iterator", "--stream-name", "cli-orders", "--shard-id", "shardId-000000000000",
		"--shard-iterator-type", "TRIM_HORIZON"), &it); err != nil {
		t.Fatal(err)
	}
	var recs struct{ Records []struct{ Data string } }
	if err := json.Unmarshal(must("kinesis", "get-records", "--shard-iterator", it.ShardIterator), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs.Records) != 1 {
		t.Fatalf("get-records returned %d records; want 1", len(recs.Records))
	}
	if data, _ := base64.StdEncoding.DecodeString(recs.Records[0].Data); string(data) != "hello over tls" {
		t.Fatalf("get-records returned data %q", recs.Records[0].Data)
	}
	var list struct{ StreamNames []string }
	if err := json.Unmarshal(must("kinesis", "list-streams"), &list); err != nil || len(list.StreamNames) != 1 || list.StreamNames[0] != "cli-orders" {
		t.Fatalf("list-streams: %+v, %v", list, err)
	}

	// The server verifies the CLI's signatures: a wrong secret is refused.
	bad := exec.Command(aws, "--endpoint-url", endpoint, "--ca-bundle", ca.CertFile, "kinesis", "list-streams")
	bad.Env = append(append([]string(nil), env...), "AWS_SECRET_ACCESS_KEY=not-the-secret-0123456789")
	if out, err := bad.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("InvalidSignatureException")) {
		t.Fatalf("aws with a wrong secret: %v: %s; want InvalidSignatureException", err, out)
	}

	// Without the CA bundle the CLI refuses the server's certificate: the
	// connection is really verified.
	cmd := exec.Command(aws, "--endpoint-url", endpoint, "kinesis", "list-streams")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !bytes.Contains(bytes.ToLower(out), []byte("certificate")) {
		t.Fatalf("aws without --ca-bundle: %v: %s", err, out)
	}
}

func testJSSDK(t *testing.T, bin binaries, ca *testcert.CA) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	script, err := filepath.Abs(filepath.Join("js", "kinesis.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("js", "node_modules", "@aws-sdk", "client-kinesis")); err != nil {
		t.Skip("@aws-sdk/client-kinesis is not installed in e2e/js (make e2e-deps installs it)")
	}
	s := startTLSServer(t, bin, ca, ca.Server("server"), "--auth", e2eUsersFile(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "SLUICE_ENDPOINT=https://"+s.httpAddr, "NODE_EXTRA_CA_CERTS="+ca.CertFile,
		"AWS_ACCESS_KEY_ID="+e2eKeyID, "AWS_SECRET_ACCESS_KEY="+e2eSecret)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res struct {
		Records, Pushed []string
		Protocol, Error string
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("node %s: %v (%v)\nstdout: %s\nstderr: %s", script, err, jerr, out, stderr.String())
	}
	if err != nil || res.Error != "" {
		t.Fatalf("the JS SDK over HTTPS/2: %v: %s\nstderr: %s", err, res.Error, stderr.String())
	}
	if res.Protocol != "h2" {
		t.Errorf("ALPN chose %q for the JS SDK's HTTP/2 handler; want h2", res.Protocol)
	}
	want := "one,two,three"
	if got := strings.Join(res.Records, ","); got != want {
		t.Errorf("GetRecords through the JS SDK returned %q; want %q", got, want)
	}
	if got := strings.Join(res.Pushed, ","); got != want {
		t.Errorf("SubscribeToShard through the JS SDK pushed %q; want %q", got, want)
	}
}
