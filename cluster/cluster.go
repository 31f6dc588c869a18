// Package cluster holds what the parts of a sluice cluster share: the
// messages that travel between nodes, and the seams between the Raft host
// (package cluster/multiraft), the node-wide Raft storage (cluster/raftlog)
// and the transport between nodes (cluster/transport).
//
// A cluster runs many Raft groups on every node: one controller group that
// holds the catalog, and one group per shard. Group ids are chosen by the
// controller and are never reused; group 1 is the controller.
package cluster

import (
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// ControllerGroup is the id of the Raft group that holds the catalog.
const ControllerGroup uint64 = 1

// Envelope is one Raft message of one group. raftpb.Message names its sender
// and receiver nodes but not its group, so every message travels in one.
type Envelope struct {
	Group uint64
	Msg   raftpb.Message
}

// Transport carries envelopes between nodes.
type Transport interface {
	// Send queues envelopes for delivery to the nodes named in their
	// Msg.To. It does not block on the network: envelopes for one node are
	// written in order, many to one write, by that node's sender. A message
	// that cannot be delivered is dropped (Raft retries) and the receiver's
	// Unreachable is called for its node.
	Send(batch []Envelope)
	// Close stops every sender and closes every connection.
	Close() error
}

// Receiver is what a transport hands incoming messages and delivery
// failures to. Its methods must not block for long: they are called from
// the transport's connection goroutines.
type Receiver interface {
	// Receive takes a batch of envelopes that arrived from node from. The
	// batch's memory belongs to the receiver once the call returns.
	Receive(from uint64, batch []Envelope)
	// Unreachable reports that messages for node could not be delivered.
	Unreachable(node uint64)
	// SnapshotStatus reports whether a snapshot message of group sent to
	// node was delivered.
	SnapshotStatus(group, node uint64, ok bool)
}

// Update is what one group's Ready asks to be made durable: new entries
// (which replace any of the same or later indexes already stored), the new
// hard state (empty if unchanged) and an incoming snapshot (empty if none).
type Update struct {
	Group     uint64
	HardState raftpb.HardState
	Entries   []raftpb.Entry
	Snapshot  raftpb.Snapshot
}

// Store keeps the Raft logs and hard states of every group on a node.
type Store interface {
	// Group returns the storage of a group, empty for a group never seen.
	Group(id uint64) (GroupStorage, error)
	// Groups lists the groups that have anything stored.
	Groups() []uint64
	// Save makes every update durable together (one write and one sync
	// for all groups in the durable store) and then makes them visible
	// through each group's GroupStorage.
	Save(updates []Update) error
	// RemoveGroup forgets a group and everything stored for it.
	RemoveGroup(id uint64) error
	Close() error
}

// GroupStorage is one group's view of the store: what Raft reads, and the
// compaction the host drives.
type GroupStorage interface {
	raft.Storage
	// CreateSnapshot records a snapshot at index (which must be applied)
	// with the given configuration and state machine data, and returns it.
	CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (raftpb.Snapshot, error)
	// Compact discards the entries up to and including index; the space
	// they take is released once no group needs it.
	Compact(index uint64) error
}
