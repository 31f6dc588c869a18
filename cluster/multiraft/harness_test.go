package multiraft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/cluster/faultnet"
)

// testSeed returns the seed of a randomized test; FAULTNET_SEED reruns one.
func testSeed(t testing.TB) int64 { return faultnet.TestSeed(t) }

// sync waits for a scheduler round that leaves no group with a Ready.
func (h *Host) sync() error { return h.do(func() {}, true) }

// toyEntry is one payload a toy state machine applied.
type toyEntry struct {
	Index   uint64
	Payload string
}

type toyGroup struct {
	Entries  []toyEntry
	Applied  uint64
	Leader   uint64
	Term     uint64
	Restores int
}

// toySM keeps, per group, the list of payloads applied and the applied
// index. Snapshots carry the whole list, so a replica that caught up from a
// snapshot still holds every entry for the checks.
type toySM struct {
	mu      sync.Mutex // guards the fields below
	groups  map[uint64]*toyGroup
	changed chan struct{} // closed and replaced on every change
	errs    []string      // violations seen while applying
}

func newToySM() *toySM {
	return &toySM{groups: make(map[uint64]*toyGroup), changed: make(chan struct{})}
}

func (m *toySM) groupLocked(id uint64) *toyGroup {
	g := m.groups[id]
	if g == nil {
		g = &toyGroup{}
		m.groups[id] = g
	}
	return g
}

func (m *toySM) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *toySM) Apply(group uint64, ents []Applied) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groupLocked(group)
	for i := range ents {
		a := &ents[i]
		if a.Index != g.Applied+1 {
			m.errs = append(m.errs, fmt.Sprintf("group %d: applied index %d after %d", group, a.Index, g.Applied))
		}
		g.Applied = a.Index
		if a.Payload != nil {
			g.Entries = append(g.Entries, toyEntry{a.Index, string(a.Payload)})
			a.Result = len(g.Entries)
		}
	}
	m.broadcastLocked()
}

// Snapshot encodes the group's entries as | index (8) | length (4) | payload |...
func (m *toySM) Snapshot(group, index uint64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groupLocked(group)
	if g.Applied != index {
		return nil, fmt.Errorf("snapshot at %d asked of a group applied to %d", index, g.Applied)
	}
	size := 0
	for _, e := range g.Entries {
		size += 12 + len(e.Payload)
	}
	b := make([]byte, 0, size)
	for _, e := range g.Entries {
		b = binary.BigEndian.AppendUint64(b, e.Index)
		b = binary.BigEndian.AppendUint32(b, uint32(len(e.Payload)))
		b = append(b, e.Payload...)
	}
	return b, nil
}

func (m *toySM) Restore(group uint64, snap *raftpb.Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groupLocked(group)
	var ents []toyEntry
	for b := snap.GetData(); len(b) > 0; {
		if len(b) < 12 || len(b) < 12+int(binary.BigEndian.Uint32(b[8:12])) {
			return fmt.Errorf("toy snapshot cut short: %d bytes left", len(b))
		}
		n := int(binary.BigEndian.Uint32(b[8:12]))
		ents = append(ents, toyEntry{binary.BigEndian.Uint64(b), string(b[12 : 12+n])})
		b = b[12+n:]
	}
	g.Entries, g.Applied = ents, snap.GetMetadata().GetIndex()
	g.Restores++
	m.broadcastLocked()
	return nil
}

func (m *toySM) LeaderChanged(group, leader, term uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groupLocked(group)
	g.Leader, g.Term = leader, term
	m.broadcastLocked()
}

func (m *toySM) entries(group uint64) []toyEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.groupLocked(group).Entries)
}

func (m *toySM) restores(group uint64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.groupLocked(group).Restores
}

func (m *toySM) applied(group uint64) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.groupLocked(group).Applied
}

// waitFor waits until cond, evaluated under the lock, holds; it fails
// after timeout, which only bounds a test that would otherwise hang.
func (m *toySM) waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		ok := cond()
		ch := m.changed
		m.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return errors.New("timed out")
		}
	}
}

type testNode struct {
	id     uint64
	host   *Host
	store  *MemStore     // unless the cluster opens its own stores
	disk   cluster.Store // what openStore returned, if the cluster has one
	sm     *toySM
	tr     *faultnet.Transport
	ticker ChanTicker // nil with a real ticker
	up     bool
}

// testCluster is hosts joined over a faultnet network. With manual ticks
// the test ticks every host by hand; otherwise they tick on their own.
type testCluster struct {
	t      testing.TB
	net    *faultnet.Network
	ids    []uint64
	manual bool
	tweak  func(*Config)

	mu     sync.Mutex // guards nodes' host, sm, tr, up and groups
	nodes  map[uint64]*testNode
	groups []uint64

	// openStore, when set, opens node id's store (again, after a crash);
	// the cluster closes it when the node crashes.
	openStore func(id uint64) cluster.Store
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestCluster(t testing.TB, n int, seed int64, manual bool, tweak func(*Config)) *testCluster {
	return newTestClusterOn(t, n, seed, manual, tweak, nil)
}

func newTestClusterOn(t testing.TB, n int, seed int64, manual bool, tweak func(*Config), openStore func(uint64) cluster.Store) *testCluster {
	c := &testCluster{t: t, net: faultnet.New(seed), manual: manual, tweak: tweak, nodes: make(map[uint64]*testNode), openStore: openStore}
	for i := 1; i <= n; i++ {
		id := uint64(i)
		c.ids = append(c.ids, id)
		c.nodes[id] = &testNode{id: id, store: NewMemStore()}
		c.start(id)
	}
	t.Cleanup(c.close)
	return c
}

// start runs a host for node id on its store (its state as saved so far)
// with a fresh state machine, and restarts every group of the cluster.
func (c *testCluster) start(id uint64) {
	c.mu.Lock()
	n := c.nodes[id]
	groups := slices.Clone(c.groups)
	c.mu.Unlock()
	sm := newToySM()
	var store cluster.Store = n.store
	if c.openStore != nil {
		n.disk = c.openStore(id)
		store = n.disk
	}
	cfg := Config{NodeID: id, Store: store, StateMachine: sm, Logger: quietLogger()}
	var ticker ChanTicker
	if c.manual {
		ticker = make(ChanTicker)
		cfg.Ticker = ticker
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	tr := c.net.Join(id, h)
	h.SetTransport(tr)
	for _, g := range groups {
		if err := h.AddGroup(g, c.ids, nil); err != nil {
			c.t.Fatalf("restart group %d on node %d: %v", g, id, err)
		}
	}
	c.mu.Lock()
	n.host, n.sm, n.tr, n.ticker, n.up = h, sm, tr, ticker, true
	c.mu.Unlock()
}

// crash stops node id as kill -9 would: its store keeps what was saved.
func (c *testCluster) crash(id uint64) {
	c.mu.Lock()
	n := c.nodes[id]
	up := n.up
	n.up = false
	c.mu.Unlock()
	if !up {
		return
	}
	n.host.Close()
	n.tr.Close()
	if n.disk != nil {
		if err := n.disk.Close(); err != nil {
			c.t.Errorf("close node %d's store: %v", id, err)
		}
	}
}

func (c *testCluster) close() {
	for _, id := range c.ids {
		c.crash(id)
	}
}

func (c *testCluster) node(id uint64) *testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := *c.nodes[id]
	return &n
}

func (c *testCluster) upNodes() []*testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	var up []*testNode
	for _, id := range c.ids {
		if n := c.nodes[id]; n.up {
			cp := *n
			up = append(up, &cp)
		}
	}
	return up
}

// addGroups bootstraps groups on every node with all nodes as voters.
func (c *testCluster) addGroups(ids ...uint64) {
	c.mu.Lock()
	c.groups = append(c.groups, ids...)
	c.mu.Unlock()
	// Calls made together are started together, with one Save.
	const workers = 64
	var wg sync.WaitGroup
	for _, n := range c.upNodes() {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(ids); i += workers {
					if err := n.host.AddGroup(ids[i], c.ids, nil); err != nil {
						c.t.Errorf("add group %d on node %d: %v", ids[i], n.id, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if c.t.Failed() {
		c.t.FailNow()
	}
}

// settle waits until no message is in flight and every host has handled
// everything it was sent.
func (c *testCluster) settle() {
	for {
		before := c.net.Stats().Sent
		c.net.WaitIdle()
		for _, n := range c.upNodes() {
			if err := n.host.sync(); err != nil {
				c.t.Fatalf("node %d: %v", n.id, err)
			}
		}
		c.net.WaitIdle()
		if c.net.Stats().Sent == before {
			return
		}
	}
}

// tick ticks every running host k times (manual ticks), settling after
// each.
func (c *testCluster) tick(k int) {
	for i := 0; i < k; i++ {
		for _, n := range c.upNodes() {
			n.ticker <- time.Now()
		}
		c.settle()
	}
}

// leader returns the leader of group with the highest term among the
// running nodes, 0 if none.
func (c *testCluster) leader(group uint64) uint64 {
	var lead, term uint64
	for _, n := range c.upNodes() {
		st, err := n.host.Status(group)
		if err != nil {
			continue
		}
		if st.State == "leader" && st.Term >= term {
			lead, term = n.id, st.Term
		}
	}
	return lead
}

// tickUntilLeaders ticks until every group has a leader every running node
// agrees on, and returns the ticks it took; it fails after max ticks.
func (c *testCluster) tickUntilLeaders(max int, groups ...uint64) int {
	for i := 0; ; i++ {
		if c.allLed(groups) {
			return i
		}
		if i == max {
			c.t.Fatalf("no agreed leader for every group after %d ticks", max)
		}
		c.tick(1)
	}
}

func (c *testCluster) allLed(groups []uint64) bool {
	up := c.upNodes()
	for _, g := range groups {
		lead := c.leader(g)
		if lead == 0 {
			return false
		}
		for _, n := range up {
			st, err := n.host.Status(g)
			if err != nil || st.Leader != lead {
				return false
			}
		}
	}
	return true
}
