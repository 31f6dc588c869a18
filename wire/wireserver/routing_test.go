package wireserver

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/wire"
)

// fakeCluster is a node of a pretend cluster in which leader leads every
// shard; it counts the PutShard requests it accepted as their leader.
type fakeCluster struct {
	id       uint64
	leader   *atomic.Uint64
	addrs    func() []wire.NodeAddr
	accepted atomic.Int64
}

func (f *fakeCluster) ID() uint64 { return f.id }
func (f *fakeCluster) ShardLeader(uint32, int) uint64 {
	l := f.leader.Load()
	if l == f.id {
		f.accepted.Add(1)
	}
	return l
}
func (f *fakeCluster) NodeAddrs() []wire.NodeAddr { return f.addrs() }

// A single server answers the shard map as the leader of every shard, so
// a Cluster client works against it: every record is stored once, in the
// shard its key's MD5 names, with no NotLeaderException.
func TestRouting_SingleNode(t *testing.T) {
	env, c := newStreamEnv(t, 4)
	cl, err := client.DialCluster(testCtx(t), []string{env.addr}, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	leaders, err := cl.ShardLeaders(testCtx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(leaders) != 4 {
		t.Fatalf("shard map %v; want 4 shards", leaders)
	}
	for sh, addr := range leaders {
		if addr != env.addr {
			t.Fatalf("%s is led by %q; want the server itself, %s", sh, addr, env.addr)
		}
	}
	info, err := c.DescribeStream(testCtx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bad []string
	p, err := cl.NewProducer(testCtx(t), client.ProducerOptions{Stream: "s", OnResult: func(r client.ProducerResult) {
		mu.Lock()
		defer mu.Unlock()
		if r.Err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", r.Key, r.Err))
			return
		}
		h := api.HashPartitionKey(r.Key)
		sh := info.Shards[r.Seq.Shard]
		if h.Cmp(sh.HashStart) < 0 || h.Cmp(sh.HashEnd) > 0 {
			bad = append(bad, fmt.Sprintf("%s stored in %s, whose range does not hold its hash", r.Key, sh.ID))
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		if err := p.Put(testCtx(t), []byte(fmt.Sprint("key-", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("%d records went wrong; the first: %s", len(bad), bad[0])
	}
	if st := p.Stats(); st.Stored != n || st.Failed != 0 || st.Requests < 4 {
		t.Fatalf("producer stats %+v; want %d stored in one request or more per shard", st, n)
	}
	if st := cl.Stats(); st.NotLeader != 0 {
		t.Fatalf("cluster stats %+v; want no NotLeaderException from a single server", st)
	}
	total := 0
	for sh := range 4 {
		total += eachRecord(t, c, "s", sh, nil)
	}
	if total != n {
		t.Fatalf("the stream holds %d records; want %d", total, n)
	}
}

// Two servers of one engine pretend to be two nodes. Once the leadership
// moves from the node the client's map names to the other, the first
// answers NotLeaderException naming the second and stores nothing; the
// producer sends there and no record fails or is stored twice. With no
// leader known at all, the records go to any node as plain PutRecords.
func TestRouting_NotLeaderRedirects(t *testing.T) {
	var leader atomic.Uint64
	leader.Store(1)
	var addrA, addrB string
	addrs := func() []wire.NodeAddr { return []wire.NodeAddr{{ID: 1, Addr: addrA}, {ID: 2, Addr: addrB}} }
	a := &fakeCluster{id: 1, leader: &leader, addrs: addrs}
	b := &fakeCluster{id: 2, leader: &leader, addrs: addrs}
	env := newServerEnv(t, func(o *ServerOptions) { o.Cluster = a })
	addrA = env.addr
	srvB := NewServer(env.eng, ServerOptions{Logger: discardLogger(), Cluster: b})
	lb := listenLoopback(t)
	addrB = lb.Addr().String()
	doneB := make(chan error, 1)
	go func() { doneB <- srvB.Serve(lb) }()
	t.Cleanup(func() {
		srvB.Close()
		if err := <-doneB; !errors.Is(err, wire.ErrServerClosed) {
			t.Errorf("Serve B: %v", err)
		}
	})
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", 2)

	cl, err := client.DialCluster(testCtx(t), []string{addrA}, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var failed atomic.Int64
	p, err := cl.NewProducer(testCtx(t), client.ProducerOptions{Stream: "s", Linger: time.Hour, OnResult: func(r client.ProducerResult) {
		if r.Err != nil {
			failed.Add(1)
			t.Errorf("record %s failed: %v", r.Key, r.Err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	put := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			if err := p.Put(testCtx(t), []byte(fmt.Sprint(prefix, i)), []byte(prefix)); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	put("on-a-", 100)
	if a.accepted.Load() == 0 || b.accepted.Load() != 0 {
		t.Fatalf("A accepted %d PutShard requests and B %d; want all on A, the leader in the map", a.accepted.Load(), b.accepted.Load())
	}
	leader.Store(2)
	put("moved-", 100)
	if cl.Stats().NotLeader == 0 {
		t.Fatal("no NotLeaderException after the leadership moved")
	}
	if b.accepted.Load() == 0 {
		t.Fatal("B, the new leader, accepted no PutShard request")
	}
	leader.Store(0)
	put("none-", 100)
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d records failed", failed.Load())
	}
	if n := eachRecord(t, c, "s", 0, nil) + eachRecord(t, c, "s", 1, nil); n != 300 {
		t.Fatalf("the stream holds %d records; want 300, each once", n)
	}
}

// Putting into a routed producer allocates nothing per record: only each
// shard's batch (a struct; its buffer is pooled) is new.
func TestRouting_PutDoesNotAllocatePerRecord(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector sync.Pool drops items, so pooled batches allocate")
	}
	env, _ := newStreamEnv(t, 4)
	cl, err := client.DialCluster(testCtx(t), []string{env.addr}, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p, err := cl.NewProducer(testCtx(t), client.ProducerOptions{Stream: "s", Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(testCtx(t))
	const n = 800 // 200 a shard: no batch fills, nothing is sent
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte(fmt.Sprint("key-", i))
	}
	data := make([]byte, 100)
	ctx := testCtx(t)
	// A first round grows the pooled batches and buffers.
	for _, k := range keys {
		if err := p.Put(ctx, k, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, k := range keys {
		if err := p.Put(ctx, k, data); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// The batches of up to 4 shards, and slack for the runtime's own.
	if m := after.Mallocs - before.Mallocs; m > 20 {
		t.Fatalf("%d puts allocated %d times; want no allocation per record", n, m)
	}
}

// A shard split while a routed producer runs: the records meant for the
// closed shard are stored in its children, the producer sees them land
// elsewhere and asks for the map again, and from then on sends to the
// children. No record fails or is lost.
func TestRouting_FollowsReshard(t *testing.T) {
	env, c := newStreamEnv(t, 2)
	cl, err := client.DialCluster(testCtx(t), []string{env.addr}, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var mu sync.Mutex
	shards := map[uint32]int{}
	var failed int
	p, err := cl.NewProducer(testCtx(t), client.ProducerOptions{Stream: "s", Linger: time.Hour, OnResult: func(r client.ProducerResult) {
		mu.Lock()
		defer mu.Unlock()
		if r.Err != nil {
			failed++
			return
		}
		shards[r.Seq.Shard]++
	}})
	if err != nil {
		t.Fatal(err)
	}
	put := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			if err := p.Put(testCtx(t), []byte(fmt.Sprint(prefix, i)), []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Flush(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	put("before-", 200)
	refreshes := cl.Stats().Refreshes
	// Split shard 0 (the lower half of the hash key space) in the middle.
	if err := c.SplitShard(testCtx(t), "s", api.ShardID(0), api.HashKey{Hi: 1 << 62}); err != nil {
		t.Fatal(err)
	}
	put("during-", 200) // cut by the old map: shard 0's records go to its children
	if cl.Stats().Refreshes == refreshes {
		t.Fatalf("records landed in shard 0's children (records by shard %v), and the producer did not ask for the map again", shards)
	}
	leaders, err := cl.ShardLeaders(testCtx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, open := leaders[api.ShardID(0)]; open || len(leaders) != 3 {
		t.Fatalf("the map after the split names %v; want shards 1, 2 and 3", leaders)
	}
	put("after-", 200)
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if failed != 0 {
		t.Fatalf("%d records failed", failed)
	}
	if shards[2] == 0 || shards[3] == 0 {
		t.Fatalf("records by shard %v; want some in shard 0's children, 2 and 3", shards)
	}
	total := 0
	for sh := range 4 {
		total += eachRecord(t, c, "s", sh, nil)
	}
	if total != 600 {
		t.Fatalf("the stream holds %d records; want 600", total)
	}
}

// A routed producer that aggregates packs the user records of each shard
// into KPL aggregates of that shard: every user record is acknowledged in
// an aggregate stored in the shard its own key's hash names.
func TestRouting_Aggregates(t *testing.T) {
	env, c := newStreamEnv(t, 4)
	cl, err := client.DialCluster(testCtx(t), []string{env.addr}, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	info, err := c.DescribeStream(testCtx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bad []string
	users := 0
	p, err := cl.NewProducer(testCtx(t), client.ProducerOptions{Stream: "s", Aggregate: true, OnResult: func(r client.ProducerResult) {
		mu.Lock()
		defer mu.Unlock()
		users++
		if r.Err != nil || !r.Aggregated {
			bad = append(bad, fmt.Sprintf("%s: aggregated %v, %v", r.Key, r.Aggregated, r.Err))
			return
		}
		h := api.HashPartitionKey(r.Key)
		sh := info.Shards[r.Seq.Shard]
		if h.Cmp(sh.HashStart) < 0 || h.Cmp(sh.HashEnd) > 0 {
			bad = append(bad, fmt.Sprintf("%s aggregated into %s, whose range does not hold its hash", r.Key, sh.ID))
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := range n {
		if err := p.Put(testCtx(t), []byte(fmt.Sprint("key-", i)), []byte("user record")); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("%d user records went wrong; the first: %s", len(bad), bad[0])
	}
	st := p.Stats()
	if users != n || st.Stored != n || st.Aggregates == 0 || st.Aggregates >= n/10 {
		t.Fatalf("%d results; producer stats %+v; want %d user records stored in far fewer aggregates", users, st, n)
	}
	stored := 0
	for sh := range 4 {
		stored += eachRecord(t, c, "s", sh, nil)
	}
	if int64(stored) != st.Aggregates {
		t.Fatalf("the stream holds %d records; the producer stored %d aggregates", stored, st.Aggregates)
	}
}
