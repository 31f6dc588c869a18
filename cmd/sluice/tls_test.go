package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/internal/testcert"
	"github.com/sluicedb/sluice/server"
)

// startTLSServer starts an in-process server whose doors serve TLS with a
// certificate of ca; clientCA, if set, requires client certificates.
func startTLSServer(t *testing.T, ca *testcert.CA, clientCA string) string {
	t.Helper()
	p := ca.Server("server")
	s, err := server.Start(server.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Quotas: "unlimited", Fsync: "none",
		TLSCert: p.CertFile, TLSKey: p.KeyFile, TLSClientCA: clientCA,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s.WireAddr().String()
}

// TestCommands_OverTLS: with --ca-cert (before or after the command) the
// CLI creates a stream, puts and reads back over TLS; without TLS flags, or
// without the CA, it fails with a hint at the flag that fixes it.
func TestCommands_OverTLS(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	addr := startTLSServer(t, ca, "")
	mustCLI(t, addr, "", "--ca-cert", ca.CertFile, "stream", "create", "orders", "--shards", "1")
	mustCLI(t, addr, "a\nb\nc\n", "put", "orders", "--key", "k", "--ca-cert", ca.CertFile)
	out := mustCLI(t, addr, "", "get", "orders", "--from", "trim-horizon", "--output", "json", "--ca-cert", ca.CertFile)
	var data []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Data string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("get printed %q: %v", line, err)
		}
		data = append(data, r.Data)
	}
	if strings.Join(data, ",") != "a,b,c" {
		t.Fatalf("read back %q; put a, b, c", data)
	}

	code, _, stderr := cli(t, addr, "", "stream", "list")
	if code != exitError || !strings.Contains(stderr, "--tls") {
		t.Errorf("plaintext against a TLS server: exit %d, stderr %q; want a hint at --tls", code, stderr)
	}
	code, _, stderr = cli(t, addr, "", "--tls", "stream", "list")
	if code != exitError || !strings.Contains(stderr, "--ca-cert") {
		t.Errorf("--tls without the server's CA: exit %d, stderr %q; want a hint at --ca-cert", code, stderr)
	}
	code, _, stderr = cli(t, addr, "", "--ca-cert", ca.CertFile+".missing", "stream", "list")
	if code != exitUsage || !strings.Contains(stderr, "--ca-cert") {
		t.Errorf("a missing --ca-cert file: exit %d, stderr %q", code, stderr)
	}
}

func TestCommands_PlaintextServerWithTLSFlags(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	addr := startServer(t)
	code, _, stderr := cli(t, addr, "", "--ca-cert", ca.CertFile, "stream", "list")
	if code != exitError || !strings.Contains(stderr, "does not speak TLS") {
		t.Errorf("--ca-cert against a plaintext server: exit %d, stderr %q", code, stderr)
	}
}

// TestCommands_MutualTLS: --client-cert and --client-key present a client
// certificate to a server that requires one; half of the pair is a usage
// error.
func TestCommands_MutualTLS(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	addr := startTLSServer(t, ca, ca.CertFile)
	cc := ca.Client("cli")
	if out := mustCLI(t, addr, "", "stream", "list", "--ca-cert", ca.CertFile, "--client-cert", cc.CertFile, "--client-key", cc.KeyFile); out != "" {
		t.Fatalf("list printed %q", out)
	}
	code, _, stderr := cli(t, addr, "", "stream", "list", "--ca-cert", ca.CertFile)
	if code != exitError || !strings.Contains(stderr, "certificate") {
		t.Errorf("no client certificate: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = cli(t, addr, "", "stream", "list", "--ca-cert", ca.CertFile, "--client-cert", cc.CertFile)
	if code != exitUsage || !strings.Contains(stderr, "--client-key") {
		t.Errorf("--client-cert without --client-key: exit %d, stderr %q", code, stderr)
	}
}

// TestBenchMain_OverTLS: sluice bench takes the TLS flags and loads a
// server that serves TLS; with --inproc they are refused.
func TestBenchMain_OverTLS(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	addr := startTLSServer(t, ca, "")
	code, out, stderr := cli(t, addr, "", "--ca-cert", ca.CertFile, "bench", "put", "--records", "2000", "--batch", "100", "--producers", "2", "--json", "--quiet")
	if code != exitOK {
		t.Fatalf("bench over TLS: exit %d\n%s", code, stderr)
	}
	var rep struct {
		Records int64   `json:"records"`
		Errors  int64   `json:"errors"`
		Rate    float64 `json:"records_per_sec"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Records != 2000 || rep.Errors != 0 || rep.Rate <= 0 {
		t.Fatalf("bench over TLS reported %+v (%v): %s", rep, err, out)
	}
	_, _, err := benchRun(t, "put", "--inproc", "--tls")
	if err == nil || !strings.Contains(err.Error(), "--inproc") {
		t.Fatalf("bench --inproc --tls: %v", err)
	}
}
