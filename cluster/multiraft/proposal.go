package multiraft

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// The proposal header is part of the Raft log format and must not change.
const (
	headerVersion = 1
	headerLen     = 1 + 8 + 8 // version, proposer node, proposal id
)

// putHeader writes the header of proposal id by node into b[:headerLen].
func putHeader(b []byte, node, id uint64) {
	b[0] = headerVersion
	binary.BigEndian.PutUint64(b[1:9], node)
	binary.BigEndian.PutUint64(b[9:17], id)
}

// parseHeader splits an entry's data into its header fields and payload.
// ok is false for data without a header (which the host never proposes).
func parseHeader(data []byte) (node, id uint64, payload []byte, ok bool) {
	if len(data) < headerLen || data[0] != headerVersion {
		return 0, 0, data, false
	}
	return binary.BigEndian.Uint64(data[1:9]), binary.BigEndian.Uint64(data[9:17]), data[headerLen:], true
}

// Proposal states; a queued proposal can still be withdrawn by its caller.
const (
	propQueued int32 = iota
	propHandedToRaft
	propWithdrawn
)

// proposal is one Propose or ProposeConfChange call waiting for its entry.
type proposal struct {
	id    uint64
	group uint64
	data  []byte               // header + payload, for a normal entry
	cc    *raftpb.ConfChangeV2 // with the header leading Context, for a change
	start time.Time

	state atomic.Int32 // propQueued → propHandedToRaft, or → propWithdrawn by the caller

	// Owned by the scheduler once handed to Raft:
	index, term uint64 // where the leader appended it; 0 until seen in a Ready
	heapIdx     int
	forwarded   bool // proposed on a follower and passed to the leader

	// Set before done is closed:
	res  Result
	err  error
	done chan struct{}
}

func (p *proposal) finish(res Result, err error) {
	p.res, p.err = res, err
	close(p.done)
}

// byIndex orders a group's proposals that have an index, lowest first, so
// the ones whose index got committed with another entry can be found.
type byIndex []*proposal

func (q byIndex) Len() int           { return len(q) }
func (q byIndex) Less(i, j int) bool { return q[i].index < q[j].index }
func (q byIndex) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].heapIdx, q[j].heapIdx = i, j
}
func (q *byIndex) Push(x any) {
	p := x.(*proposal)
	p.heapIdx = len(*q)
	*q = append(*q, p)
}
func (q *byIndex) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	p.heapIdx = -1
	*q = old[:len(old)-1]
	return p
}
