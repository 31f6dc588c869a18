package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/checksum"
	"github.com/sluicedb/sluice/ratelimit"
)

// tunedNodes is testNodes whose engines get options of the test's own (a
// clock, a key service).
type tunedNodes struct {
	*testNodes
	tune func(id uint64, o *engine.Options)
}

func startTunedNodes(t testing.TB, n int, tune func(id uint64, o *engine.Options)) *tunedNodes {
	t.Helper()
	c := &tunedNodes{testNodes: &testNodes{t: t, peers: map[uint64]string{}, dirs: map[uint64]string{},
		nodes: map[uint64]*Node{}, engs: map[uint64]*engine.Engine{}}, tune: tune}
	base := t.TempDir()
	for i := 1; i <= n; i++ {
		c.peers[uint64(i)] = freeAddr(t)
		c.dirs[uint64(i)] = filepath.Join(base, fmt.Sprint(i))
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
		c.waitKey(id)
	}
	return c
}

// start starts node id.
func (c *tunedNodes) start(id uint64) {
	c.t.Helper()
	nd, err := Open(Config{NodeID: id, Peers: c.peers, DataDir: c.dirs[id], TickInterval: 20 * time.Millisecond,
		ElectionTimeout: 200 * time.Millisecond, Logger: quiet()})
	if err != nil {
		c.t.Fatal(err)
	}
	q := ratelimit.Unlimited
	o := engine.Options{Dir: c.dirs[id], Quotas: &q, Replica: nd, Logger: quiet()}
	if c.tune != nil {
		c.tune(id, &o)
	}
	eng, err := engine.Open(o)
	if err != nil {
		nd.Close()
		c.t.Fatal(err)
	}
	if err := nd.Start(eng, NodeInfo{}); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id], c.engs[id] = nd, eng
}

func (c *tunedNodes) waitKey(id uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.nodes[id].IteratorKey(ctx); err != nil {
		c.t.Fatalf("node %d: %v", id, err)
	}
}

// barrier makes node id apply every catalog change committed so far: a
// change proposed through a node returns once that node applied it, and
// the node applies changes in order.
func (c *testNodes) barrier(stream string, ids ...uint64) {
	c.t.Helper()
	for _, id := range ids {
		if err := retried0(func() error { return c.engs[id].AddTags(stream, map[string]string{"barrier": fmt.Sprint(id)}) }); err != nil {
			c.t.Fatalf("barrier through node %d: %v", id, err)
		}
	}
}

// retried makes a call as a client would: again while it fails with a
// retryable error (a proposal forwarded to a leader and lost, a group with
// no leader yet), up to 50 times.
func retried[T any](f func() (T, error)) (T, error) {
	for try := 0; ; try++ {
		v, err := f()
		var ae *api.Error
		if err == nil || try == 50 || !errors.As(err, &ae) || ae.Code != api.CodeInternal {
			return v, err
		}
	}
}

func retried0(f func() error) error {
	_, err := retried(func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// testClock is a clock every node shares, moved by the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// groupView is what every node must agree on of a group: its settings,
// members with their last calls, and per shard its owner, epoch, move and
// checkpoint (lag and the counters since start are each node's own).
func groupView(t *testing.T, e *engine.Engine, stream, group string) string {
	t.Helper()
	info, err := e.DescribeGroup(stream, group)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "failover=%v created=%d\n", info.FailoverTime, info.Created.UnixNano())
	for _, m := range info.Members {
		fmt.Fprintf(&b, "member %s seen=%d leases=%d\n", m.Name, m.LastHeartbeat.UnixNano(), m.Leases)
	}
	for _, s := range info.Shards {
		fmt.Fprintf(&b, "%s owner=%q epoch=%d releasing=%v cp=%+v closed=%v waiting=%v\n",
			s.Shard, s.Owner, s.Epoch, s.Releasing, s.Checkpoint, s.Closed, s.Waiting)
	}
	return b.String()
}

// sameGroup asserts that every node describes the group alike, after each
// applied every change so far, and returns the view.
func (c *tunedNodes) sameGroup(t *testing.T, stream, group string) string {
	t.Helper()
	ids := c.ids()
	c.barrier(stream, ids...)
	want := groupView(t, c.engs[ids[0]], stream, group)
	for _, id := range ids[1:] {
		if got := groupView(t, c.engs[id], stream, group); got != want {
			t.Fatalf("node %d describes group %s as\n%s\nnode %d as\n%s", id, group, got, ids[0], want)
		}
	}
	return want
}

func (c *tunedNodes) ids() []uint64 {
	var ids []uint64
	for id := range c.engs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func startGroupCluster(t *testing.T, shards int) (*tunedNodes, *testClock) {
	clock := newTestClock()
	c := startTunedNodes(t, 3, func(_ uint64, o *engine.Options) { o.Now = clock.Now })
	if _, err := c.engs[1].CreateStream(api.CreateStreamInput{Name: "s", ShardCount: shards}); err != nil {
		t.Fatal(err)
	}
	c.barrier("s", 2, 3)
	return c, clock
}

func owners(a engine.GroupAssignment) []string {
	var out []string
	for _, l := range a.Leases {
		out = append(out, l.Shard)
	}
	return out
}

// Members joining through different nodes are balanced into one
// assignment that every node describes alike, and heartbeats through one
// node keep a member's leases on all of them.
func TestGroups_JoinThroughDifferentNodes(t *testing.T) {
	c, clock := startGroupCluster(t, 4)
	const fo = time.Second
	a, err := retried(func() (engine.GroupAssignment, error) {
		return c.engs[1].JoinGroup("s", "g", "a", engine.GroupOptions{FailoverTime: fo})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Leases) != 4 {
		t.Fatalf("the first member holds %v; want all 4 shards", owners(a))
	}
	if _, err := retried(func() (engine.GroupAssignment, error) {
		return c.engs[2].JoinGroup("s", "g", "b", engine.GroupOptions{})
	}); err != nil {
		t.Fatal(err)
	}
	c.sameGroup(t, "s", "g")
	// Each member heartbeats through its own node; a lease being moved
	// is taken back once its deadline (a failover time) passes.
	var la, lb engine.GroupAssignment
	for round := 0; round < 4; round++ {
		clock.Advance(fo / 2)
		if la, err = retried(func() (engine.GroupAssignment, error) { return c.engs[1].GroupHeartbeat("s", "g", "a") }); err != nil {
			t.Fatal(err)
		}
		if lb, err = retried(func() (engine.GroupAssignment, error) { return c.engs[3].GroupHeartbeat("s", "g", "b") }); err != nil {
			t.Fatal(err)
		}
		clock.Advance(fo/2 + time.Millisecond)
		if la, err = retried(func() (engine.GroupAssignment, error) { return c.engs[1].GroupHeartbeat("s", "g", "a") }); err != nil {
			t.Fatal(err)
		}
		if lb, err = retried(func() (engine.GroupAssignment, error) { return c.engs[3].GroupHeartbeat("s", "g", "b") }); err != nil {
			t.Fatal(err)
		}
	}
	if len(la.Leases) != 2 || len(lb.Leases) != 2 {
		t.Fatalf("after balancing a holds %v and b %v; want 2 each", owners(la), owners(lb))
	}
	view := c.sameGroup(t, "s", "g")
	for _, l := range la.Leases {
		if !strings.Contains(view, fmt.Sprintf("%s owner=%q epoch=%d", l.Shard, "a", l.Epoch)) {
			t.Fatalf("a's lease %s at epoch %d is not in the group as the nodes describe it:\n%s", l.Shard, l.Epoch, view)
		}
	}
	// Heartbeats of both through node 2 for many failover times keep
	// every lease where it is, at the same epoch, on every node.
	for i := 0; i < 10; i++ {
		clock.Advance(fo / 2)
		if _, err := retried(func() (engine.GroupAssignment, error) { return c.engs[2].GroupHeartbeat("s", "g", "a") }); err != nil {
			t.Fatal(err)
		}
		if _, err := retried(func() (engine.GroupAssignment, error) { return c.engs[2].GroupHeartbeat("s", "g", "b") }); err != nil {
			t.Fatal(err)
		}
	}
	after := c.sameGroup(t, "s", "g")
	if strip(after) != strip(view) {
		t.Fatalf("heartbeats moved leases:\nbefore\n%s\nafter\n%s", view, after)
	}
	// The lists agree too.
	for _, id := range c.ids() {
		groups, err := c.engs[id].ListGroups("s")
		if err != nil || len(groups) != 1 || groups[0] != "g" {
			t.Fatalf("node %d lists groups %v, %v", id, groups, err)
		}
	}
}

// strip drops the members' last calls from a view.
func strip(view string) string {
	var out []string
	for _, line := range strings.Split(view, "\n") {
		if i := strings.Index(line, " seen="); i >= 0 {
			line = line[:i] + line[strings.Index(line, " leases="):]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// A member that stops heartbeating loses its shards on every node once its
// failover time has passed by the clock of the change that finds it.
func TestGroups_SilentMemberLosesShardsEverywhere(t *testing.T) {
	c, clock := startGroupCluster(t, 3)
	const fo = time.Second
	if _, err := retried(func() (engine.GroupAssignment, error) {
		return c.engs[1].JoinGroup("s", "g", "a", engine.GroupOptions{FailoverTime: fo})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := retried(func() (engine.GroupAssignment, error) {
		return c.engs[2].JoinGroup("s", "g", "b", engine.GroupOptions{})
	}); err != nil {
		t.Fatal(err)
	}
	// a goes silent; b keeps calling, through node 3, past a's failover.
	clock.Advance(fo / 2)
	if _, err := retried(func() (engine.GroupAssignment, error) { return c.engs[3].GroupHeartbeat("s", "g", "b") }); err != nil {
		t.Fatal(err)
	}
	clock.Advance(fo/2 + time.Millisecond)
	b, err := retried(func() (engine.GroupAssignment, error) { return c.engs[3].GroupHeartbeat("s", "g", "b") })
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Leases) != 3 {
		t.Fatalf("b holds %v after a went silent; want all 3 shards", owners(b))
	}
	view := c.sameGroup(t, "s", "g")
	if strings.Contains(view, "member a ") || strings.Contains(view, `owner="a"`) {
		t.Fatalf("a is still in the group after its failover time:\n%s", view)
	}
	// a's late checkpoint is fenced, through any node.
	for _, id := range c.ids() {
		err := retried0(func() error {
			return c.engs[id].CheckpointGroup("s", "g", engine.GroupCheckpointInput{Member: "a", Shard: api.ShardID(0), Epoch: 1, Release: true})
		})
		if !errors.Is(err, &api.Error{Code: api.CodeResourceInUse}) || !strings.Contains(err.Error(), "lease lost") {
			t.Fatalf("a's checkpoint through node %d after it lost its leases: %v; want lease lost", id, err)
		}
	}
	// a comes back through node 2 and gets shards again, the same on all.
	clock.Advance(time.Millisecond)
	back, err := retried(func() (engine.GroupAssignment, error) { return c.engs[2].GroupHeartbeat("s", "g", "a") })
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Leases) != 0 {
		t.Fatalf("a back holds %v at once; b holds them until it releases one", owners(back))
	}
	view = c.sameGroup(t, "s", "g")
	if !strings.Contains(view, "releasing=true") {
		t.Fatalf("no lease is moving to a, back in the group:\n%s", view)
	}
}

// put puts one record through e and returns its sequence number.
func put(t *testing.T, e *engine.Engine, stream, key, data string) api.PutResult {
	t.Helper()
	r, err := e.PutRecord(stream, api.PutRecord{Key: []byte(key), Data: []byte(data)}, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A checkpoint made through one node reads back through every other, in
// heartbeats and descriptions; one that would move back or comes from a
// stale epoch is refused the same way through any node.
func TestGroups_CheckpointThroughOneNodeReadsBackFromAnother(t *testing.T) {
	c, clock := startGroupCluster(t, 1)
	var last api.PutResult
	for i := 0; i < 5; i++ {
		last = put(t, c.engs[1], "s", "k", fmt.Sprint("r", i))
	}
	a, err := retried(func() (engine.GroupAssignment, error) {
		return c.engs[1].JoinGroup("s", "g", "a", engine.GroupOptions{})
	})
	if err != nil {
		t.Fatal(err)
	}
	lease := a.Leases[0]
	// Through node 3, which may not hold the records yet: the checkpoint
	// waits for them there rather than refusing a record it lacks.
	cp := engine.GroupCheckpoint{Seq: last.Seq.String(), Whole: true}
	if err := retried0(func() error {
		return c.engs[3].CheckpointGroup("s", "g", engine.GroupCheckpointInput{Member: "a", Shard: lease.Shard, Epoch: lease.Epoch, Checkpoint: cp})
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	hb, err := retried(func() (engine.GroupAssignment, error) { return c.engs[2].GroupHeartbeat("s", "g", "a") })
	if err != nil {
		t.Fatal(err)
	}
	if len(hb.Leases) != 1 || hb.Leases[0].Checkpoint != cp || hb.Leases[0].Epoch != lease.Epoch {
		t.Fatalf("heartbeat through node 2 gives %+v; want the lease at epoch %d with checkpoint %+v", hb.Leases, lease.Epoch, cp)
	}
	view := c.sameGroup(t, "s", "g")
	if !strings.Contains(view, fmt.Sprintf("cp=%+v", cp)) {
		t.Fatalf("the nodes describe the group without the checkpoint %+v:\n%s", cp, view)
	}
	for _, id := range c.ids() {
		info, err := c.engs[id].DescribeGroup("s", "g")
		if err != nil {
			t.Fatal(err)
		}
		if lag := info.Shards[0].LagRecords; lag != 0 {
			t.Fatalf("node %d says the group lags %d records after checkpointing the last", id, lag)
		}
	}
	back := engine.GroupCheckpoint{Seq: api.SeqNum{Incarnation: last.Seq.Incarnation, Shard: last.Seq.Shard, Seq: last.Seq.Seq - 2}.String(), Whole: true}
	for _, id := range c.ids() {
		err := retried0(func() error {
			return c.engs[id].CheckpointGroup("s", "g", engine.GroupCheckpointInput{Member: "a", Shard: lease.Shard, Epoch: lease.Epoch, Checkpoint: back})
		})
		if !errors.Is(err, api.ErrInvalidArgument) || !strings.Contains(err.Error(), "move back") {
			t.Fatalf("a checkpoint moving back through node %d: %v; want it refused", id, err)
		}
		err = retried0(func() error {
			return c.engs[id].CheckpointGroup("s", "g", engine.GroupCheckpointInput{Member: "a", Shard: lease.Shard, Epoch: lease.Epoch + 1, Checkpoint: cp})
		})
		if !errors.Is(err, &api.Error{Code: api.CodeResourceInUse}) {
			t.Fatalf("a checkpoint at a stale epoch through node %d: %v; want lease lost", id, err)
		}
	}
	// A reset to the shard's start through node 3 takes the lease back
	// and clears the checkpoint on every node.
	if err := retried0(func() error { return c.engs[3].ResetGroup("s", "g", engine.GroupReset{To: api.TrimHorizon}) }); err != nil {
		t.Fatal(err)
	}
	view = c.sameGroup(t, "s", "g")
	if !strings.Contains(view, fmt.Sprintf("cp=%+v", engine.GroupCheckpoint{})) || !strings.Contains(view, fmt.Sprintf("epoch=%d", lease.Epoch+1)) {
		t.Fatalf("after a reset the nodes describe\n%s\nwant the checkpoint cleared and the lease at epoch %d", view, lease.Epoch+1)
	}
	// A group that starts at the latest records starts at the tip the
	// proposer saw, on every node.
	c.waitSame("s", 5)
	if _, err := retried(func() (engine.GroupAssignment, error) {
		return c.engs[2].JoinGroup("s", "late", "x", engine.GroupOptions{StartAtLatest: true})
	}); err != nil {
		t.Fatal(err)
	}
	view = c.sameGroup(t, "s", "late")
	if !strings.Contains(view, fmt.Sprintf("cp=%+v", cp)) {
		t.Fatalf("a group started at the latest records is described as\n%s\nwant it at %+v", view, cp)
	}
	if err := retried0(func() error { return c.engs[1].DeleteGroup("s", "late") }); err != nil {
		t.Fatal(err)
	}
	c.barrier("s", c.ids()...)
	for _, id := range c.ids() {
		if _, err := c.engs[id].DescribeGroup("s", "late"); !errors.Is(err, &api.Error{Code: api.CodeResourceNotFound}) {
			t.Fatalf("node %d describes a deleted group: %v", id, err)
		}
	}
}

// setApplied rewrites the catalog of a stopped node to say it applied the
// catalog's changes up to index only: a node that stopped after writing a
// change's effects but before recording it as applied.
func setApplied(t *testing.T, dir string, index uint64) {
	t.Helper()
	path := filepath.Join(dir, "catalog.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		CRC uint32          `json:"crc"`
		Doc json.RawMessage `json:"doc"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(env.Doc, &doc); err != nil {
		t.Fatal(err)
	}
	doc["applied"] = json.RawMessage(fmt.Sprint(index))
	if env.Doc, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	env.CRC = checksum.Mask(checksum.Value(env.Doc))
	if b, err = json.Marshal(env); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A node restarted keeps its groups as every other node holds them: the
// changes it applied before it stopped come back from its group log and
// are not applied again, even those its catalog had not yet recorded as
// applied (a reset applied twice would move every lease's epoch once
// more), and those it missed while down are applied when it is back.
func TestGroups_RestartedNodeKeepsGroupsWithoutReapplying(t *testing.T) {
	c, clock := startGroupCluster(t, 3)
	for i := 0; i < 3; i++ {
		put(t, c.engs[1], "s", fmt.Sprint("k", i), "r")
	}
	mark := c.engs[3].AppliedChange()
	a, err := retried(func() (engine.GroupAssignment, error) {
		return c.engs[1].JoinGroup("s", "g", "a", engine.GroupOptions{FailoverTime: 2 * time.Second})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := retried(func() (engine.GroupAssignment, error) {
		return c.engs[2].JoinGroup("s", "g", "b", engine.GroupOptions{})
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	c.waitSame("s", 3)
	if err := retried0(func() error { return c.engs[3].ResetGroup("s", "g", engine.GroupReset{To: api.Latest}) }); err != nil {
		t.Fatal(err)
	}
	if a, err = retried(func() (engine.GroupAssignment, error) { return c.engs[1].GroupHeartbeat("s", "g", "a") }); err != nil {
		t.Fatal(err)
	}
	// c joins: a lease starts moving to it, which node 3 keeps too.
	if _, err := retried(func() (engine.GroupAssignment, error) {
		return c.engs[3].JoinGroup("s", "g", "c", engine.GroupOptions{})
	}); err != nil {
		t.Fatal(err)
	}
	before := c.sameGroup(t, "s", "g")
	if !strings.Contains(before, "releasing=true") {
		t.Fatalf("no lease is moving to a new member:\n%s", before)
	}
	if !strings.Contains(before, "Whole:true") {
		t.Fatalf("a reset to the latest records left no checkpoint at the tip:\n%s", before)
	}
	c.stop(3)
	setApplied(t, c.dirs[3], mark)
	c.barrier("s", 1)
	// Changes node 3 misses while it is down.
	clock.Advance(time.Second)
	for _, l := range a.Leases {
		// A release retried after its outcome was lost finds the lease
		// released.
		in := engine.GroupCheckpointInput{Member: "a", Shard: l.Shard, Epoch: l.Epoch, Release: true}
		for try := 0; ; try++ {
			err := c.engs[2].CheckpointGroup("s", "g", in)
			if err == nil || try > 0 && errors.Is(err, &api.Error{Code: api.CodeResourceInUse}) {
				break
			}
			if !errors.Is(err, &api.Error{Code: api.CodeInternal}) || try == 50 {
				t.Fatal(err)
			}
		}
	}
	if _, err := retried(func() (engine.GroupAssignment, error) { return c.engs[1].GroupHeartbeat("s", "g", "b") }); err != nil {
		t.Fatal(err)
	}
	// The node comes back later than the last call of any member: it
	// must not take its own clock for theirs.
	clock.Advance(500 * time.Millisecond)
	c.start(3)
	after := c.sameGroup(t, "s", "g")
	if after == before {
		t.Fatalf("the changes made while node 3 was down changed nothing:\n%s", after)
	}
	// And once more with node 3 restarted cleanly.
	c.stop(3)
	clock.Advance(500 * time.Millisecond)
	c.start(3)
	if again := c.sameGroup(t, "s", "g"); again != after {
		t.Fatalf("after a clean restart the groups are\n%s\nwant\n%s", again, after)
	}
}

// BenchmarkGroups_Heartbeat is one member's heartbeat of a group over 4
// shards: on a single engine (the baseline, same run) and through node 2 of
// three nodes in this process, where each is a controller commit applied,
// and synced, on every node.
func BenchmarkGroups_Heartbeat(b *testing.B) {
	run := func(b *testing.B, e *engine.Engine) {
		if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 4}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.JoinGroup("s", "g", "a", engine.GroupOptions{}); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := retried(func() (engine.GroupAssignment, error) { return e.GroupHeartbeat("s", "g", "a") }); err != nil {
				b.Fatal(err)
			}
		}
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
		c := startTunedNodes(b, 3, nil)
		run(b, c.engs[2])
	})
}
