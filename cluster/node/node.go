package node

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/cluster/multiraft"
	"github.com/sluicedb/sluice/cluster/raftlog"
	"github.com/sluicedb/sluice/cluster/transport"
	"github.com/sluicedb/sluice/engine"
)

// Config configures a node.
type Config struct {
	// NodeID is this node's id, 1 or more, unique in the cluster.
	NodeID uint64
	// Peers maps every node of the cluster (this one included) to the
	// address of its Raft transport.
	Peers map[uint64]string
	// RaftListen is the address the transport listens on; default this
	// node's address in Peers.
	RaftListen string
	// DataDir is the server's data directory: the Raft log goes under
	// DATA_DIR/raft and what the node knows of the cluster in
	// DATA_DIR/cluster.json.
	DataDir string
	// ReplicationFactor is the number of replicas of each shard; default 3,
	// or the number of nodes if smaller.
	ReplicationFactor int
	// Zone is this node's availability zone, if any.
	Zone string
	// ElectionTimeout is how long followers wait for a leader before one
	// stands for election; default 1 s. TickInterval is Raft's tick; default
	// 100 ms.
	ElectionTimeout, TickInterval time.Duration
	// ProposeTimeout bounds how long a put or catalog change waits for a
	// leader and a commit before it fails with a retryable error; default
	// 10 s.
	ProposeTimeout time.Duration
	// KeepForFollowers is how many entries a shard's leader keeps in its
	// Raft log for a follower that is behind; one further behind is sent
	// a snapshot and refilled by segment shipping (ship.go). Default
	// multiraft's, 100,000. SnapshotEntries (default 10,000) and
	// CompactionTail (default 1,000) are multiraft's too: how often a
	// group's log is compacted, and how much is kept below a snapshot.
	KeepForFollowers, SnapshotEntries, CompactionTail uint64
	// TLS, when set, secures the transport between nodes (mutual TLS).
	TLS *tls.Config
	// ClusterID keeps nodes of different clusters apart; default a hash
	// of the sorted peer list, the same on every node given the same
	// --peers.
	ClusterID uint64
	Logger    *slog.Logger
}

// Node is one node of a cluster.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *raftlog.Log
	tr    *transport.Transport
	host  *multiraft.Host
	eng   *engine.Engine
	nodes []uint64 // every node, sorted
	rf    int

	state *stateFile
	ship  shipState // segment shipping: transfers in flight and their counters (ship.go)
	self  NodeInfo  // what this node announced of itself at Start

	recMu   sync.Mutex             // serialises reconcile
	mu      sync.Mutex             // guards groups
	groups  map[uint64]*shardGroup // shard groups this node holds
	wake    chan struct{}          // wakes the reconciler
	bal     chan struct{}          // wakes the leader balancer
	keyCh   chan struct{}          // closed once the iterator key is known
	keyOnce sync.Once
	leaders leaderView // each shard group's leader as last heard (status.go)

	stop chan struct{}
	bg   sync.WaitGroup
}

// shardGroup is a shard group this node holds a replica of.
type shardGroup struct {
	id       uint64
	stream   string
	inc      uint32
	index    int
	replicas []uint64
	// next is the sequence number the next applied record gets: touched
	// only by the host's apply of this group.
	next uint64
}

// ShardGroup is the Raft group id of a shard.
func ShardGroup(inc uint32, index int) uint64 { return uint64(inc)<<32 | uint64(uint32(index)) }

// Open opens the node's Raft log and transport. The engine is opened next,
// with the node as its Replica, and handed to Start.
func Open(cfg Config) (*Node, error) {
	if cfg.NodeID == 0 {
		return nil, errors.New("--node-id must be 1 or more")
	}
	if _, ok := cfg.Peers[cfg.NodeID]; !ok {
		return nil, fmt.Errorf("--peers does not name this node (--node-id %d)", cfg.NodeID)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = time.Second
	}
	if cfg.ProposeTimeout <= 0 {
		cfg.ProposeTimeout = 10 * time.Second
	}
	if cfg.RaftListen == "" {
		cfg.RaftListen = cfg.Peers[cfg.NodeID]
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), groups: map[uint64]*shardGroup{},
		wake: make(chan struct{}, 1), bal: make(chan struct{}, 1), keyCh: make(chan struct{}), stop: make(chan struct{})}
	for id := range cfg.Peers {
		n.nodes = append(n.nodes, id)
	}
	slices.Sort(n.nodes)
	n.rf = cfg.ReplicationFactor
	if n.rf <= 0 {
		n.rf = 3
	}
	n.rf = min(n.rf, len(n.nodes))
	if n.rf != len(n.nodes) {
		return nil, fmt.Errorf("--replication-factor %d with %d nodes: every node must hold every shard (a replication factor equal to the node count) until requests for a shard a node does not hold are forwarded", n.rf, len(n.nodes))
	}
	if cfg.ClusterID == 0 {
		h := fnv.New64a()
		for _, id := range n.nodes {
			fmt.Fprintf(h, "%d=%s,", id, cfg.Peers[id])
		}
		n.cfg.ClusterID = h.Sum64()
	}
	var err error
	if n.state, err = openState(filepath.Join(cfg.DataDir, stateFileName)); err != nil {
		return nil, err
	}
	if n.store, err = raftlog.Open(filepath.Join(cfg.DataDir, "raft"), raftlog.Options{Logger: n.log}); err != nil {
		return nil, fmt.Errorf("open the Raft log: %w", err)
	}
	ticks := int(cfg.ElectionTimeout / cfg.TickInterval)
	n.host, err = multiraft.New(multiraft.Config{
		NodeID: cfg.NodeID, Store: n.store, StateMachine: (*machine)(n),
		TickInterval: cfg.TickInterval, ElectionTicks: max(ticks, 3), HeartbeatTicks: 1,
		ForwardProposals: true, Logger: n.log,
		KeepForFollowers: cfg.KeepForFollowers, SnapshotEntries: cfg.SnapshotEntries, CompactionTail: cfg.CompactionTail,
	})
	if err != nil {
		n.store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.RaftListen)
	if err != nil {
		n.host.Close()
		n.store.Close()
		return nil, fmt.Errorf("listen on %s (--raft-listen): %w", cfg.RaftListen, err)
	}
	peers := map[uint64]string{}
	for id, a := range cfg.Peers {
		if id != cfg.NodeID {
			peers[id] = a
		}
	}
	n.tr, err = transport.New(transport.Config{
		NodeID: cfg.NodeID, ClusterID: n.cfg.ClusterID, Listener: ln, Peers: peers,
		Receiver: (*shipReceiver)(n), Streams: n.serveShip, TLS: cfg.TLS, Logger: n.log,
	})
	if err != nil {
		ln.Close()
		n.host.Close()
		n.store.Close()
		return nil, err
	}
	n.host.SetTransport(n.tr)
	return n, nil
}

// Start starts the node's groups on eng (opened with the node as its
// Replica) and serves the cluster. It returns at once; IteratorKey waits
// for the cluster to agree.
func (n *Node) Start(eng *engine.Engine, self NodeInfo) error {
	n.eng = eng
	// Transfers cut by a crash left scratch files; nothing else is there.
	if err := os.RemoveAll(filepath.Join(n.cfg.DataDir, shipDirName)); err != nil {
		return fmt.Errorf("clear the shipping directory: %w", err)
	}
	self.ID, self.Raft, self.Zone = n.cfg.NodeID, n.cfg.Peers[n.cfg.NodeID], n.cfg.Zone
	n.self = self
	if err := n.host.AddGroup(cluster.ControllerGroup, n.nodes, nil); err != nil {
		return fmt.Errorf("start the controller group: %w", err)
	}
	if err := n.reconcile(); err != nil {
		return err
	}
	if n.state.iteratorKey() != nil {
		n.keyKnown()
	}
	if err := n.tr.Start(); err != nil {
		return err
	}
	n.bg.Add(4)
	go n.reconcileLoop()
	go n.announce(self)
	go n.compactLoop()
	go n.balanceLoop()
	return nil
}

// Close stops the node: its groups, its transport and its Raft log. The
// engine is the caller's to close afterwards.
func (n *Node) Close() error {
	close(n.stop)
	n.bg.Wait()
	n.ship.close()
	err := n.host.Close()
	if cerr := n.tr.Close(); err == nil {
		err = cerr
	}
	if cerr := n.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// Append implements engine.Replica: it proposes entry to the shard's group
// and returns once it is applied here and its records are readable here,
// so that a client reads its acknowledged put from the node that took it.
func (n *Node) Append(inc uint32, shard int, entry []byte) (uint64, error) {
	gid := ShardGroup(inc, shard)
	res, err := n.propose(gid, entry)
	if err != nil {
		return 0, err
	}
	first, ok := res.Value.(uint64)
	if !ok {
		return 0, &api.Error{Code: api.CodeInternal, Detail: fmt.Sprintf("shard group %d applied the entry with %T", gid, res)}
	}
	if err := n.waitWritten(gid, first, entry); err != nil {
		return 0, err
	}
	return first, nil
}

// waitWritten waits until the records of an applied records entry, the
// first numbered first, are written to the shard's segments here: applying
// an entry only queues it to the shard's writer. Other entries (a seal)
// carry no records to wait for.
func (n *Node) waitWritten(gid, first uint64, entry []byte) error {
	count, err := engine.EntryRecords(entry)
	if err != nil || count == 0 {
		return nil
	}
	n.mu.Lock()
	g := n.groups[gid]
	n.mu.Unlock()
	if g == nil {
		return nil // the shard's stream was deleted meanwhile
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ProposeTimeout)
	defer cancel()
	pos := api.Position{Stream: g.stream, Incarnation: g.inc, Shard: g.index, Seq: first + uint64(count) - 1}
	if err := n.eng.Wait(ctx, pos); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil // deleted meanwhile
		}
		return &api.Error{Code: api.CodeInternal, Detail: fmt.Sprintf("shard %s of stream %s committed the put but has not written it on this node; retry", api.ShardID(g.index), g.stream), Err: err}
	}
	return nil
}

// Change implements engine.ChangeReplica: it proposes c to the controller
// group and returns what applying it here returned, once this node holds
// the groups of any shard it made.
func (n *Node) Change(c *engine.Change) (any, error) {
	data, err := encodeChange(c)
	if err != nil {
		return nil, err
	}
	res, err := n.propose(cluster.ControllerGroup, data)
	if err != nil {
		return nil, err
	}
	if rerr := n.reconcile(); rerr != nil {
		n.log.Warn("could not start or stop the groups of the catalog's shards", "err", rerr)
	}
	n.waitLeaders()
	if ar, ok := res.Value.(applyResult); ok {
		return ar.v, ar.err
	}
	return res.Value, nil
}

// applyResult carries an engine change's result and error through the
// host, which hands a state machine's result back to the proposer as is.
type applyResult struct {
	v   any
	err error
}

// propose proposes payload to group and waits for it to be applied here,
// retrying while the group has no leader or is not started here yet, until
// ProposeTimeout.
func (n *Node) propose(group uint64, payload []byte) (multiraft.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ProposeTimeout)
	defer cancel()
	backoff := 10 * time.Millisecond
	for {
		res, err := n.host.Propose(ctx, group, payload)
		if err == nil {
			return res, nil
		}
		if errors.Is(err, multiraft.ErrStopped) && !errors.Is(err, multiraft.ErrOutcomeUnknown) && n.closing() {
			return res, engine.ErrClosed // nothing was proposed
		}
		// A shard the catalog has just made (a split's or a merge's
		// child) is routed to as soon as the change is applied here, and
		// its group started by the reconciler a moment later: nothing
		// was proposed, so the put waits for the group.
		notStarted := errors.Is(err, multiraft.ErrGroupNotFound) && group != cluster.ControllerGroup
		if notStarted {
			n.poke()
		}
		if (!multiraft.Retryable(err) && !notStarted) || ctx.Err() != nil {
			return res, &api.Error{Code: api.CodeInternal, Detail: fmt.Sprintf("replication of group %d failed; retry", group), Err: err}
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		case <-n.stop:
			return res, engine.ErrClosed
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// closing reports whether Close has begun.
func (n *Node) closing() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}

// replicas chooses the nodes that hold a group: the rf nodes with the
// highest rendezvous hash of (group, node), in that order, so the first is
// the preferred leader and leaderships spread over the nodes.
func (n *Node) replicas(group uint64) []uint64 {
	type scored struct {
		id    uint64
		score uint64
	}
	s := make([]scored, len(n.nodes))
	var b [16]byte
	for i, id := range n.nodes {
		binary.LittleEndian.PutUint64(b[:], group)
		binary.LittleEndian.PutUint64(b[8:], id)
		h := fnv.New64a()
		h.Write(b[:])
		s[i] = scored{id, h.Sum64()}
	}
	sort.Slice(s, func(i, j int) bool { return s[i].score > s[j].score })
	out := make([]uint64, n.rf)
	for i := range out {
		out[i] = s[i].id
	}
	return out
}

// reconcile starts a group for every shard of the catalog placed on this
// node and stops the groups of shards the catalog no longer has.
func (n *Node) reconcile() error {
	want := map[uint64]*shardGroup{}
	for _, name := range n.eng.ListStreams() {
		info, err := n.eng.DescribeStream(name)
		if err != nil {
			continue // deleted meanwhile
		}
		for _, sh := range info.Shards {
			gid := ShardGroup(info.Incarnation, sh.Index)
			reps := n.replicas(gid)
			if !slices.Contains(reps, n.cfg.NodeID) {
				continue
			}
			want[gid] = &shardGroup{id: gid, stream: name, inc: info.Incarnation, index: sh.Index, replicas: reps}
		}
	}
	// The host calls back into the node (Restore, Apply) while it adds a
	// group: n.mu is held only to change the map, never across a host
	// call; recMu keeps two reconciles from racing.
	n.recMu.Lock()
	defer n.recMu.Unlock()
	var errs []error
	var added []*shardGroup
	for gid, g := range want {
		n.mu.Lock()
		_, ok := n.groups[gid]
		if !ok {
			n.groups[gid] = g
		}
		n.mu.Unlock()
		if ok {
			continue
		}
		if err := n.host.AddGroup(gid, g.replicas, nil); err != nil {
			n.mu.Lock()
			delete(n.groups, gid)
			n.mu.Unlock()
			errs = append(errs, fmt.Errorf("start shard group %d: %w", gid, err))
			continue
		}
		added = append(added, g)
	}
	// The preferred replica of a group that has no leader stands for
	// election at once, rather than after an election timeout: a new
	// shard takes puts within a round trip, led where placement wants.
	for _, g := range added {
		if g.replicas[0] != n.cfg.NodeID {
			continue
		}
		if st, err := n.host.Status(g.id); err == nil && st.Leader == 0 {
			if err := n.host.Campaign(g.id); err != nil {
				n.log.Debug("campaign of a new group failed", "group", g.id, "err", err)
			}
		}
	}
	n.mu.Lock()
	var gone []uint64
	for gid := range n.groups {
		if _, ok := want[gid]; !ok {
			gone = append(gone, gid)
		}
	}
	n.mu.Unlock()
	for _, gid := range gone {
		if err := n.host.RemoveGroup(gid); err != nil {
			errs = append(errs, fmt.Errorf("stop shard group %d: %w", gid, err))
			continue
		}
		n.mu.Lock()
		delete(n.groups, gid)
		n.mu.Unlock()
	}
	return errors.Join(errs...)
}

// reconcileLoop reconciles whenever an applied change may have added or
// removed shards.
func (n *Node) reconcileLoop() {
	defer n.bg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.wake:
			if err := n.reconcile(); err != nil {
				n.log.Warn("could not start or stop the groups of the catalog's shards", "err", err)
			}
		}
	}
}

// poke wakes the reconciler.
func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// compactInterval is how often idle groups' logs are compacted.
const compactInterval = 10 * time.Second

// compactLoop compacts the logs of quiesced groups now and then, so that
// groups that went idle let the node-wide Raft log retire its old files.
func (n *Node) compactLoop() {
	defer n.bg.Done()
	t := time.NewTicker(compactInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			if _, err := n.host.CompactQuiesced(); err != nil {
				n.log.Warn("compacting the logs of idle groups failed", "err", err)
			}
		}
	}
}

// waitLeaders waits, for up to ProposeTimeout, until every shard group this
// node holds knows its leader: a stream that CreateStream returns takes
// puts at once.
func (n *Node) waitLeaders() {
	deadline := time.Now().Add(n.cfg.ProposeTimeout)
	for {
		n.mu.Lock()
		ids := make([]uint64, 0, len(n.groups))
		for id := range n.groups {
			ids = append(ids, id)
		}
		n.mu.Unlock()
		missing := false
		for _, id := range ids {
			if st, err := n.host.Status(id); err == nil && st.Leader == 0 {
				missing = true
				break
			}
		}
		if !missing || time.Now().After(deadline) {
			return
		}
		select {
		case <-n.stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// balanceInterval is how often a node looks for shards it leads in place of
// their preferred replica.
const balanceInterval = 5 * time.Second

func (n *Node) pokeBalance() {
	select {
	case n.bal <- struct{}{}:
	default:
	}
}

// balanceLoop hands the leadership of each shard this node leads to the
// shard's preferred replica (the first of its placement, which spreads
// leaders over the nodes) once that node is connected and holds the whole
// log: after a failover, leaderships go back where they belong. A transfer
// to a node that is down would stall the shard for an election timeout, so
// it is never tried.
func (n *Node) balanceLoop() {
	defer n.bg.Done()
	t := time.NewTicker(balanceInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		case <-n.bal:
		}
		n.balanceOnce()
	}
}

// balanceOnce hands each shard this node leads in place of its preferred
// replica to that replica, when it is connected, holds the whole log and
// is not draining.
func (n *Node) balanceOnce() {
	up := n.peersUp()
	for _, gid := range n.host.Leaders() {
		n.mu.Lock()
		g := n.groups[gid]
		n.mu.Unlock()
		if g == nil || g.replicas[0] == n.cfg.NodeID || !up[g.replicas[0]] || n.state.draining(g.replicas[0]) {
			continue
		}
		st, err := n.host.Status(gid)
		if err != nil || st.Leader != n.cfg.NodeID {
			continue
		}
		for _, f := range st.Followers {
			if f.Node == g.replicas[0] && f.Lag == 0 {
				if err := n.host.TransferLeader(gid, f.Node); err != nil {
					n.log.Debug("leadership transfer failed", "group", gid, "to", f.Node, "err", err)
				}
			}
		}
	}
}

// drainPoll is how often Drain looks whether its leaderships have moved.
const drainPoll = 20 * time.Millisecond

// Drain hands the leadership of every group this node leads (its shards'
// and the controller's) to a connected replica that holds the whole log,
// and returns once this node leads none, so that stopping it afterwards
// costs no election: puts keep flowing through the new leaders, and those
// that reach this node meanwhile are forwarded to them. It first tells the
// cluster that it is draining, so no balancer hands a leadership back. It
// returns an error saying how many groups it still leads when ctx ends
// first (a group with no caught-up replica to take it, or no quorum).
func (n *Node) Drain(ctx context.Context) error {
	info := n.self
	info.Draining = true
	if b, err := json.Marshal(info); err == nil {
		pctx, cancel := context.WithTimeout(ctx, n.cfg.ElectionTimeout)
		if _, err := n.host.Propose(pctx, cluster.ControllerGroup, append([]byte{kindNode}, b...)); err != nil {
			n.log.Warn("could not tell the cluster this node is draining; its balancers may hand leaderships back", "err", err)
		}
		cancel()
	}
	tried := map[uint64]time.Time{}
	for {
		led := n.host.Leaders()
		if len(led) == 0 {
			return nil
		}
		now := time.Now()
		for _, gid := range led {
			// A transfer that did not complete within an election
			// timeout was aborted by Raft: try again, perhaps to
			// another replica.
			if t, ok := tried[gid]; ok && now.Sub(t) < n.cfg.ElectionTimeout {
				continue
			}
			if to := n.handoffTarget(gid); to != 0 {
				if err := n.host.TransferLeader(gid, to); err != nil {
					n.log.Debug("leadership transfer failed", "group", gid, "to", to, "err", err)
				}
				tried[gid] = now
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("this node still leads %d groups: no caught-up replica took them before the drain's deadline: %w", len(led), ctx.Err())
		case <-n.stop:
			return engine.ErrClosed
		case <-time.After(drainPoll):
		}
	}
}

// handoffTarget picks the replica to hand group's leadership to: a
// connected follower with the whole log, the group's preferred replica
// first, never a node that is draining; 0 if there is none.
func (n *Node) handoffTarget(gid uint64) uint64 {
	st, err := n.host.Status(gid)
	if err != nil || st.Leader != n.cfg.NodeID {
		return 0
	}
	var preferred uint64
	n.mu.Lock()
	if g := n.groups[gid]; g != nil {
		preferred = g.replicas[0]
	}
	n.mu.Unlock()
	// Connected, rather than Raft's recent activity: a quiesced group
	// hears nothing from its followers.
	up := n.peersUp()
	var best uint64
	for _, f := range st.Followers {
		if !up[f.Node] || f.Lag != 0 || f.Node == n.cfg.NodeID || n.state.draining(f.Node) {
			continue
		}
		if f.Node == preferred {
			return f.Node
		}
		if best == 0 {
			best = f.Node
		}
	}
	return best
}
