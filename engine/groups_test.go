package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/ratelimit"
)

func openGroupEngine(t *testing.T, clk *testClock) *Engine {
	t.Helper()
	return openTest(t, func(o *Options) { o.Now = clk.now })
}

func join(t *testing.T, e *Engine, stream, group, member string) GroupAssignment {
	t.Helper()
	a, err := e.JoinGroup(stream, group, member, GroupOptions{FailoverTime: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func beat(t *testing.T, e *Engine, stream, group, member string) GroupAssignment {
	t.Helper()
	a, err := e.GroupHeartbeat(stream, group, member)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// owners maps each leased shard to its owner and epoch, failing the test
// if two members hold one shard.
func owners(t *testing.T, as map[string]GroupAssignment) map[string]GroupLease {
	t.Helper()
	out := map[string]GroupLease{}
	who := map[string]string{}
	for m, a := range as {
		for _, l := range a.Leases {
			if prev, ok := who[l.Shard]; ok {
				t.Fatalf("%s is leased to both %s and %s", l.Shard, prev, m)
			}
			who[l.Shard] = m
			out[l.Shard] = l
		}
	}
	return out
}

// settle runs heartbeats, releasing every lease a member is asked to give
// up (as a well-behaved member does), until nothing moves.
func settle(t *testing.T, e *Engine, stream, group string, members ...string) map[string]GroupAssignment {
	t.Helper()
	as := map[string]GroupAssignment{}
	for range 50 {
		moved := false
		for _, m := range members {
			a := beat(t, e, stream, group, m)
			for _, l := range a.Leases {
				if l.Release {
					if err := e.CheckpointGroup(stream, group, GroupCheckpointInput{Member: m, Shard: l.Shard, Epoch: l.Epoch,
						Checkpoint: l.Checkpoint, Release: true}); err != nil {
						t.Fatal(err)
					}
					moved = true
				}
			}
			as[m] = a
		}
		if !moved {
			for _, m := range members {
				as[m] = beat(t, e, stream, group, m)
			}
			owners(t, as)
			return as
		}
	}
	t.Fatal("the leases did not settle in 50 rounds")
	return nil
}

func TestGroups_BalanceHandoffAndFailover(t *testing.T) {
	clk := newTestClock()
	e := openGroupEngine(t, clk)
	mustCreate(t, e, "s", 8)
	a := join(t, e, "s", "g", "a")
	if len(a.Leases) != 8 {
		t.Fatalf("the only member holds %d leases; want all 8", len(a.Leases))
	}
	for _, l := range a.Leases {
		if l.Epoch != 1 {
			t.Fatalf("first lease of %s at epoch %d; want 1", l.Shard, l.Epoch)
		}
	}
	// b joins: a is asked to hand over one lease at a time, never two
	// owners at once, until 4 and 4.
	join(t, e, "s", "g", "b")
	ra := beat(t, e, "s", "g", "a")
	asked := 0
	for _, l := range ra.Leases {
		if l.Release {
			asked++
		}
	}
	if asked != 1 {
		t.Fatalf("a is asked to release %d leases at once; want 1", asked)
	}
	join(t, e, "s", "g", "c")
	as := settle(t, e, "s", "g", "a", "b", "c")
	for m, a := range as {
		if n := len(a.Leases); n < 2 || n > 3 {
			t.Fatalf("%s holds %d leases of 8 among 3 members; want 2 or 3", m, n)
		}
	}
	// Settled leases stay put: no flapping.
	before := owners(t, as)
	again := settle(t, e, "s", "g", "a", "b", "c")
	for shard, l := range owners(t, again) {
		if before[shard].Epoch != l.Epoch {
			t.Fatalf("%s moved (epoch %d to %d) with nothing changed", shard, before[shard].Epoch, l.Epoch)
		}
	}

	// c checkpoints a record, then dies. Within the failover time nobody
	// takes its leases; after it, a and b do, at a new epoch, from c's
	// checkpoint, and c's late checkpoint is refused.
	cl := again["c"].Leases[0]
	idx, _ := api.ParseShardID(cl.Shard)
	r, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte("v"), ExplicitHash: shardStart(t, e, "s", idx), HasExplicitHash: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	cp := GroupCheckpoint{Seq: r.Seq.String(), Whole: true}
	if err := e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "c", Shard: cl.Shard, Epoch: cl.Epoch, Checkpoint: cp}); err != nil {
		t.Fatal(err)
	}
	clk.advance(9 * time.Second)
	as = map[string]GroupAssignment{"a": beat(t, e, "s", "g", "a"), "b": beat(t, e, "s", "g", "b")}
	if got := len(as["a"].Leases) + len(as["b"].Leases); got == 8 {
		t.Fatal("c's leases were taken before its failover time passed")
	}
	clk.advance(2 * time.Second)
	as = map[string]GroupAssignment{"a": beat(t, e, "s", "g", "a"), "b": beat(t, e, "s", "g", "b")}
	now := owners(t, as)
	if len(now) != 8 {
		t.Fatalf("%d shards leased after c expired; want 8", len(now))
	}
	got := now[cl.Shard]
	if got.Epoch != cl.Epoch+1 || got.Checkpoint != cp {
		t.Fatalf("c's shard taken over at epoch %d from %+v; want epoch %d from %+v", got.Epoch, got.Checkpoint, cl.Epoch+1, cp)
	}
	err = e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "c", Shard: cl.Shard, Epoch: cl.Epoch, Checkpoint: cp})
	if !errors.Is(err, api.ErrInUse) {
		t.Fatalf("stale owner's checkpoint: %v; want ResourceInUseException", err)
	}
	info, err := e.DescribeGroup("s", "g")
	if err != nil {
		t.Fatal(err)
	}
	if info.FencedCheckpoints != 1 || info.LeaseMoves == 0 {
		t.Fatalf("fenced %d, moves %d; want 1 fenced and some moves", info.FencedCheckpoints, info.LeaseMoves)
	}
}

// shardStart is the first hash key of shard idx of stream.
func shardStart(t *testing.T, e *Engine, stream string, idx int) api.HashKey {
	t.Helper()
	si, err := e.DescribeStream(stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range si.Shards {
		if s.Index == idx {
			return s.HashStart
		}
	}
	t.Fatalf("no shard %d", idx)
	return api.HashKey{}
}

func TestGroups_LeaveHandsOverAtOnce(t *testing.T) {
	clk := newTestClock()
	e := openGroupEngine(t, clk)
	mustCreate(t, e, "s", 4)
	join(t, e, "s", "g", "a")
	join(t, e, "s", "g", "b")
	as := settle(t, e, "s", "g", "a", "b")
	if len(as["a"].Leases) != 2 {
		t.Fatalf("a holds %d of 4; want 2", len(as["a"].Leases))
	}
	for _, l := range as["b"].Leases {
		if err := e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "b", Shard: l.Shard, Epoch: l.Epoch}); err == nil {
			t.Fatal("a checkpoint with neither a sequence number nor SHARD_END was accepted")
		}
	}
	if err := e.LeaveGroup("s", "g", "b"); err != nil {
		t.Fatal(err)
	}
	if a := beat(t, e, "s", "g", "a"); len(a.Leases) != 4 {
		t.Fatalf("a holds %d after b left; want 4 at once", len(a.Leases))
	}
}

func TestGroups_ParentBeforeChild(t *testing.T) {
	clk := newTestClock()
	e := openGroupEngine(t, clk)
	mustCreate(t, e, "s", 2)
	put(t, e, "s", "x", "1")
	a := join(t, e, "s", "g", "a")
	if len(a.Leases) != 2 {
		t.Fatalf("%d leases; want 2", len(a.Leases))
	}
	mid, _ := shardStart(t, e, "s", 0).Add(api.HashKey{Lo: 1 << 20})
	if err := e.SplitShard("s", api.ShardID(0), mid); err != nil {
		t.Fatal(err)
	}
	a = beat(t, e, "s", "g", "a")
	for _, l := range a.Leases {
		if l.Shard != api.ShardID(0) && l.Shard != api.ShardID(1) {
			t.Fatalf("child %s leased before its parent finished", l.Shard)
		}
	}
	// A SHARD_END checkpoint of the open shard is refused.
	if err := e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "a", Shard: api.ShardID(1), Epoch: 1,
		Checkpoint: GroupCheckpoint{ShardEnd: true}}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("SHARD_END of an open shard: %v; want InvalidArgumentException", err)
	}
	if err := e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "a", Shard: api.ShardID(0), Epoch: 1,
		Checkpoint: GroupCheckpoint{ShardEnd: true}}); err != nil {
		t.Fatal(err)
	}
	a = beat(t, e, "s", "g", "a")
	got := map[string]GroupLease{}
	for _, l := range a.Leases {
		got[l.Shard] = l
	}
	if _, ok := got[api.ShardID(0)]; ok || len(got) != 3 {
		t.Fatalf("leases after the parent finished: %v; want shard 1 and both children", a.Leases)
	}
	for _, c := range []string{api.ShardID(2), api.ShardID(3)} {
		if l, ok := got[c]; !ok || l.Checkpoint != (GroupCheckpoint{}) {
			t.Fatalf("child %s: %+v; want leased from its first record", c, l)
		}
	}
	// Merge the two children: their child waits for both.
	if err := e.MergeShards("s", api.ShardID(2), api.ShardID(3)); err != nil {
		t.Fatal(err)
	}
	if err := e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "a", Shard: api.ShardID(2), Epoch: got[api.ShardID(2)].Epoch,
		Checkpoint: GroupCheckpoint{ShardEnd: true}}); err != nil {
		t.Fatal(err)
	}
	for _, l := range beat(t, e, "s", "g", "a").Leases {
		if l.Shard == api.ShardID(4) {
			t.Fatal("merged child leased with one of its parents unfinished")
		}
	}
	if err := e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "a", Shard: api.ShardID(3), Epoch: got[api.ShardID(3)].Epoch,
		Checkpoint: GroupCheckpoint{ShardEnd: true}}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range beat(t, e, "s", "g", "a").Leases {
		found = found || l.Shard == api.ShardID(4)
	}
	if !found {
		t.Fatal("merged child not leased after both parents finished")
	}
}

func TestGroups_CheckpointNeverBackwardsButReset(t *testing.T) {
	clk := newTestClock()
	e := openGroupEngine(t, clk)
	mustCreate(t, e, "s", 1)
	var rs []api.PutResult
	for i := range 5 {
		rs = append(rs, put(t, e, "s", "k", fmt.Sprint(i)))
	}
	l := join(t, e, "s", "g", "a").Leases[0]
	cp := func(c GroupCheckpoint) error {
		return e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "a", Shard: l.Shard, Epoch: l.Epoch, Checkpoint: c})
	}
	if err := cp(GroupCheckpoint{Seq: rs[3].Seq.String(), SubSeq: 2}); err != nil {
		t.Fatal(err)
	}
	for _, back := range []GroupCheckpoint{{Seq: rs[2].Seq.String(), Whole: true}, {Seq: rs[3].Seq.String(), SubSeq: 1}} {
		if err := cp(back); !errors.Is(err, api.ErrInvalidArgument) {
			t.Fatalf("checkpoint back to %+v: %v; want InvalidArgumentException", back, err)
		}
	}
	if err := cp(GroupCheckpoint{Seq: rs[3].Seq.String(), Whole: true}); err != nil {
		t.Fatalf("whole record after its sub-record 2: %v", err)
	}
	beyond := rs[4].Seq
	beyond.Seq++
	if err := cp(GroupCheckpoint{Seq: beyond.String(), Whole: true}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("checkpoint beyond the last record: %v; want InvalidArgumentException", err)
	}
	// An operator reset moves it back and takes the lease away.
	if err := e.ResetGroup("s", "g", GroupReset{To: api.AtSequenceNumber, Seq: rs[1].Seq.String()}); err != nil {
		t.Fatal(err)
	}
	if err := cp(GroupCheckpoint{Seq: rs[4].Seq.String(), Whole: true}); !errors.Is(err, api.ErrInUse) {
		t.Fatalf("checkpoint at the epoch before a reset: %v; want ResourceInUseException", err)
	}
	nl := beat(t, e, "s", "g", "a").Leases[0]
	if nl.Epoch != l.Epoch+1 || nl.Checkpoint != (GroupCheckpoint{Seq: rs[0].Seq.String(), Whole: true}) {
		t.Fatalf("after reset to record 1: %+v; want epoch %d resuming after record 0", nl, l.Epoch+1)
	}
	info, err := e.DescribeGroup("s", "g")
	if err != nil {
		t.Fatal(err)
	}
	if s := info.Shards[0]; s.LagRecords != 4 || s.Owner != "a" {
		t.Fatalf("describe: %+v; want a owning with 4 records of lag", s)
	}
	if err := e.ResetGroup("s", "g", GroupReset{To: api.Latest}); err != nil {
		t.Fatal(err)
	}
	if info, _ = e.DescribeGroup("s", "g"); info.Shards[0].LagRecords != 0 {
		t.Fatalf("lag after reset to latest: %d; want 0", info.Shards[0].LagRecords)
	}
	if err := e.ResetGroup("s", "g", GroupReset{To: api.TrimHorizon}); err != nil {
		t.Fatal(err)
	}
	if info, _ = e.DescribeGroup("s", "g"); info.Shards[0].LagRecords != 5 {
		t.Fatalf("lag after reset to trim horizon: %d; want 5", info.Shards[0].LagRecords)
	}
	if err := e.DeleteGroup("s", "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GroupHeartbeat("s", "g", "a"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("heartbeat to a deleted group: %v; want ResourceNotFoundException", err)
	}
}

// TestGroups_CheckpointsSurvivePowerCut: an acknowledged checkpoint and the
// lease epochs are back after a power cut, and epochs keep growing.
func TestGroups_CheckpointsSurvivePowerCut(t *testing.T) {
	requireSingleNode(t, "a power cut of the single node's in-memory file system")
	mem := vfs.NewMem()
	clk := newTestClock()
	q := ratelimit.Unlimited
	opts := Options{Dir: "/data", FS: mem, Quotas: &q, Now: clk.now, Logger: quietLogger(), RetentionInterval: time.Hour}
	e, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, "s", 2)
	r := put(t, e, "s", "k", "v")
	a := join(t, e, "s", "g", "a")
	var l GroupLease
	for _, x := range a.Leases {
		if x.Shard == api.ShardID(int(r.Seq.Shard)) {
			l = x
		}
	}
	want := GroupCheckpoint{Seq: r.Seq.String(), Whole: true}
	if err := e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "a", Shard: l.Shard, Epoch: l.Epoch, Checkpoint: want}); err != nil {
		t.Fatal(err)
	}
	mem.Crash()
	e, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// The owner comes back within its failover time: same lease, same
	// epoch, its checkpoint.
	a = beat(t, e, "s", "g", "a")
	for _, x := range a.Leases {
		if x.Shard == l.Shard && (x.Epoch != l.Epoch || x.Checkpoint != want) {
			t.Fatalf("after the power cut: %+v; want epoch %d at %+v", x, l.Epoch, want)
		}
	}
	// Another member after a's expiry gets the next epoch, not epoch 1.
	clk.advance(11 * time.Second)
	b := join(t, e, "s", "g", "b")
	for _, x := range b.Leases {
		if x.Shard == l.Shard && x.Epoch != l.Epoch+1 {
			t.Fatalf("taken over at epoch %d after a restart; want %d", x.Epoch, l.Epoch+1)
		}
	}
	if len(b.Leases) != 2 {
		t.Fatalf("b holds %d leases; want both", len(b.Leases))
	}
}

func TestGroups_LogCompactsAndReplays(t *testing.T) {
	requireSingleNode(t, "the single node's consumer-group log file")
	dir := t.TempDir()
	clk := newTestClock()
	q := ratelimit.Unlimited
	opts := Options{Dir: dir, Quotas: &q, Now: clk.now, RetentionInterval: time.Hour}
	e, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	si := mustCreate(t, e, "s", 1)
	var last api.PutResult
	for i := range 200 {
		last = put(t, e, "s", "k", fmt.Sprint(i))
	}
	l := join(t, e, "s", "g", "a").Leases[0]
	n := 0
	for {
		// Alternate sub-records so that each checkpoint moves forward.
		n++
		c := GroupCheckpoint{Seq: last.Seq.String(), SubSeq: uint64(n)}
		if err := e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "a", Shard: l.Shard, Epoch: l.Epoch, Checkpoint: c}); err != nil {
			t.Fatal(err)
		}
		if n == 12000 {
			break
		}
	}
	path := filepath.Join(e.streamDir(si.Incarnation), groupLogName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > compactMinBytes+4096 {
		t.Fatalf("group log is %d bytes after %d checkpoints; want it compacted under %d", fi.Size(), n, compactMinBytes)
	}
	e.Close()
	e, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	info, err := e.DescribeGroup("s", "g")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Shards[0].Checkpoint; got.Seq != last.Seq.String() || got.SubSeq != uint64(n) {
		t.Fatalf("after compaction and reopen: %+v; want %s sub %d", got, last.Seq, n)
	}
}

func TestGroupLog_TornTailCut(t *testing.T) {
	dir := t.TempDir()
	var b []byte
	recs := []groupRecord{
		{Type: groupRecGroup, Group: "g", Failover: 10000, Created: 5},
		{Type: groupRecCheckpoint, Group: "g", Shard: 3, Kind: uint8(cpWhole), Seq: 77},
		{Type: groupRecLease, Group: "g", Shard: 3, Owner: "m", Epoch: 4},
	}
	for i := range recs {
		b = appendGroupFrame(b, &recs[i])
	}
	whole := len(b)
	b = append(b, appendGroupFrame(nil, &groupRecord{Type: groupRecDelete, Group: "g"})[:7]...)
	if err := os.WriteFile(filepath.Join(dir, groupLogName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var got []groupRecord
	l, err := openGroupLog(vfs.OS, dir, func(r groupRecord) { got = append(got, r) })
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if len(got) != 3 || got[2] != recs[2] {
		t.Fatalf("replayed %+v; want the 3 whole records", got)
	}
	if l.size != int64(whole) {
		t.Fatalf("log cut at %d; want %d", l.size, whole)
	}
	if fi, _ := os.Stat(filepath.Join(dir, groupLogName)); fi.Size() != int64(whole) {
		t.Fatalf("file is %d bytes; want the torn tail cut to %d", fi.Size(), whole)
	}
}

func TestGroups_DeletedStreamForgetsGroups(t *testing.T) {
	clk := newTestClock()
	e := openGroupEngine(t, clk)
	mustCreate(t, e, "s", 1)
	join(t, e, "s", "g", "a")
	if err := e.DeleteStream("s", false); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, "s", 1)
	if gs, err := e.ListGroups("s"); err != nil || len(gs) != 0 {
		t.Fatalf("groups of a recreated stream: %v %v; want none", gs, err)
	}
}

func TestGroups_BadNames(t *testing.T) {
	e := openGroupEngine(t, newTestClock())
	mustCreate(t, e, "s", 1)
	for _, c := range []struct{ group, member string }{{"", "a"}, {"g/x", "a"}, {"g", ""}, {"g", "a\nb"}} {
		if _, err := e.JoinGroup("s", c.group, c.member, GroupOptions{}); !errors.Is(err, api.ErrInvalidArgument) {
			t.Fatalf("join %q as %q: %v; want InvalidArgumentException", c.group, c.member, err)
		}
	}
	if _, err := e.JoinGroup("s", "g", "a", GroupOptions{FailoverTime: time.Millisecond}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("1 ms failover: %v; want InvalidArgumentException", err)
	}
}

// TestGroups_RetentionFreesChildrenAndDropsLeases: a parent shard removed
// by retention counts as finished (its children are leased without its
// SHARD_END checkpoint), and its lease and checkpoint are dropped.
func TestGroups_RetentionFreesChildrenAndDropsLeases(t *testing.T) {
	clk := newTestClock()
	e := openGroupEngine(t, clk)
	mustCreate(t, e, "s", 1)
	r := put(t, e, "s", "k", "v")
	l := join(t, e, "s", "g", "a").Leases[0]
	if err := e.CheckpointGroup("s", "g", GroupCheckpointInput{Member: "a", Shard: l.Shard, Epoch: l.Epoch,
		Checkpoint: GroupCheckpoint{Seq: r.Seq.String(), Whole: true}}); err != nil {
		t.Fatal(err)
	}
	mid, _ := shardStart(t, e, "s", 0).Add(api.HashKey{Hi: 1 << 62})
	if err := e.SplitShard("s", api.ShardID(0), mid); err != nil {
		t.Fatal(err)
	}
	if a := beat(t, e, "s", "g", "a"); len(a.Leases) != 1 || a.Leases[0].Shard != api.ShardID(0) {
		t.Fatalf("leases before retention: %+v; want the parent only", a.Leases)
	}
	clk.advance(25 * time.Hour)
	e.ExpireNow()
	if si, _ := e.DescribeStream("s"); len(si.Shards) != 2 {
		t.Fatalf("%d shards after retention; want the parent removed", len(si.Shards))
	}
	a := beat(t, e, "s", "g", "a")
	if len(a.Leases) != 2 || a.Leases[0].Shard != api.ShardID(1) || a.Leases[1].Shard != api.ShardID(2) {
		t.Fatalf("leases after the parent expired: %+v; want both children", a.Leases)
	}
	info, err := e.DescribeGroup("s", "g")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Shards {
		if s.Shard == api.ShardID(0) {
			t.Fatalf("the removed parent is still described: %+v", s)
		}
	}
}
