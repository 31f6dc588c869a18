package faultnet

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
)

// recorder is a Receiver that records what it is handed.
type recorder struct {
	mu          sync.Mutex
	batches     [][]uint64 // Msg.Index of each envelope, per Receive
	from        []uint64
	unreachable []uint64
	snaps       []string
}

func (r *recorder) Receive(from uint64, batch []cluster.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var idx []uint64
	for i := range batch {
		idx = append(idx, batch[i].Msg.GetIndex())
	}
	r.batches = append(r.batches, idx)
	r.from = append(r.from, from)
}

func (r *recorder) Unreachable(node uint64) {
	r.mu.Lock()
	r.unreachable = append(r.unreachable, node)
	r.mu.Unlock()
}

func (r *recorder) SnapshotStatus(group, node uint64, ok bool) {
	r.mu.Lock()
	r.snaps = append(r.snaps, fmt.Sprintf("%d/%d/%v", group, node, ok))
	r.mu.Unlock()
}

func (r *recorder) received() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []uint64
	for _, b := range r.batches {
		all = append(all, b...)
	}
	return all
}

func msgs(to uint64, typ raftpb.MessageType, from, n int) []cluster.Envelope {
	batch := make([]cluster.Envelope, n)
	for i := range batch {
		batch[i] = cluster.Envelope{Group: 7, Msg: raftpb.Message{Type: typ.Enum(), To: new(to), Index: new(uint64(from + i))}}
	}
	return batch
}

func seq(from, n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(from + i)
	}
	return s
}

type pair struct {
	net    *Network
	a, b   *recorder
	ta, tb *Transport
}

func newPair(t *testing.T, seed int64) *pair {
	p := &pair{net: New(seed), a: &recorder{}, b: &recorder{}}
	p.ta = p.net.Join(1, p.a)
	p.tb = p.net.Join(2, p.b)
	t.Cleanup(func() { p.ta.Close(); p.tb.Close() })
	return p
}

// TestNetwork_DeliversInOrder: without faults every message arrives once,
// in order, many to a Receive.
func TestNetwork_DeliversInOrder(t *testing.T) {
	p := newPair(t, 1)
	p.ta.Send(msgs(2, raftpb.MsgApp, 0, 100))
	p.ta.Send(msgs(2, raftpb.MsgApp, 100, 100))
	p.net.WaitIdle()
	if got := p.b.received(); !slices.Equal(got, seq(0, 200)) {
		t.Fatalf("received %v", got)
	}
	if len(p.b.batches) >= 200 {
		t.Errorf("%d Receive calls for 200 messages sent in two batches", len(p.b.batches))
	}
	if st := p.net.Stats(); st.Sent != 200 || st.Delivered != 200 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestNetwork_SeedDecidesDrops: the same seed drops the same messages; the
// drop rate is near the one asked for.
func TestNetwork_SeedDecidesDrops(t *testing.T) {
	run := func(seed int64) []uint64 {
		p := newPair(t, seed)
		p.net.SetFaults(Faults{Drop: 0.3})
		p.ta.Send(msgs(2, raftpb.MsgApp, 0, 1000))
		p.net.WaitIdle()
		return p.b.received()
	}
	a, b, c := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Errorf("seed 42 delivered different messages in two runs")
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 delivered the same messages")
	}
	if len(a) < 600 || len(a) > 800 {
		t.Errorf("%d of 1000 delivered with drop rate 0.3", len(a))
	}
}

// TestNetwork_Duplicate: with Duplicate 1 every message arrives twice.
func TestNetwork_Duplicate(t *testing.T) {
	p := newPair(t, 1)
	p.net.SetFaults(Faults{Duplicate: 1})
	p.ta.Send(msgs(2, raftpb.MsgApp, 0, 10))
	p.net.WaitIdle()
	if got := p.b.received(); len(got) != 20 {
		t.Fatalf("received %d messages, want 20: %v", len(got), got)
	}
}

// TestNetwork_DelayAndReorder: delayed messages arrive no earlier than the
// minimum delay; reordering lets later messages overtake earlier ones, and
// loses none.
func TestNetwork_DelayAndReorder(t *testing.T) {
	p := newPair(t, 3)
	p.net.SetFaults(Faults{DelayMin: 20 * time.Millisecond, DelayMax: 21 * time.Millisecond})
	start := time.Now()
	p.ta.Send(msgs(2, raftpb.MsgApp, 0, 5))
	p.net.WaitIdle()
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("delayed messages delivered after %v", d)
	}
	p.b.batches = nil
	p.net.SetFaults(Faults{Reorder: 0.5, ReorderWindow: 5 * time.Millisecond})
	p.ta.Send(msgs(2, raftpb.MsgApp, 0, 200))
	p.net.WaitIdle()
	got := p.b.received()
	if slices.IsSorted(got) {
		t.Errorf("reorder 0.5 delivered 200 messages in order")
	}
	slices.Sort(got)
	if !slices.Equal(got, seq(0, 200)) {
		t.Errorf("reordering lost or added messages: %v", got)
	}
}

// TestNetwork_PartitionAndHeal: across a partition nothing arrives and the
// sender hears Unreachable (once per pending report, not per message);
// after Heal messages flow again.
func TestNetwork_PartitionAndHeal(t *testing.T) {
	p := newPair(t, 1)
	c := &recorder{}
	tc := p.net.Join(3, c)
	defer tc.Close()
	p.net.Partition([]uint64{1, 3}, []uint64{2})
	p.ta.Send(msgs(2, raftpb.MsgApp, 0, 50))
	p.ta.Send(msgs(3, raftpb.MsgApp, 0, 5))
	p.net.WaitIdle()
	if got := p.b.received(); len(got) != 0 {
		t.Errorf("across the partition node 2 received %v", got)
	}
	if got := c.received(); len(got) != 5 {
		t.Errorf("same side: node 3 received %v", got)
	}
	if len(p.a.unreachable) == 0 || len(p.a.unreachable) > 2 || p.a.unreachable[0] != 2 {
		t.Errorf("unreachable reports %v, want node 2 once or so", p.a.unreachable)
	}
	p.net.Heal()
	p.ta.Send(msgs(2, raftpb.MsgApp, 50, 5))
	p.net.WaitIdle()
	if got := p.b.received(); !slices.Equal(got, seq(50, 5)) {
		t.Errorf("after heal node 2 received %v", got)
	}

	p.net.Isolate(3)
	p.ta.Send(msgs(3, raftpb.MsgApp, 100, 1))
	p.ta.Send(msgs(2, raftpb.MsgApp, 100, 1))
	p.net.WaitIdle()
	if got := c.received(); len(got) != 5 {
		t.Errorf("isolated node 3 received %v", got)
	}
	if got := p.b.received(); got[len(got)-1] != 100 {
		t.Errorf("node 2 did not receive past node 3's isolation: %v", got)
	}
}

// TestNetwork_StopResume: a stopped node receives nothing until Resume,
// then everything in order; what it sends while stopped is lost.
func TestNetwork_StopResume(t *testing.T) {
	p := newPair(t, 1)
	p.net.Stop(2)
	p.ta.Send(msgs(2, raftpb.MsgApp, 0, 10))
	p.tb.Send(msgs(1, raftpb.MsgApp, 0, 10))
	p.net.WaitIdle()
	if got := p.b.received(); len(got) != 0 {
		t.Fatalf("stopped node received %v", got)
	}
	p.net.Resume(2)
	p.net.WaitIdle()
	if got := p.b.received(); !slices.Equal(got, seq(0, 10)) {
		t.Errorf("after Resume node 2 received %v", got)
	}
	if got := p.a.received(); len(got) != 0 {
		t.Errorf("node 1 received %v from a stopped node", got)
	}
}

// TestNetwork_SnapshotStatus: a delivered snapshot is reported delivered
// to its sender; a dropped one, and one to a closed node, failed.
func TestNetwork_SnapshotStatus(t *testing.T) {
	p := newPair(t, 1)
	p.ta.Send(msgs(2, raftpb.MsgSnap, 0, 1))
	p.net.WaitIdle()
	p.net.SetFaults(Faults{Drop: 1})
	p.ta.Send(msgs(2, raftpb.MsgSnap, 1, 1))
	p.net.WaitIdle()
	p.net.SetFaults(Faults{})
	p.tb.Close()
	p.ta.Send(msgs(2, raftpb.MsgSnap, 2, 1))
	p.net.WaitIdle()
	want := []string{"7/2/true", "7/2/false", "7/2/false"}
	if !slices.Equal(p.a.snaps, want) {
		t.Errorf("snapshot reports %v, want %v", p.a.snaps, want)
	}
	if !slices.Contains(p.a.unreachable, 2) {
		t.Errorf("no Unreachable for a closed node: %v", p.a.unreachable)
	}
}
