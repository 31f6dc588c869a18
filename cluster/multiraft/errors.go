package multiraft

import (
	"errors"
	"fmt"
)

var (
	// ErrProposalDropped means the proposal is certainly not in the
	// committed log: Raft refused it (a leadership transfer in progress,
	// too much uncommitted data), or another entry was committed at its
	// index. Retrying it is safe.
	ErrProposalDropped = errors.New("multiraft: proposal dropped; it was not committed and may be retried")
	// ErrOutcomeUnknown means the proposal reached the Raft log but this
	// host can no longer learn whether it commits: the caller's context
	// ended, the host stopped, the group was removed, or the entry was
	// folded into a snapshot before this node applied it. A retry may
	// apply it twice.
	ErrOutcomeUnknown = errors.New("multiraft: proposal outcome unknown")
	// ErrStopped is returned by a host that was closed or failed.
	ErrStopped = errors.New("multiraft: host stopped")
	// ErrGroupNotFound is returned for a group this host does not run.
	ErrGroupNotFound = errors.New("multiraft: group not found on this node")
	// ErrGroupExists is returned by AddGroup for a group already running.
	ErrGroupExists = errors.New("multiraft: group already running on this node")
	// ErrGroupRemoved is wrapped in the error of proposals still waiting
	// when their group is removed.
	ErrGroupRemoved = errors.New("multiraft: group removed")
)

// NotLeaderError is returned by a proposal made on a node that does not
// lead the group. Leader is the node this one believes leads it, 0 when it
// knows of none (an election is under way).
type NotLeaderError struct {
	Group  uint64
	Leader uint64
}

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return fmt.Sprintf("multiraft: not the leader of group %d; no leader is known, retry shortly", e.Group)
	}
	return fmt.Sprintf("multiraft: not the leader of group %d; node %d is", e.Group, e.Leader)
}

// Retryable reports whether err from Propose or ProposeConfChange means the
// proposal was certainly not committed, so that sending it again (to the
// leader a NotLeaderError names) cannot apply it twice.
func Retryable(err error) bool {
	var nl *NotLeaderError
	return errors.Is(err, ErrProposalDropped) || errors.As(err, &nl)
}
