package node

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
)

// ack is an acknowledged put: the record (key and data, unique per attempt)
// and where the acknowledgement put it.
type ack struct {
	key, data string
	res       api.PutResult
	start     time.Time // when the put was sent
}

// producers put records through every node until stopped, retrying what
// failed retryably, and keep every acknowledgement.
type producers struct {
	// throttled puts are dropped rather than failing the test.
	throttled atomic.Int64
	stop      chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	acks      []ack
	count     atomic.Int64
	errs      []error
}

func startProducers(c *testNodes, stream string) *producers {
	p := &producers{stop: make(chan struct{})}
	for id, e := range c.engs {
		p.wg.Add(1)
		go func(id uint64, e *engine.Engine) {
			defer p.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-p.stop:
					return
				default:
				}
				key := fmt.Sprintf("n%d-%d", id, i)
				for try := 0; ; try++ {
					data := fmt.Sprintf("%s/%d", key, try)
					start := time.Now()
					r, err := e.PutRecord(stream, api.PutRecord{Key: []byte(key), Data: []byte(data)}, "")
					if err == nil {
						p.mu.Lock()
						p.acks = append(p.acks, ack{key, data, r, start})
						p.mu.Unlock()
						p.count.Add(1)
						break
					}
					if ae, ok := err.(*api.Error); ok && ae.Code == api.CodeInternal && try < 100 {
						time.Sleep(20 * time.Millisecond) // a client's retry back-off
						continue
					}
					if ae, ok := err.(*api.Error); ok && ae.Code == api.CodeThroughputExceeded {
						p.throttled.Add(1)
						break
					}
					p.mu.Lock()
					p.errs = append(p.errs, fmt.Errorf("put %s via node %d: %w", key, id, err))
					p.mu.Unlock()
					return
				}
			}
		}(id, e)
	}
	return p
}

// waitMore waits until n more puts than now are acknowledged.
func (p *producers) waitMore(t *testing.T, n int64) {
	t.Helper()
	want := p.count.Load() + n
	deadline := time.Now().Add(30 * time.Second)
	for p.count.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("producers acknowledged %d puts; waited for %d", p.count.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *producers) halt(t *testing.T) []ack {
	t.Helper()
	close(p.stop)
	p.wg.Wait()
	if len(p.errs) > 0 {
		t.Fatalf("producers failed: %v", errors.Join(p.errs...))
	}
	return p.acks
}

// waitStream waits until every node has the stream with at least shards
// shards in its catalog.
func (c *testNodes) waitStream(stream string, shards int) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for id, e := range c.engs {
		for {
			si, err := e.DescribeStream(stream)
			if err == nil && len(si.Shards) >= shards {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node %d: stream %s with %d shards did not arrive: %v", id, stream, shards, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// shardList is a node's view of a stream's shards, without what a replica
// that lags may not have applied yet (its retained range).
func shardList(t testing.TB, e *engine.Engine, stream string) string {
	t.Helper()
	si, err := e.DescribeStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, sh := range si.Shards {
		fmt.Fprintf(&b, "%s parent=%q adjacent=%q [%s,%s] start=%s closed=%v end=%s created=%d\n",
			sh.ID, sh.Parent, sh.AdjacentParent, sh.HashStart, sh.HashEnd, sh.StartingSeq, sh.Closed, sh.EndingSeq, sh.Created.UnixNano())
	}
	return b.String()
}

// waitSameShards waits until every node lists the same shards of a stream,
// and returns the list.
func (c *testNodes) waitSameShards(stream string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var first string
		same := true
		for _, e := range c.engs {
			l := shardList(c.t, e, stream)
			if first == "" {
				first = l
			}
			same = same && l == first
		}
		if same {
			return first
		}
		if time.Now().After(deadline) {
			for id, e := range c.engs {
				c.t.Logf("node %d:\n%s", id, shardList(c.t, e, stream))
			}
			c.t.Fatalf("the nodes do not list the same shards of %s after 20s", stream)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkAcks checks that every acknowledged record is on every node exactly
// once, at its acknowledged shard and sequence number, in a shard whose
// range holds its key, and that nothing else sits at those numbers.
func (c *testNodes) checkAcks(t *testing.T, stream string, acks []ack) {
	t.Helper()
	recs := c.waitSame(stream, len(acks))
	type where struct {
		shard string
		seq   uint64
	}
	at := map[where]string{}
	count := map[string]int{}
	for _, line := range recs {
		var shard, kv string
		var seq uint64
		if _, err := fmt.Sscanf(line, "%s %d %s", &shard, &seq, &kv); err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		w := where{shard, seq}
		if _, dup := at[w]; dup {
			t.Fatalf("two records at %s %d", shard, seq)
		}
		at[w] = kv
		count[kv]++
	}
	si, err := c.engs[1].DescribeStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string]api.ShardInfo{}
	for _, sh := range si.Shards {
		ranges[sh.ID] = sh
	}
	for _, a := range acks {
		kv := a.key + "=" + a.data
		got := at[where{a.res.ShardID, a.res.Seq.Seq}]
		if got != kv {
			t.Fatalf("record %s acknowledged at %s %d; that position holds %q", kv, a.res.ShardID, a.res.Seq.Seq, got)
		}
		if count[kv] != 1 {
			t.Fatalf("record %s is held %d times", kv, count[kv])
		}
		sh := ranges[a.res.ShardID]
		h := api.HashPartitionKey([]byte(a.key))
		if h.Cmp(sh.HashStart) < 0 || h.Cmp(sh.HashEnd) > 0 {
			t.Fatalf("record %s went to %s, whose range does not hold its key", kv, a.res.ShardID)
		}
	}
}

func mid(a, b api.HashKey) api.HashKey {
	d := b.Sub(a)
	half := api.HashKey{Hi: d.Hi >> 1, Lo: d.Lo>>1 | d.Hi<<63}
	r, _ := a.Add(half)
	return r
}

// Split, merge and UpdateShardCount, each through a different node, while
// producers put through every node: every node ends with the same shards,
// the same parents' ends, and every acknowledged record exactly once where
// its acknowledgement put it; records put after the last reshard go to the
// open shards.
func TestNodeReshard_UnderProducers(t *testing.T) {
	c := startNodes(t, 3)
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	c.waitStream("s", 2)
	p := startProducers(c, "s")
	p.waitMore(t, 50)

	si, err := c.engs[2].DescribeStream("s")
	if err != nil {
		t.Fatal(err)
	}
	sh0 := si.Shards[0]
	if err := c.engs[2].SplitShard("s", sh0.ID, mid(sh0.HashStart, sh0.HashEnd)); err != nil {
		t.Fatalf("split via node 2: %v", err)
	}
	p.waitMore(t, 50)
	if err := c.engs[3].MergeShards("s", api.ShardID(2), api.ShardID(3)); err != nil {
		t.Fatalf("merge via node 3: %v", err)
	}
	p.waitMore(t, 50)
	if err := c.engs[1].UpdateShardCount("s", 4); err != nil {
		t.Fatalf("UpdateShardCount via node 1: %v", err)
	}
	done := time.Now()
	p.waitMore(t, 100)
	acks := p.halt(t)

	list := c.waitSameShards("s")
	si, err = c.engs[3].DescribeStream("s")
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]bool{}
	closed := 0
	for _, sh := range si.Shards {
		if sh.Closed {
			closed++
		} else {
			open[sh.ID] = true
		}
	}
	if len(open) != 4 || closed < 4 {
		t.Fatalf("after the reshards %d shards are open and %d closed; want 4 open and at least 4 closed:\n%s", len(open), closed, list)
	}
	c.checkAcks(t, "s", acks)
	after := map[string]int{}
	for _, a := range acks {
		if a.start.After(done) {
			if !open[a.res.ShardID] {
				t.Fatalf("record %s put after the last reshard went to closed shard %s", a.key, a.res.ShardID)
			}
			after[a.res.ShardID]++
		}
	}
	if len(after) != 4 {
		t.Fatalf("records put after the last reshard went to %v; want all 4 open shards", after)
	}

	// A node restarted after the reshards comes back with the same catalog
	// and records.
	c.stop(2)
	c.start(2)
	if got := shardList(t, c.engs[2], "s"); got != list {
		t.Fatalf("node 2 after a restart lists\n%s\nbefore\n%s", got, list)
	}
	putN(t, c.engs[2], "s", "after-restart", 20)
	c.waitSame("s", len(acks)+20)
}

// Two reshards of the same shard raced through two nodes: one is done, the
// other refused with ResourceInUse, and the nodes agree on the result.
func TestNodeReshard_Racing(t *testing.T) {
	c := startNodes(t, 3)
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	c.waitStream("s", 2)
	p := startProducers(c, "s")
	p.waitMore(t, 20)
	si, err := c.engs[1].DescribeStream("s")
	if err != nil {
		t.Fatal(err)
	}
	sh0, sh1 := si.Shards[0], si.Shards[1]
	for round := 0; round < 3; round++ {
		errs := make([]error, 2)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs[0] = c.engs[2].SplitShard("s", sh0.ID, mid(sh0.HashStart, sh0.HashEnd))
		}()
		go func() {
			defer wg.Done()
			errs[1] = c.engs[3].MergeShards("s", sh0.ID, sh1.ID)
		}()
		wg.Wait()
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				continue
			}
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeResourceInUse {
				t.Fatalf("round %d: reshard %d failed with %v; want ResourceInUse", round, i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of two racing reshards of one shard were done (%v)", round, ok, errs)
		}
		c.waitSameShards("s")
		// Next round: two open shards again, adjacent.
		si, err = c.engs[1].DescribeStream("s")
		if err != nil {
			t.Fatal(err)
		}
		var open []api.ShardInfo
		for _, sh := range si.Shards {
			if !sh.Closed {
				open = append(open, sh)
			}
		}
		if len(open) == 1 {
			if err := c.engs[1].SplitShard("s", open[0].ID, mid(open[0].HashStart, open[0].HashEnd)); err != nil {
				t.Fatal(err)
			}
			si, _ = c.engs[1].DescribeStream("s")
			open = open[:0]
			for _, sh := range si.Shards {
				if !sh.Closed {
					open = append(open, sh)
				}
			}
		}
		sort.Slice(open, func(i, j int) bool { return open[i].HashStart.Cmp(open[j].HashStart) < 0 })
		sh0, sh1 = open[0], open[1]
		p.waitMore(t, 20)
	}
	// UpdateShardCount through one node racing a split through another:
	// each is done or refused with ResourceInUse, whole or after some of
	// its steps, and the nodes agree on the shards either way.
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = c.engs[1].UpdateShardCount("s", 4)
	}()
	go func() {
		defer wg.Done()
		errs[1] = c.engs[2].SplitShard("s", sh1.ID, mid(sh1.HashStart, sh1.HashEnd))
	}()
	wg.Wait()
	t.Logf("UpdateShardCount: %v; split: %v", errs[0], errs[1])
	for i, err := range errs {
		var ae *api.Error
		if err != nil && (!errors.As(err, &ae) || ae.Code != api.CodeResourceInUse) {
			t.Fatalf("racing UpdateShardCount and split: call %d failed with %v; want ResourceInUse", i, err)
		}
	}
	p.waitMore(t, 20)
	acks := p.halt(t)
	c.waitSameShards("s")
	c.checkAcks(t, "s", acks)
}

// openCount is the number of open shards of a stream on one node.
func openCount(e *engine.Engine, stream string) int {
	si, err := e.DescribeStream(stream)
	if err != nil {
		return 0
	}
	n := 0
	for _, sh := range si.Shards {
		if !sh.Closed {
			n++
		}
	}
	return n
}

// An ON_DEMAND stream on a cluster is raised to the ON_DEMAND minimum and
// its hot shards are split, by the node leading the controller group alone
// (the others measure the same traffic and only apply its decisions); every
// node ends with the same shards and every acknowledged record.
func TestNodeReshard_OnDemandScalesFromOneNode(t *testing.T) {
	c := startNodesWith(t, 3, func(o *engine.Options) {
		o.Autoscale = engine.AutoscaleOptions{Window: 300 * time.Millisecond, MergeWindow: time.Hour, Interval: 50 * time.Millisecond}
	})
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	lim := ratelimit.Kinesis
	lim.WriteRecordsPerSec = 30
	if err := c.engs[2].SetQuotas("s", &lim); err != nil {
		t.Fatal(err)
	}
	if err := c.engs[2].SetStreamMode("s", api.OnDemand); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for id, e := range c.engs {
		for openCount(e, "s") < api.OnDemandShards {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: %d open shards; want the ON_DEMAND minimum %d", id, openCount(e, "s"), api.OnDemandShards)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	p := startProducers(c, "s")
	for id, e := range c.engs {
		for openCount(e, "s") <= api.OnDemandShards {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: %d open shards under load; want a hot shard split", id, openCount(e, "s"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	acks := p.halt(t)
	c.waitSameShards("s")
	c.checkAcks(t, "s", acks)
	// A decision is counted once its call returns, which is after the
	// nodes applied it.
	var drivers int
	var total engine.AutoscaleStats
	for {
		drivers, total = 0, engine.AutoscaleStats{}
		for _, e := range c.engs {
			st := e.AutoscaleStats()
			if st.Splits+st.MinScaleUps > 0 {
				drivers++
			}
			total.Splits += st.Splits
			total.MinScaleUps += st.MinScaleUps
			total.Refused += st.Refused
		}
		if total.Splits > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if drivers != 1 || total.MinScaleUps != 1 || total.Splits == 0 || total.Refused != 0 {
		t.Fatalf("autoscaler decisions: %d nodes made them, %+v in all; want one node, one raise to the minimum, splits and nothing refused", drivers, total)
	}
}

// A node that is down while a shard is split and the children merged, under
// producers, catches up when it comes back (the parents' records, their
// seals and the catalog changes, in whatever order its groups deliver
// them) and ends with the same shards and records as the others.
func TestNodeReshard_NodeDownDuringReshard(t *testing.T) {
	c := startNodes(t, 3)
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	c.waitStream("s", 2)
	putN(t, c.engs[3], "s", "before", 20)
	c.waitSame("s", 20)
	c.stop(3)
	p := startProducers(c, "s")
	p.waitMore(t, 30)
	si, err := c.engs[1].DescribeStream("s")
	if err != nil {
		t.Fatal(err)
	}
	sh0 := si.Shards[0]
	if err := c.engs[1].SplitShard("s", sh0.ID, mid(sh0.HashStart, sh0.HashEnd)); err != nil {
		t.Fatalf("split with node 3 down: %v", err)
	}
	p.waitMore(t, 30)
	if err := c.engs[2].MergeShards("s", api.ShardID(2), api.ShardID(3)); err != nil {
		t.Fatalf("merge with node 3 down: %v", err)
	}
	p.waitMore(t, 30)
	acks := p.halt(t)
	c.start(3)
	c.waitSameShards("s")
	c.checkAcks(t, "s", acks)
}
