package multiraft

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/cluster/raftlog"
)

// TestHost_OnRaftlog runs three hosts on the node-wide durable store of
// package raftlog in temporary directories: groups bootstrap, replicate,
// snapshot and compact; a node killed and reopened from its files catches
// up and holds what the others hold.
func TestHost_OnRaftlog(t *testing.T) {
	dir := t.TempDir()
	open := func(id uint64) cluster.Store {
		l, err := raftlog.Open(filepath.Join(dir, fmt.Sprint(id)), raftlog.Options{FileSize: 1 << 20, Logger: quietLogger()})
		if err != nil {
			t.Fatalf("open node %d's raft log: %v", id, err)
		}
		return l
	}
	c := newTestClusterOn(t, 3, testSeed(t), true, smallSnapshots, open)
	groups := groupIDs(4)
	c.addGroups(groups...)
	c.tickUntilLeaders(100, groups...)
	ctx := context.Background()
	propose := func(from, to int) {
		for i := from; i < to; i++ {
			for _, g := range groups {
				if _, err := c.node(c.leader(g)).host.Propose(ctx, g, []byte(fmt.Sprintf("%d-%d", g, i))); err != nil {
					t.Fatalf("group %d proposal %d: %v", g, i, err)
				}
			}
		}
		c.tick(1)
	}
	propose(0, 60)
	victim := c.ids[1]
	c.crash(victim)
	for _, n := range c.upNodes() {
		n.host.NodeDown(victim)
	}
	c.tickUntilLeaders(100, groups...)
	propose(60, 90)
	c.start(victim)
	c.tickUntilLeaders(100, groups...)
	propose(90, 100)
	for _, g := range groups {
		want := c.node(c.leader(g)).sm.entries(g)
		if len(want) != 100 {
			t.Fatalf("group %d: leader holds %d entries, want 100", g, len(want))
		}
		for _, id := range c.ids {
			if got := c.node(id).sm.entries(g); !slices_equal(got, want) {
				t.Errorf("group %d: node %d holds %d entries, the leader %d", g, id, len(got), len(want))
			}
		}
	}
	var taken uint64
	for _, n := range c.upNodes() {
		taken += n.host.Metrics().SnapshotsTaken
	}
	if taken == 0 {
		t.Errorf("no snapshot taken on raftlog")
	}
}
