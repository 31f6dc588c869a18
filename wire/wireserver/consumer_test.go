package wireserver

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// putKeyed puts n records for each of keys, data "<key>/<counter>" with a
// per-key counter starting at from.
func putKeyed(t *testing.T, c *client.Client, stream string, keys []string, from, n int) int {
	t.Helper()
	var recs []api.PutRecord
	for i := from; i < from+n; i++ {
		for _, k := range keys {
			recs = append(recs, api.PutRecord{Key: []byte(k), Data: []byte(fmt.Sprintf("%s/%d", k, i))})
		}
	}
	results := make([]api.PutResult, len(recs))
	for len(recs) > 0 {
		m := min(len(recs), api.MaxPutRecords)
		if failed, err := c.PutRecords(testCtx(t), stream, recs[:m], results[:m]); err != nil || failed != 0 {
			t.Fatalf("PutRecords: %d failed, %v", failed, err)
		}
		recs = recs[m:]
	}
	return from + n
}

func TestConsumer_FollowsStreamThroughReshard(t *testing.T) {
	env, c := newStreamEnv(t, 1)
	keys := make([]string, 16)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	next := putKeyed(t, c, "s", keys, 0, 20)

	k, err := client.NewConsumer(testCtx(t), env.dial(client.ClientOptions{}), client.ConsumerOptions{Stream: "s", Window: 8 << 10})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer k.Close()

	// Reshard while the consumer runs: split shard 0 into 1 and 2, then
	// merge them into 3, putting records between the steps.
	if err := c.SplitShard(testCtx(t), "s", api.ShardID(0), api.HashKey{Hi: 1 << 63}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	next = putKeyed(t, c, "s", keys, next, 20)
	if err := c.MergeShards(testCtx(t), "s", api.ShardID(1), api.ShardID(2)); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	next = putKeyed(t, c, "s", keys, next, 20)

	total := len(keys) * next
	lastOf := map[string]int{}
	gen := map[string]int{api.ShardID(0): 0, api.ShardID(1): 1, api.ShardID(2): 1, api.ShardID(3): 2}
	maxGen := 0
	for i := 0; i < total; i++ {
		r, err := k.Next(testCtx(t))
		if err != nil {
			t.Fatalf("Next after %d of %d records: %v", i, total, err)
		}
		g, ok := gen[r.ShardID]
		if !ok {
			t.Fatalf("a record from unexpected shard %s", r.ShardID)
		}
		// Parents before children: once a record of generation g came, no
		// record of an earlier generation may follow.
		if g < maxGen {
			t.Fatalf("record %d from %s (generation %d) after a record of generation %d", i, r.ShardID, g, maxGen)
		}
		maxGen = g
		key, n, _ := strings.Cut(string(r.Data), "/")
		cnt, _ := strconv.Atoi(n)
		if want, seen := lastOf[key]; seen && cnt != want+1 || !seen && cnt != 0 {
			t.Fatalf("key %s: record %d after %d; want per-key order", key, cnt, lastOf[key])
		}
		lastOf[key] = cnt
	}
	for _, key := range keys {
		if lastOf[key] != next-1 {
			t.Fatalf("key %s: last record %d; want %d", key, lastOf[key], next-1)
		}
	}
}

func TestConsumer_SingleShardEndsAtShardEnd(t *testing.T) {
	_, c := newStreamEnv(t, 1)
	want := putN(t, c, "s", "k", "r", 30)
	if err := c.SplitShard(testCtx(t), "s", api.ShardID(0), api.HashKey{Hi: 1 << 62}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	k, err := client.NewConsumer(testCtx(t), c, client.ConsumerOptions{Stream: "s", ShardID: api.ShardID(0)})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer k.Close()
	var got [][]byte
	for {
		r, err := k.Next(testCtx(t))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if r.ShardID != api.ShardID(0) {
			t.Fatalf("a record of %s from a consumer of shard 0", r.ShardID)
		}
		got = append(got, r.Data)
	}
	equalData(t, got, want)
}

func TestConsumer_LatestSeesOnlyNewRecords(t *testing.T) {
	_, c := newStreamEnv(t, 4)
	putKeyed(t, c, "s", []string{"a", "b", "c"}, 0, 5)
	k, err := client.NewConsumer(testCtx(t), c, client.ConsumerOptions{Stream: "s", Start: api.IteratorSpec{Type: api.Latest}})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer k.Close()
	putKeyed(t, c, "s", []string{"a", "b", "c"}, 5, 5)
	for range 15 {
		r, err := k.Next(testCtx(t))
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		_, n, _ := strings.Cut(string(r.Data), "/")
		if cnt, _ := strconv.Atoi(n); cnt < 5 {
			t.Fatalf("a LATEST consumer got old record %q", r.Data)
		}
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if _, err := k.Next(ctx); err != context.Canceled {
		t.Fatalf("Next with nothing left: %v; want the context's error", err)
	}
}

func TestConsumer_SequenceStartNeedsShard(t *testing.T) {
	_, c := newDialedEnv(t)
	_, err := client.NewConsumer(testCtx(t), c, client.ConsumerOptions{Stream: "s", Start: api.IteratorSpec{Type: api.AtSequenceNumber, Seq: "1"}})
	if err == nil || !strings.Contains(err.Error(), "ShardID") {
		t.Fatalf("NewConsumer: %v; want an error asking for a shard", err)
	}
}
