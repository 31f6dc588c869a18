//go:build unix

package e2e

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestCluster_SplitMergeLineage splits a shard and merges its children
// through one node of three real sluiced processes, with the Kinesis API,
// while producers put through every node. Another node then lists the same
// lineage (parents closed with their ending sequence numbers, children
// naming their parents), a reader at the end of the split shard on a third
// node is handed its children, and every acknowledged record is on every
// node exactly where its acknowledgement put it.
func TestCluster_SplitMergeLineage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	bin := build(t)
	c := startCluster(t, bin, 3, "--quotas", "unlimited", "--election-timeout", "1s")
	ctx := context.Background()
	const stream = "lineage"
	cl := clusterClient(c.http[1])
	if _, err := cl.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	for _, id := range c.ids {
		if !pollUntil(30*time.Second, func() bool {
			_, err := clusterClient(c.http[id]).ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String(stream)})
			return err == nil
		}) {
			t.Fatalf("node %d does not know the stream after 30s", id)
		}
	}

	var (
		mu    sync.Mutex
		acked []clusterAck
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, id := range c.ids {
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			pc := clusterClient(c.http[id])
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var entries []sdktypes.PutRecordsRequestEntry
				for k := 0; k < 10; k++ {
					d := fmt.Sprintf("n%d-%d-%d", id, i, k)
					entries = append(entries, sdktypes.PutRecordsRequestEntry{PartitionKey: aws.String(d), Data: []byte(d)})
				}
				cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				out, err := pc.PutRecords(cctx, &sdk.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
				cancel()
				if err != nil {
					continue
				}
				mu.Lock()
				for k, r := range out.Records {
					if r.ErrorCode == nil {
						acked = append(acked, clusterAck{shard: aws.ToString(r.ShardId), seq: aws.ToString(r.SequenceNumber), data: string(entries[k].Data)})
					}
				}
				mu.Unlock()
			}
		}(id)
	}
	waitAcks := func(more int) {
		t.Helper()
		mu.Lock()
		base := len(acked)
		mu.Unlock()
		if !pollUntil(60*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= base+more
		}) {
			t.Fatalf("producers acknowledged fewer than %d records in 60s", more)
		}
	}
	waitAcks(100)

	ls, err := cl.ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	r := ls.Shards[0].HashKeyRange
	lo, _ := new(big.Int).SetString(aws.ToString(r.StartingHashKey), 10)
	hi, _ := new(big.Int).SetString(aws.ToString(r.EndingHashKey), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	if _, err := cl.SplitShard(ctx, &sdk.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: ls.Shards[0].ShardId,
		NewStartingHashKey: aws.String(mid.String())}); err != nil {
		t.Fatalf("SplitShard through node 1: %v", err)
	}
	waitAcks(100)
	if _, err := cl.MergeShards(ctx, &sdk.MergeShardsInput{StreamName: aws.String(stream),
		ShardToMerge: aws.String("shardId-000000000002"), AdjacentShardToMerge: aws.String("shardId-000000000003")}); err != nil {
		t.Fatalf("MergeShards through node 1: %v", err)
	}
	waitAcks(100)
	close(stop)
	wg.Wait()

	// The lineage, as node 2 and node 3 list it.
	lineage := func(id uint64) []string {
		var out []string
		if !pollUntil(30*time.Second, func() bool {
			ls, err := clusterClient(c.http[id]).ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String(stream)})
			if err != nil || len(ls.Shards) != 5 {
				return false
			}
			out = out[:0]
			for _, sh := range ls.Shards {
				out = append(out, fmt.Sprintf("%s parent=%s adjacent=%s [%s,%s] seq=[%s,%s]", aws.ToString(sh.ShardId),
					aws.ToString(sh.ParentShardId), aws.ToString(sh.AdjacentParentShardId),
					aws.ToString(sh.HashKeyRange.StartingHashKey), aws.ToString(sh.HashKeyRange.EndingHashKey),
					aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber), aws.ToString(sh.SequenceNumberRange.EndingSequenceNumber)))
			}
			return true
		}) {
			t.Fatalf("node %d does not list the 5 shards of a split and a merge after 30s", id)
		}
		return out
	}
	l2, l3 := lineage(2), lineage(3)
	if !slices.Equal(l2, l3) {
		t.Fatalf("node 2 lists\n%s\nnode 3 lists\n%s", strings.Join(l2, "\n"), strings.Join(l3, "\n"))
	}
	want := []string{
		"shardId-000000000000 parent= adjacent=",
		"shardId-000000000001 parent= adjacent=",
		"shardId-000000000002 parent=shardId-000000000000 adjacent=",
		"shardId-000000000003 parent=shardId-000000000000 adjacent=",
		"shardId-000000000004 parent=shardId-000000000002 adjacent=shardId-000000000003",
	}
	closed := map[string]bool{"shardId-000000000000": true, "shardId-000000000002": true, "shardId-000000000003": true}
	for i, line := range l2 {
		if !strings.HasPrefix(line, want[i]+" ") {
			t.Fatalf("shard %d listed by node 2 as %q; want the lineage %q", i, line, want[i])
		}
		id, _, _ := strings.Cut(line, " ")
		if ended := !strings.HasSuffix(line, ",]"); ended != closed[id] {
			t.Fatalf("shard %s listed by node 2 as %q: closed %v, want %v", id, line, ended, closed[id])
		}
	}

	// A reader at the end of the split shard, on node 3, is handed its
	// children.
	c3 := clusterClient(c.http[3])
	it, err := c3.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	iter := it.ShardIterator
	var kids []string
	for iter != nil {
		res, err := c3.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range res.ChildShards {
			kids = append(kids, aws.ToString(k.ShardId))
		}
		iter = res.NextShardIterator
	}
	slices.Sort(kids)
	if !slices.Equal(kids, []string{"shardId-000000000002", "shardId-000000000003"}) {
		t.Fatalf("the end of the split shard on node 3 names children %v", kids)
	}

	mu.Lock()
	defer mu.Unlock()
	inMerged := 0
	for _, a := range acked {
		if a.shard == "shardId-000000000004" {
			inMerged++
		}
	}
	if inMerged == 0 {
		t.Fatal("no record was acknowledged by the merged shard")
	}
	t.Logf("%d records acknowledged, %d by the merged shard", len(acked), inMerged)
	checkReplicas(t, c, stream, acked)
}
