package node

import (
	"slices"
	"sync"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/sluicedb/sluice/cluster/multiraft"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/cluster"
)

// Status is what a node knows of the cluster: sluice cluster status asks
// every node for it and shows them together.
type Status struct {
	Node       uint64        `json:"node"`
	Controller GroupStatus   `json:"controller"`
	Nodes      []NodeStatus  `json:"nodes"`
	Shards     []ShardStatus `json:"shards"`
}

// NodeStatus is one node as this node sees it.
type NodeStatus struct {
	NodeInfo
	// Up is whether this node's transport is connected to it (always
	// true of this node itself).
	Up bool `json:"up"`
	// Leaders is how many of the shard groups this node holds have it as
	// their leader, as this node last heard.
	Leaders int `json:"leaders"`
}

// GroupStatus is one Raft group as this node sees it.
type GroupStatus struct {
	Group    uint64   `json:"group"`
	Leader   uint64   `json:"leader"`
	Term     uint64   `json:"term"`
	Commit   uint64   `json:"commit"`
	Applied  uint64   `json:"applied"`
	Replicas []uint64 `json:"replicas"`
	// Lag is, on the group's leader, how many entries each follower's
	// log is behind the leader's last.
	Lag map[uint64]uint64 `json:"lag,omitempty"`
}

// ShardStatus is a shard's group.
type ShardStatus struct {
	Stream string `json:"stream"`
	Shard  string `json:"shard"`
	GroupStatus
}

// Status reports the cluster as this node sees it.
func (n *Node) Status() Status {
	st := Status{Node: n.cfg.NodeID}
	st.Controller = n.groupStatus(cluster.ControllerGroup, n.nodes)
	leaders := map[uint64]int{}
	names := map[uint32]string{}
	for _, name := range n.eng.ListStreams() {
		if info, err := n.eng.DescribeStream(name); err == nil {
			names[info.Incarnation] = name
		}
	}
	n.mu.Lock()
	groups := make([]*shardGroup, 0, len(n.groups))
	for _, g := range n.groups {
		groups = append(groups, g)
	}
	n.mu.Unlock()
	slices.SortFunc(groups, func(a, b *shardGroup) int {
		if a.id < b.id {
			return -1
		}
		if a.id > b.id {
			return 1
		}
		return 0
	})
	for _, g := range groups {
		gs := n.groupStatus(g.id, g.replicas)
		if gs.Leader != 0 {
			leaders[gs.Leader]++
		}
		st.Shards = append(st.Shards, ShardStatus{Stream: names[g.inc], Shard: api.ShardID(g.index), GroupStatus: gs})
	}
	known := map[uint64]NodeInfo{}
	for _, info := range n.state.nodes() {
		known[info.ID] = info
	}
	up := n.peersUp()
	for _, id := range n.nodes {
		info, ok := known[id]
		if !ok {
			info = NodeInfo{ID: id, Raft: n.cfg.Peers[id]}
		}
		st.Nodes = append(st.Nodes, NodeStatus{NodeInfo: info, Up: id == n.cfg.NodeID || up[id], Leaders: leaders[id]})
	}
	return st
}

// groupStatus reads a group's state from the host.
func (n *Node) groupStatus(id uint64, replicas []uint64) GroupStatus {
	gs := GroupStatus{Group: id, Replicas: replicas}
	s, err := n.host.Status(id)
	if err != nil {
		return gs
	}
	gs.Leader, gs.Term, gs.Commit, gs.Applied = s.Leader, s.Term, s.Commit, s.Applied
	if s.Leader == n.cfg.NodeID {
		gs.Lag = map[uint64]uint64{}
		for _, f := range s.Followers {
			gs.Lag[f.Node] = f.Lag
		}
	}
	return gs
}

// peersUp reports which peers the transport is connected to.
func (n *Node) peersUp() map[uint64]bool {
	up := map[uint64]bool{}
	for _, p := range n.tr.Stats().Peers {
		up[p.Node] = p.Connected
	}
	return up
}

// Metrics are the node's Raft counters, the commit latency histogram (µs)
// and, over the groups this node leads, the largest follower lag.
type Metrics struct {
	multiraft.Metrics
	CommitLatency *hdrhistogram.Histogram
	MaxLag        uint64
	Leading       int
	// Segment shipping (ship.go): transfers that refilled a shard here,
	// the bytes of frames they brought, transfers that failed (each node
	// tried counts once), and transfers this node served to others.
	ShipTransfers, ShipBytes, ShipFailures, ShipServed uint64
}

// Metrics reads the node's counters.
func (n *Node) Metrics() Metrics {
	m := Metrics{Metrics: n.host.Metrics(), CommitLatency: n.host.CommitLatency(),
		ShipTransfers: n.ship.transfers.Load(), ShipBytes: n.ship.bytes.Load(),
		ShipFailures: n.ship.failures.Load(), ShipServed: n.ship.served.Load()}
	for _, g := range n.host.Leaders() {
		s, err := n.host.Status(g)
		if err != nil {
			continue
		}
		m.Leading++
		for _, f := range s.Followers {
			m.MaxLag = max(m.MaxLag, f.Lag)
		}
	}
	return m
}

// Block cuts this node off from node (both ways) or joins them again: the
// transport's fault hook, for tests of partitions between real processes.
func (n *Node) Block(node uint64, blocked bool) { n.tr.Block(node, blocked) }

// leaderView is what this node last heard of each shard group's leader,
// noted as the host reports leader changes. The binary protocol reads it
// once per put meant for a leader (ShardLeader), so it is a sync.Map: a
// read takes no lock, and writes come only with leader changes.
type leaderView struct {
	m sync.Map // group id → leader node id (uint64), 0 if none is known
}

func (v *leaderView) note(group, leader uint64) { v.m.Store(group, leader) }

func (v *leaderView) leader(group uint64) uint64 {
	if l, ok := v.m.Load(group); ok {
		return l.(uint64)
	}
	return 0
}

// ID is this node's id.
func (n *Node) ID() uint64 { return n.cfg.NodeID }

// ShardLeader returns the node that leads shard index of the stream
// incarnation inc as this node last heard, or 0 if it knows none (it holds
// no replica of the shard, or the group is electing). It takes no lock and
// allocates nothing: the binary protocol asks it for every put meant for a
// shard's leader. The answer may be out of date by the time it is used; a
// put proposed here after this node lost the leadership is still
// forwarded by Raft to the new leader.
func (n *Node) ShardLeader(inc uint32, index int) uint64 {
	return n.leaders.leader(ShardGroup(inc, index))
}

// Nodes returns what the nodes announced of themselves (ids, addresses,
// zones), as the controller group applied it here.
func (n *Node) Nodes() []NodeInfo { return n.state.nodes() }
