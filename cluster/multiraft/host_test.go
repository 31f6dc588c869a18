package multiraft

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func groupIDs(n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	return ids
}

// TestHost_ReplicatesProposals: over a fault-free network, every group
// elects a leader, proposals on it commit and are applied in the same order
// on every node, and a proposal on a follower is refused naming the leader.
func TestHost_ReplicatesProposals(t *testing.T) {
	for _, tc := range []struct{ nodes, groups int }{{3, 1}, {3, 50}, {5, 1}, {5, 50}} {
		t.Run(fmt.Sprintf("nodes=%d/groups=%d", tc.nodes, tc.groups), func(t *testing.T) {
			c := newTestCluster(t, tc.nodes, testSeed(t), true, nil)
			groups := groupIDs(tc.groups)
			c.addGroups(groups...)
			c.tickUntilLeaders(100, groups...)

			const perGroup = 5
			ctx := context.Background()
			var wg sync.WaitGroup
			for _, g := range groups {
				lead := c.leader(g)
				h := c.node(lead).host
				for i := 0; i < perGroup; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						payload := fmt.Sprintf("g%d-%d", g, i)
						res, err := h.Propose(ctx, g, []byte(payload))
						if err != nil {
							t.Errorf("group %d: propose on leader %d: %v", g, lead, err)
							return
						}
						if got := c.node(lead).sm.entries(g); !containsAt(got, payload, res.Index) {
							t.Errorf("group %d: %q acknowledged at %d but the leader's state machine has %v", g, payload, res.Index, got)
						}
					}()
				}
				follower := c.ids[0]
				if follower == lead {
					follower = c.ids[1]
				}
				_, err := c.node(follower).host.Propose(ctx, g, []byte("on a follower"))
				var nl *NotLeaderError
				if !errors.As(err, &nl) || nl.Leader != lead || nl.Group != g {
					t.Errorf("group %d: propose on follower %d: got %v, want NotLeaderError naming %d", g, follower, err, lead)
				}
			}
			wg.Wait()
			c.tick(1) // a heartbeat carries the final commit index to the followers
			for _, g := range groups {
				want := c.node(c.leader(g)).sm.entries(g)
				if len(want) != perGroup {
					t.Fatalf("group %d: leader applied %d payloads, want %d", g, len(want), perGroup)
				}
				for _, id := range c.ids {
					if got := c.node(id).sm.entries(g); !slices_equal(got, want) {
						t.Errorf("group %d: node %d applied %v, leader %v", g, id, got, want)
					}
				}
			}
		})
	}
}

func containsAt(ents []toyEntry, payload string, index uint64) bool {
	for _, e := range ents {
		if e.Payload == payload && e.Index == index {
			return true
		}
	}
	return false
}

func slices_equal(a, b []toyEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHost_LeaderKilledNewLeaderWithinElectionTimeout: after the leader's
// node dies, the others elect a new leader within Raft's randomized
// election timeout, counted in ticks: on their own when the group is
// active, and at once when the group is quiesced and liveness reports the
// node down.
func TestHost_LeaderKilledNewLeaderWithinElectionTimeout(t *testing.T) {
	t.Run("active", func(t *testing.T) { testLeaderKilled(t, false) })
	t.Run("quiesced/reported-down", func(t *testing.T) { testLeaderKilled(t, true) })
}

func testLeaderKilled(t *testing.T, quiesced bool) {
	// An active group is one that has not quiesced: with quiescing on, a
	// group whose last proposal settled may quiesce before the kill.
	c := newTestCluster(t, 3, testSeed(t), true, func(cfg *Config) { cfg.noQuiesce = !quiesced })
	c.addGroups(1)
	c.tickUntilLeaders(100, 1)
	old := c.leader(1)
	if _, err := c.node(old).host.Propose(context.Background(), 1, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if quiesced {
		c.tick(3)
		for _, n := range c.upNodes() {
			if st, _ := n.host.Status(1); !st.Quiesced {
				t.Fatalf("node %d: group not quiesced: %+v", n.id, st)
			}
		}
	}
	c.crash(old)
	if quiesced {
		for _, n := range c.upNodes() {
			n.host.NodeDown(old)
		}
	}
	c.settle()
	const electionTicks = 10
	ticks := c.tickUntilLeaders(4*electionTicks, 1)
	lead := c.leader(1)
	if lead == old || lead == 0 {
		t.Fatalf("leader after the kill is %d (old %d)", lead, old)
	}
	// Raft times out after [ElectionTicks, 2*ElectionTicks) ticks; a
	// pre-vote round and a split vote can take one timeout more.
	if ticks > 3*electionTicks {
		t.Errorf("new leader after %d ticks; an election timeout is at most %d, and two are %d", ticks, 2*electionTicks, 3*electionTicks)
	}
	t.Logf("new leader %d after %d ticks", lead, ticks)
	res, err := c.node(lead).host.Propose(context.Background(), 1, []byte("after"))
	if err != nil {
		t.Fatalf("propose on the new leader: %v", err)
	}
	if got := c.node(lead).sm.entries(1); len(got) != 2 || got[0].Payload != "before" || got[1] != (toyEntry{res.Index, "after"}) {
		t.Errorf("new leader's entries %v", got)
	}
}

// TestHost_MembershipChange adds a fourth node as a learner, then promotes
// it to a voter, and removes a voter; the new node catches up and the
// group keeps committing.
func TestHost_MembershipChange(t *testing.T) {
	c := newTestCluster(t, 4, testSeed(t), true, nil)
	// Group 1 starts on nodes 1-3; node 4 joins with no peers.
	for _, id := range []uint64{1, 2, 3} {
		if err := c.node(id).host.AddGroup(1, []uint64{1, 2, 3}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.node(4).host.AddGroup(1, nil, nil); err != nil {
		t.Fatal(err)
	}
	var lead uint64
	for i := 0; i < 100 && lead == 0; i++ {
		c.tick(1)
		lead = c.leader(1)
	}
	if lead == 0 {
		t.Fatal("no leader")
	}
	ctx := context.Background()
	h := c.node(lead).host
	if _, err := h.Propose(ctx, 1, []byte("a")); err != nil {
		t.Fatal(err)
	}
	res, err := h.ProposeConfChange(ctx, 1, &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{
		{Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: new(uint64(4))},
	}})
	if err != nil {
		t.Fatalf("add learner: %v", err)
	}
	if cs := res.Value.(*raftpb.ConfState); !contains(cs.GetLearners(), 4) {
		t.Fatalf("conf state after adding a learner: %v", cs)
	}
	c.tick(2)
	if _, err := h.ProposeConfChange(ctx, 1, &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{
		{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: new(uint64(4))},
	}}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	remove := uint64(1)
	if remove == lead {
		remove = 2
	}
	res, err = h.ProposeConfChange(ctx, 1, &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{
		{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: new(remove)},
	}})
	if err != nil {
		t.Fatalf("remove voter: %v", err)
	}
	if cs := res.Value.(*raftpb.ConfState); !contains(cs.GetVoters(), 4) || contains(cs.GetVoters(), remove) || len(cs.GetVoters()) != 3 {
		t.Fatalf("voters after promote and remove: %v", cs.GetVoters())
	}
	if _, err := h.Propose(ctx, 1, []byte("b")); err != nil {
		t.Fatal(err)
	}
	c.tick(2)
	got := c.node(4).sm.entries(1)
	if len(got) != 2 || got[0].Payload != "a" || got[1].Payload != "b" {
		t.Errorf("the new node applied %v, want a and b", got)
	}
	st, err := c.node(4).host.Status(1)
	if err != nil || st.Leader != lead || !contains(st.Voters, 4) {
		t.Errorf("new node's status %+v, %v", st, err)
	}
}

func contains(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestHost_StatusAndTransferLeader: the leader's status lists every
// follower caught up; TransferLeader moves the leadership.
func TestHost_StatusAndTransferLeader(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, nil)
	c.addGroups(7)
	c.tickUntilLeaders(100, 7)
	lead := c.leader(7)
	if _, err := c.node(lead).host.Propose(context.Background(), 7, []byte("x")); err != nil {
		t.Fatal(err)
	}
	c.tick(1)
	st, err := c.node(lead).host.Status(7)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "leader" || len(st.Followers) != 2 || st.Commit != st.LastIndex || st.Applied != st.Commit {
		t.Fatalf("leader status %+v", st)
	}
	for _, f := range st.Followers {
		if f.Match != st.LastIndex || f.Lag != 0 {
			t.Errorf("follower %+v not caught up to %d", f, st.LastIndex)
		}
	}
	if got := c.node(lead).host.Leaders(); len(got) != 1 || got[0] != 7 {
		t.Errorf("Leaders() = %v on the leader", got)
	}
	to := st.Followers[0].Node
	if err := c.node(lead).host.TransferLeader(7, to); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30 && c.leader(7) != to; i++ {
		c.tick(1)
	}
	if got := c.leader(7); got != to {
		t.Fatalf("leader after transfer is %d, want %d", got, to)
	}
	if got := c.node(lead).host.Leaders(); len(got) != 0 {
		t.Errorf("old leader still lists %v", got)
	}
	m := c.node(to).host.Metrics()
	if m.LeaderChanges == 0 || m.ProposalsOK != 0 {
		t.Errorf("new leader's metrics %+v", m)
	}
}

// TestHost_ProposeContextEnded: a context that ends before the proposal is
// handed to Raft returns the context's error; the host keeps working.
func TestHost_ProposeContextEnded(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, nil)
	c.addGroups(1)
	c.tickUntilLeaders(100, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.node(c.leader(1)).host.Propose(ctx, 1, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := c.node(c.leader(1)).host.Propose(context.Background(), 9, []byte("x")); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("unknown group: got %v", err)
	}
}

// TestHost_SaveFailureStopsHost: a failed Save stops the host; waiting
// proposals learn their outcome is unknown and later calls fail at once.
func TestHost_SaveFailureStopsHost(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, nil)
	c.addGroups(1)
	c.tickUntilLeaders(100, 1)
	lead := c.node(c.leader(1))
	boom := errors.New("disk gone")
	lead.store.FailSaves(boom)
	_, err := lead.host.Propose(context.Background(), 1, []byte("x"))
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, boom) {
		t.Fatalf("propose during a failed save: %v", err)
	}
	if !errors.Is(lead.host.Err(), boom) {
		t.Fatalf("Err() = %v", lead.host.Err())
	}
	if _, err := lead.host.Propose(context.Background(), 1, []byte("y")); !errors.Is(err, ErrStopped) {
		t.Fatalf("propose after failure: %v", err)
	}
}

// TestHost_FrozenLeaderLosesItsProposal: a leader frozen (it neither
// ticks nor exchanges messages) for longer than the election timeout is
// replaced; the proposal it took while frozen is reported dropped, not
// acknowledged, once it resumes and learns that another entry was
// committed at that index, and it is applied nowhere.
func TestHost_FrozenLeaderLosesItsProposal(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, nil)
	c.addGroups(1)
	c.tickUntilLeaders(100, 1)
	old := c.leader(1)
	c.net.Stop(old)
	type outcome struct {
		res Result
		err error
	}
	lost := make(chan outcome, 1)
	go func() {
		res, err := c.node(old).host.Propose(context.Background(), 1, []byte("lost"))
		lost <- outcome{res, err}
	}()
	// A group that went quiet may be quiesced: its followers then learn
	// of a dead leader from liveness (NodeDown), not from missed
	// heartbeats. The others tick; the frozen one does not.
	for _, n := range c.upNodes() {
		if n.id != old {
			n.host.NodeDown(old)
		}
	}
	var lead uint64
	const electionTicks = 10
	for i := 0; i < 3*electionTicks && (lead == 0 || lead == old); i++ {
		for _, n := range c.upNodes() {
			if n.id != old {
				n.ticker <- time.Now()
			}
		}
		c.settle()
		lead = c.otherLeader(old)
	}
	if lead == 0 || lead == old {
		t.Fatalf("no new leader while %d was frozen", old)
	}
	res, err := c.node(lead).host.Propose(context.Background(), 1, []byte("kept"))
	if err != nil {
		t.Fatalf("propose on the new leader: %v", err)
	}
	select {
	case o := <-lost:
		t.Fatalf("the frozen leader answered %+v, %v before it resumed", o.res, o.err)
	default:
	}
	c.net.Resume(old)
	c.tick(3)
	o := <-lost
	if !errors.Is(o.err, ErrProposalDropped) {
		t.Fatalf("the frozen leader's proposal: %+v, %v; want ErrProposalDropped", o.res, o.err)
	}
	for _, id := range c.ids {
		got := c.node(id).sm.entries(1)
		if len(got) != 1 || got[0] != (toyEntry{res.Index, "kept"}) {
			t.Errorf("node %d applied %v, want only %q at %d", id, got, "kept", res.Index)
		}
	}
}

// otherLeader returns the leader of group 1 among the nodes but skip.
func (c *testCluster) otherLeader(skip uint64) uint64 {
	for _, n := range c.upNodes() {
		if n.id == skip {
			continue
		}
		if st, err := n.host.Status(1); err == nil && st.State == "leader" {
			return n.id
		}
	}
	return 0
}

// With ForwardProposals a follower passes a proposal to its leader through
// Raft and answers it once the entry is applied on the follower itself.
func TestHost_ForwardedProposals(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, func(cfg *Config) { cfg.ForwardProposals = true })
	groups := groupIDs(3)
	c.addGroups(groups...)
	c.tickUntilLeaders(100, groups...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, g := range groups {
		lead := c.leader(g)
		for _, id := range c.ids {
			if id == lead {
				continue
			}
			payload := fmt.Sprintf("g%d via %d", g, id)
			res, err := c.node(id).host.Propose(ctx, g, []byte(payload))
			if err != nil {
				t.Fatalf("group %d: propose on follower %d: %v", g, id, err)
			}
			if got := c.node(id).sm.entries(g); !containsAt(got, payload, res.Index) {
				t.Fatalf("group %d: %q acknowledged at %d on follower %d, which applied %v", g, payload, res.Index, id, got)
			}
			c.settle() // the leader may apply it after the follower
			if got := c.node(lead).sm.entries(g); !containsAt(got, payload, res.Index) {
				t.Fatalf("group %d: %q acknowledged at %d but the leader applied %v", g, payload, res.Index, got)
			}
		}
	}
	if m := c.node(c.ids[0]).host.Metrics(); m.ProposalsNotLeader != 0 {
		t.Fatalf("%d proposals refused as not the leader; want them forwarded", m.ProposalsNotLeader)
	}
}

// A proposal forwarded to a leader that is handing its leadership over is
// dropped by Raft there; the leader tells the forwarder, whose Propose
// fails at once with ErrProposalDropped (safe to retry) instead of
// waiting ForwardTimeout to learn nothing.
func TestHost_ForwardedProposalDroppedByTransferIsRetryable(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, func(cfg *Config) {
		cfg.ForwardProposals = true
		cfg.ForwardTimeout = time.Minute
	})
	const g = 7
	c.addGroups(g)
	c.tickUntilLeaders(100, g)
	lead := c.leader(g)
	var others []uint64
	for _, id := range c.ids {
		if id != lead {
			others = append(others, id)
		}
	}
	to, from := others[0], others[1]
	// The transferee hears nothing from the leader, so the transfer
	// stays in progress (no ticks end it).
	c.net.Partition([]uint64{lead, from}, []uint64{to})
	if err := c.node(lead).host.TransferLeader(g, to); err != nil {
		t.Fatal(err)
	}
	if err := c.node(lead).host.sync(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.node(from).host.Propose(ctx, g, []byte("during the transfer"))
	if !errors.Is(err, ErrProposalDropped) || !Retryable(err) {
		t.Fatalf("a proposal forwarded to a leader in the middle of a transfer returned %v; want ErrProposalDropped", err)
	}
	if m := c.node(lead).host.Metrics(); m.ProposalsBounced == 0 {
		t.Fatal("the leader counted no bounced proposal")
	}
	c.net.Heal()
}
