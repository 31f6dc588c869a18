// Package multiraft hosts every Raft group of one sluice node: the
// controller group and one group per shard, thousands per node, most of
// them idle. It drives etcd Raft's RawNode (go.etcd.io/raft/v3) and builds
// on the seams of package cluster: a cluster.Store for the logs of all
// groups and a cluster.Transport to the other nodes.
//
// # One scheduler
//
// One goroutine drives every group (see Host.run). Each round it steps the
// messages that arrived, ticks the groups that are not quiesced, hands Raft
// the proposals, and then gathers the Ready of every group that has one:
// messages that need nothing durable (a leader's appends and heartbeats,
// Raft thesis §10.2.1) are sent first, then one Store.Save makes every
// group's new entries and hard state durable together (one fdatasync for
// the node), then acknowledgements and votes are sent, committed entries
// are applied in log order and Advance is called. Messages to one node
// travel in one Transport.Send, which the transport writes in one go.
//
// The state machine is called on the scheduler goroutine: a slow Apply,
// Snapshot or Restore stalls every group of the node for as long.
//
// # Proposals
//
// Every proposal's entry starts with a header that names the proposing
// node and a proposal id unique to that host's run, so that the committed
// entry can be matched to the proposer waiting on it. The header is part of
// the log format:
//
//	| version (1) = 1 | proposer node (8, big endian) | proposal id (8, big endian) | payload |
//
// A membership change carries the same header at the start of its
// ConfChangeV2 Context. The state machine sees only the payload.
//
// A proposal succeeds once its entry is committed and applied on the
// proposing node. It fails with ErrProposalDropped only when it is certain
// the entry is not in the committed log: Raft refused it, or another entry
// was committed at the index the leader gave it. When that cannot be known
// (the host stops, the node catches up through a snapshot that covers the
// index, the caller's context ends), it fails with ErrOutcomeUnknown.
//
// # Quiescing
//
// A leader whose group has no proposal waiting, whose followers have all
// acknowledged its last index, and which has nothing left to send, stops
// ticking the group and sends each follower a heartbeat whose Context is
// "sluice-quiesce"; a follower that receives it from its leader, in its
// term, with its commit index, stops ticking the group too. An idle group
// then costs no messages and no ticks. Any message but a heartbeat
// response, any proposal, and a report that the leader's node is
// unreachable (Receiver.Unreachable) or down (Host.NodeDown) wake it.
//
// # Snapshots and compaction
//
// After SnapshotEntries entries (or SnapshotBytes bytes of them) applied
// since a group's last snapshot, the
// host asks the state machine for a snapshot, records it in the store and
// compacts the log up to CompactionTail entries before it. A follower that
// needs compacted entries is sent the snapshot and restores it through
// StateMachine.Restore; the transport's SnapshotStatus is reported to Raft.
package multiraft
