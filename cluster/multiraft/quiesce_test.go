package multiraft

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestHost_QuiescedGroupsCostNothing: 10,000 groups on three hosts elect
// leaders and quiesce; then ticks cost no group tick and no message. A
// proposal wakes its group only, which quiesces again. When a leader's node
// dies and is reported down, the groups it led, quiesced, elect new
// leaders within the election timeout.
func TestHost_QuiescedGroupsCostNothing(t *testing.T) {
	n := 10_000
	if testing.Short() || raceOn {
		n = 1_500
	}
	c := newTestCluster(t, 3, testSeed(t), true, nil)
	groups := groupIDs(n)
	start := time.Now()
	phase := func(name string) { t.Logf("%s: %v", name, time.Since(start)); start = time.Now() }
	c.addGroups(groups...)
	phase("add")

	// Leaders spread evenly: node g%3+1 stands at once.
	var wg sync.WaitGroup
	const workers = 8
	for w := uint64(0); w < 3*workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, g := range groups {
				if g%(3*workers) == w {
					if err := c.node(g%3 + 1).host.Campaign(g); err != nil {
						t.Errorf("campaign %d: %v", g, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	phase("campaign")
	c.settle()
	phase("settle")
	c.tick(3)
	phase("tick3")
	quiesced := func() (total uint64) {
		for _, nd := range c.upNodes() {
			total += nd.host.Metrics().GroupsQuiesced
		}
		return total
	}
	hosts := uint64(len(c.upNodes()))
	if got := quiesced(); got != uint64(n)*hosts {
		t.Fatalf("%d group replicas quiesced after settling, want %d", got, uint64(n)*hosts)
	}
	for id := uint64(1); id <= 3; id++ {
		if got := len(c.node(id).host.Leaders()); got < n/3-1 || got > n/3+1 {
			t.Errorf("node %d leads %d groups, want about %d", id, got, n/3)
		}
	}

	ticks := func() (total uint64) {
		for _, nd := range c.upNodes() {
			total += nd.host.Metrics().Ticks
		}
		return total
	}
	ticks0, sent0 := ticks(), c.net.Stats().Sent
	const idleTicks = 30
	c.tick(idleTicks)
	phase("idle")
	if d := ticks() - ticks0; d != 0 {
		t.Errorf("%d group ticks over %d idle ticks of %d quiesced groups, want 0", d, idleTicks, n)
	}
	if d := c.net.Stats().Sent - sent0; d != 0 {
		t.Errorf("%d messages over %d idle ticks of %d quiesced groups, want 0", d, idleTicks, n)
	}

	// A proposal wakes its group, and only it.
	g := groups[len(groups)/2]
	lead := c.leader(g)
	if _, err := c.node(lead).host.Propose(context.Background(), g, []byte("wake")); err != nil {
		t.Fatal(err)
	}
	if got := quiesced(); got >= uint64(n)*hosts || got < uint64(n-1)*hosts {
		t.Errorf("%d replicas quiesced after one proposal, want all but group %d's", got, g)
	}
	ticks0 = ticks()
	c.tick(3)
	if got := quiesced(); got != uint64(n)*hosts {
		t.Errorf("%d replicas quiesced after the proposal settled, want %d", got, uint64(n)*hosts)
	}
	if d := ticks() - ticks0; d > 3*hosts {
		t.Errorf("%d group ticks after waking one group for 3 ticks", d)
	}
	for id := uint64(1); id <= 3; id++ {
		if got := c.node(id).sm.entries(g); len(got) != 1 || got[0].Payload != "wake" {
			t.Errorf("node %d group %d entries %v", id, g, got)
		}
	}

	// Node 1 dies; liveness says so to the others.
	var led []uint64
	for _, g := range c.node(1).host.Leaders() {
		led = append(led, g)
	}
	c.crash(1)
	for _, nd := range c.upNodes() {
		nd.host.NodeDown(1)
	}
	c.settle()
	phase("down")
	const electionTicks = 10
	for i := 1; ; i++ {
		c.tick(1)
		leads := make(map[uint64]bool)
		for _, nd := range c.upNodes() {
			for _, g := range nd.host.Leaders() {
				leads[g] = true
			}
		}
		missing := 0
		for _, g := range led {
			if !leads[g] {
				missing++
			}
		}
		if missing == 0 {
			t.Logf("the %d groups node 1 led have new leaders after %d ticks", len(led), i)
			break
		}
		if i == 2*electionTicks {
			t.Fatalf("%d of the %d groups node 1 led have no leader after %d ticks", missing, len(led), i)
		}
	}
	// With node 1 still down, every group quiesces again on the others.
	c.tick(3)
	if got := quiesced(); got != uint64(n)*2 {
		t.Errorf("%d group replicas quiesced on the two nodes left, want %d", got, 2*n)
	}
	ticks0, sent0 = ticks(), c.net.Stats().Sent
	c.tick(idleTicks)
	if d := ticks() - ticks0; d != 0 {
		t.Errorf("%d group ticks over %d idle ticks with a node down, want 0", d, idleTicks)
	}
	if d := c.net.Stats().Sent - sent0; d != 0 {
		t.Errorf("%d messages over %d idle ticks with a node down, want 0", d, idleTicks)
	}
	// Node 1 comes back: its groups time out within 2 election timeouts
	// and wake the others, it learns the leaders, catches up, and all
	// quiesce a few ticks later.
	c.start(1)
	for i := 1; quiesced() != uint64(n)*3; i++ {
		if i > 3*electionTicks {
			t.Fatalf("%d group replicas quiesced %d ticks after node 1 came back, want %d", quiesced(), i, 3*n)
		}
		c.tick(1)
	}
	if got := c.node(1).sm.entries(g); len(got) != 1 || got[0].Payload != "wake" {
		t.Errorf("node 1 after its return: group %d entries %v", g, got)
	}
}
