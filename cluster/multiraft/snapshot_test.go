package multiraft

import (
	"context"
	"fmt"
	"testing"
)

func smallSnapshots(cfg *Config) {
	cfg.SnapshotEntries = 20
	cfg.CompactionTail = 5
	cfg.KeepForFollowers = 10
}

// A leader keeps the entries a follower that is not too far behind still
// needs: cut off while the leader snapshots, it catches up from the log,
// with no snapshot.
func TestHost_LeaderKeepsEntriesForAFollowerBehind(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, func(cfg *Config) {
		smallSnapshots(cfg)
		cfg.KeepForFollowers = 1_000
	})
	c.addGroups(1)
	c.tickUntilLeaders(100, 1)
	lead := c.leader(1)
	cut := c.ids[0]
	if cut == lead {
		cut = c.ids[1]
	}
	c.net.Isolate(cut)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := c.node(lead).host.Propose(ctx, 1, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("proposal %d: %v", i, err)
		}
	}
	if m := c.node(lead).host.Metrics(); m.SnapshotsTaken == 0 {
		t.Fatalf("leader took no snapshot: %+v", m)
	}
	c.net.Heal()
	want := c.node(lead).sm.entries(1)
	for i := 0; i < 50 && len(c.node(cut).sm.entries(1)) < len(want); i++ {
		c.tick(1)
	}
	if got := c.node(cut).sm.entries(1); !slices_equal(got, want) {
		t.Fatalf("follower after healing holds %d entries, leader %d", len(got), len(want))
	}
	if m := c.node(cut).host.Metrics(); m.SnapshotsReceived != 0 {
		t.Errorf("follower needed a snapshot: %+v", m)
	}
}

// TestHost_FollowerCatchesUpFromSnapshot: a follower cut off while the
// leader applies enough to snapshot and compact its log catches up, once
// healed, through a snapshot it restores, and then holds what the leader
// holds.
func TestHost_FollowerCatchesUpFromSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, smallSnapshots)
	c.addGroups(1)
	c.tickUntilLeaders(100, 1)
	lead := c.leader(1)
	cut := c.ids[0]
	if cut == lead {
		cut = c.ids[1]
	}
	c.net.Isolate(cut)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := c.node(lead).host.Propose(ctx, 1, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("proposal %d: %v", i, err)
		}
	}
	gs, _ := c.node(lead).store.Group(1)
	first, _ := gs.FirstIndex()
	if applied := c.node(cut).sm.applied(1); first <= applied+1 {
		t.Fatalf("leader's log starts at %d; the cut-off follower applied %d, so it needs no snapshot", first, applied)
	}
	if m := c.node(lead).host.Metrics(); m.SnapshotsTaken == 0 {
		t.Fatalf("leader took no snapshot: %+v", m)
	}
	c.net.Heal()
	want := c.node(lead).sm.entries(1)
	for i := 0; i < 50 && len(c.node(cut).sm.entries(1)) < len(want); i++ {
		c.tick(1)
	}
	if got := c.node(cut).sm.entries(1); !slices_equal(got, want) {
		t.Fatalf("follower after healing holds %d entries, leader %d", len(got), len(want))
	}
	if m := c.node(cut).host.Metrics(); m.SnapshotsReceived == 0 {
		t.Errorf("follower caught up without a snapshot: %+v", m)
	}
	if m := c.node(lead).host.Metrics(); m.SnapshotsSent == 0 {
		t.Errorf("leader sent no snapshot: %+v", m)
	}
	// The group goes on committing with the caught-up follower.
	if _, err := c.node(lead).host.Propose(ctx, 1, []byte("after")); err != nil {
		t.Fatal(err)
	}
	c.tick(1)
	if got := c.node(cut).sm.entries(1); got[len(got)-1].Payload != "after" {
		t.Errorf("follower's last entry %v", got[len(got)-1])
	}
}

// TestHost_RestartRecoversFromStore: a node killed and started again on its
// store restores its last snapshot, replays the committed log after it,
// and catches up with what it missed.
func TestHost_RestartRecoversFromStore(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, smallSnapshots)
	c.addGroups(1, 2)
	c.tickUntilLeaders(100, 1, 2)
	ctx := context.Background()
	propose := func(from, to int) {
		for i := from; i < to; i++ {
			for _, g := range []uint64{1, 2} {
				if _, err := c.node(c.leader(g)).host.Propose(ctx, g, []byte(fmt.Sprint(i))); err != nil {
					t.Fatalf("group %d proposal %d: %v", g, i, err)
				}
			}
		}
		c.tick(1)
	}
	propose(0, 50)
	victim := c.ids[2]
	c.crash(victim)
	for _, n := range c.upNodes() {
		n.host.NodeDown(victim)
	}
	c.tickUntilLeaders(100, 1, 2)
	propose(50, 60)
	gs, _ := c.node(victim).store.Group(1)
	if snap, _ := gs.Snapshot(); snap.GetMetadata().GetIndex() <= 1 {
		t.Fatalf("the killed node stored no snapshot past the initial one: %v", snap.GetMetadata())
	}
	c.start(victim)
	if r := c.node(victim).sm.restores(1); r != 1 {
		t.Errorf("restarted node restored %d snapshots, want its stored one", r)
	}
	c.tickUntilLeaders(100, 1, 2)
	propose(60, 70)
	for _, g := range []uint64{1, 2} {
		want := c.node(c.leader(g)).sm.entries(g)
		if len(want) != 70 {
			t.Fatalf("group %d: leader holds %d entries, want 70", g, len(want))
		}
		if got := c.node(victim).sm.entries(g); !slices_equal(got, want) {
			t.Errorf("group %d: restarted node holds %v, leader %v", g, got, want)
		}
	}
}

// TestHost_SnapshotByBytes: large entries trigger a snapshot by their bytes
// long before their count would.
func TestHost_SnapshotByBytes(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, func(cfg *Config) { cfg.SnapshotBytes = 64 << 10 })
	c.addGroups(1)
	c.tickUntilLeaders(100, 1)
	lead := c.node(c.leader(1))
	payload := make([]byte, 8<<10)
	for i := 0; i < 20; i++ {
		if _, err := lead.host.Propose(context.Background(), 1, payload); err != nil {
			t.Fatal(err)
		}
	}
	// 160 KiB applied: two snapshots at 64 KiB each, not one per 10,000 entries.
	if got := lead.host.Metrics().SnapshotsTaken; got != 2 {
		t.Errorf("%d snapshots after 160 KiB of entries with SnapshotBytes 64 KiB, want 2", got)
	}
}

// CompactQuiesced compacts the whole log of an idle group on every node, a
// group with fewer entries than SnapshotEntries included, and a proposal
// after it still commits everywhere.
func TestHost_CompactQuiesced(t *testing.T) {
	c := newTestCluster(t, 3, testSeed(t), true, nil)
	groups := groupIDs(4)
	c.addGroups(groups...)
	c.tickUntilLeaders(100, groups...)
	ctx := context.Background()
	for _, g := range groups {
		for i := 0; i < 5; i++ {
			if _, err := c.node(c.leader(g)).host.Propose(ctx, g, []byte(fmt.Sprintf("g%d-%d", g, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.tick(3)
	for _, nd := range c.upNodes() {
		if q := nd.host.Metrics().GroupsQuiesced; q != uint64(len(groups)) {
			t.Fatalf("node %d: %d groups quiesced, want %d", nd.id, q, len(groups))
		}
		n, err := nd.host.CompactQuiesced()
		if err != nil || n != len(groups) {
			t.Fatalf("node %d: compacted %d groups (%v), want %d", nd.id, n, err, len(groups))
		}
		for _, g := range groups {
			st, _ := nd.store.Group(g)
			first, _ := st.FirstIndex()
			last, _ := st.LastIndex()
			if first != last+1 {
				t.Fatalf("node %d group %d: log holds %d..%d after compaction; want nothing", nd.id, g, first, last)
			}
		}
		if n, _ := nd.host.CompactQuiesced(); n != 0 {
			t.Fatalf("node %d: a second CompactQuiesced compacted %d groups, want 0", nd.id, n)
		}
	}
	g := groups[0]
	if _, err := c.node(c.leader(g)).host.Propose(ctx, g, []byte("after")); err != nil {
		t.Fatal(err)
	}
	c.tick(1)
	for _, nd := range c.upNodes() {
		if got := nd.sm.entries(g); len(got) != 6 || got[5].Payload != "after" {
			t.Fatalf("node %d group %d applied %v after compaction", nd.id, g, got)
		}
	}
}
