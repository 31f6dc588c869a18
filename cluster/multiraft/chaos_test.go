package multiraft

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/cluster/faultnet"
)

// chaosDuration is how long each chaos run injects faults: short by
// default, MULTIRAFT_CHAOS=2m (make chaos) for a long one.
func chaosDuration(t *testing.T) time.Duration {
	d := 1500 * time.Millisecond
	if raceOn {
		d = time.Second
	}
	if s := os.Getenv("MULTIRAFT_CHAOS"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("MULTIRAFT_CHAOS=%q is not a duration (like 2m)", s)
		}
		d = v
	}
	return d
}

// TestChaos runs producers against groups while a seeded schedule drops,
// delays, duplicates and reorders messages, partitions and heals the
// network, isolates leaders, freezes nodes for longer than the election
// timeout, and kills and restarts nodes (which keep what they saved). After
// healing, every replica must hold the same committed prefix, every
// acknowledged proposal exactly once at its acknowledged index, none that
// was reported not committed, and each producer's acknowledged proposals in
// order.
func TestChaos(t *testing.T) {
	for _, tc := range []struct{ nodes, groups int }{{3, 4}, {5, 3}} {
		t.Run(fmt.Sprintf("nodes=%d/groups=%d", tc.nodes, tc.groups), func(t *testing.T) {
			runChaos(t, tc.nodes, tc.groups, chaosDuration(t))
		})
	}
}

// pausableTicker ticks every interval unless paused, as a frozen process
// would not.
type pausableTicker struct {
	out    chan time.Time
	paused atomic.Bool
	stop   chan struct{}
	once   sync.Once
}

func newPausableTicker(d time.Duration) *pausableTicker {
	p := &pausableTicker{out: make(chan time.Time), stop: make(chan struct{})}
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				if p.paused.Load() {
					continue
				}
				select {
				case p.out <- now:
				case <-p.stop:
					return
				}
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

func (p *pausableTicker) C() <-chan time.Time { return p.out }
func (p *pausableTicker) Stop()               { p.once.Do(func() { close(p.stop) }) }

var errCrashed = errors.New("crashed")

type chaosAck struct {
	payload string
	index   uint64
}

type chaosLedger struct {
	mu      sync.Mutex              // guards the maps
	acked   map[uint64][][]chaosAck // group → producer → acks in order
	failed  map[string]bool         // reported certainly not committed
	unknown map[string]bool
}

func runChaos(t *testing.T, nNodes, nGroups int, dur time.Duration) {
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	const tick = 10 * time.Millisecond
	const electionTicks = 10
	var tickersMu sync.Mutex
	tickers := make(map[uint64]*pausableTicker)
	c := newTestCluster(t, nNodes, seed, false, func(cfg *Config) {
		cfg.TickInterval = tick
		cfg.ElectionTicks = electionTicks
		cfg.SnapshotEntries = 40
		cfg.CompactionTail = 10
		pt := newPausableTicker(tick)
		cfg.Ticker = pt
		tickersMu.Lock()
		tickers[cfg.NodeID] = pt
		tickersMu.Unlock()
	})
	ticker := func(id uint64) *pausableTicker {
		tickersMu.Lock()
		defer tickersMu.Unlock()
		return tickers[id]
	}
	groups := groupIDs(nGroups)
	c.addGroups(groups...)

	led := &chaosLedger{acked: make(map[uint64][][]chaosAck), failed: make(map[string]bool), unknown: make(map[string]bool)}
	const producers = 2
	for _, g := range groups {
		led.acked[g] = make([][]chaosAck, producers)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var attempts atomic.Int64
	for _, g := range groups {
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prng := rand.New(rand.NewSource(seed + int64(g)*100 + int64(p)))
				hint := c.ids[prng.Intn(len(c.ids))]
				for seq := 0; ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					payload := fmt.Sprintf("g%d/p%d/%d", g, p, seq)
					n := c.node(hint)
					if !n.up {
						hint = c.ids[prng.Intn(len(c.ids))]
						continue
					}
					attempts.Add(1)
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					res, err := n.host.Propose(ctx, g, []byte(payload))
					cancel()
					led.mu.Lock()
					var nl *NotLeaderError
					switch {
					case err == nil:
						led.acked[g][p] = append(led.acked[g][p], chaosAck{payload, res.Index})
					case errors.Is(err, ErrOutcomeUnknown):
						led.unknown[payload] = true
					case errors.As(err, &nl):
						led.failed[payload] = true
						hint = nl.Leader
					case errors.Is(err, ErrProposalDropped), errors.Is(err, ErrStopped), errors.Is(err, context.DeadlineExceeded):
						led.failed[payload] = true
					default:
						t.Errorf("group %d: unexpected error %v", g, err)
					}
					led.mu.Unlock()
					if err != nil {
						if hint == 0 || prng.Intn(4) == 0 {
							hint = c.ids[prng.Intn(len(c.ids))]
						}
						// A client's backoff, not a synchronisation.
						select {
						case <-time.After(time.Duration(1+prng.Intn(5)) * time.Millisecond):
						case <-stop:
							return
						}
					}
				}
			}()
		}
	}

	// The schedule.
	crashed := make(map[uint64]bool)
	frozen := make(map[uint64]bool)
	maxDown := (nNodes - 1) / 2
	down := func() int { return len(crashed) + len(frozen) }
	tellDown := func(id uint64) {
		for _, n := range c.upNodes() {
			if n.id != id {
				n.host.NodeDown(id)
			}
		}
	}
	deadline := time.Now().Add(dur)
	var actions []string
	for time.Now().Before(deadline) {
		id := c.ids[rng.Intn(len(c.ids))]
		switch rng.Intn(10) {
		case 0, 1:
			f := faultnet.Faults{
				Drop:      rng.Float64() * 0.1,
				Duplicate: rng.Float64() * 0.1,
				Reorder:   rng.Float64() * 0.3,
				DelayMax:  time.Duration(rng.Intn(3)) * time.Millisecond,
			}
			c.net.SetFaults(f)
			actions = append(actions, fmt.Sprintf("faults %+v", f))
		case 2:
			c.net.SetFaults(faultnet.Faults{})
			actions = append(actions, "no faults")
		case 3:
			var a, b []uint64
			for _, n := range c.ids {
				if rng.Intn(2) == 0 {
					a = append(a, n)
				} else {
					b = append(b, n)
				}
			}
			c.net.Partition(a, b)
			actions = append(actions, fmt.Sprintf("partition %v %v", a, b))
		case 4:
			c.net.Heal()
			actions = append(actions, "heal")
		case 5:
			g := groups[rng.Intn(len(groups))]
			if l := c.leader(g); l != 0 {
				c.net.Isolate(l)
				tellDown(l)
				actions = append(actions, fmt.Sprintf("isolate %d (leader of %d)", l, g))
			}
		case 6:
			if !crashed[id] && !frozen[id] && down() < maxDown {
				frozen[id] = true
				c.net.Stop(id)
				ticker(id).paused.Store(true)
				tellDown(id)
				actions = append(actions, fmt.Sprintf("freeze %d", id))
			}
		case 7:
			for f := range frozen {
				delete(frozen, f)
				ticker(f).paused.Store(false)
				c.net.Resume(f)
				actions = append(actions, fmt.Sprintf("resume %d", f))
				break
			}
		case 8:
			if !crashed[id] && !frozen[id] && down() < maxDown {
				crashed[id] = true
				// Saves fail from now: a round under way sent what needs
				// nothing durable and then dies before its Save.
				c.node(id).store.FailSaves(errCrashed)
				c.crash(id)
				tellDown(id)
				actions = append(actions, fmt.Sprintf("crash %d", id))
			}
		case 9:
			for f := range crashed {
				delete(crashed, f)
				c.node(f).store.FailSaves(nil)
				c.start(f)
				actions = append(actions, fmt.Sprintf("restart %d", f))
				break
			}
		}
		// The schedule's pace: at least one election timeout between
		// some steps, so frozen nodes stay frozen that long.
		time.Sleep(time.Duration(20+rng.Intn(10*electionTicks)) * time.Millisecond)
	}

	// Heal everything and let the producers finish.
	c.net.SetFaults(faultnet.Faults{})
	c.net.Heal()
	for f := range frozen {
		ticker(f).paused.Store(false)
		c.net.Resume(f)
	}
	for f := range crashed {
		c.node(f).store.FailSaves(nil)
		c.start(f)
	}
	close(stop)
	wg.Wait()
	t.Logf("schedule: %v", actions)

	// A barrier per group: once every replica applied it, every replica
	// holds the committed log up to it.
	barriers := make(map[uint64]uint64)
	for _, g := range groups {
		idx, err := chaosBarrier(c, g)
		if err != nil {
			t.Fatalf("group %d: barrier: %v", g, err)
		}
		barriers[g] = idx
	}
	for _, n := range c.upNodes() {
		for _, g := range groups {
			if err := n.sm.waitFor(20*time.Second, func() bool { return n.sm.groupLocked(g).Applied >= barriers[g] }); err != nil {
				t.Fatalf("node %d group %d: applied %d, barrier at %d: %v", n.id, g, n.sm.applied(g), barriers[g], err)
			}
		}
	}
	checkChaos(t, c, groups, barriers, led)

	var ok, unknown, failed int
	for _, g := range groups {
		for _, acks := range led.acked[g] {
			ok += len(acks)
		}
	}
	unknown, failed = len(led.unknown), len(led.failed)
	var m Metrics
	for _, n := range c.upNodes() {
		mm := n.host.Metrics()
		m.Elections += mm.Elections
		m.SnapshotsSent += mm.SnapshotsSent
		m.SnapshotsReceived += mm.SnapshotsReceived
		m.SnapshotsTaken += mm.SnapshotsTaken
	}
	t.Logf("%d attempts: %d acknowledged, %d certainly not committed, %d unknown; elections %d, snapshots taken %d sent %d received %d; network %+v",
		attempts.Load(), ok, failed, unknown, m.Elections, m.SnapshotsTaken, m.SnapshotsSent, m.SnapshotsReceived, c.net.Stats())
	// A short run's schedule can leave no quorum connected from its first
	// step to its last (a partition, then a crash on the majority side);
	// the barriers committed after the heal show the groups live again.
	// A long run must acknowledge something.
	if ok == 0 && os.Getenv("MULTIRAFT_CHAOS") != "" {
		t.Errorf("no proposal was acknowledged during the run")
	}
}

// chaosBarrier commits a barrier entry in group and returns its index.
func chaosBarrier(c *testCluster, g uint64) (uint64, error) {
	deadline := time.Now().Add(20 * time.Second)
	hint := c.ids[0]
	for i := 0; time.Now().Before(deadline); i++ {
		n := c.node(hint)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		res, err := n.host.Propose(ctx, g, []byte(fmt.Sprintf("barrier-%d-%d", g, i)))
		cancel()
		if err == nil {
			return res.Index, nil
		}
		var nl *NotLeaderError
		if errors.As(err, &nl) && nl.Leader != 0 {
			hint = nl.Leader
		} else {
			hint = c.ids[i%len(c.ids)]
		}
		<-time.After(5 * time.Millisecond) // a client's backoff
	}
	return 0, errors.New("no barrier committed in 20 s")
}

func checkChaos(t *testing.T, c *testCluster, groups []uint64, barriers map[uint64]uint64, led *chaosLedger) {
	for _, g := range groups {
		var ref []toyEntry
		var refNode uint64
		for _, n := range c.upNodes() {
			var ents []toyEntry
			for _, e := range n.sm.entries(g) {
				if e.Index <= barriers[g] {
					ents = append(ents, e)
				}
			}
			// Within one replica: increasing indexes, each payload once.
			seen := make(map[string]uint64)
			for i, e := range ents {
				if i > 0 && e.Index <= ents[i-1].Index {
					t.Errorf("node %d group %d: index %d after %d", n.id, g, e.Index, ents[i-1].Index)
				}
				if prev, dup := seen[e.Payload]; dup {
					t.Errorf("node %d group %d: %q at %d and %d", n.id, g, e.Payload, prev, e.Index)
				}
				seen[e.Payload] = e.Index
				if led.failed[e.Payload] {
					t.Errorf("node %d group %d: %q at %d was reported not committed", n.id, g, e.Payload, e.Index)
				}
			}
			for p, acks := range led.acked[g] {
				var last uint64
				for _, a := range acks {
					at, ok := seen[a.payload]
					if !ok || at != a.index {
						t.Errorf("node %d group %d: acknowledged %q at %d, replica has it at %d (present %v)", n.id, g, a.payload, a.index, at, ok)
					}
					if a.index <= last {
						t.Errorf("group %d producer %d: %q acknowledged at %d after an earlier one at %d", g, p, a.payload, a.index, last)
					}
					last = a.index
				}
			}
			if ref == nil {
				ref, refNode = ents, n.id
				continue
			}
			if !slices_equal(ents, ref) {
				t.Errorf("group %d: node %d's committed prefix (%d entries) differs from node %d's (%d entries)", g, n.id, len(ents), refNode, len(ref))
			}
		}
	}
	for _, n := range c.upNodes() {
		n.sm.mu.Lock()
		for _, e := range n.sm.errs {
			t.Errorf("node %d: %s", n.id, e)
		}
		n.sm.mu.Unlock()
	}
}
