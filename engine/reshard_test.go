package engine

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicedb/sluice/api"
)

func shardByID(si *api.StreamInfo, id string) *api.ShardInfo {
	for i := range si.Shards {
		if si.Shards[i].ID == id {
			return &si.Shards[i]
		}
	}
	return nil
}

func TestSplitShard_Lineage(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 1)
	for i := 0; i < 10; i++ {
		put(t, e, "s", fmt.Sprint(i), "before")
	}
	mid := api.EvenRanges(2)[1][0]
	if err := e.SplitShard("s", api.ShardID(0), mid); err != nil {
		t.Fatal(err)
	}
	si, _ := e.DescribeStream("s")
	if len(si.Shards) != 3 || si.OpenShardCount() != 2 {
		t.Fatalf("after split: %d shards, %d open", len(si.Shards), si.OpenShardCount())
	}
	p, a, b := si.Shards[0], si.Shards[1], si.Shards[2]
	if !p.Closed || p.EndingSeq.Seq != 9 {
		t.Fatalf("parent: closed %v ending %d", p.Closed, p.EndingSeq.Seq)
	}
	if a.Parent != p.ID || b.Parent != p.ID || a.HashStart != p.HashStart || a.HashEnd != mid.Dec() || b.HashStart != mid || b.HashEnd != p.HashEnd {
		t.Fatalf("children: %+v %+v", a, b)
	}
	// The parent stays readable and reports its children at its end.
	pos, _ := e.GetIterator("s", p.ID, api.IteratorSpec{Type: api.TrimHorizon})
	recs, _, last := readAll(t, e, pos)
	if len(recs) != 10 || !last.ShardEnd || len(last.ChildShards) != 2 {
		t.Fatalf("parent read: %d records, end %v, %d children", len(recs), last.ShardEnd, len(last.ChildShards))
	}
	// New writes go to the children.
	for i := 0; i < 20; i++ {
		r := put(t, e, "s", fmt.Sprint(i), "after")
		if r.ShardID == p.ID {
			t.Fatal("a put after the split went to the closed parent")
		}
	}
	if err := e.SplitShard("s", p.ID, mid); !errors.Is(err, api.ErrInUse) {
		t.Fatalf("splitting a closed shard: %v", err)
	}
	if err := e.SplitShard("s", a.ID, a.HashStart); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("split at the shard's own start: %v", err)
	}
}

func TestMergeShards_Lineage(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 3)
	if err := e.MergeShards("s", api.ShardID(0), api.ShardID(2)); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("merging non-adjacent shards: %v", err)
	}
	if err := e.MergeShards("s", api.ShardID(2), api.ShardID(1)); err != nil {
		t.Fatal(err)
	}
	si, _ := e.DescribeStream("s")
	c := shardByID(si, api.ShardID(3))
	if c == nil || c.Parent != api.ShardID(2) || c.AdjacentParent != api.ShardID(1) || c.HashStart != si.Shards[1].HashStart || c.HashEnd != api.MaxHashKey {
		t.Fatalf("merged child: %+v", c)
	}
	if err := e.MergeShards("s", api.ShardID(1), api.ShardID(0)); !errors.Is(err, api.ErrInUse) {
		t.Fatalf("merging a closed shard: %v", err)
	}
}

func TestUpdateShardCount_UniformAndBounded(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 3)
	if err := e.UpdateShardCount("s", 7); !errors.Is(err, api.ErrValidation) {
		t.Fatalf("more than double: %v", err)
	}
	if err := e.UpdateShardCount("s", 1); !errors.Is(err, api.ErrValidation) {
		t.Fatalf("less than half: %v", err)
	}
	for _, target := range []int{5, 3, 6, 4, 2} {
		if err := e.UpdateShardCount("s", target); err != nil {
			t.Fatalf("to %d: %v", target, err)
		}
		si, _ := e.DescribeStream("s")
		open := openSortedInfo(si)
		want := api.EvenRanges(target)
		if len(open) != target {
			t.Fatalf("to %d: %d open shards", target, len(open))
		}
		for i, sh := range open {
			if sh.HashStart != want[i][0] || sh.HashEnd != want[i][1] {
				t.Fatalf("to %d: shard %s covers [%s, %s]; want [%s, %s]", target, sh.ID, sh.HashStart, sh.HashEnd, want[i][0], want[i][1])
			}
			if sh.Parent == "" {
				t.Fatalf("to %d: new shard %s has no parent", target, sh.ID)
			}
		}
	}
}

func openSortedInfo(si *api.StreamInfo) []api.ShardInfo {
	var open []api.ShardInfo
	for _, sh := range si.Shards {
		if !sh.Closed {
			open = append(open, sh)
		}
	}
	for i := 1; i < len(open); i++ {
		for j := i; j > 0 && open[j].HashStart.Cmp(open[j-1].HashStart) < 0; j-- {
			open[j], open[j-1] = open[j-1], open[j]
		}
	}
	return open
}

// TestReshard_PerKeyOrderForParentFirstReader puts a counter per key from
// concurrent producers while the stream is split, merged and rescaled, then
// reads every shard, each only after all its parents were drained, and checks
// that every key's counters come back complete and in order.
func TestReshard_PerKeyOrderForParentFirstReader(t *testing.T) {
	e := openTest(t, nil)
	mustCreate(t, e, "s", 2)
	const keys, perKey = 12, 150
	var wg sync.WaitGroup
	for k := 0; k < keys; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			for i := 0; i < perKey; i++ {
				if _, err := e.PutRecord("s", api.PutRecord{Key: []byte(fmt.Sprint("key", k)), Data: []byte(fmt.Sprint(i))}, ""); err != nil {
					t.Error(err)
					return
				}
			}
		}(k)
	}
	ops := []func() error{
		func() error { return e.SplitShard("s", api.ShardID(0), api.EvenRanges(4)[1][0]) },
		func() error { return e.UpdateShardCount("s", 4) },
		func() error { return e.UpdateShardCount("s", 3) },
		func() error {
			si, _ := e.DescribeStream("s")
			o := openSortedInfo(si)
			return e.MergeShards("s", o[0].ID, o[1].ID)
		},
		func() error { return e.UpdateShardCount("s", 4) },
	}
	for _, op := range ops {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()

	si, _ := e.DescribeStream("s")
	drained := map[string]bool{}
	seen := make(map[string][]string)
	for len(drained) < len(si.Shards) {
		progress := false
		for _, sh := range si.Shards {
			if drained[sh.ID] || (sh.Parent != "" && !drained[sh.Parent]) || (sh.AdjacentParent != "" && !drained[sh.AdjacentParent]) {
				continue
			}
			pos, err := e.GetIterator("s", sh.ID, api.IteratorSpec{Type: api.TrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			recs, _, _ := readAll(t, e, pos)
			for _, r := range recs {
				seen[string(r.Key)] = append(seen[string(r.Key)], string(r.Data))
			}
			drained[sh.ID] = true
			progress = true
		}
		if !progress {
			t.Fatal("lineage has a cycle or a missing parent")
		}
	}
	for k := 0; k < keys; k++ {
		got := seen[fmt.Sprint("key", k)]
		if len(got) != perKey {
			t.Fatalf("key%d: read %d of %d records", k, len(got), perKey)
		}
		for i, v := range got {
			if v != fmt.Sprint(i) {
				t.Fatalf("key%d: record %d is %s: out of order", k, i, v)
			}
		}
	}
}
