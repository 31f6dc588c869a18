package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/kpl"
)

// TestCommands_ConsumeGroup: `sluice consume` prints every record once as
// get -o json does (a KPL aggregate's user records with "subsequence"),
// checkpoints what it printed, and a second run of the group prints only
// what came after; group list, describe, reset and delete work on it.
func TestCommands_ConsumeGroup(t *testing.T) {
	addr := startServer(t)
	mustCLI(t, addr, "", "stream", "create", "s", "--shards", "2")
	mustCLI(t, addr, "r0\nr1\nr2\n", "put", "s")
	agg := kpl.NewAggregator(1 << 20)
	for _, k := range []string{"u0", "u1"} {
		if _, err := agg.Add(kpl.Record{PartitionKey: []byte(k), Data: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.Dial(context.Background(), addr, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := agg.Flush()
	if _, err := c.PutRecord(context.Background(), "s", api.PutRecord{Key: a.PartitionKey, Data: a.Data}); err != nil {
		t.Fatal(err)
	}

	consume := func(n int) []map[string]any {
		t.Helper()
		ctx, interrupt := context.WithCancel(context.Background())
		defer interrupt()
		lines, stderr, wait := pipeCLI(t, ctx, addr, "consume", "s", "--group", "g", "-o", "json", "--member", "m1")
		var got []map[string]any
		for range n {
			if !lines.Scan() {
				t.Fatalf("consume output ended after %d records: %v; stderr %q", len(got), lines.Err(), stderr.String())
			}
			var m map[string]any
			if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
				t.Fatalf("consume printed %q: %v", lines.Text(), err)
			}
			got = append(got, m)
		}
		// Ctrl-C: the member checkpoints what it printed, hands its leases
		// back and leaves; once it has exited, nothing it printed is behind
		// the group's checkpoints.
		interrupt()
		if code := wait(); code != exitOK {
			t.Fatalf("consume exited %d after Ctrl-C; stderr %q", code, stderr.String())
		}
		out := mustCLI(t, addr, "", "group", "describe", "s", "g", "--json")
		var info client.GroupInfo
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatal(err)
		}
		for _, s := range info.Shards {
			if s.LagRecords != 0 {
				t.Fatalf("shard %s is %d records behind after consume printed everything and exited:\n%s", s.Shard, s.LagRecords, out)
			}
		}
		return got
	}
	got := consume(5)
	data := map[string]bool{}
	for _, m := range got {
		data[m["data"].(string)] = true
		if d := m["data"].(string); strings.HasPrefix(d, "u") {
			if sub, ok := m["subsequence"].(float64); !ok || d != "u"+string(rune('0'+int(sub))) || m["key"] != d {
				t.Errorf("aggregated user record printed as %v; want its own key and subsequence", m)
			}
		} else if _, ok := m["subsequence"]; ok {
			t.Errorf("plain record printed with a subsequence: %v", m)
		}
	}
	if len(data) != 5 {
		t.Fatalf("consume printed %v; want r0..r2, u0, u1 once each", got)
	}
	mustCLI(t, addr, "r3\n", "put", "s")
	if again := consume(1); again[0]["data"] != "r3" {
		t.Fatalf("second consume started with %v; want r3, after the checkpoint", again[0])
	}
	if out := mustCLI(t, addr, "", "group", "list", "s"); out != "g\n" {
		t.Fatalf("group list: %q", out)
	}
	out := mustCLI(t, addr, "", "group", "describe", "s", "g")
	for _, want := range []string{"group g of stream s", "SHARD", "LAG RECORDS", "shardId-000000000001"} {
		if !strings.Contains(out, want) {
			t.Errorf("group describe lacks %q:\n%s", want, out)
		}
	}
	mustCLI(t, addr, "", "group", "reset", "s", "g", "--to", "trim-horizon")
	if again := consume(6); len(again) != 6 {
		t.Fatalf("after a reset to trim-horizon: %d records", len(again))
	}
	if code, _, stderr := cli(t, addr, "", "group", "reset", "s", "g", "--to", "yesterday"); code != exitUsage || !strings.Contains(stderr, "trim-horizon") {
		t.Fatalf("reset --to yesterday: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cli(t, addr, "", "consume", "s"); code != exitUsage || !strings.Contains(stderr, "--group") {
		t.Fatalf("consume without --group: exit %d, %q", code, stderr)
	}
	mustCLI(t, addr, "", "group", "delete", "s", "g")
	if code, _, stderr := cli(t, addr, "", "group", "describe", "s", "g"); code != exitError || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Fatalf("describe of a deleted group: exit %d, %q", code, stderr)
	}
}
