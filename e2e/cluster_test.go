//go:build unix

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
)

// testCluster is a cluster of real sluiced processes on 127.0.0.1.
type testCluster struct {
	t     *testing.T
	bin   binaries
	dir   string
	peers string
	ids   []uint64
	// ports of each node: raft, binary, http (fixed, so that a restarted
	// node comes back where the others expect it)
	raft, wire, http map[uint64]string
	extra            []string
	// prefix, if set, is the command each node's process runs under (a
	// network namespace).
	prefix map[uint64][]string

	mu    sync.Mutex
	nodes map[uint64]*server
}

// freePort returns a TCP port free at the moment.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCluster starts n nodes together and waits until all serve.
func startCluster(t *testing.T, bin binaries, n int, extra ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, bin: bin, dir: t.TempDir(), raft: map[uint64]string{}, wire: map[uint64]string{},
		http: map[uint64]string{}, nodes: map[uint64]*server{}, extra: extra}
	var peers []string
	for i := 1; i <= n; i++ {
		id := uint64(i)
		c.ids = append(c.ids, id)
		c.raft[id], c.wire[id], c.http[id] = freePort(t), freePort(t), freePort(t)
		peers = append(peers, fmt.Sprintf("%d=%s", id, c.raft[id]))
	}
	c.peers = strings.Join(peers, ",")
	for _, id := range c.ids {
		c.launch(id)
	}
	for _, id := range c.ids {
		c.node(id).waitServing(t, 60*time.Second)
	}
	return c
}

// launch starts node id's process.
func (c *testCluster) launch(id uint64) *server {
	args := append([]string{"--node-id", strconv.FormatUint(id, 10), "--peers", c.peers, "--raft-listen", c.raft[id],
		"--listen", c.wire[id], "--http", c.http[id], "--zone", fmt.Sprintf("z%d", id)}, c.extra...)
	s := launchServerIn(c.t, c.prefix[id], c.bin, filepath.Join(c.dir, fmt.Sprintf("node%d", id)), args...)
	c.mu.Lock()
	c.nodes[id] = s
	c.mu.Unlock()
	return s
}

func (c *testCluster) node(id uint64) *server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// clusterStatus is the part of GET /cluster/status the tests read.
type clusterStatus struct {
	Node   uint64 `json:"node"`
	Shards []struct {
		Stream string            `json:"stream"`
		Shard  string            `json:"shard"`
		Leader uint64            `json:"leader"`
		Commit uint64            `json:"commit"`
		Lag    map[string]uint64 `json:"lag"`
	} `json:"shards"`
	Nodes []struct {
		ID uint64 `json:"id"`
		Up bool   `json:"up"`
	} `json:"nodes"`
}

func (c *testCluster) status(id uint64) (*clusterStatus, error) {
	resp, err := http.Get("http://" + c.http[id] + "/cluster/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var s clusterStatus
	return &s, json.Unmarshal(b, &s)
}

// leaderOfMost returns the node that leads the most shards, as node from
// sees it, or 0.
func (c *testCluster) leaderOfMost(from uint64) uint64 {
	s, err := c.status(from)
	if err != nil {
		return 0
	}
	count := map[uint64]int{}
	best := uint64(0)
	for _, sh := range s.Shards {
		count[sh.Leader]++
		if sh.Leader != 0 && count[sh.Leader] > count[best] {
			best = sh.Leader
		}
	}
	return best
}

func clusterClient(addr string) *sdk.Client {
	return sdkClient(&server{httpAddr: addr})
}

// clusterAck is one acknowledged record.
type clusterAck struct {
	shard string
	seq   string
	data  string
}

// TestCluster_KillsAndFreezes runs three sluiced processes as a cluster
// under producers on the Kinesis API and the Go client, kills a node (most often the one
// leading the most shards) with SIGKILL every few seconds and restarts it,
// and freezes a leader with SIGSTOP for longer than the election timeout.
// At the end every acknowledged record must be on every replica, exactly
// where its acknowledgement put it, and the replicas must hold the same
// records in the same order.
func TestCluster_KillsAndFreezes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	rounds := 4
	if v := os.Getenv("SLUICE_CLUSTER_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	bin := build(t)
	c := startCluster(t, bin, 3, "--quotas", "unlimited", "--election-timeout", "1s")
	ctx := context.Background()
	const stream = "replicated"
	cl := clusterClient(c.http[1])
	if _, err := cl.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(4)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}

	var (
		mu    sync.Mutex
		acked []clusterAck
		fails int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := c.ids[rng.IntN(len(c.ids))]
				var entries []sdktypes.PutRecordsRequestEntry
				for k := 0; k < 10; k++ {
					d := fmt.Sprintf("p%d-%d-%d", p, i, k)
					entries = append(entries, sdktypes.PutRecordsRequestEntry{PartitionKey: aws.String(d), Data: []byte(d)})
				}
				cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				out, err := clusterClient(c.http[id]).PutRecords(cctx, &sdk.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
				cancel()
				mu.Lock()
				if err != nil {
					fails++
				} else {
					for k, r := range out.Records {
						if r.ErrorCode == nil {
							acked = append(acked, clusterAck{shard: aws.ToString(r.ShardId), seq: aws.ToString(r.SequenceNumber), data: string(entries[k].Data)})
						} else {
							fails++
						}
					}
				}
				mu.Unlock()
			}
		}(p)
	}

	// Two more producers on the binary protocol, through the Go client,
	// each on a node picked at random per batch.
	for p := 4; p < 6; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 7))
			conns := map[uint64]*client.Client{}
			defer func() {
				for _, cl := range conns {
					cl.Close()
				}
			}()
			batch := make([]api.PutRecord, 10)
			results := make([]api.PutResult, 10)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := c.ids[rng.IntN(len(c.ids))]
				cl := conns[id]
				if cl == nil {
					dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					var err error
					cl, err = client.Dial(dctx, c.wire[id], client.ClientOptions{})
					cancel()
					if err != nil {
						continue // down: another node next time
					}
					conns[id] = cl
				}
				for k := range batch {
					d := fmt.Sprintf("p%d-%d-%d", p, i, k)
					batch[k] = api.PutRecord{Key: []byte(d), Data: []byte(d)}
				}
				cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				_, err := cl.PutRecords(cctx, stream, batch, results)
				cancel()
				if err != nil {
					cl.Close()
					delete(conns, id)
				}
				mu.Lock()
				for k, r := range results {
					if err == nil && r.Err == nil {
						acked = append(acked, clusterAck{shard: r.ShardID, seq: r.Seq.String(), data: string(batch[k].Data)})
					} else {
						fails++
					}
				}
				mu.Unlock()
			}
		}(p)
	}

	waitAcks := func(more int) {
		mu.Lock()
		base := len(acked)
		mu.Unlock()
		if !pollUntil(60*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) >= base+more
		}) {
			t.Fatalf("producers acknowledged fewer than %d records in 60s after a restart", more)
		}
	}
	waitAcks(200)
	rng := rand.New(rand.NewPCG(1, 2))
	for r := 0; r < rounds; r++ {
		victim := c.leaderOfMost(c.ids[rng.IntN(len(c.ids))])
		if victim == 0 || rng.IntN(3) == 0 {
			victim = c.ids[rng.IntN(len(c.ids))]
		}
		s := c.node(victim)
		s.stop(t, syscall.SIGKILL)
		waitAcks(100) // the other two carry on
		c.launch(victim).waitServing(t, 60*time.Second)
		waitAcks(100)
	}
	// Freeze the node leading the most shards past the election timeout.
	if victim := c.leaderOfMost(1); victim != 0 {
		s := c.node(victim)
		s.cmd.Process.Signal(syscall.SIGSTOP)
		waitAcks(200)
		s.cmd.Process.Signal(syscall.SIGCONT)
		waitAcks(100)
	}
	close(stop)
	wg.Wait()
	binary := 0
	for _, a := range acked {
		if strings.HasPrefix(a.data, "p4-") || strings.HasPrefix(a.data, "p5-") {
			binary++
		}
	}
	t.Logf("%d records acknowledged (%d through the Go client), %d puts or records failed (retryable) over %d kills and one freeze", len(acked), binary, fails, rounds)
	if binary == 0 {
		t.Error("the Go client's producers had no record acknowledged")
	}

	checkReplicas(t, c, stream, acked)
}

// checkReplicas reads every node's copy of stream until it holds every
// acknowledged record, checks each is where its acknowledgement put it and
// that no sequence number names two records, and that the copies agree.
func checkReplicas(t *testing.T, c *testCluster, stream string, acked []clusterAck) {
	t.Helper()
	// Every replica catches up: read each node's copy until it holds
	// every acknowledged record, then compare the copies.
	want := map[string]clusterAck{} // seq -> ack
	for _, a := range acked {
		if prev, dup := want[a.seq]; dup {
			t.Fatalf("sequence number %s acknowledged for %q and %q", a.seq, prev.data, a.data)
		}
		want[a.seq] = a
	}
	var copies [][]string
	for _, id := range c.ids {
		var recs []readRecord
		ok := pollUntil(60*time.Second, func() bool {
			recs = readStream(t, clusterClient(c.http[id]), stream)
			have := map[string]bool{}
			for _, r := range recs {
				have[r.seq] = true
			}
			for seq := range want {
				if !have[seq] {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("node %d does not hold every acknowledged record after 60s", id)
		}
		got := map[string]readRecord{}
		var lines []string
		for _, r := range recs {
			if _, dup := got[r.seq]; dup {
				t.Fatalf("node %d: sequence number %s names two records", id, r.seq)
			}
			got[r.seq] = r
			lines = append(lines, r.shard+" "+r.seq+" "+r.data)
		}
		for seq, a := range want {
			r := got[seq]
			if r.shard != a.shard || r.data != a.data {
				t.Fatalf("node %d: sequence number %s holds %q in %s; %q was acknowledged there in %s", id, seq, r.data, r.shard, a.data, a.shard)
			}
		}
		copies = append(copies, lines)
	}
	for i := 1; i < len(copies); i++ {
		// Records put after the last acknowledgement may still be
		// arriving; compare the common prefix of each shard.
		if !prefixEqual(copies[0], copies[i]) {
			t.Fatalf("nodes %d and %d hold different records", c.ids[0], c.ids[i])
		}
	}
}

// prefixEqual reports whether a and b agree wherever both have a record of
// a shard: each shard's list of one is a prefix of the other's.
func prefixEqual(a, b []string) bool {
	split := func(l []string) map[string][]string {
		m := map[string][]string{}
		for _, s := range l {
			sh, _, _ := strings.Cut(s, " ")
			m[sh] = append(m[sh], s)
		}
		return m
	}
	ma, mb := split(a), split(b)
	for sh, la := range ma {
		lb := mb[sh]
		n := min(len(la), len(lb))
		if !slices.Equal(la[:n], lb[:n]) {
			return false
		}
	}
	return true
}

// readRecord is a record read back through GetRecords.
type readRecord struct{ shard, seq, data string }

// readStream reads every shard of a stream from TRIM_HORIZON to its tip.
func readStream(t *testing.T, cl *sdk.Client, stream string) []readRecord {
	t.Helper()
	ctx := context.Background()
	d, err := cl.ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil
	}
	var out []readRecord
	for _, sh := range d.Shards {
		it, err := cl.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: sdktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			return nil
		}
		iter := it.ShardIterator
		for iter != nil {
			res, err := cl.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				return nil
			}
			for _, r := range res.Records {
				out = append(out, readRecord{shard: aws.ToString(sh.ShardId), seq: aws.ToString(r.SequenceNumber), data: string(bytes.Clone(r.Data))})
			}
			if len(res.Records) == 0 || aws.ToInt64(res.MillisBehindLatest) == 0 && len(res.Records) < 10000 {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

// TestClusterBench_FailoverAndCatchUp measures, on real processes, how long
// a shard is without a leader after its leader is killed (kill -9 to the
// first put acknowledged after it) over SLUICE_CLUSTER_BENCH kills, and how
// long a node that was down for 60 s under load takes to catch up. It
// measures and reports; it asserts only that the cluster recovers.
// SLUICE_CLUSTER_BENCH=20 go test ./e2e -run TestClusterBench -v
func TestClusterBench_FailoverAndCatchUp(t *testing.T) {
	kills, _ := strconv.Atoi(os.Getenv("SLUICE_CLUSTER_BENCH"))
	if kills <= 0 {
		t.Skip("a measurement: set SLUICE_CLUSTER_BENCH to the number of leader kills")
	}
	down := 60 * time.Second
	if v := os.Getenv("SLUICE_CLUSTER_DOWN"); v != "" {
		down, _ = time.ParseDuration(v)
	}
	bin := build(t)
	c := startCluster(t, bin, 3, "--quotas", "unlimited")
	ctx := context.Background()
	const stream = "failover"
	if _, err := clusterClient(c.http[1]).CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	// put tries one record through node id and reports whether it was
	// acknowledged.
	put := func(id uint64, i int) bool {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := clusterClient(c.http[id]).PutRecord(cctx, &sdk.PutRecordInput{StreamName: aws.String(stream),
			PartitionKey: aws.String(strconv.Itoa(i)), Data: []byte("x")})
		return err == nil
	}
	shardLeader := func() uint64 {
		for _, id := range c.ids {
			if s, err := c.status(id); err == nil && len(s.Shards) == 1 && s.Shards[0].Leader != 0 {
				return s.Shards[0].Leader
			}
		}
		return 0
	}
	var took []time.Duration
	for k := 0; k < kills; k++ {
		var lead uint64
		if !pollUntil(30*time.Second, func() bool { lead = shardLeader(); return lead != 0 && put(lead, k) }) {
			t.Fatalf("round %d: the shard has no leader that takes puts", k)
		}
		others := slices.DeleteFunc(slices.Clone(c.ids), func(id uint64) bool { return id == lead })
		c.node(lead).stop(t, syscall.SIGKILL)
		killed := time.Now()
		// Producers on both survivors, each put sent after the kill.
		got := make(chan time.Time, 1)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for p := 0; p < 4; p++ {
			wg.Add(1)
			go func(id uint64) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if put(id, i) {
						select {
						case got <- time.Now():
						default:
						}
						return
					}
				}
			}(others[p%2])
		}
		var at time.Time
		select {
		case at = <-got:
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: no put acknowledged within 60 s of killing the leader", k)
		}
		close(stop)
		wg.Wait()
		took = append(took, at.Sub(killed))
		c.launch(lead).waitServing(t, 60*time.Second)
	}
	slices.Sort(took)
	t.Logf("failover over %d leader kills (kill -9 to the first acknowledged put): median %v, min %v, max %v",
		len(took), took[len(took)/2].Round(time.Millisecond), took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))

	// A follower down for a while under load, then back: time until the
	// leader sees it caught up.
	lead := shardLeader()
	var follower uint64
	for _, id := range c.ids {
		if id != lead {
			follower = id
		}
	}
	c.node(follower).stop(t, syscall.SIGKILL)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var n int64
	var mu sync.Mutex
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			cl := clusterClient(c.http[lead])
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var entries []sdktypes.PutRecordsRequestEntry
				for k := 0; k < 100; k++ {
					entries = append(entries, sdktypes.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: make([]byte, 100)})
				}
				if _, err := cl.PutRecords(ctx, &sdk.PutRecordsInput{StreamName: aws.String(stream), Records: entries}); err == nil {
					mu.Lock()
					n += 100
					mu.Unlock()
				}
			}
		}(p)
	}
	time.Sleep(down) // the measured outage itself, not a synchronisation
	close(stop)
	wg.Wait()
	back := time.Now()
	c.launch(follower).waitServing(t, 60*time.Second)
	if !pollUntil(5*time.Minute, func() bool {
		s, err := c.status(lead)
		if err != nil || len(s.Shards) != 1 {
			return false
		}
		lag, ok := s.Shards[0].Lag[strconv.FormatUint(follower, 10)]
		return ok && lag == 0
	}) {
		t.Fatal("the restarted follower did not catch up within 5 minutes")
	}
	t.Logf("a follower down %v while %d records were put caught up %v after it was started again", down, n, time.Since(back).Round(time.Millisecond))
}

// faults asks node id to block or unblock Raft traffic with other nodes
// (POST /cluster/faults, on with SLUICE_FAULT_INJECTION=1).
func (c *testCluster) faults(id uint64, block, unblock []uint64) {
	c.t.Helper()
	b, _ := json.Marshal(map[string][]uint64{"block": block, "unblock": unblock})
	resp, err := http.Post("http://"+c.http[id]+"/cluster/faults", "application/json", bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		c.t.Fatalf("POST /cluster/faults on node %d: %s", id, resp.Status)
	}
}

// TestCluster_PartitionedLeader cuts the leader of a shard off from the two
// other nodes while producers put through all three: the majority elects a
// leader and goes on; the node cut off acknowledges nothing it cannot keep.
// After the partition heals every acknowledged record is on every node.
func TestCluster_PartitionedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	t.Setenv("SLUICE_FAULT_INJECTION", "1")
	bin := build(t)
	c := startCluster(t, bin, 3, "--quotas", "unlimited", "--election-timeout", "1s")
	ctx := context.Background()
	const stream = "partitioned"
	if _, err := clusterClient(c.http[1]).CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	lead := c.leaderOfMost(1)
	if lead == 0 {
		t.Fatal("the shard has no leader")
	}
	var others []uint64
	for _, id := range c.ids {
		if id != lead {
			others = append(others, id)
		}
	}
	var (
		mu     sync.Mutex
		acked  []clusterAck
		byNode = map[uint64]int{}
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, id := range c.ids {
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			cl := clusterClient(c.http[id])
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := fmt.Sprintf("n%d-%d", id, i)
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				out, err := cl.PutRecord(cctx, &sdk.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(d), Data: []byte(d)})
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, clusterAck{shard: aws.ToString(out.ShardId), seq: aws.ToString(out.SequenceNumber), data: d})
					byNode[id]++
					mu.Unlock()
				}
			}
		}(id)
	}
	count := func(id uint64) int {
		mu.Lock()
		defer mu.Unlock()
		return byNode[id]
	}
	if !pollUntil(30*time.Second, func() bool { return count(others[0]) > 50 }) {
		t.Fatal("no puts acknowledged before the partition")
	}
	c.faults(lead, others, nil)
	atCut := count(lead)
	before := [2]int{count(others[0]), count(others[1])}
	if !pollUntil(30*time.Second, func() bool { return count(others[0]) > before[0]+50 && count(others[1]) > before[1]+50 }) {
		t.Fatal("the majority side acknowledged no puts within 30 s of the partition")
	}
	cut := count(lead)
	c.faults(lead, nil, others)
	if !pollUntil(30*time.Second, func() bool { return count(lead) > cut+50 }) {
		t.Fatal("the node that was cut off acknowledged no puts within 30 s of the partition healing")
	}
	close(stop)
	wg.Wait()
	t.Logf("%d records acknowledged; through the node cut off, %d while it was cut off (puts sent before the cut)", len(acked), cut-atCut)
	checkReplicas(t, c, stream, acked)
}
