package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEnd_Boto3 drives the real sluiced, started with --auth, through
// boto3 (Debian's python3-boto3) where it is installed: a stream created,
// records put and read back from every shard, every request signed by
// botocore and verified by the server, and a wrong secret refused with
// InvalidSignatureException.
func TestEndToEnd_Boto3(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	if err := exec.Command(python, "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 is not installed for python3 (Debian: python3-boto3)")
	}
	script, err := filepath.Abs(filepath.Join("py", "kinesis_boto3.py"))
	if err != nil {
		t.Fatal(err)
	}
	bin := build(t)
	s := startServer(t, bin, t.TempDir(), "--auth", e2eUsersFile(t), "--fsync", "none")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Env = append(awsEnv(t), "SLUICE_ENDPOINT=http://"+s.httpAddr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res struct {
		Failed    int
		Sent, Got []string
		Refused   string
		Error     string
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("python3 %s: %v (%v)\nstdout: %s\nstderr: %s", script, err, jerr, out, stderr.String())
	}
	if err != nil || res.Error != "" {
		t.Fatalf("boto3 against sluiced: %v: %s\nstderr: %s", err, res.Error, stderr.String())
	}
	if res.Failed != 0 || strings.Join(res.Got, ",") != strings.Join(res.Sent, ",") {
		t.Errorf("boto3 put %d records (%d failed) and read back %v; want %v", len(res.Sent), res.Failed, res.Got, res.Sent)
	}
	if res.Refused != "InvalidSignatureException" {
		t.Errorf("boto3 with a wrong secret got %q; want InvalidSignatureException", res.Refused)
	}
}
