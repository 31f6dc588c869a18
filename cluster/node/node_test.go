package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
)

// testNodes is a cluster of nodes in this process, over the real transport
// on loopback, each with its own engine and data directory.
type testNodes struct {
	t     testing.TB
	peers map[uint64]string
	dirs  map[uint64]string
	nodes map[uint64]*Node
	engs  map[uint64]*engine.Engine
	// opts, if set, adjusts each engine's options before it opens.
	opts func(*engine.Options)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startNodes(t testing.TB, n int) *testNodes {
	t.Helper()
	return startNodesWith(t, n, nil)
}

// startNodesWith is startNodes with each engine's options adjusted by opts.
func startNodesWith(t testing.TB, n int, opts func(*engine.Options)) *testNodes {
	t.Helper()
	c := &testNodes{t: t, peers: map[uint64]string{}, dirs: map[uint64]string{}, nodes: map[uint64]*Node{}, engs: map[uint64]*engine.Engine{}, opts: opts}
	for i := 1; i <= n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.peers[uint64(i)] = ln.Addr().String()
		ln.Close()
		c.dirs[uint64(i)] = filepath.Join(t.TempDir(), fmt.Sprint(i))
	}
	for id := range c.peers {
		c.start(id)
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	for id := range c.peers {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := c.nodes[id].IteratorKey(ctx); err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
		cancel()
	}
	return c
}

func (c *testNodes) start(id uint64) {
	c.t.Helper()
	nd, err := Open(Config{NodeID: id, Peers: c.peers, DataDir: c.dirs[id], TickInterval: 20 * time.Millisecond,
		ElectionTimeout: 200 * time.Millisecond, Logger: quiet()})
	if err != nil {
		c.t.Fatal(err)
	}
	q := ratelimit.Unlimited
	eo := engine.Options{Dir: c.dirs[id], Quotas: &q, Replica: nd, Logger: quiet()}
	if c.opts != nil {
		c.opts(&eo)
	}
	eng, err := engine.Open(eo)
	if err != nil {
		nd.Close()
		c.t.Fatal(err)
	}
	if err := nd.Start(eng, NodeInfo{}); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id], c.engs[id] = nd, eng
}

func (c *testNodes) stop(id uint64) {
	if nd := c.nodes[id]; nd != nil {
		nd.Close()
		c.engs[id].Close()
		delete(c.nodes, id)
		delete(c.engs, id)
	}
}

// records reads every record of a stream on one node.
func records(t testing.TB, e *engine.Engine, stream string) []string {
	t.Helper()
	si, err := e.DescribeStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sh := range si.Shards {
		pos, err := e.GetIterator(stream, sh.ID, api.IteratorSpec{Type: api.TrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for {
			var res engine.ReadResult
			if err := e.Read(pos, 1000, 4<<20, engine.ReadSubscription, &res); err != nil {
				t.Fatal(err)
			}
			it := res.Iter()
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				out = append(out, fmt.Sprintf("%s %d %s=%s", sh.ID, r.Seq.Seq, r.Key, bytes.Clone(r.Data)))
			}
			n := res.Records
			pos = res.Next
			res.Release()
			if n == 0 {
				break
			}
		}
	}
	return out
}

// waitSame waits until every running node holds at least want records of
// stream and they are the same, and returns them.
func (c *testNodes) waitSame(stream string, want int) []string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var first []string
		same := true
		for _, e := range c.engs {
			got := records(c.t, e, stream)
			if first == nil {
				first = got
			}
			if len(got) < want || !slices.Equal(got, first) {
				same = false
			}
		}
		if same {
			return first
		}
		if time.Now().After(deadline) {
			for id, e := range c.engs {
				c.t.Logf("node %d holds %d records", id, len(records(c.t, e, stream)))
			}
			c.t.Fatalf("the nodes do not hold the same %d or more records after 20s", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// putN puts n records, retrying a put that failed retryably as a client
// would (a put whose outcome was unknown may then be stored twice).
func putN(t *testing.T, e *engine.Engine, stream, prefix string, n int) []api.PutResult {
	t.Helper()
	var out []api.PutResult
	for i := 0; i < n; i++ {
		var r api.PutResult
		var err error
		for try := 0; try < 50; try++ {
			r, err = e.PutRecord(stream, api.PutRecord{Key: []byte(fmt.Sprintf("%s-%d", prefix, i)), Data: []byte(prefix)}, "")
			if ae, ok := err.(*api.Error); !ok || ae.Code != api.CodeInternal {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("put %s-%d: %v", prefix, i, err)
		}
		out = append(out, r)
	}
	return out
}

// A stream created on one node exists on all; puts on every node, leader
// or not, are numbered once and held by every replica.
func TestNode_ReplicatesCatalogAndPuts(t *testing.T) {
	c := startNodes(t, 3)
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 3}); err != nil {
		t.Fatal(err)
	}
	for id, e := range c.engs {
		if _, err := e.DescribeStream("s"); err != nil {
			// Created on node 1; the others apply it on their own.
			deadline := time.Now().Add(10 * time.Second)
			for err != nil && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				_, err = e.DescribeStream("s")
			}
			if err != nil {
				t.Fatalf("node %d: %v", id, err)
			}
		}
	}
	seen := map[api.SeqNum]bool{}
	for id, e := range c.engs {
		for _, r := range putN(t, e, "s", fmt.Sprintf("via%d", id), 20) {
			if seen[r.Seq] {
				t.Fatalf("sequence number %v acknowledged twice", r.Seq)
			}
			seen[r.Seq] = true
		}
	}
	c.waitSame("s", 60)
	if err := c.engs[2].AddTags("s", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	st := c.nodes[3].Status()
	if len(st.Shards) != 3 || len(st.Nodes) != 3 {
		t.Fatalf("status of node 3: %+v", st)
	}
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err == nil {
		t.Fatal("a second stream of the same name was created")
	}
}

// A node that is down while the others go on catches up when it comes
// back; a stopped leader's shards get new leaders and puts go on.
func TestNode_StoppedNodeCatchesUp(t *testing.T) {
	c := startNodes(t, 3)
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	putN(t, c.engs[1], "s", "before", 10)
	c.waitSame("s", 10)
	// Stop the node leading the most shards.
	lead := uint64(0)
	count := map[uint64]int{}
	for _, sh := range c.nodes[1].Status().Shards {
		count[sh.Leader]++
		if count[sh.Leader] > count[lead] {
			lead = sh.Leader
		}
	}
	c.stop(lead)
	var other uint64
	for id := range c.engs {
		other = id
	}
	putN(t, c.engs[other], "s", "during", 10)
	c.start(lead)
	putN(t, c.engs[lead], "s", "after", 10)
	c.waitSame("s", 30)
}

// BenchmarkNode_PutRecords puts batches of 500 records of 100 bytes from 8
// goroutines into a 4-shard stream: on a single engine (the baseline, same
// run) and through node 1 of three nodes in this process.
func BenchmarkNode_PutRecords(b *testing.B) {
	recs := make([]api.PutRecord, 500)
	for i := range recs {
		recs[i] = api.PutRecord{Key: []byte(fmt.Sprintf("key-%d", i)), Data: make([]byte, 100)}
	}
	run := func(b *testing.B, e *engine.Engine) {
		if _, err := e.CreateStream(api.CreateStreamInput{Name: "bench", ShardCount: 4}); err != nil {
			b.Fatal(err)
		}
		b.SetParallelism(4) // 8 goroutines on 2 cores
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			res := make([]api.PutResult, len(recs))
			for pb.Next() {
				for {
					failed, err := e.PutRecords("bench", recs, res)
					if err == nil && failed == 0 {
						break
					}
				}
			}
		})
		b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	}
	b.Run("single", func(b *testing.B) {
		q := ratelimit.Unlimited
		e, err := engine.Open(engine.Options{Dir: b.TempDir(), Quotas: &q, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		run(b, e)
	})
	b.Run("cluster3", func(b *testing.B) {
		c := startNodes(b, 3)
		run(b, c.engs[1])
	})
}
