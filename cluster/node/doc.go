// Package node makes a sluice server one node of a cluster: it runs the
// node's Raft groups (package cluster/multiraft) over the node-wide Raft
// log (cluster/raftlog) and the transport between nodes
// (cluster/transport), and replicates the engine's writes through them
// (engine.Replica).
//
// # Groups
//
// The controller group (cluster.ControllerGroup, every node a voter) orders
// the catalog: each change an engine makes (create a stream, set its
// retention, register a consumer, ...) is an entry of this group, applied by
// every node to its own engine in the same order (engine.ApplyChange). It
// also holds what the nodes know of each other (addresses and zones) and
// the cluster's iterator key, so that a shard iterator handed out by one
// node is good on every other. Each node keeps its applied view of the
// catalog in its data directory; the entries it has not applied yet are in
// the Raft log.
//
// Each shard is a group of its own, with the id ShardGroup(incarnation,
// index): the incarnation of its stream in the high 32 bits and its index in
// the low. Its entries are the shard's records (engine.EncodeRecordsEntry),
// one entry per shard per put call, and the seal that ends the shard in a
// split or merge (engine.EncodeSealEntry, see docs/cluster.md); Raft batches the entries of every group
// that are ready at one moment into one write and one fdatasync of the
// node's Raft log. A put is acknowledged once its entry is committed (a
// quorum has it on disk) and applied here. Applying an entry writes its
// records into the shard's segments, numbered in committed order, so every
// replica gives a record the same sequence number; readers on any replica
// see only applied, hence committed, records.
//
// # Durability
//
// The Raft log is the node's write-ahead log: segments are written at apply
// and synced lazily. Before the Raft log lets go of a shard's entries
// (compaction), the shard's segments are synced and the sequence number
// after its last record is recorded in the group's snapshot. After a crash,
// Raft hands every entry after the snapshot back for applying again, and
// the engine skips the records its segments kept (engine.ApplyEntry), so a
// power cut loses nothing a quorum acknowledged.
//
// # Catching up
//
// A follower that fell behind catches up from its leader's log while the
// leader still has the entries it lacks (Config.KeepForFollowers). One
// further behind is sent a snapshot, which names only the sequence number
// after the shard's last record: the snapshot is held back from Raft while
// the records the follower lacks are fetched from the leader or another
// replica as their stored segment frames, checked frame by frame and
// installed (ship.go, shipwire.go; engine.ExportShard and InstallShard),
// and only then handed on.
//
// # Placement
//
// A shard's replicas are ReplicationFactor nodes chosen from the cluster's
// nodes by its group id (rendezvous hashing), the same on every node;
// leaders are spread by handing a shard's leadership to the first of its
// replicas when that node is up.
package node
