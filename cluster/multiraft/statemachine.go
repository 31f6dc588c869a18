package multiraft

import "go.etcd.io/raft/v3/raftpb"

// StateMachine is what a host applies committed entries to. The host calls
// it from its scheduler goroutine only, one call at a time, so its methods
// must not block for long and must not call back into the host.
type StateMachine interface {
	// Apply applies committed entries of group, in log order. An entry is
	// one of: a proposal (Payload set, as given to Propose); an empty entry
	// Raft appends when a leader takes office (Payload nil, ConfChange
	// nil); a membership change the host has already applied to Raft
	// (ConfChange and ConfState set). For each entry the state machine
	// may set Result and Err, which are handed to the proposer waiting on
	// this node. The slice is reused once Apply returns; the payloads are
	// the Raft log's own bytes, which nothing modifies (raft.Storage's
	// contract), so they may be kept but must not be changed.
	Apply(group uint64, entries []Applied)
	// Snapshot returns the state of group as of index, which is the last
	// index Apply was given for it. The host stores it and compacts the
	// log up to near index; followers too far behind receive it.
	Snapshot(group uint64, index uint64) ([]byte, error)
	// Restore replaces the state of group with snap.Data, the state as of
	// snap.Metadata.Index. It is called when the leader sends a snapshot,
	// when a group restarts from a stored snapshot, and when a new group
	// starts (index 1, empty data).
	Restore(group uint64, snap *raftpb.Snapshot) error
	// LeaderChanged reports that group's leader is now leader (0: none
	// known) as of term.
	LeaderChanged(group, leader, term uint64)
}

// AppliedIndexer is implemented by a state machine that keeps its state
// durably itself. When a group restarts, the host asks it how far it has
// applied the group and, when that is at or past the stored snapshot,
// replays only the committed entries after it instead of calling Restore.
type AppliedIndexer interface {
	AppliedIndex(group uint64) uint64
}

// Applied is one committed entry handed to StateMachine.Apply.
type Applied struct {
	Index, Term uint64
	// Proposer is the node that proposed the entry (0 for a leader's
	// empty entry): the same on every replica.
	Proposer uint64
	// Payload is the proposal's payload; nil for an empty entry or a
	// membership change.
	Payload []byte
	// ConfChange is the membership change of this entry, already applied
	// by the host; its Context is the proposer's. ConfState is the
	// configuration after it.
	ConfChange *raftpb.ConfChangeV2
	ConfState  *raftpb.ConfState

	// Result and Err are set by the state machine and returned by Propose
	// to the proposer on this node.
	Result any
	Err    error
}

// Result is what a committed and applied proposal returns.
type Result struct {
	Index, Term uint64
	// Value is the Result the state machine set; for a membership change
	// it is the *raftpb.ConfState after it.
	Value any
}
