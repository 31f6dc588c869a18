package node

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/wire"
	"github.com/sluicedb/sluice/wire/wireserver"
)

// wireNodes is a cluster of nodes in this process, each serving the binary
// protocol as sluiced does.
type wireNodes struct {
	t     testing.TB
	peers map[uint64]string
	dirs  map[uint64]string
	addrs map[uint64]string // binary protocol
	nodes map[uint64]*Node
	engs  map[uint64]*engine.Engine
	srvs  map[uint64]*wireserver.Server
	views map[uint64]*countingView
	// election is the nodes' election timeout.
	election time.Duration
}

// countingView is a node as its binary protocol server sees it, counting
// the lookups that found this node the shard's leader (one per PutShard it
// accepted, and one per shard it leads in each ShardMap it answered) and
// the ShardMap requests (each asks NodeAddrs once, as does a
// NotLeaderException naming a leader).
type countingView struct {
	*Node
	accepted, maps atomic.Int64
}

func (v *countingView) ShardLeader(inc uint32, index int) uint64 {
	l := v.Node.ShardLeader(inc, index)
	if l == v.ID() {
		v.accepted.Add(1)
	}
	return l
}

func (v *countingView) NodeAddrs() []wire.NodeAddr {
	v.maps.Add(1)
	var out []wire.NodeAddr
	for _, n := range v.Nodes() {
		out = append(out, wire.NodeAddr{ID: n.ID, Addr: n.Listen})
	}
	return out
}

// startWireNodes starts n nodes with a 200 ms election timeout, for tests
// that move leaderships.
func startWireNodes(t testing.TB, n int) *wireNodes {
	t.Helper()
	return startWireNodesElecting(t, n, 200*time.Millisecond)
}

func startWireNodesElecting(t testing.TB, n int, election time.Duration) *wireNodes {
	t.Helper()
	c := &wireNodes{t: t, election: election, peers: map[uint64]string{}, dirs: map[uint64]string{}, addrs: map[uint64]string{},
		nodes: map[uint64]*Node{}, engs: map[uint64]*engine.Engine{}, srvs: map[uint64]*wireserver.Server{}, views: map[uint64]*countingView{}}
	for i := 1; i <= n; i++ {
		id := uint64(i)
		c.peers[id], c.addrs[id] = freeAddr(t), freeAddr(t)
		c.dirs[id] = filepath.Join(t.TempDir(), fmt.Sprint(i))
	}
	for id := range c.peers {
		c.start(id)
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	for _, nd := range c.nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := nd.IteratorKey(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	return c
}

func (c *wireNodes) start(id uint64) {
	c.t.Helper()
	nd, err := Open(Config{NodeID: id, Peers: c.peers, DataDir: c.dirs[id], TickInterval: 20 * time.Millisecond,
		ElectionTimeout: c.election, Logger: quiet()})
	if err != nil {
		c.t.Fatal(err)
	}
	q := ratelimit.Unlimited
	eng, err := engine.Open(engine.Options{Dir: c.dirs[id], Quotas: &q, Replica: nd, Logger: quiet()})
	if err != nil {
		nd.Close()
		c.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", c.addrs[id])
	if err != nil {
		c.t.Fatal(err)
	}
	if err := nd.Start(eng, NodeInfo{Listen: c.addrs[id]}); err != nil {
		c.t.Fatal(err)
	}
	v := &countingView{Node: nd}
	srv := wireserver.NewServer(eng, wireserver.ServerOptions{Logger: quiet(), Cluster: v})
	go srv.Serve(ln)
	c.nodes[id], c.engs[id], c.srvs[id], c.views[id] = nd, eng, srv, v
}

func (c *wireNodes) stop(id uint64) {
	if nd := c.nodes[id]; nd != nil {
		c.srvs[id].Close()
		nd.Close()
		c.engs[id].Close()
		delete(c.nodes, id)
		delete(c.engs, id)
		delete(c.srvs, id)
		delete(c.views, id)
	}
}

// createStream creates a stream and waits until every node knows every
// shard's leader and every node has announced its address.
func (c *wireNodes) createStream(name string, shards int) *api.StreamInfo {
	c.t.Helper()
	var any *engine.Engine
	for _, e := range c.engs {
		any = e
		break
	}
	info, err := any.CreateStream(api.CreateStreamInput{Name: name, ShardCount: shards})
	if err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !c.settled(info, shards) {
		if time.Now().After(deadline) {
			c.t.Fatalf("the nodes do not agree on the leaders of %s's shards after 20s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return info
}

// settled reports whether every running node knows the same leader, one of
// the running nodes, for each shard, and every running node's address.
func (c *wireNodes) settled(info *api.StreamInfo, shards int) bool {
	for _, nd := range c.nodes {
		if len(nd.Nodes()) < len(c.peers) {
			return false
		}
		for i := range shards {
			l := nd.ShardLeader(info.Incarnation, i)
			if c.nodes[l] == nil {
				return false
			}
			for _, other := range c.nodes {
				if other.ShardLeader(info.Incarnation, i) != l {
					return false
				}
			}
		}
	}
	return true
}

// proposals returns each running node's count of proposals committed.
func (c *wireNodes) proposals() map[uint64]uint64 {
	out := map[uint64]uint64{}
	for id, nd := range c.nodes {
		out[id] = nd.Metrics().ProposalsOK
	}
	return out
}

func rctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// A Cluster client given one node's address sends each shard's records to
// the shard's leader: every node proposes exactly the PutShard requests it
// accepted as leader, so none forwarded a proposal to another, and every
// record is on every node. The same puts through one node without routing
// make that node propose for shards the others lead (forwarded), and the
// others propose nothing.
func TestRouting_PutsGoToLeaders(t *testing.T) {
	c := startWireNodes(t, 3)
	info := c.createStream("s", 6)
	leaders := map[uint64]int{}
	for i := range 6 {
		leaders[c.nodes[1].ShardLeader(info.Incarnation, i)]++
	}
	cl, err := client.DialCluster(rctx(t), []string{c.addrs[1]}, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	before := c.proposals()
	var failed atomic.Int64
	p, err := cl.NewProducer(rctx(t), client.ProducerOptions{Stream: "s", OnResult: func(r client.ProducerResult) {
		if r.Err != nil {
			failed.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := range n {
		if err := p.Put(rctx(t), []byte(fmt.Sprint("key-", i)), []byte("routed")); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(rctx(t)); err != nil {
		t.Fatal(err)
	}
	if failed.Load() != 0 || p.Stats().Stored != n {
		t.Fatalf("%d records failed; stats %+v", failed.Load(), p.Stats())
	}
	after := c.proposals()
	for id, v := range c.views {
		proposed := after[id] - before[id]
		accepted := uint64(v.accepted.Load() - v.maps.Load()*int64(leaders[id]))
		t.Logf("node %d leads %d shards, accepted %d PutShard requests, proposed %d entries", id, leaders[id], accepted, proposed)
		if proposed != accepted {
			t.Errorf("node %d proposed %d entries for the %d PutShard requests it accepted as leader: some were forwarded, or refused", id, proposed, accepted)
		}
		if leaders[id] > 0 && accepted == 0 {
			t.Errorf("node %d leads %d shards and accepted no PutShard request", id, leaders[id])
		}
	}
	if st := cl.Stats(); st.NotLeader != 0 {
		t.Errorf("%d NotLeaderException answers while no leader moved", st.NotLeader)
	}
	c.waitSame("s", n)

	// The baseline: a plain producer on node 1 alone.
	c1, err := client.Dial(rctx(t), c.addrs[1], client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	before = c.proposals()
	plain, err := client.NewProducer(c1, client.ProducerOptions{Stream: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := plain.Put(rctx(t), []byte(fmt.Sprint("key-", i)), []byte("plain")); err != nil {
			t.Fatal(err)
		}
	}
	if err := plain.Close(rctx(t)); err != nil {
		t.Fatal(err)
	}
	after = c.proposals()
	for id := range c.nodes {
		if id != 1 && after[id] != before[id] {
			t.Errorf("node %d proposed %d entries with every put sent to node 1", id, after[id]-before[id])
		}
	}
	if leaders[1] < 6 && after[1] == before[1] {
		t.Error("node 1 proposed nothing for the plain puts")
	}
}

// waitSame waits until every running node holds at least want records of
// stream and the same ones.
func (c *wireNodes) waitSame(stream string, want int) []string {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
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
			c.t.Fatalf("the nodes do not hold the same %d or more records after 30s", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// putUntil runs a routed producer putting distinct keys until stop is
// closed, recording each acknowledged record, and returns once it has
// flushed: the acknowledged keys and how many records failed.
func putUntil(t *testing.T, cl *client.Cluster, stream string, stop <-chan struct{}, progress chan<- int) (map[string]api.SeqNum, int64) {
	var mu sync.Mutex
	acked := map[string]api.SeqNum{}
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	p, err := cl.NewProducer(rctx(t), client.ProducerOptions{Stream: stream, Linger: time.Millisecond, MaxAttempts: 20,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		OnResult: func(r client.ProducerResult) {
			if r.Err != nil {
				failed.Add(1)
				e := r.Err
				firstErr.CompareAndSwap(nil, &e)
				return
			}
			mu.Lock()
			acked[string(r.Key)] = r.Seq
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			if err := p.Close(rctx(t)); err != nil && failed.Load() == 0 {
				t.Errorf("close: %v", err)
			}
			if e := firstErr.Load(); e != nil {
				t.Logf("first failure: %v", *e)
			}
			return acked, failed.Load()
		default:
		}
		if err := p.Put(rctx(t), []byte(fmt.Sprint("key-", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if i%200 == 199 {
			p.Flush(rctx(t))
			select {
			case progress <- i + 1:
			default:
			}
		}
	}
}

// checkAcked checks that every acknowledged key is held by every running
// node at its acknowledged sequence number.
func (c *wireNodes) checkAcked(stream string, acked map[string]api.SeqNum) {
	c.t.Helper()
	got := c.waitSame(stream, len(acked))
	held := map[string]bool{}
	for _, r := range got {
		held[r] = true
	}
	for key, seq := range acked {
		want := fmt.Sprintf("%s %d %s=v", api.ShardID(int(seq.Shard)), seq.Seq, key)
		if !held[want] {
			c.t.Fatalf("acknowledged record %q is not held at its sequence number", want)
		}
	}
}

// A shard's leadership moved to another node while a routed producer runs
// is followed: no record fails, and every acknowledged one is on every
// node where it was acknowledged.
func TestRouting_FollowsLeaderChange(t *testing.T) {
	c := startWireNodes(t, 3)
	info := c.createStream("s", 3)
	cl, err := client.DialCluster(rctx(t), []string{c.addrs[1], c.addrs[2]}, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stop := make(chan struct{})
	progress := make(chan int, 1)
	type outcome struct {
		acked  map[string]api.SeqNum
		failed int64
	}
	done := make(chan outcome)
	go func() {
		acked, failed := putUntil(t, cl, "s", stop, progress)
		done <- outcome{acked, failed}
	}()
	<-progress
	refreshes := cl.Stats().Refreshes
	// Move every shard's leadership to the next node (the balancer may hand
	// it back to the shard's preferred replica soon after: a second move).
	moved := 0
	for i := range 3 {
		gid := ShardGroup(info.Incarnation, i)
		from := c.nodes[1].ShardLeader(info.Incarnation, i)
		to := from%3 + 1
		if err := c.nodes[from].host.TransferLeader(gid, to); err != nil {
			t.Fatalf("transfer shard %d from node %d to %d: %v", i, from, to, err)
		}
		moved++
	}
	<-progress // puts go on after the transfers
	<-progress
	close(stop)
	out := <-done
	if out.failed != 0 {
		t.Fatalf("%d records failed across the leader changes", out.failed)
	}
	t.Logf("%d records acknowledged; %d leaderships moved; cluster client stats %+v (refreshes before the moves: %d)", len(out.acked), moved, cl.Stats(), refreshes)
	c.checkAcked("s", out.acked)
}

// The node leading the most shards is stopped while a routed producer
// runs: its connection is lost, the client asks the others for the map and
// follows the new leaders, and no record fails.
func TestRouting_FollowsStoppedLeader(t *testing.T) {
	c := startWireNodes(t, 3)
	info := c.createStream("s", 3)
	count := map[uint64]int{}
	var lead uint64
	for i := range 3 {
		l := c.nodes[1].ShardLeader(info.Incarnation, i)
		count[l]++
		if count[l] > count[lead] {
			lead = l
		}
	}
	var seeds []string
	for id := uint64(1); id <= 3; id++ {
		seeds = append(seeds, c.addrs[id])
	}
	cl, err := client.DialCluster(rctx(t), seeds, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stop := make(chan struct{})
	progress := make(chan int, 1)
	type outcome struct {
		acked  map[string]api.SeqNum
		failed int64
	}
	done := make(chan outcome)
	go func() {
		acked, failed := putUntil(t, cl, "s", stop, progress)
		done <- outcome{acked, failed}
	}()
	<-progress
	c.stop(lead)
	<-progress
	<-progress
	close(stop)
	out := <-done
	if out.failed != 0 {
		t.Fatalf("%d records failed after node %d stopped", out.failed, lead)
	}
	t.Logf("%d records acknowledged; node %d (leading %d shards) stopped; cluster client stats %+v", len(out.acked), lead, count[lead], cl.Stats())
	c.checkAcked("s", out.acked)
}

// BenchmarkRouting_Producer puts b.N records of 100 bytes (a new key each)
// through a producer into a 6-shard stream of three nodes in this process:
// unrouted, every batch to node 1, which forwards the batches of shards
// the others lead; routed, each shard's batch to its leader. Both run on
// one cluster, in three alternating rounds, each into its own stream. The nodes'
// election timeout is sluiced's default (1 s): a shorter one lets the load
// on a small machine delay heartbeats into elections.
func BenchmarkRouting_Producer(b *testing.B) {
	c := startWireNodesElecting(b, 3, time.Second)
	data := make([]byte, 100)
	run := func(b *testing.B, p *client.Producer) {
		key := []byte("key-000000000000")
		b.SetBytes(int64(len(data) + len(key)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			for j, n := len(key)-1, i; j >= 4; j, n = j-1, n/10 {
				key[j] = byte('0' + n%10)
			}
			if err := p.Put(rctx(b), key, data); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Close(rctx(b)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if st := p.Stats(); st.Stored != int64(b.N) {
			b.Fatalf("%d of %d stored: %+v", st.Stored, b.N, st)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(p.Stats().Retried), "retried")
	}
	opts := client.ProducerOptions{}
	streams := 0
	name := func(kind string) string { streams++; return fmt.Sprint(kind, "-", streams) }
	unrouted := func(b *testing.B) {
		stream := name("unrouted")
		c.createStream(stream, 6)
		c1, err := client.Dial(rctx(b), c.addrs[1], client.ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer c1.Close()
		o := opts
		o.Stream = stream
		p, err := client.NewProducer(c1, o)
		if err != nil {
			b.Fatal(err)
		}
		run(b, p)
	}
	routed := func(b *testing.B) {
		stream := name("routed")
		c.createStream(stream, 6)
		cl, err := client.DialCluster(rctx(b), []string{c.addrs[1]}, client.ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		o := opts
		o.Stream = stream
		p, err := cl.NewProducer(rctx(b), o)
		if err != nil {
			b.Fatal(err)
		}
		run(b, p)
	}
	// Rounds of each, one after the other, so that the machine's noise and
	// the cluster's warming up fall on both.
	for range 3 {
		b.Run("unrouted", unrouted)
		b.Run("routed", routed)
	}
}

// A client whose map names a node that no longer leads a shard gets
// NotLeaderException from it, naming the leader, and sends there: the
// shard's preferred replica is stopped, the client learns the leader the
// others elect, and the preferred replica, restarted, takes the leadership
// back (the balancer hands it over) while the client's map still names the
// other node.
func TestRouting_NotLeaderAfterLeaderReturns(t *testing.T) {
	c := startWireNodes(t, 3)
	info := c.createStream("s", 3)
	back := c.nodes[1].ShardLeader(info.Incarnation, 0)
	c.stop(back)
	waitLeader := func(what string, ok func(leader uint64) bool) uint64 {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var leader uint64
			agree := true
			for _, nd := range c.nodes {
				l := nd.ShardLeader(info.Incarnation, 0)
				if leader == 0 {
					leader = l
				}
				if l != leader || !ok(l) {
					agree = false
				}
			}
			if agree {
				return leader
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30s the nodes do not agree that %s leads shard 0", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	interim := waitLeader("a node still running", func(l uint64) bool { return c.nodes[l] != nil })
	var seeds []string
	for id := range c.nodes {
		seeds = append(seeds, c.addrs[id])
	}
	cl, err := client.DialCluster(rctx(t), seeds, client.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	leaders, err := cl.ShardLeaders(rctx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	if got := leaders[api.ShardID(0)]; got != c.addrs[interim] {
		t.Fatalf("the client's map names %q as shard 0's leader; want node %d's %s", got, interim, c.addrs[interim])
	}
	c.start(back)
	waitLeader(fmt.Sprintf("node %d, its preferred replica,", back), func(l uint64) bool { return l == back })

	// Keys of shard 0, whose leader the client's map has wrong.
	sh := info.Shards[0]
	var keys [][]byte
	for i := 0; len(keys) < 100; i++ {
		k := []byte(fmt.Sprint("key-", i))
		if h := api.HashPartitionKey(k); h.Cmp(sh.HashStart) >= 0 && h.Cmp(sh.HashEnd) <= 0 {
			keys = append(keys, k)
		}
	}
	var failed atomic.Int64
	p, err := cl.NewProducer(rctx(t), client.ProducerOptions{Stream: "s", OnResult: func(r client.ProducerResult) {
		if r.Err != nil {
			failed.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := p.Put(rctx(t), k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(rctx(t)); err != nil {
		t.Fatal(err)
	}
	st := cl.Stats()
	t.Logf("shard 0 led by node %d, then %d, then %d again; cluster client stats %+v", back, interim, back, st)
	if failed.Load() != 0 {
		t.Fatalf("%d records failed", failed.Load())
	}
	if st.NotLeader == 0 {
		t.Fatalf("node %d, which the client's map named, answered no NotLeaderException", interim)
	}
	if c.views[back].accepted.Load() == 0 {
		t.Fatalf("node %d, the leader again, accepted no PutShard request", back)
	}
	c.waitSame("s", len(keys))
}
