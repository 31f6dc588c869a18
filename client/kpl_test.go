package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/kpl"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/wire"
	"github.com/sluicedb/sluice/wire/wireserver"
)

// startServer starts an engine and a binary protocol server for the test
// and returns a client dialled to it.
func startServer(t testing.TB) *client.Client {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.Open(engine.Options{Dir: t.TempDir(), Durability: api.None, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := wireserver.NewServer(eng, wireserver.ServerOptions{Logger: logger})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, wire.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	c, err := client.Dial(ctx(t), l.Addr().String(), client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func createStream(t testing.TB, c *client.Client, name string, shards int, q ratelimit.Limits) {
	t.Helper()
	if _, err := c.CreateStream(ctx(t), api.CreateStreamInput{Name: name, ShardCount: shards, Quotas: &q}); err != nil {
		t.Fatal(err)
	}
}

// userRecord is a user record as a consumer saw it.
type userRecord struct {
	shard, key, data string
	seq              api.SeqNum
	aggregated       bool
	sub              int
}

// consumeAll reads n records of the whole stream with a Consumer.
func consumeAll(t *testing.T, c *client.Client, stream string, n int, keep bool) []userRecord {
	t.Helper()
	k, err := client.NewConsumer(ctx(t), c, client.ConsumerOptions{Stream: stream, KeepAggregates: keep})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var out []userRecord
	for len(out) < n {
		r, err := k.Next(ctx(t))
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(out), err)
		}
		out = append(out, userRecord{shard: r.ShardID, key: string(r.Key), data: string(r.Data), seq: r.Seq, aggregated: r.Aggregated, sub: r.SubSeq})
	}
	return out
}

// shardOf is the shard among shards (open or not) whose range holds h.
func shardRange(t *testing.T, shards []api.ShardInfo, id string) (api.HashKey, api.HashKey) {
	for _, s := range shards {
		if s.ID == id {
			return s.HashStart, s.HashEnd
		}
	}
	t.Fatalf("no shard %s", id)
	return api.HashKey{}, api.HashKey{}
}

func inRange(h, start, end api.HashKey) bool { return h.Cmp(start) >= 0 && h.Cmp(end) <= 0 }

func TestProducer_AggregateRoundTrip(t *testing.T) {
	c := startServer(t)
	createStream(t, c, "s", 4, ratelimit.Unlimited)
	type sent struct {
		seq api.SeqNum
		sub int
	}
	var mu sync.Mutex
	results := map[string]sent{}
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", Aggregate: true, Linger: time.Hour,
		OnResult: func(r client.ProducerResult) {
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil || !r.Aggregated {
				t.Errorf("user record %q: err %v, aggregated %v", r.Data, r.Err, r.Aggregated)
			}
			results[string(r.Data)] = sent{r.Seq, r.SubSeq}
		}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := range n {
		if err := p.Put(ctx(t), fmt.Appendf(nil, "key-%d", i%50), fmt.Appendf(nil, "record %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Stored != n || st.Failed != 0 || st.Aggregates == 0 || st.Aggregates > n/20 {
		t.Fatalf("stats %+v: want %d user records stored in a few aggregates", st, n)
	}
	if len(results) != n {
		t.Fatalf("OnResult saw %d user records, want %d", len(results), n)
	}
	shards, err := c.ListShards(ctx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	got := consumeAll(t, c, "s", n, false)
	last := map[string]int{}
	for _, r := range got {
		if !r.aggregated {
			t.Fatalf("record %q was not de-aggregated", r.data)
		}
		if want := results[r.data]; want.seq != r.seq || want.sub != r.sub {
			t.Fatalf("record %q read at %v/%d, put at %v/%d", r.data, r.seq, r.sub, want.seq, want.sub)
		}
		var i int
		fmt.Sscanf(r.data, "record %d", &i)
		if want := fmt.Sprintf("key-%d", i%50); r.key != want {
			t.Fatalf("record %q has key %q, want %q", r.data, r.key, want)
		}
		if prev, ok := last[r.key]; ok && prev >= i {
			t.Fatalf("key %s: record %d after %d", r.key, i, prev)
		}
		last[r.key] = i
		if start, end := shardRange(t, shards, r.shard); !inRange(api.HashPartitionKey([]byte(r.key)), start, end) {
			t.Fatalf("record %q of key %s stored in %s, whose range does not hold the key", r.data, r.key, r.shard)
		}
	}
}

func TestProducer_AggregateExplicitHashKeys(t *testing.T) {
	c := startServer(t)
	createStream(t, c, "s", 2, ratelimit.Unlimited)
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", Aggregate: true, Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Keys that hash to shard 0 and 1, routed by explicit hash keys to the
	// other shard.
	low, high := api.HashKey{Hi: 1}, api.HashKey{Hi: 1 << 63, Lo: 5}
	for i := range 100 {
		h := low
		if i%2 == 0 {
			h = high
		}
		if err := p.PutWithHash(ctx(t), fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "%d", i), h); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Aggregates != 2 {
		t.Fatalf("%d aggregates, want one per shard", st.Aggregates)
	}
	for _, r := range consumeAll(t, c, "s", 100, false) {
		var i int
		fmt.Sscanf(r.data, "%d", &i)
		want := api.ShardID(0)
		if i%2 == 0 {
			want = api.ShardID(1)
		}
		if r.shard != want || !r.aggregated {
			t.Fatalf("record %d read from %s (aggregated %v), want %s", i, r.shard, r.aggregated, want)
		}
	}
}

func TestProducer_AggregateTooLargeIsPutPlain(t *testing.T) {
	c := startServer(t)
	createStream(t, c, "s", 1, ratelimit.Unlimited)
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", Aggregate: true, AggregateMaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("b"), 2000)
	for _, d := range [][]byte{[]byte("small"), big, []byte("small again")} {
		if err := p.Put(ctx(t), []byte("k"), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx(t)); err != nil {
		t.Fatal(err)
	}
	got := consumeAll(t, c, "s", 3, false)
	if got[0].data != "small" || !got[0].aggregated || got[1].data != string(big) || got[1].aggregated || got[2].data != "small again" || !got[2].aggregated {
		t.Fatalf("read %d bytes/%v, %d bytes/%v, %d bytes/%v; want small aggregated, the big one plain, small again aggregated, in that order",
			len(got[0].data), got[0].aggregated, len(got[1].data), got[1].aggregated, len(got[2].data), got[2].aggregated)
	}
}

func TestProducer_AggregateRefusesEmptyKey(t *testing.T) {
	c := startServer(t)
	createStream(t, c, "s", 1, ratelimit.Unlimited)
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", Aggregate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx(t))
	var we *wire.Error
	if err := p.Put(ctx(t), nil, []byte("d")); !errors.As(err, &we) || we.Code != api.CodeInvalidArgument {
		t.Fatalf("Put with an empty key: %v, want an InvalidArgument error", err)
	}
}

// TestConsumer_PassesThroughWhatIsNotAnAggregate puts plain records, one
// with the magic and a bad MD5, and an aggregate: only the aggregate is
// de-aggregated, and KeepAggregates keeps it whole.
func TestConsumer_PassesThroughWhatIsNotAnAggregate(t *testing.T) {
	c := startServer(t)
	createStream(t, c, "s", 1, ratelimit.Unlimited)
	a := kpl.NewAggregator(1 << 20)
	a.Add(kpl.Record{PartitionKey: []byte("u1"), Data: []byte("one")})
	a.Add(kpl.Record{PartitionKey: []byte("u2"), Data: []byte("two")})
	agg := a.Flush()
	bad := bytes.Clone(agg.Data)
	bad[len(bad)-1] ^= 1
	recs := []api.PutRecord{
		{Key: []byte("p"), Data: []byte("plain")},
		{Key: []byte("b"), Data: bad},
		{Key: agg.PartitionKey, Data: agg.Data},
	}
	if failed, err := c.PutRecords(ctx(t), "s", recs, make([]api.PutResult, len(recs))); err != nil || failed != 0 {
		t.Fatalf("PutRecords: %d failed, %v", failed, err)
	}
	got := consumeAll(t, c, "s", 4, false)
	want := []userRecord{
		{key: "p", data: "plain"},
		{key: "b", data: string(bad)},
		{key: "u1", data: "one", aggregated: true, sub: 0},
		{key: "u2", data: "two", aggregated: true, sub: 1},
	}
	for i, w := range want {
		g := got[i]
		if g.key != w.key || g.data != w.data || g.aggregated != w.aggregated || g.sub != w.sub {
			t.Fatalf("record %d: %q %q aggregated %v sub %d; want %q %q aggregated %v sub %d", i, g.key, g.data, g.aggregated, g.sub, w.key, w.data, w.aggregated, w.sub)
		}
	}
	if got[2].seq != got[3].seq {
		t.Fatalf("user records of one aggregate read with sequence numbers %v and %v", got[2].seq, got[3].seq)
	}
	kept := consumeAll(t, c, "s", 3, true)
	if kept[2].data != string(agg.Data) || kept[2].aggregated {
		t.Fatal("KeepAggregates did not deliver the aggregate as stored")
	}
}

// TestConsumer_DeliversSubRecordsOfOtherShardsAfterReshard: a producer that
// listed the shards before a split packs records of both children into one
// aggregate, stored in the child of its first record. The KCL drops the
// user records whose hash keys are outside that child's range; the Consumer
// delivers them. The producer learns the new shards from where the
// aggregate landed, and its next aggregates go to their own shards.
func TestConsumer_DeliversSubRecordsOfOtherShardsAfterReshard(t *testing.T) {
	c := startServer(t)
	createStream(t, c, "s", 1, ratelimit.Unlimited)
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", Aggregate: true, Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx(t))
	put := func(from, to int) {
		for i := from; i < to; i++ {
			if err := p.Put(ctx(t), fmt.Appendf(nil, "key-%d", i), fmt.Appendf(nil, "%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Flush(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	put(0, 1) // the producer lists the stream's one shard
	if err := c.SplitShard(ctx(t), "s", api.ShardID(0), api.HashKey{Hi: 1 << 63}); err != nil {
		t.Fatal(err)
	}
	put(1, 200) // one aggregate, by the old shard list
	put(200, 400)
	if st := p.Stats(); st.Aggregates != 1+1+2 {
		t.Fatalf("%d aggregates; want 1 before the split, 1 by the old shard list, then 1 per child", st.Aggregates)
	}
	shards, err := c.ListShards(ctx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	got := consumeAll(t, c, "s", 400, false)
	seen := map[string]bool{}
	outside := 0
	for _, r := range got {
		seen[r.data] = true
		var i int
		fmt.Sscanf(r.data, "%d", &i)
		start, end := shardRange(t, shards, r.shard)
		if !inRange(api.HashPartitionKey([]byte(r.key)), start, end) {
			outside++
			if i < 1 || i >= 200 {
				t.Fatalf("record %d (key %s) read from %s outside its range, though put by the new shard list", i, r.key, r.shard)
			}
		}
	}
	if len(seen) != 400 {
		t.Fatalf("%d distinct user records delivered, want 400", len(seen))
	}
	if outside == 0 {
		t.Fatal("no user record was stored in a shard outside its hash key's range: the test did not make the case")
	}
	t.Logf("%d user records delivered from a shard that does not hold their hash key", outside)
}

// TestProducer_AggregateBackpressureSendsHeldRecords: with a linger of an
// hour, records held in aggregates fill MaxBuffered; Put sends them rather
// than wait for the linger.
func TestProducer_AggregateBackpressureSendsHeldRecords(t *testing.T) {
	c := startServer(t)
	createStream(t, c, "s", 1, ratelimit.Unlimited)
	p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", Aggregate: true, Linger: time.Hour, MaxBuffered: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx(t))
	for i := range 50 {
		if err := p.Put(ctx(t), []byte("k"), bytes.Repeat([]byte{'x'}, 90)); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if st := p.Stats(); st.Stored < 40 {
		t.Fatalf("%d records stored before Flush; want all but the last MaxBuffered's worth", st.Stored)
	}
}
