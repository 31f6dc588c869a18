package wireserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/kpl"
	"github.com/sluicedb/sluice/ratelimit"
)

// groupClock is a settable clock for the engine: group expiries move only
// when the test moves it.
type groupClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *groupClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *groupClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// delivery is one user record a member's handler saw.
type delivery struct {
	member string
	shard  string
	epoch  uint64
	seq    api.SeqNum
	sub    uint64
	order  int64 // global order of delivery
	cp     bool  // covered by a checkpoint the member completed
}

// groupLedger records every delivery of a test's members and checks, as
// they happen, that no two members process one shard at once and that each
// member sees a shard's records in order.
type groupLedger struct {
	t      *testing.T
	order  atomic.Int64
	mu     sync.Mutex        // guards everything below
	active map[string]string // shard → member in its handler
	epochs map[string]uint64 // shard → highest epoch seen in a handler
	last   map[string]delivery
	byData map[string][]*delivery
	want   map[string]bool // records acknowledged to producers
	grew   chan struct{}   // closed (and replaced) when want grows
	seen   chan struct{}   // signalled when a record is first delivered
	bad    []string
}

func newGroupLedger(t *testing.T) *groupLedger {
	return &groupLedger{t: t, active: map[string]string{}, epochs: map[string]uint64{}, last: map[string]delivery{},
		byData: map[string][]*delivery{}, want: map[string]bool{}, grew: make(chan struct{}), seen: make(chan struct{}, 1)}
}

func (l *groupLedger) failf(format string, args ...any) {
	l.bad = append(l.bad, fmt.Sprintf(format, args...))
}

// handler is the members' handler: it records the batch and checkpoints
// it, marking its records checkpointed only when the server accepted.
func (l *groupLedger) handler(member string) client.GroupHandler {
	return func(ctx context.Context, b *client.GroupBatch) error {
		l.mu.Lock()
		if other, ok := l.active[b.Shard]; ok {
			l.failf("%s and %s process %s at once", other, member, b.Shard)
		}
		l.active[b.Shard] = member
		if b.Epoch < l.epochs[b.Shard] {
			l.failf("%s processes %s at epoch %d after epoch %d was handed out", member, b.Shard, b.Epoch, l.epochs[b.Shard])
		}
		l.epochs[b.Shard] = b.Epoch
		var ds []*delivery
		for _, r := range b.Records {
			d := &delivery{member: member, shard: b.Shard, epoch: b.Epoch, seq: r.Seq, sub: r.SubSeq, order: l.order.Add(1)}
			key := member + "/" + b.Shard + "/" + fmt.Sprint(b.Epoch)
			if p, ok := l.last[key]; ok && (p.seq.Seq > r.Seq.Seq || p.seq.Seq == r.Seq.Seq && p.sub >= r.SubSeq) {
				l.failf("%s saw %s %v/%d after %v/%d", member, b.Shard, r.Seq, r.SubSeq, p.seq, p.sub)
			}
			l.last[key] = *d
			data := string(r.Data)
			if len(l.byData[data]) == 0 {
				select {
				case l.seen <- struct{}{}:
				default:
				}
			}
			l.byData[data] = append(l.byData[data], d)
			ds = append(ds, d)
		}
		l.mu.Unlock()
		err := b.Checkpoint(ctx)
		l.mu.Lock()
		delete(l.active, b.Shard)
		if err == nil {
			for _, d := range ds {
				d.cp = true
			}
		}
		l.mu.Unlock()
		if client.IsLeaseLost(err) {
			return nil
		}
		return err
	}
}

// waitAll waits until every acknowledged record was delivered.
func (l *groupLedger) waitAll(ctx context.Context) {
	l.t.Helper()
	for {
		l.mu.Lock()
		missing := 0
		for d := range l.want {
			if len(l.byData[d]) == 0 {
				missing++
			}
		}
		l.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-l.seen:
		case <-ctx.Done():
			l.t.Fatalf("%d acknowledged records never delivered", missing)
		}
	}
}

func (l *groupLedger) check() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.bad {
		l.t.Error(b)
	}
}

// waitBeat waits until the members' last heartbeats are at the clock's now.
func waitBeat(t *testing.T, eng *engine.Engine, clk *groupClock, members ...string) {
	t.Helper()
	waitFor(t, fmt.Sprint("heartbeats of ", members), groupChanges(t, eng), func() bool {
		info, err := eng.DescribeGroup("s", "g")
		if errors.Is(err, api.ErrNotFound) {
			return false // no member has joined yet
		}
		if err != nil {
			t.Fatal(err)
		}
		waitState = fmt.Sprintf("now %v, members %+v", clk.now(), info.Members)
		n := 0
		for _, m := range info.Members {
			for _, want := range members {
				if m.Name == want && !m.LastHeartbeat.Before(clk.now()) {
					n++
				}
			}
		}
		return n == len(members)
	})
}

// TestGroupConsumer_ThreeMembersEightShards: three members over eight
// shards with producers running, some records aggregated; a member
// joins late (graceful handoff), one dies (its shards are taken over after
// the failover time, from its checkpoints), the stream is split and merged
// while the group runs, and one member leaves. Every acknowledged record is
// delivered, no shard is processed by two members at once, each member
// sees a shard in order, duplicates are limited to what the dead member
// had not checkpointed, and children are read after their parents.
func TestGroupConsumer_ThreeMembersEightShards(t *testing.T) {
	clk := &groupClock{t: time.Unix(1_800_000_000, 0)}
	q := ratelimit.Unlimited
	env := newTestEnv(t, func(eo *engine.Options, _ *ServerOptions) { eo.Now = clk.now; eo.Quotas = &q })
	pc := env.dial(client.ClientOptions{})
	env.createStream(pc, "s", 8)
	ledger := newGroupLedger(t)
	// The members run for the whole test, which takes minutes on a loaded
	// machine under the race detector: their context must outlast it.
	ctx, cancelAll := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancelAll)

	type member struct {
		c      *client.Client
		cancel context.CancelFunc
		done   chan error
	}
	start := func(name string) *member {
		c := env.dial(client.ClientOptions{})
		gc, err := client.NewGroupConsumer(c, client.GroupConsumerOptions{Stream: "s", Group: "g", Member: name,
			FailoverTime: 10 * time.Second, ManualCheckpoint: true, HeartbeatInterval: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		mctx, cancel := context.WithCancel(ctx)
		m := &member{c: c, cancel: cancel, done: make(chan error, 1)}
		go func() {
			err := gc.Run(mctx, ledger.handler(name))
			if err != nil && name != "c" {
				t.Errorf("member %s: %v", name, err)
			}
			if ctx.Err() != nil {
				t.Errorf("member %s stopped: the test's context ran out", name)
			}
			m.done <- err
		}()
		return m
	}

	// Producers: plain records and KPL aggregates of three.
	var (
		pmu     sync.Mutex
		stopP   = make(chan struct{})
		pwg     sync.WaitGroup
		counter atomic.Int64
	)
	for p := range 4 {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopP:
					return
				default:
				}
				n := counter.Add(1)
				var data []byte
				var ids []string
				if p == 0 && i%2 == 0 {
					agg := kpl.NewAggregator(1 << 20)
					for j := range 3 {
						id := fmt.Sprintf("a%d-%d", n, j)
						ids = append(ids, id)
						if _, err := agg.Add(kpl.Record{PartitionKey: []byte(id), Data: []byte(id)}); err != nil {
							t.Error(err)
							return
						}
					}
					data = agg.Flush().Data
				} else {
					id := fmt.Sprintf("r%d", n)
					ids, data = []string{id}, []byte(id)
				}
				if _, err := pc.PutRecord(ctx, "s", api.PutRecord{Key: []byte(fmt.Sprint(n)), Data: data}); err != nil {
					if ctx.Err() == nil {
						t.Error(err)
					}
					return
				}
				pmu.Lock()
				ledger.mu.Lock()
				for _, id := range ids {
					ledger.want[id] = true
				}
				close(ledger.grew)
				ledger.grew = make(chan struct{})
				ledger.mu.Unlock()
				pmu.Unlock()
			}
		}()
	}

	a := start("a")
	b := start("b")
	waitBeat(t, env.eng, clk, "a", "b")
	c := start("c") // joins late: leases move to it one at a time
	waitFor(t, "c to hold leases", groupChanges(t, env.eng), func() bool {
		info, _ := env.eng.DescribeGroup("s", "g")
		waitState = fmt.Sprintf("%+v", info)

		for _, m := range info.Members {
			if m.Name == "c" && m.Leases >= 2 {
				return true
			}
		}
		return false
	})

	produced := func(n int) func() bool {
		return func() bool {
			ledger.mu.Lock()
			defer ledger.mu.Unlock()
			return len(ledger.want) >= n
		}
	}
	waitFor(t, "1,000 records", ledger.changes, produced(1000))

	// Reshard while the group runs.
	si, err := pc.DescribeStream(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	s0 := si.Shards[0]
	mid, _ := s0.HashStart.Add(api.HashKey{Hi: 1})
	if err := pc.SplitShard(ctx, "s", s0.ID, mid); err != nil {
		t.Fatal(err)
	}
	if err := pc.MergeShards(ctx, "s", si.Shards[3].ID, si.Shards[4].ID); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "2,000 records", ledger.changes, produced(2000))
	// c dies: its connection drops and it calls no more.
	c.c.Close()
	<-c.done
	// Move the clock 5 s at a time, each time after a and b called, until
	// c (whose last calls may still be landing) is dropped.
	waitFor(t, "a and b to hold every lease", groupChanges(t, env.eng), func() bool {
		clk.advance(5 * time.Second)
		waitBeat(t, env.eng, clk, "a", "b")
		info, _ := env.eng.DescribeGroup("s", "g")

		for _, s := range info.Shards {
			if s.Owner == "c" {
				return false
			}
		}
		return len(info.Members) == 2
	})

	waitFor(t, "3,000 records", ledger.changes, produced(3000))
	close(stopP)
	pwg.Wait()
	ledger.waitAll(ctx)

	// b leaves gracefully: a gets everything, nothing is delivered twice.
	ledger.mu.Lock()
	before := len(ledger.byData)
	ledger.mu.Unlock()
	b.cancel()
	if err := <-b.done; err != nil {
		t.Fatalf("b's Run: %v", err)
	}
	waitFor(t, "a to hold every open lease", groupChanges(t, env.eng), func() bool {
		info, _ := env.eng.DescribeGroup("s", "g")
		for _, s := range info.Shards {
			if !s.Waiting && s.Owner != "a" && !s.Checkpoint.ShardEnd {
				return false
			}
		}
		return true
	})
	a.cancel()
	if err := <-a.done; err != nil {
		t.Fatalf("a's Run: %v", err)
	}
	ledger.check()

	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	if len(ledger.byData) != before {
		t.Errorf("%d records appeared after the producers stopped and all were delivered", len(ledger.byData)-before)
	}
	dups := 0
	for data, ds := range ledger.byData {
		if len(ds) == 1 {
			continue
		}
		dups++
		if first := ds[0]; first.member != "c" || first.cp {
			t.Errorf("record %s delivered %d times; first to %s (checkpointed: %v): only the dead member's unacknowledged window may repeat", data, len(ds), first.member, first.cp)
		}
	}
	// Parents before children: every record of a child shard was first
	// delivered after every record of its parents.
	si, err = pc.DescribeStream(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	lastOf, firstOf := map[string]int64{}, map[string]int64{}
	for _, ds := range ledger.byData {
		d := ds[0]
		lastOf[d.shard] = max(lastOf[d.shard], d.order)
		if f, ok := firstOf[d.shard]; !ok || d.order < f {
			firstOf[d.shard] = d.order
		}
	}
	for _, s := range si.Shards {
		for _, p := range []string{s.Parent, s.AdjacentParent} {
			if f, ok := firstOf[s.ID]; ok && p != "" && lastOf[p] > f {
				t.Errorf("child %s delivered (order %d) before the last record of its parent %s (order %d)", s.ID, f, p, lastOf[p])
			}
		}
	}
	info, err := env.eng.DescribeGroup("s", "g")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records, %d delivered twice, %d lease moves", len(ledger.byData), dups, info.LeaseMoves)
	if len(ledger.want) < 100 {
		t.Errorf("only %d records produced; the test ran too short to mean much", len(ledger.want))
	}
}

var waitState string

// waitFor waits until cond holds, checking it again each time the channel
// changes returns is closed (taken before each check, so that no change
// between a check and the wait is missed); it fails after 30 s.
func waitFor(t *testing.T, what string, changes func() <-chan struct{}, cond func() bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		ch := changes()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %s (%s)", what, waitState)
		}
	}
}

// groupChanges is a changes function for waitFor: the next change of the
// test stream's groups.
func groupChanges(t *testing.T, eng *engine.Engine) func() <-chan struct{} {
	return func() <-chan struct{} {
		ch, err := eng.GroupsChanged("s")
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
}

// changes is a changes function for waitFor: the next record acknowledged
// to a producer.
func (l *groupLedger) changes() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.grew
}

// TestGroups_StaleOwnerRefusedOnTheWire: a checkpoint from a fenced owner
// is refused with an error IsLeaseLost recognises.
func TestGroups_StaleOwnerRefusedOnTheWire(t *testing.T) {
	clk := &groupClock{t: time.Unix(1_800_000_000, 0)}
	env := newTestEnv(t, func(eo *engine.Options, _ *ServerOptions) { eo.Now = clk.now })
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", 1)
	ctx := testCtx(t)
	seq, err := c.PutRecord(ctx, "s", api.PutRecord{Key: []byte("k"), Data: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.JoinGroup(ctx, "s", "g", "a", client.JoinGroupOptions{FailoverTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l := a.Leases[0]
	clk.advance(2 * time.Second)
	if _, err := c.JoinGroup(ctx, "s", "g", "b", client.JoinGroupOptions{}); err != nil {
		t.Fatal(err)
	}
	err = c.CheckpointGroup(ctx, "s", "g", "a", l.Shard, l.Epoch, client.GroupCheckpoint{Seq: seq.String(), Whole: true}, false)
	if !client.IsLeaseLost(err) {
		t.Fatalf("stale owner's checkpoint: %v; want lease lost", err)
	}
	info, err := c.DescribeGroup(ctx, "s", "g")
	if err != nil {
		t.Fatal(err)
	}
	if info.FencedCheckpoints != 1 || info.Shards[0].Owner != "b" || info.Shards[0].Epoch != l.Epoch+1 {
		t.Fatalf("describe: %+v; want b owning at epoch %d with 1 fenced checkpoint", info, l.Epoch+1)
	}
	groups, err := c.ListGroups(ctx, "s")
	if err != nil || len(groups) != 1 || groups[0] != "g" {
		t.Fatalf("ListGroups: %v %v", groups, err)
	}
	if err := c.ResetGroup(ctx, "s", "g", client.GroupResetTarget{To: "LATEST"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteGroup(ctx, "s", "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GroupHeartbeat(ctx, "s", "g", "b"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("heartbeat to a deleted group: %v; want not found", err)
	}
}

// TestAuthz_GroupActions: the group operations are authorized as sluice:
// actions on the stream, which kinesis:* does not cover.
func TestAuthz_GroupActions(t *testing.T) {
	a := newAuthzEnv(t, nil)
	ctx := testCtx(t)
	_, err := a.admin.JoinGroup(ctx, "orders-1", "g", "m", client.JoinGroupOptions{})
	wantDenied(t, err, "admin", "sluice:JoinGroup", "orders-1")
	_, err = a.admin.GroupHeartbeat(ctx, "orders-1", "g", "m")
	wantDenied(t, err, "admin", "sluice:JoinGroup", "orders-1")
	err = a.admin.CheckpointGroup(ctx, "orders-1", "g", "m", api.ShardID(0), 1, client.GroupCheckpoint{ShardEnd: true}, false)
	wantDenied(t, err, "admin", "sluice:CheckpointGroup", "orders-1")
	_, err = a.reader.ListGroups(ctx, "orders-1")
	wantDenied(t, err, "reader", "sluice:ListGroups", "orders-1")
	_, err = a.reader.DescribeGroup(ctx, "orders-1", "g")
	wantDenied(t, err, "reader", "sluice:DescribeGroup", "orders-1")
	err = a.ingest.ResetGroup(ctx, "orders-1", "g", client.GroupResetTarget{To: "LATEST"})
	wantDenied(t, err, "ingest", "sluice:ResetGroup", "orders-1")
	err = a.ingest.DeleteGroup(ctx, "orders-1", "g")
	wantDenied(t, err, "ingest", "sluice:DeleteGroup", "orders-1")
	if gs, err := a.testEnv.eng.ListGroups("orders-1"); err != nil || len(gs) != 0 {
		t.Fatalf("groups after refused requests: %v %v; want none", gs, err)
	}
}

// TestGroupConsumer_ResetTakesLeasesAndRestarts: an operator's reset takes
// the member's lease away; its worker for the old epoch stops, and the
// member reads the shard again from the reset checkpoint at a new epoch.
func TestGroupConsumer_ResetTakesLeasesAndRestarts(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", 1)
	ctx := testCtx(t)
	for i := range 3 {
		if _, err := c.PutRecord(ctx, "s", api.PutRecord{Key: []byte("k"), Data: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	type seen struct {
		epoch uint64
		data  string
	}
	got := make(chan seen, 64)
	gc, err := client.NewGroupConsumer(c, client.GroupConsumerOptions{Stream: "s", Group: "g", Member: "m",
		HeartbeatInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- gc.Run(rctx, func(_ context.Context, b *client.GroupBatch) error {
			for _, r := range b.Records {
				got <- seen{b.Epoch, string(r.Data)}
			}
			return nil
		})
	}()
	read := func(n int) []seen {
		var out []seen
		for range n {
			select {
			case s := <-got:
				out = append(out, s)
			case <-ctx.Done():
				t.Fatalf("%d of %d records delivered", len(out), n)
			}
		}
		return out
	}
	first := read(3)
	// Every record was checkpointed once the handler returned.
	waitFor(t, "the checkpoint of record 2", groupChanges(t, env.eng), func() bool {
		info, _ := env.eng.DescribeGroup("s", "g")
		return info.Shards[0].LagRecords == 0
	})
	if err := c.ResetGroup(ctx, "s", "g", client.GroupResetTarget{To: "TRIM_HORIZON"}); err != nil {
		t.Fatal(err)
	}
	again := read(3)
	for i, s := range again {
		if s.data != fmt.Sprint(i) || s.epoch != first[0].epoch+1 {
			t.Fatalf("after the reset, record %d: %+v; want data %d at epoch %d", i, s, i, first[0].epoch+1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case s := <-got:
		t.Fatalf("delivered %+v after the records were read twice", s)
	default:
	}
}
