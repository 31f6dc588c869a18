package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/server"
)

// startServer starts a sluice server in-process on free ports and a fresh
// data directory and returns its binary protocol address.
func startServer(t *testing.T) string {
	t.Helper()
	return server.StartTest(t).WireAddr().String()
}

// cli runs a command against the server at addr.
func cli(t *testing.T, addr, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLI(t, stdin, append([]string{"--addr", addr}, args...)...)
}

// mustCLI runs a command that must succeed and returns its output.
func mustCLI(t *testing.T, addr, stdin string, args ...string) string {
	t.Helper()
	code, stdout, stderr := cli(t, addr, stdin, args...)
	if code != exitOK {
		t.Fatalf("sluice %q: exit %d\nstderr: %s", args, code, stderr)
	}
	return stdout
}

// ack is one line of `put -v`.
type ack struct{ shard, seq string }

func parseAcks(t *testing.T, out string) []ack {
	t.Helper()
	var acks []ack
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasPrefix(f[0], "shardId-") {
			t.Fatalf("put -v line %q is not SHARD SEQUENCE", line)
		}
		sn, err := api.ParseSeqNum(f[1])
		if err != nil || api.ShardID(int(sn.Shard)) != f[0] {
			t.Fatalf("put -v line %q: sequence %v does not belong to its shard (%v)", line, sn, err)
		}
		acks = append(acks, ack{f[0], f[1]})
	}
	return acks
}

func parseRecordLines(t *testing.T, out string) []recordLine {
	t.Helper()
	var recs []recordLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		recs = append(recs, decodeRecordLine(t, sc.Bytes()))
	}
	return recs
}

func describeJSON(t *testing.T, addr, name string) streamJSON {
	t.Helper()
	var s streamJSON
	if err := json.Unmarshal([]byte(mustCLI(t, addr, "", "stream", "describe", name, "--json")), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCommands_StreamLifecycle(t *testing.T) {
	addr := startServer(t)
	out := mustCLI(t, addr, "", "stream", "create", "orders", "--shards", "3", "--retention", "48", "--tag", "env=prod")
	if out != "created stream orders: 3 shards, PROVISIONED, retention 48 hours\n" {
		t.Fatalf("create printed %q", out)
	}
	code, _, stderr := cli(t, addr, "", "stream", "create", "orders", "--shards", "1")
	if code != exitError || !strings.HasPrefix(stderr, "sluice: ResourceInUseException: ") {
		t.Fatalf("creating an existing stream: exit %d, stderr %q", code, stderr)
	}
	mustCLI(t, addr, "", "stream", "create", "clicks", "--mode", "on-demand", "--fsync", "interval")
	if out := mustCLI(t, addr, "", "stream", "list"); out != "clicks\norders\n" {
		t.Fatalf("list printed %q", out)
	}
	var names []string
	if err := json.Unmarshal([]byte(mustCLI(t, addr, "", "stream", "list", "--json")), &names); err != nil || !slices.Equal(names, []string{"clicks", "orders"}) {
		t.Fatalf("list --json: %q, %v", names, err)
	}

	s := describeJSON(t, addr, "orders")
	if s.Status != "ACTIVE" || s.RetentionHours != 48 || s.OpenShards != 3 || len(s.Shards) != 3 || s.Tags["env"] != "prod" {
		t.Fatalf("describe: %+v", s)
	}
	next := api.HashKey{}
	for i, sh := range s.Shards {
		start, _ := api.ParseHashKey(sh.HashKeyStart)
		end, _ := api.ParseHashKey(sh.HashKeyEnd)
		if sh.State != "open" || start != next || end.Cmp(start) < 0 {
			t.Fatalf("shard %d: %+v; want open, starting at %s", i, sh, next)
		}
		next = end.Inc()
	}
	if next != (api.HashKey{}) {
		t.Fatalf("the shards' ranges end before 2^128-1")
	}
	if c := describeJSON(t, addr, "clicks"); c.Mode != "ON_DEMAND" || c.OpenShards != api.OnDemandShards || c.Durability != "interval" {
		t.Fatalf("on-demand stream: %+v", c)
	}
	text := mustCLI(t, addr, "", "stream", "describe", "orders")
	if !strings.Contains(text, "Shards:      3 open, 0 closed") || strings.Count(text, "shardId-") != 3 {
		t.Fatalf("describe text:\n%s", text)
	}

	if out := mustCLI(t, addr, "", "stream", "retention", "orders", "72"); out != "stream orders keeps records for 72 hours (was 48)\n" {
		t.Fatalf("retention up printed %q", out)
	}
	mustCLI(t, addr, "", "stream", "retention", "orders", "24")
	if s := describeJSON(t, addr, "orders"); s.RetentionHours != 24 {
		t.Fatalf("retention after lowering: %d", s.RetentionHours)
	}
	if out := mustCLI(t, addr, "", "stream", "tag", "orders", "team=data", "tier=gold"); out != `stream orders tags: env="prod" team="data" tier="gold"`+"\n" {
		t.Fatalf("tag printed %q", out)
	}
	if out := mustCLI(t, addr, "", "stream", "untag", "orders", "env", "tier"); out != `stream orders tags: team="data"`+"\n" {
		t.Fatalf("untag printed %q", out)
	}

	if out := mustCLI(t, addr, "", "stream", "delete", "orders"); out != "deleted stream orders\n" {
		t.Fatalf("delete printed %q", out)
	}
	code, _, stderr = cli(t, addr, "", "stream", "describe", "orders")
	if code != exitError || !strings.HasPrefix(stderr, "sluice: ResourceNotFoundException: ") || !strings.Contains(stderr, "orders") {
		t.Fatalf("describing a deleted stream: exit %d, stderr %q", code, stderr)
	}
}

// testLines are records with the bytes that trip up text handling: empty,
// tabs, quotes, backslashes, multi-byte characters, invalid UTF-8, NUL.
var testLines = []string{
	"plain", "", "\ttabbed\t", `{"json":"with \"quotes\""}`, `back\slash`, "żółw 🐢", "bin\xff\xfe\x80ary", "nul\x00byte", "last",
}

func TestCommands_PutStdinAndGetByteExact(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "2")
	stdin := strings.Join(testLines, "\n") + "\n"
	acks := parseAcks(t, mustCLI(t, addr, stdin, "put", "s", "-v"))
	if len(acks) != len(testLines) {
		t.Fatalf("put -v printed %d acknowledgements for %d lines", len(acks), len(testLines))
	}
	recs := parseRecordLines(t, mustCLI(t, addr, "", "get", "s", "--output", "json"))
	if len(recs) != len(testLines) {
		t.Fatalf("get printed %d records; want %d", len(recs), len(testLines))
	}
	bySeq := map[string]recordLine{}
	for _, r := range recs {
		bySeq[r.Sequence] = r
	}
	lastSeq := map[string]api.SeqNum{}
	for i, a := range acks {
		r, ok := bySeq[a.seq]
		if !ok {
			t.Fatalf("acknowledged record %d (%s) is missing from get", i, a.seq)
		}
		if got := r.bytes(t); string(got) != testLines[i] || r.Shard != a.shard {
			t.Fatalf("record %d: shard %s data %q; want %s %q", i, r.Shard, got, a.shard, testLines[i])
		}
		sn, _ := api.ParseSeqNum(a.seq)
		if prev, ok := lastSeq[a.shard]; ok && sn.Seq <= prev.Seq {
			t.Fatalf("line %d stored at %v, not after line before it on %s (%v)", i, sn, a.shard, prev)
		}
		lastSeq[a.shard] = sn
	}
	if len(lastSeq) != 2 {
		t.Errorf("random keys put every record on %d shard(s); want both", len(lastSeq))
	}

	// Text output: each record's bytes and a newline, every shard's.
	text := mustCLI(t, addr, "", "get", "s")
	got := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	want := slices.Clone(testLines)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("text output lines %q; want %q", got, want)
	}
}

func TestCommands_PutArgumentsWithKey(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "4")
	acks := parseAcks(t, mustCLI(t, addr, "", "put", "s", "--key", "customer-42", "-v", "alpha", "--", "-beta", "gamma"))
	if len(acks) != 3 || acks[0].shard != acks[1].shard || acks[1].shard != acks[2].shard {
		t.Fatalf("acks %v; want three records on one shard (one key)", acks)
	}
	h := api.HashPartitionKey([]byte("customer-42"))
	s := describeJSON(t, addr, "s")
	for _, sh := range s.Shards {
		start, _ := api.ParseHashKey(sh.HashKeyStart)
		end, _ := api.ParseHashKey(sh.HashKeyEnd)
		if h.Cmp(start) >= 0 && h.Cmp(end) <= 0 && sh.ID != acks[0].shard {
			t.Fatalf("key customer-42 hashes into %s but went to %s", sh.ID, acks[0].shard)
		}
	}
	out := mustCLI(t, addr, "", "get", "s", "--shard", acks[0].shard)
	if out != "alpha\n-beta\ngamma\n" {
		t.Fatalf("get --shard printed %q", out)
	}
	recs := parseRecordLines(t, mustCLI(t, addr, "", "get", "s", "-o", "json"))
	for _, r := range recs {
		if r.Key != "customer-42" {
			t.Fatalf("record %+v has key %q; want customer-42", r, r.Key)
		}
	}
}

func TestCommands_PutKeyField(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "2")
	stdin := `{"user":{"id":"alice"},"n":1}` + "\n" + `{"user":{"id":7}}` + "\nnot json\n" + `{"user":{"id":"alice"},"n":2}` + "\n"
	code, _, stderr := cli(t, addr, stdin, "put", "s", "--key-field", "user.id")
	if code != exitError || !strings.Contains(stderr, "sluice: line 3 skipped: not a JSON object") || !strings.Contains(stderr, "1 lines were skipped") {
		t.Fatalf("exit %d, stderr %q; want line 3 reported and exit 1", code, stderr)
	}
	recs := parseRecordLines(t, mustCLI(t, addr, "", "get", "s", "-o", "json"))
	keys := map[string][]string{}
	for _, r := range recs {
		keys[r.Key] = append(keys[r.Key], string(r.bytes(t)))
	}
	want := map[string][]string{
		"alice": {`{"user":{"id":"alice"},"n":1}`, `{"user":{"id":"alice"},"n":2}`},
		"7":     {`{"user":{"id":7}}`},
	}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("records by key %q; want %q", keys, want)
	}
}

func TestCommands_PutToMissingStream(t *testing.T) {
	addr := startServer(t)
	code, _, stderr := cli(t, addr, "", "put", "nope", "a", "b")
	if code != exitError || !strings.Contains(stderr, "2 of 2 records were not stored") || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestCommands_GetFromPositions(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "1")
	before := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	acks := parseAcks(t, mustCLI(t, addr, "r0\nr1\nr2\nr3\nr4\n", "put", "s", "-v"))
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--from", "trim-horizon"}, "r0 r1 r2 r3 r4"},
		{[]string{"--from", acks[2].seq}, "r2 r3 r4"},
		{[]string{"--from", "after:" + acks[2].seq}, "r3 r4"},
		{[]string{"--from", "latest"}, ""},
		{[]string{"--from", before}, "r0 r1 r2 r3 r4"},
		{[]string{"--from", "-1h"}, "r0 r1 r2 r3 r4"},
		{[]string{"--limit", "2"}, "r0 r1"},
		{[]string{"--from", acks[1].seq, "--limit", "2"}, "r1 r2"},
		{[]string{"--shard", "0", "--limit", "1"}, "r0"},
	}
	for _, c := range cases {
		out := mustCLI(t, addr, "", append([]string{"get", "s"}, c.args...)...)
		if got := strings.Join(strings.Fields(out), " "); got != c.want {
			t.Errorf("get %q printed %q; want %q", c.args, got, c.want)
		}
	}
	code, _, stderr := cli(t, addr, "", "get", "s", "--shard", "9")
	if code != exitError || !strings.Contains(stderr, "no shard shardId-000000000009") {
		t.Errorf("get --shard 9: exit %d, stderr %q", code, stderr)
	}
}

func TestCommands_ReshardAndReadParentsFirst(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "2")
	var want []string
	put := func(n int) string {
		var lines []string
		for range n {
			lines = append(lines, fmt.Sprintf("rec-%03d", len(want)))
			want = append(want, lines[len(lines)-1])
		}
		acks := parseAcks(t, mustCLI(t, addr, strings.Join(lines, "\n"), "put", "s", "--key", "k", "-v"))
		return acks[0].shard
	}
	parent := put(5)

	out := mustCLI(t, addr, "", "stream", "split", "s", parent)
	if !strings.HasPrefix(out, "split "+parent+" of stream s at hash key ") || strings.Count(out, "parent "+parent) != 2 {
		t.Fatalf("split printed %q", out)
	}
	s := describeJSON(t, addr, "s")
	var pStart, pEnd api.HashKey
	var children []shardJSON
	for _, sh := range s.Shards {
		if sh.ID == parent {
			if sh.State != "closed" || sh.Records != 5 {
				t.Fatalf("split parent: %+v", sh)
			}
			pStart, _ = api.ParseHashKey(sh.HashKeyStart)
			pEnd, _ = api.ParseHashKey(sh.HashKeyEnd)
		}
		if sh.Parent == parent {
			children = append(children, sh)
		}
	}
	mid, _ := middleHashKey(pStart, pEnd)
	if len(children) != 2 || children[0].HashKeyStart != pStart.String() || children[0].HashKeyEnd != mid.Dec().String() ||
		children[1].HashKeyStart != mid.String() || children[1].HashKeyEnd != pEnd.String() {
		t.Fatalf("children of %s: %+v; want the range split at %s", parent, children, mid)
	}
	if !strings.Contains(out, children[0].ID) || !strings.Contains(out, children[1].ID) {
		t.Fatalf("split output %q does not name the children", out)
	}
	child := put(5)
	if child == parent {
		t.Fatalf("records went to the closed parent %s", parent)
	}

	code, _, stderr := cli(t, addr, "", "stream", "split", "s", parent)
	if code != exitError || !strings.Contains(stderr, "is closed") {
		t.Fatalf("splitting a closed shard: exit %d, stderr %q", code, stderr)
	}
	out = mustCLI(t, addr, "", "stream", "merge", "s", children[0].ID, children[1].ID)
	if !strings.Contains(out, "parent "+children[0].ID+" + "+children[1].ID) {
		t.Fatalf("merge printed %q", out)
	}
	put(5)
	// Per-key order holds across the split and the merge.
	if got := strings.Fields(mustCLI(t, addr, "", "get", "s")); !slices.Equal(got, want) {
		t.Fatalf("get printed %q; want %q", got, want)
	}

	out = mustCLI(t, addr, "", "stream", "scale", "s", "--shards", "4")
	if !strings.HasPrefix(out, "stream s has 4 open shards:\n") || strings.Count(out, "shardId-") < 4 {
		t.Fatalf("scale printed %q", out)
	}
	if s := describeJSON(t, addr, "s"); s.OpenShards != 4 {
		t.Fatalf("open shards after scale: %d", s.OpenShards)
	}
	code, _, stderr = cli(t, addr, "", "stream", "scale", "s", "--shards", "100")
	if code != exitError || !strings.Contains(stderr, "ValidationException") {
		t.Fatalf("scaling past double: exit %d, stderr %q", code, stderr)
	}
	at := api.HashKey{Hi: 1 << 61}.String()
	s = describeJSON(t, addr, "s")
	var holder string
	for _, sh := range s.Shards {
		start, _ := api.ParseHashKey(sh.HashKeyStart)
		end, _ := api.ParseHashKey(sh.HashKeyEnd)
		if sh.State == "open" && start.Cmp(api.HashKey{Hi: 1 << 61}) < 0 && end.Cmp(api.HashKey{Hi: 1 << 61}) >= 0 {
			holder = sh.ID
		}
	}
	if out := mustCLI(t, addr, "", "stream", "split", "s", holder, "--at", at); !strings.Contains(out, "at hash key "+at) {
		t.Fatalf("split --at printed %q", out)
	}
}

// pipeCLI runs a command in the background with its standard output on a
// pipe; wait returns its exit code once it ended (after cancel, say).
func pipeCLI(t *testing.T, ctx context.Context, addr string, args ...string) (lines *bufio.Scanner, stderr *bytes.Buffer, wait func() int) {
	t.Helper()
	pr, pw := io.Pipe()
	stderr = &bytes.Buffer{}
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"--addr", addr}, args...), strings.NewReader(""), pw, stderr)
		pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	t.Cleanup(func() { pr.Close() })
	return sc, stderr, func() int {
		go io.Copy(io.Discard, pr) // let a final flush finish
		return <-done
	}
}

func TestCommands_FollowAcrossSplitUntilInterrupted(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "1")
	mustCLI(t, addr, "r0\nr1\nr2\n", "put", "s", "--key", "k")
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	lines, stderr, wait := pipeCLI(t, ctx, addr, "get", "s", "--follow", "--from", "trim-horizon", "-o", "json")
	var got []recordLine
	read := func(n int) {
		t.Helper()
		for range n {
			if !lines.Scan() {
				t.Fatalf("follow output ended after %d records: %v; stderr %q", len(got), lines.Err(), stderr.String())
			}
			got = append(got, decodeRecordLine(t, lines.Bytes()))
		}
	}
	read(3)
	mustCLI(t, addr, "r3\nr4\n", "put", "s", "--key", "k")
	read(2)
	mustCLI(t, addr, "", "stream", "split", "s", "0")
	mustCLI(t, addr, "r5\nr6\n", "put", "s", "--key", "k")
	read(2)
	interrupt()
	if code := wait(); code != exitOK {
		t.Fatalf("follow exited %d after Ctrl-C; want 0 (stderr %q)", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Fatalf("follow wrote %q to stderr", stderr.String())
	}
	for i, r := range got {
		if d := string(r.bytes(t)); d != fmt.Sprintf("r%d", i) {
			t.Fatalf("record %d is %q; want r%d (in put order across the split)", i, d, i)
		}
		if (i < 5) != (r.Shard == "shardId-000000000000") {
			t.Fatalf("record %d came from %s", i, r.Shard)
		}
	}
}

func TestCommands_FollowLatestAndLimit(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "2")
	mustCLI(t, addr, "old\n", "put", "s")
	// Without --from a follow starts at latest: it must skip "old" and print
	// a record put after it started; --limit 1 then ends it by itself. It
	// cannot say when it has started, so put records until it ends.
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"--addr", addr, "get", "s", "-f", "--limit", "1"}, strings.NewReader(""), &stdout, &stderr)
	}()
	puts := 0
	for {
		select {
		case code := <-done:
			if code != exitOK {
				t.Fatalf("follow --limit 1 exited %d; stderr %q", code, stderr.String())
			}
			got := strings.TrimSuffix(stdout.String(), "\n")
			var n int
			if _, err := fmt.Sscanf(got, "new%d", &n); err != nil || n >= puts || strings.Contains(got, "\n") {
				t.Fatalf("follow from latest printed %q; want one of the %d records put after it started", stdout.String(), puts)
			}
			return
		default:
			mustCLI(t, addr, "", "put", "s", fmt.Sprintf("new%d", puts))
			puts++
		}
	}
}

func TestCommands_FollowClosedShardEnds(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "1")
	mustCLI(t, addr, "a\nb\n", "put", "s")
	mustCLI(t, addr, "", "stream", "split", "s", "0")
	code, out, stderr := cli(t, addr, "", "get", "s", "--follow", "--shard", "0", "--from", "trim-horizon")
	if code != exitOK || out != "a\nb\n" || !strings.Contains(stderr, "shardId-000000000000 is closed") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want both records, then a note that the shard ended", code, out, stderr)
	}
}

func TestCommands_GetWaitsOutReadQuota(t *testing.T) {
	addr := startServer(t)
	// Kinesis quotas allow 5 reads per second per shard: ten gets in a row
	// are throttled and must wait and retry, not fail.
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "1", "--quotas", "kinesis")
	mustCLI(t, addr, "a\nb\n", "put", "s")
	for i := range 10 {
		if out := mustCLI(t, addr, "", "get", "s"); out != "a\nb\n" {
			t.Fatalf("get %d printed %q", i, out)
		}
	}
}

func TestStreamMode_SwitchesBothWays(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "m", "--shards", "2")
	if out := mustCLI(t, addr, "", "stream", "mode", "m", "on-demand"); out != "stream m is ON_DEMAND\n" {
		t.Fatalf("mode on-demand printed %q", out)
	}
	if s := describeJSON(t, addr, "m"); s.Mode != "ON_DEMAND" || s.Status != "ACTIVE" || len(s.HotKeys) != 0 {
		t.Fatalf("after mode on-demand: %+v", s)
	}
	if code, _, stderr := cli(t, addr, "", "stream", "describe", "m"); code != exitOK || stderr != "" {
		t.Fatalf("describe of an ON_DEMAND stream: exit %d, stderr %q", code, stderr)
	}
	mustCLI(t, addr, "", "stream", "mode", "m", "provisioned")
	if s := describeJSON(t, addr, "m"); s.Mode != "PROVISIONED" || s.OpenShards != 2 {
		t.Fatalf("after mode provisioned: %+v", s)
	}
	code, _, stderr := cli(t, addr, "", "stream", "mode", "m", "elastic")
	if code == exitOK || !strings.Contains(stderr, `mode "elastic": want provisioned or on-demand`) {
		t.Fatalf("mode elastic: exit %d, stderr %q", code, stderr)
	}
}
