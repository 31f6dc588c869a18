package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestKMS_Commands: keys made, named, rotated, disabled and enabled with
// sluice kms, a stream encrypted with sluice stream encrypt: a rotation
// with --rewrap keeps every record readable, a disabled key makes puts fail
// with KMSDisabledException, enabling it restores them.
func TestKMS_Commands(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "2")

	var key keyJSON
	if err := json.Unmarshal([]byte(mustCLI(t, addr, "", "kms", "create", "--description", "orders at rest", "--alias", "alias/orders", "--json")), &key); err != nil {
		t.Fatal(err)
	}
	if key.KeyID == "" || !strings.HasSuffix(key.ARN, ":key/"+key.KeyID) || key.State != "Enabled" || key.Version != 1 ||
		key.Description != "orders at rest" || len(key.Aliases) != 1 || key.Aliases[0] != "alias/orders" {
		t.Fatalf("kms create --json printed %+v", key)
	}
	mustCLI(t, addr, "", "kms", "alias", "alias/second", key.KeyID)
	text := mustCLI(t, addr, "", "kms", "describe", "alias/second")
	for _, want := range []string{"key id       " + key.KeyID, "state        Enabled", "alias        alias/orders", "alias        alias/second"} {
		if !strings.Contains(text, want) {
			t.Fatalf("kms describe printed\n%s\nwithout %q", text, want)
		}
	}
	var keys []keyJSON
	if err := json.Unmarshal([]byte(mustCLI(t, addr, "", "kms", "list", "--json")), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].KeyID != key.KeyID || len(keys[0].Aliases) != 2 {
		t.Fatalf("kms list --json: %+v", keys)
	}

	mustCLI(t, addr, "", "stream", "encrypt", "s", "--key", "alias/orders")
	if s := describeJSON(t, addr, "s"); s.EncryptionType != "KMS" {
		t.Fatalf("stream after encrypt: encryption %q; want KMS", s.EncryptionType)
	}
	mustCLI(t, addr, "a\nb\nc\n", "put", "s")

	var rot rotateJSON
	if err := json.Unmarshal([]byte(mustCLI(t, addr, "", "kms", "rotate", "alias/orders", "--rewrap", "--json")), &rot); err != nil {
		t.Fatal(err)
	}
	if rot.Key.Version != 2 || rot.Rewrap == nil || rot.Rewrap.Shards != 2 || rot.Rewrap.Segments < 1 {
		t.Fatalf("kms rotate --rewrap --json: %+v %+v", rot.Key, rot.Rewrap)
	}
	mustCLI(t, addr, "d\n", "put", "s")
	if got := dataOf(parseRecordLines(t, mustCLI(t, addr, "", "get", "s", "-o", "json"))); got != "a,b,c,d" {
		t.Fatalf("records after rotate --rewrap: %s; want a,b,c,d", got)
	}

	mustCLI(t, addr, "", "kms", "disable", key.ARN)
	code, _, stderr := cli(t, addr, "refused\n", "put", "s")
	if code != exitError || !strings.Contains(stderr, "KMSDisabledException") {
		t.Fatalf("put under a disabled key: exit %d, stderr %q; want 1 and KMSDisabledException", code, stderr)
	}
	if k := describeKeyJSON(t, addr, key.KeyID); k.State != "Disabled" {
		t.Fatalf("kms describe after disable: state %q", k.State)
	}
	mustCLI(t, addr, "", "kms", "enable", key.KeyID)
	mustCLI(t, addr, "e\n", "put", "s")
	mustCLI(t, addr, "", "stream", "decrypt", "s")
	mustCLI(t, addr, "f\n", "put", "s")
	if got := dataOf(parseRecordLines(t, mustCLI(t, addr, "", "get", "s", "-o", "json"))); got != "a,b,c,d,e,f" {
		t.Fatalf("records: %s; want a,b,c,d,e,f", got)
	}

	code, _, stderr = cli(t, addr, "", "kms", "describe", "alias/none")
	if code != exitError || !strings.Contains(stderr, "KMSNotFoundException") {
		t.Fatalf("kms describe of a missing key: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = cli(t, addr, "", "kms", "alias", "alias/x")
	if code != exitUsage {
		t.Fatalf("kms alias with one argument: exit %d, stderr %q; want 2", code, stderr)
	}
}

func describeKeyJSON(t *testing.T, addr, key string) keyJSON {
	t.Helper()
	var k keyJSON
	if err := json.Unmarshal([]byte(mustCLI(t, addr, "", "kms", "describe", key, "--json")), &k); err != nil {
		t.Fatal(err)
	}
	return k
}

// dataOf joins the records' data, sorted (the records of a stream of two
// shards are compared as a set).
func dataOf(recs []recordLine) string {
	var d []string
	for _, r := range recs {
		if r.Data != nil {
			d = append(d, *r.Data)
		}
	}
	slices.Sort(d)
	return strings.Join(d, ",")
}
