package multiraft

import (
	"cmp"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
)

// Status is one group as this node sees it.
type Status struct {
	Group, Node uint64
	// State is "leader", "follower", "candidate" or "pre-candidate".
	State     string
	Leader    uint64 // 0 when none is known
	Term      uint64
	Commit    uint64
	Applied   uint64
	LastIndex uint64 // of this node's stored log
	Quiesced  bool
	Voters    []uint64
	Learners  []uint64
	// Followers is set on the leader: every other member's progress.
	Followers []Progress
}

// Progress is a follower's replication as its leader tracks it.
type Progress struct {
	Node  uint64
	Match uint64 // highest index known to be on the follower
	Next  uint64 // next index the leader sends it
	Lag   uint64 // leader's last index - Match
	// State is "replicate" (streaming), "probe" (finding where its log
	// diverges) or "snapshot" (being sent a snapshot).
	State   string
	Learner bool
	Active  bool // heard from within the last election timeout
}

func stateName(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	default:
		return "follower"
	}
}

func progressStateName(s tracker.StateType) string {
	switch s {
	case tracker.StateReplicate:
		return "replicate"
	case tracker.StateSnapshot:
		return "snapshot"
	default:
		return "probe"
	}
}

// Status returns group's status on this node.
func (h *Host) Status(group uint64) (Status, error) {
	var st Status
	var err error
	if derr := h.do(func() {
		g := h.s.groups[group]
		if g == nil {
			err = ErrGroupNotFound
			return
		}
		bs := g.rn.BasicStatus()
		st = Status{
			Group:    group,
			Node:     h.id,
			State:    stateName(bs.RaftState),
			Leader:   bs.Lead,
			Term:     bs.GetTerm(),
			Commit:   bs.GetCommit(),
			Applied:  bs.Applied,
			Quiesced: g.quiesced,
			Voters:   slices.Clone(g.confState.GetVoters()),
			Learners: slices.Clone(g.confState.GetLearners()),
		}
		st.LastIndex, _ = g.storage.LastIndex()
		if bs.RaftState != raft.StateLeader {
			return
		}
		var last uint64
		g.rn.WithProgress(func(id uint64, typ raft.ProgressType, pr tracker.Progress) {
			if id == h.id {
				last = pr.Match
				return
			}
			st.Followers = append(st.Followers, Progress{
				Node: id, Match: pr.Match, Next: pr.Next, State: progressStateName(pr.State),
				Learner: typ == raft.ProgressTypeLearner, Active: pr.RecentActive,
			})
		})
		for i := range st.Followers {
			if last > st.Followers[i].Match {
				st.Followers[i].Lag = last - st.Followers[i].Match
			}
		}
		slices.SortFunc(st.Followers, func(a, b Progress) int { return cmp.Compare(a.Node, b.Node) })
	}, false); derr != nil {
		return Status{}, derr
	}
	return st, err
}
