package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/auth"
)

func TestAuthAddUser_WritesKeysThatAuthenticate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "auth.json")
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:PutRecords","Resource":"arn:aws:kinesis:*:*:stream/orders-*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, "", "", "auth", "add-user", "ingest", "--file", file, "--policy", policy, "--json")
	var got addUserOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if got.Name != "ingest" || got.ARN != "arn:aws:iam::000000000000:user/ingest" || len(got.AccessKeyID) != 20 || len(got.SecretAccessKey) != 40 {
		t.Fatalf("output %+v", got)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %04o, want 0600", fi.Mode().Perm())
	}
	store, err := auth.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	u := store.Lookup(got.AccessKeyID)
	if u == nil || u.SecretAccessKey != got.SecretAccessKey || u.Name != "ingest" {
		t.Fatalf("the printed key does not find the user: %+v", u)
	}
	if err := auth.Authorize(u, "kinesis:PutRecords", "arn:aws:kinesis:us-east-1:000000000000:stream/orders-1", nil); err != nil {
		t.Fatalf("the policy given with --policy does not grant: %v", err)
	}

	// A second user keeps the first; the human output prints both keys.
	out = mustCLI(t, "", "", "auth", "add-user", "admin", "--file", file)
	if !strings.Contains(out, "access_key_id:") || !strings.Contains(out, "secret_access_key:") {
		t.Fatalf("output %q", out)
	}
	if err := store.Reload(); err != nil {
		t.Fatal(err)
	}
	if store.Lookup(got.AccessKeyID) == nil || len(store.Users().List()) != 2 {
		t.Fatalf("after the second add-user the file holds %d users", len(store.Users().List()))
	}
}

func TestAuthAddUser_Refusals(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "auth.json")
	mustCLI(t, "", "", "auth", "add-user", "ingest", "--file", file)
	before, _ := os.ReadFile(file)

	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"Statement":[{"Effect":"Allow","Action":"kinesis:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"auth", "add-user", "ingest", "--file", file}, `"ingest" is in`},
		{[]string{"auth", "add-user", "other", "--file", file, "--policy", bad}, "Condition"},
		{[]string{"auth", "add-user", "no/slash", "--file", file}, "name must be"},
		{[]string{"auth", "add-user", "x", "--file", file, "--policy", filepath.Join(dir, "missing.json")}, "--policy"},
	} {
		code, _, stderr := cli(t, "", "", tc.args...)
		if code != exitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, stderr, exitError, tc.want)
		}
	}
	after, _ := os.ReadFile(file)
	if string(after) != string(before) {
		t.Fatalf("a refused add-user changed the file:\n%s\nbecame\n%s", before, after)
	}
}
