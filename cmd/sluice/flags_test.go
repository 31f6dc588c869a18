package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
)

// runCLI runs one command line in-process and returns its exit code and
// output.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestParseInterspersed_FlagsAnywhere(t *testing.T) {
	cases := []struct {
		args    []string
		pos     []string
		shards  int
		verbose bool
	}{
		{[]string{"orders", "--shards", "4"}, []string{"orders"}, 4, false},
		{[]string{"--shards=4", "orders"}, []string{"orders"}, 4, false},
		{[]string{"a", "-v", "b", "--shards", "2", "c"}, []string{"a", "b", "c"}, 2, true},
		{[]string{"a", "--", "-v", "--shards"}, []string{"a", "-v", "--shards"}, 0, false},
		{[]string{"--", "-x"}, []string{"-x"}, 0, false},
		{nil, nil, 0, false},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		shards := fs.Int("shards", 0, "")
		verbose := fs.Bool("v", false, "")
		pos, err := parseInterspersed(fs, c.args)
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if !slices.Equal(pos, c.pos) || *shards != c.shards || *verbose != c.verbose {
			t.Errorf("%q: positional %q shards %d v %v; want %q %d %v", c.args, pos, *shards, *verbose, c.pos, c.shards, c.verbose)
		}
	}
}

func TestParseFrom_Forms(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	seq := api.SeqNum{Incarnation: 7, Shard: 3, Seq: 42}
	cases := []struct {
		in     string
		follow bool
		want   api.IteratorSpec
		shard  string
	}{
		{"", false, api.IteratorSpec{Type: api.TrimHorizon}, ""},
		{"", true, api.IteratorSpec{Type: api.Latest}, ""},
		{"trim-horizon", true, api.IteratorSpec{Type: api.TrimHorizon}, ""},
		{"TRIM_HORIZON", false, api.IteratorSpec{Type: api.TrimHorizon}, ""},
		{"latest", false, api.IteratorSpec{Type: api.Latest}, ""},
		{seq.String(), false, api.IteratorSpec{Type: api.AtSequenceNumber, Seq: seq.String()}, "shardId-000000000003"},
		{"after:" + seq.String(), false, api.IteratorSpec{Type: api.AfterSequenceNumber, Seq: seq.String()}, "shardId-000000000003"},
		{"2024-04-30T10:00:00Z", false, api.IteratorSpec{Type: api.AtTimestamp, Timestamp: time.Date(2024, 4, 30, 10, 0, 0, 0, time.UTC)}, ""},
		{"2024-04-30T10:00:00.5+02:00", false, api.IteratorSpec{Type: api.AtTimestamp, Timestamp: time.Date(2024, 4, 30, 8, 0, 0, 5e8, time.UTC)}, ""},
		{"-15m", false, api.IteratorSpec{Type: api.AtTimestamp, Timestamp: now.Add(-15 * time.Minute)}, ""},
	}
	for _, c := range cases {
		got, shard, err := parseFrom(c.in, c.follow, now)
		if err != nil {
			t.Fatalf("parseFrom(%q): %v", c.in, err)
		}
		if got.Type != c.want.Type || got.Seq != c.want.Seq || !got.Timestamp.Equal(c.want.Timestamp) || shard != c.shard {
			t.Errorf("parseFrom(%q) = %+v, %q; want %+v, %q", c.in, got, shard, c.want, c.shard)
		}
	}
}

func TestParseFrom_Invalid(t *testing.T) {
	for _, in := range []string{"yesterday", "12", "after:x", "-banana", "2024-13-01T00:00:00Z", "--5m"} {
		if _, _, err := parseFrom(in, false, time.Now()); err == nil {
			t.Errorf("parseFrom(%q) succeeded; want an error", in)
		} else if !strings.Contains(err.Error(), "--from") {
			t.Errorf("parseFrom(%q) error %q does not name the flag", in, err)
		}
	}
}

func TestMiddleHashKey_Ranges(t *testing.T) {
	max := api.MaxHashKey
	half := api.HashKey{Hi: 1 << 63}
	cases := []struct {
		start, end, want api.HashKey
		ok               bool
	}{
		{api.HashKey{}, max, half, true},                                      // the whole space: 2^127
		{half, max, api.HashKey{Hi: 3 << 62}, true},                           // the upper half
		{api.HashKey{Lo: 10}, api.HashKey{Lo: 11}, api.HashKey{Lo: 11}, true}, // two keys
		{api.HashKey{Lo: 10}, api.HashKey{Lo: 12}, api.HashKey{Lo: 11}, true}, // three keys
		{api.HashKey{Lo: 10}, api.HashKey{Lo: 13}, api.HashKey{Lo: 12}, true}, // four keys
		{api.HashKey{Lo: 5}, api.HashKey{Lo: 5}, api.HashKey{}, false},        // one key
		{api.HashKey{Lo: ^uint64(0)}, api.HashKey{Hi: 1, Lo: 1}, api.HashKey{Hi: 1}, true},
	}
	for _, c := range cases {
		got, ok := middleHashKey(c.start, c.end)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("middleHashKey(%s, %s) = %s, %v; want %s, %v", c.start, c.end, got, ok, c.want, c.ok)
		}
		if ok && (got.Cmp(c.start) <= 0 || got.Cmp(c.end) > 0) {
			t.Errorf("middleHashKey(%s, %s) = %s is not a valid split point", c.start, c.end, got)
		}
	}
}

func TestCanonicalShardID_Forms(t *testing.T) {
	for in, want := range map[string]string{"3": "shardId-000000000003", "shardId-000000000012": "shardId-000000000012"} {
		got, err := canonicalShardID("x", in)
		if err != nil || got != want {
			t.Errorf("canonicalShardID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := canonicalShardID("stream split", "shard-3"); err == nil || !strings.Contains(err.Error(), "shardId-000000000003") {
		t.Errorf("canonicalShardID(shard-3) error %v; want one showing the right form", err)
	}
}

func TestRun_UnknownCommandListsCommands(t *testing.T) {
	code, _, stderr := runCLI(t, "", "frobnicate")
	if code != exitUsage {
		t.Fatalf("exit code %d; want %d", code, exitUsage)
	}
	for _, want := range []string{`unknown command "frobnicate"`, "stream", "put", "get"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
}

func TestRun_UnknownStreamSubcommand(t *testing.T) {
	code, _, stderr := runCLI(t, "", "stream", "explode", "x")
	if code != exitUsage || !strings.Contains(stderr, `unknown subcommand "explode"`) || !strings.Contains(stderr, "create, list, describe") {
		t.Fatalf("exit %d, stderr %q; want a usage error listing the subcommands", code, stderr)
	}
}

func TestRun_UsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "usage: sluice"},
		{[]string{"stream"}, "missing subcommand"},
		{[]string{"stream", "create"}, "missing stream name"},
		{[]string{"stream", "create", "s"}, "--shards N is required"},
		{[]string{"stream", "create", "s", "--shards", "2", "--mode", "on-demand"}, "--shards does not apply"},
		{[]string{"stream", "create", "s", "--shards", "2", "--fsync", "sometimes"}, `--fsync "sometimes"`},
		{[]string{"stream", "create", "s", "--shards", "2", "--quotas", "lots"}, `--quotas "lots"`},
		{[]string{"stream", "create", "s", "t", "--shards", "2"}, `unexpected argument "t"`},
		{[]string{"stream", "split", "s", "x1"}, "shardId-"},
		{[]string{"stream", "split", "s", "1", "--at", "-4"}, "not a hash key"},
		{[]string{"stream", "retention", "s", "many"}, "not a positive whole number"},
		{[]string{"stream", "tag", "s", "novalue"}, "KEY=VALUE"},
		{[]string{"stream", "scale", "s"}, "--shards N is required"},
		{[]string{"put"}, "missing stream name"},
		{[]string{"put", "s", "--key", "k", "--key-field", "f"}, "give one"},
		{[]string{"put", "s", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"get", "s", "--output", "xml"}, `--output "xml"`},
		{[]string{"get", "s", "--from", "soon"}, `--from "soon"`},
		{[]string{"get", "s", "--shard", "2", "--from", api.SeqNum{Incarnation: 1, Shard: 1}.String()}, "not of --shard shardId-000000000002"},
		{[]string{"--addr"}, "flag needs an argument"},
	}
	for _, c := range cases {
		code, stdout, stderr := runCLI(t, "", c.args...)
		if code != exitUsage {
			t.Errorf("%q: exit code %d (stderr %q); want %d", c.args, code, stderr, exitUsage)
			continue
		}
		if !strings.Contains(stderr, c.want) {
			t.Errorf("%q: stderr %q lacks %q", c.args, stderr, c.want)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q; want nothing on a usage error", c.args, stdout)
		}
	}
}

func TestRun_HelpExitsZero(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "commands:"},
		{[]string{"help"}, "commands:"},
		{[]string{"help", "get"}, "--follow"},
		{[]string{"get", "-h"}, "data_base64"},
		{[]string{"put", "--help"}, "--key-field"},
		{[]string{"stream", "-h"}, "subcommands:"},
		{[]string{"stream", "split", "-h"}, "middle of the shard's range"},
	}
	for _, c := range cases {
		code, stdout, stderr := runCLI(t, "", c.args...)
		if code != exitOK || !strings.Contains(stdout, c.want) || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and usage containing %q", c.args, code, stdout, stderr, c.want)
		}
	}
}

func TestRun_BenchDispatch(t *testing.T) {
	code, stdout, _ := runCLI(t, "", "help", "bench")
	if code != exitOK || !strings.Contains(stdout, "usage: sluice bench SCENARIO") {
		t.Fatalf("help bench: exit %d, stdout %.80q", code, stdout)
	}
	for _, args := range [][]string{{"bench"}, {"bench", "frob"}, {"bench", "put", "--bogus"}} {
		if code, _, stderr := runCLI(t, "", args...); code != exitUsage || !strings.Contains(stderr, "sluice: bench") {
			t.Errorf("%q: exit %d, stderr %.200q; want a usage error (2)", args, code, stderr)
		}
	}
	// A global --addr before the command reaches the benchmark.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, _, stderr := runCLI(t, "", "--addr", addr, "bench", "put", "--records", "10", "--quiet")
	if code != exitError || !strings.Contains(stderr, addr) {
		t.Fatalf("bench against a closed port: exit %d, stderr %q; want 1 naming %s", code, stderr, addr)
	}
	if _, _, stderr := runCLI(t, "", "nosuch"); !strings.Contains(stderr, "stream, put, get, auth, bench") {
		t.Fatalf("unknown command stderr %q does not list bench", stderr)
	}
}
