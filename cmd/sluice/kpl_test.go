package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
)

func TestCommands_PutAggregateAndGet(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "2")
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	out := mustCLI(t, addr, strings.Join(lines, "\n")+"\n", "put", "s", "--aggregate", "-v", "--linger", "1h")
	type ack struct {
		shard, seq string
		sub        int
	}
	var acks []ack
	aggregates := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var a ack
		if n, err := fmt.Sscanf(l, "%s %s %d", &a.shard, &a.seq, &a.sub); n != 3 || err != nil {
			t.Fatalf("put --aggregate -v line %q is not SHARD SEQUENCE SUBSEQUENCE", l)
		}
		acks = append(acks, a)
		aggregates[a.seq]++
	}
	if len(acks) != len(lines) {
		t.Fatalf("%d acknowledgements for %d lines", len(acks), len(lines))
	}
	if len(aggregates) > 10 {
		t.Fatalf("%d stored records for 300 short lines: they were not aggregated", len(aggregates))
	}

	recs := parseRecordLines(t, mustCLI(t, addr, "", "get", "s", "-o", "json"))
	if len(recs) != len(lines) {
		t.Fatalf("get printed %d records; want %d", len(recs), len(lines))
	}
	acked := map[ack]bool{}
	for _, a := range acks {
		acked[a] = true
	}
	var got []string
	keys := map[string]bool{}
	for _, r := range recs {
		if r.Subsequence == nil {
			t.Fatalf("record %+v has no subsequence", r)
		}
		d := string(r.bytes(t))
		got = append(got, d)
		a := ack{r.Shard, r.Sequence, *r.Subsequence}
		if !acked[a] {
			t.Fatalf("record %q read at %+v, which put -v did not acknowledge (or twice)", d, a)
		}
		delete(acked, a)
		if keys[r.Key] {
			t.Fatalf("record %q has key %q, as another record; want its own random key", d, r.Key)
		}
		keys[r.Key] = true
		if s := api.ShardID(int(mustSeq(t, r.Sequence).Shard)); s != r.Shard {
			t.Fatalf("sequence %s is not of %s", r.Sequence, r.Shard)
		}
	}
	slices.Sort(got)
	want := slices.Clone(lines)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatal("get -o json did not print the lines put")
	}
	text := strings.Split(strings.TrimSuffix(mustCLI(t, addr, "", "get", "s"), "\n"), "\n")
	slices.Sort(text)
	if !slices.Equal(text, want) {
		t.Fatal("get did not print the lines put")
	}
	if n := strings.Count(mustCLI(t, addr, "", "get", "s", "--limit", "7"), "\n"); n != 7 {
		t.Fatalf("get --limit 7 printed %d records", n)
	}
	kept := parseRecordLines(t, mustCLI(t, addr, "", "get", "s", "-o", "json", "--keep-aggregates"))
	if len(kept) != len(aggregates) || kept[0].Subsequence != nil || kept[0].DataBase64 == nil {
		t.Fatalf("get --keep-aggregates printed %d records; want the %d aggregates, as binary data", len(kept), len(aggregates))
	}

	// A plain record passes through unchanged, without a subsequence.
	mustCLI(t, addr, "", "put", "s", "--key", "k", "plain")
	recs = parseRecordLines(t, mustCLI(t, addr, "", "get", "s", "-o", "json"))
	plain := 0
	for _, r := range recs {
		if r.Key == "k" {
			plain++
			if r.Subsequence != nil || string(r.bytes(t)) != "plain" {
				t.Fatalf("plain record printed as %+v", r)
			}
		}
	}
	if plain != 1 || len(recs) != len(lines)+1 {
		t.Fatalf("%d records, %d plain; want %d and 1", len(recs), plain, len(lines)+1)
	}
}

func TestCommands_FollowDeaggregates(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "1")
	mustCLI(t, addr, "a\nb\nc\n", "put", "s", "--aggregate", "--key", "k", "--linger", "1h")
	recs := parseRecordLines(t, mustCLI(t, addr, "", "get", "s", "-f", "--from", "trim-horizon", "--limit", "3", "-o", "json"))
	for i, r := range recs {
		if r.Subsequence == nil || *r.Subsequence != i || string(r.bytes(t)) != string(rune('a'+i)) || r.Key != "k" || r.Sequence != recs[0].Sequence {
			t.Fatalf("followed record %d: %+v; want data %c at subsequence %d of one aggregate", i, r, 'a'+i, i)
		}
	}
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
}

func mustSeq(t *testing.T, s string) api.SeqNum {
	t.Helper()
	sn, err := api.ParseSeqNum(s)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}
