package kinesis

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// listShardIDs lists a stream's shards through the SDK with a filter, paging
// with NextToken maxResults at a time.
func listShardIDs(t *testing.T, c *sdk.Client, stream string, filter *sdktypes.ShardFilter, maxResults int32) []string {
	t.Helper()
	var ids []string
	in := &sdk.ListShardsInput{StreamName: aws.String(stream), ShardFilter: filter, MaxResults: aws.Int32(maxResults)}
	for pages := 0; ; pages++ {
		out, err := c.ListShards(bg, in)
		if err != nil {
			t.Fatalf("ListShards %+v: %v", filter, err)
		}
		if len(out.Shards) > int(maxResults) {
			t.Fatalf("MaxResults %d returned %d shards", maxResults, len(out.Shards))
		}
		for _, s := range out.Shards {
			ids = append(ids, strings.TrimPrefix(aws.ToString(s.ShardId), "shardId-0000000000"))
		}
		if out.NextToken == nil {
			return ids
		}
		in = &sdk.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(maxResults)}
		if pages > 20 {
			t.Fatal("paging does not end")
		}
	}
}

func TestHandler_ReshardingThroughListShardsAndChildShards(t *testing.T) {
	env := newTestEnv(t, func(c *envConfig) { c.shareClock = true })
	c := env.client
	env.createStream(t, "s", 2)
	created := env.clock.Now()
	tick := func() { env.clock.Advance(time.Second) }
	tick()
	put := func(data, key string) {
		t.Helper()
		if _, err := c.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte(data), PartitionKey: aws.String(key), ExplicitHashKey: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	put("before-split", "1")
	tick()
	// Shard 0 covers [0, 2^127-1]: split it in the middle, into 2 and 3.
	if _, err := c.SplitShard(bg, &sdk.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("85070591730234615865843651857942052864")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.SplitShard(bg, &sdk.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("100")})
	wantAPIError(t, err, CodeResourceInUse, "has already been merged or split, and thus is not eligible for merging or splitting")
	_, err = c.SplitShard(bg, &sdk.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000001"),
		NewStartingHashKey: aws.String("1")})
	wantAPIError(t, err, CodeInvalidArgument, "is not within the shard's range")
	put("after-split", "1")
	tick()
	mid := env.clock.Now()
	tick()
	// Merge the two children back into 4.
	if _, err := c.MergeShards(bg, &sdk.MergeShardsInput{StreamARN: aws.String(streamARN("s")), ShardToMerge: aws.String("shardId-000000000002"),
		AdjacentShardToMerge: aws.String("shardId-000000000003")}); err != nil {
		t.Fatal(err)
	}
	tick()
	_, err = c.MergeShards(bg, &sdk.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String("shardId-000000000001"),
		AdjacentShardToMerge: aws.String("shardId-000000000004")})
	if err != nil {
		t.Fatal(err) // 4 covers [0, 2^127-1], 1 the rest: adjacent; merged into 5
	}
	tick()
	// UpdateShardCount to 2: splits 5 into 6 and 7.
	uc, err := c.UpdateShardCount(bg, &sdk.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(2), ScalingType: sdktypes.ScalingTypeUniformScaling})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(uc.CurrentShardCount) != 1 || aws.ToInt32(uc.TargetShardCount) != 2 || aws.ToString(uc.StreamARN) != streamARN("s") {
		t.Fatalf("UpdateShardCount: %+v", uc)
	}
	_, err = c.UpdateShardCount(bg, &sdk.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(5), ScalingType: sdktypes.ScalingTypeUniformScaling})
	wantAPIError(t, err, CodeValidation, "between half and double")

	all := "[00 01 02 03 04 05 06 07]"
	for _, tc := range []struct {
		filter *sdktypes.ShardFilter
		want   string
	}{
		{nil, all},
		{&sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeAtLatest}, "[06 07]"},
		{&sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeAtTrimHorizon}, "[00 01]"},
		{&sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeFromTrimHorizon}, all},
		{&sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeAfterShardId, ShardId: aws.String("shardId-000000000004")}, "[05 06 07]"},
		{&sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(created.Add(-time.Hour))}, "[00 01]"},
		{&sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(mid)}, "[01 02 03]"},
		{&sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(mid)}, "[01 02 03 04 05 06 07]"},
		{&sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(env.clock.Now().Add(time.Hour))}, "[06 07]"},
	} {
		for _, page := range []int32{1, 3, 1000} {
			if got := fmt.Sprint(listShardIDs(t, c, "s", tc.filter, page)); got != tc.want {
				t.Errorf("ListShards filter %+v, %d a page: %s; want %s", tc.filter, page, got, tc.want)
			}
		}
	}
	tick()
	// Lineage and sequence ranges.
	out, err := c.ListShards(bg, &sdk.ListShardsInput{StreamName: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]sdktypes.Shard{}
	for _, s := range out.Shards {
		byID[aws.ToString(s.ShardId)] = s
	}
	if s := byID["shardId-000000000005"]; aws.ToString(s.ParentShardId) != "shardId-000000000001" || aws.ToString(s.AdjacentParentShardId) != "shardId-000000000004" {
		t.Errorf("shard 5 parents %q %q", aws.ToString(s.ParentShardId), aws.ToString(s.AdjacentParentShardId))
	}
	if s := byID["shardId-000000000002"]; aws.ToString(s.ParentShardId) != "shardId-000000000000" || s.SequenceNumberRange.EndingSequenceNumber == nil {
		t.Errorf("shard 2: %+v", s)
	}
	if s := byID["shardId-000000000007"]; s.SequenceNumberRange.EndingSequenceNumber != nil {
		t.Errorf("open shard 7 has an ending sequence number")
	}

	// Reading a closed shard to its end: no NextShardIterator, and the children.
	recs, last := env.drain(t, env.iterator(t, "s", "shardId-000000000000", sdktypes.ShardIteratorTypeTrimHorizon, ""))
	if len(recs) != 1 || string(recs[0].Data) != "before-split" {
		t.Fatalf("shard 0 read %d records", len(recs))
	}
	if last.NextShardIterator != nil {
		t.Fatal("a drained closed shard returned a NextShardIterator")
	}
	var kids []string
	for _, ch := range last.ChildShards {
		kids = append(kids, aws.ToString(ch.ShardId)+"<"+strings.Join(ch.ParentShards, "+"))
	}
	sort.Strings(kids)
	if fmt.Sprint(kids) != "[shardId-000000000002<shardId-000000000000 shardId-000000000003<shardId-000000000000]" {
		t.Fatalf("ChildShards of shard 0: %v", kids)
	}
	recs, last = env.drain(t, env.iterator(t, "s", "shardId-000000000002", sdktypes.ShardIteratorTypeTrimHorizon, ""))
	if len(recs) != 1 || string(recs[0].Data) != "after-split" || last.NextShardIterator != nil || len(last.ChildShards) != 1 ||
		len(last.ChildShards[0].ParentShards) != 2 || aws.ToString(last.ChildShards[0].ShardId) != "shardId-000000000004" {
		t.Fatalf("shard 2: %d records, last %+v", len(recs), last)
	}

	// NextToken rules.
	page, err := c.ListShards(bg, &sdk.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(2)})
	if err != nil || page.NextToken == nil {
		t.Fatalf("first page: %v", err)
	}
	_, err = c.ListShards(bg, &sdk.ListShardsInput{StreamName: aws.String("s"), NextToken: page.NextToken})
	wantAPIError(t, err, CodeInvalidArgument, "NextToken and StreamName cannot be provided together.")
	_, err = c.ListShards(bg, &sdk.ListShardsInput{})
	wantAPIError(t, err, CodeInvalidArgument, "Either NextToken or StreamName should be provided.")
	_, err = c.ListShards(bg, &sdk.ListShardsInput{StreamName: aws.String("s"), ShardFilter: &sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeAfterShardId}})
	wantAPIError(t, err, CodeInvalidArgument, "requires a ShardId")
	env.clock.Advance(NextTokenTTL + time.Second)
	_, err = c.ListShards(bg, &sdk.ListShardsInput{NextToken: page.NextToken})
	var expired *sdktypes.ExpiredNextTokenException
	if !errorsAs(err, &expired) {
		t.Fatalf("NextToken after 301 s: %v; want ExpiredNextTokenException", err)
	}
}
