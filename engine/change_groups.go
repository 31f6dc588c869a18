package engine

import (
	"time"

	"github.com/sluicedb/sluice/api"
)

// Consumer groups and encryption on a replica of a cluster. Every group call
// that may change a group (join, heartbeat, checkpoint, leave, reset,
// delete) and SetEncryption is a catalog change (change.go), applied by
// every node in the same order:
//
//   - Time is the change's clock (Change.Now, the proposer's), so a member's
//     last call, a lease's deadline and the expiry of a silent member are
//     judged the same on every node, and assignment, which depends on
//     nothing else but the catalog's shards, gives the same leases
//     everywhere.
//   - Whatever a call reads of the shards' records (the tips a group that
//     starts at the latest records begins with, the positions a reset moves
//     to, whether a checkpoint names a record that exists) is read on the
//     proposer and carried in the change's arguments: each node's own
//     replica of a shard may be behind.
//   - A node writes what a change changed to the stream's group log, whole
//     (members and moves included, which a single node does not keep), with
//     the change's index, in one synced append. After a restart the log
//     gives back the state every other node holds, and a change the log
//     already holds is not applied again, even if the catalog had not yet
//     recorded it as applied when the node stopped.
//
// Read-only calls (ListGroups, DescribeGroup, GroupMetrics) answer from this
// node's state as of the last change it applied.

// Group and encryption change operations.
const (
	opJoinGroup       = "JoinGroup"
	opGroupHeartbeat  = "GroupHeartbeat"
	opCheckpointGroup = "CheckpointGroup"
	opLeaveGroup      = "LeaveGroup"
	opResetGroup      = "ResetGroup"
	opDeleteGroup     = "DeleteGroup"
	opSetEncryption   = "SetEncryption"
)

// checkpointTipWait is how long a proposer waits for its own replica of a
// shard to hold the record a checkpoint names before it refuses the
// checkpoint as beyond the shard's end: 2 s, many times a replica's usual
// lag, since the member may have read the record from another node.
const checkpointTipWait = 2 * time.Second

type (
	// groupArgs are the arguments of a group change.
	groupArgs struct {
		Stream string `json:"stream"`
		// Inc is the stream's incarnation the proposer saw: a stream
		// deleted and created again meanwhile is another stream.
		Inc           uint32                `json:"inc"`
		Group         string                `json:"group"`
		Member        string                `json:"member,omitempty"`
		Failover      time.Duration         `json:"failover,omitempty"`
		StartAtLatest bool                  `json:"start_at_latest,omitempty"`
		Shard         int                   `json:"shard,omitempty"`
		In            *GroupCheckpointInput `json:"in,omitempty"`
		// CPs are checkpoints read on the proposer: a join's tips, a
		// checkpoint's own (parsed), a reset's targets.
		CPs []cpArg `json:"cps,omitempty"`
		// Only is the one shard a reset moves, -1 for all.
		Only int `json:"only,omitempty"`
	}
	cpArg struct {
		Shard int    `json:"shard"`
		Kind  cpKind `json:"kind"`
		Seq   uint64 `json:"seq,omitempty"`
		Sub   uint64 `json:"sub,omitempty"`
	}
	encryptionArgs struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		KeyID string `json:"key_id,omitempty"`
	}
)

func cpArgs(cps map[int]checkpoint) []cpArg {
	out := make([]cpArg, 0, len(cps))
	for idx, c := range cps {
		out = append(out, cpArg{Shard: idx, Kind: c.kind, Seq: c.seq, Sub: c.sub})
	}
	return out
}

func cpMap(args []cpArg) map[int]checkpoint {
	out := make(map[int]checkpoint, len(args))
	for _, a := range args {
		out[a.Shard] = checkpoint{kind: a.Kind, seq: a.Seq, sub: a.Sub}
	}
	return out
}

// groupChange proposes a group change of the stream, filling in its
// incarnation.
func (e *Engine) groupChange(op string, a *groupArgs) (any, error) {
	st, err := e.lookup(a.Stream)
	if err != nil {
		return nil, err
	}
	if a.Inc == 0 {
		a.Inc = st.inc
	}
	return e.change(op, a)
}

func (e *Engine) proposeJoin(stream, group, member string, opts GroupOptions) (GroupAssignment, error) {
	st, err := e.lookup(stream)
	if err != nil {
		return GroupAssignment{}, err
	}
	a := &groupArgs{Stream: stream, Inc: st.inc, Group: group, Member: member, Failover: opts.FailoverTime, StartAtLatest: opts.StartAtLatest}
	if opts.StartAtLatest {
		// Read whether or not the group exists here: it may be deleted
		// by the time the change applies, and then the join creates it.
		tips, err := e.tipCheckpoints(st, e.shardViews(st))
		if err != nil {
			return GroupAssignment{}, err
		}
		a.CPs = cpArgs(tips)
	}
	return result[GroupAssignment](e.groupChange(opJoinGroup, a))
}

func (e *Engine) proposeHeartbeat(stream, group, member string) (GroupAssignment, error) {
	return result[GroupAssignment](e.groupChange(opGroupHeartbeat, &groupArgs{Stream: stream, Group: group, Member: member}))
}

func (e *Engine) proposeCheckpoint(stream, group string, idx int, in GroupCheckpointInput) error {
	st, err := e.lookup(stream)
	if err != nil {
		return err
	}
	a := &groupArgs{Stream: stream, Inc: st.inc, Group: group, Shard: idx, In: &in}
	if !(in.Release && in.Checkpoint == (GroupCheckpoint{})) {
		var c checkpoint
		if in.Checkpoint.ShardEnd {
			// Whether the shard is closed is the catalog's to say when
			// the change applies: this node may not have applied the
			// split or merge that closed it yet.
			c = checkpoint{kind: cpEnd}
		} else {
			e.waitForRecord(st, idx, in.Checkpoint.Seq)
			if c, err = e.parseCheckpoint(st, idx, in.Checkpoint); err != nil {
				return err
			}
		}
		a.CPs = []cpArg{{Shard: idx, Kind: c.kind, Seq: c.seq, Sub: c.sub}}
	}
	_, err = e.groupChange(opCheckpointGroup, a)
	return err
}

// waitForRecord waits, for up to checkpointTipWait, until this node's
// replica of shard idx holds the record seq names (if it names one of the
// shard): a member may checkpoint through this node a record it read from
// another that is ahead.
func (e *Engine) waitForRecord(st *stream, idx int, seq string) {
	sn, err := api.ParseSeqNum(seq)
	if err != nil || sn.Incarnation != st.inc || int(sn.Shard) != idx {
		return
	}
	sh := st.shard(idx)
	if sh == nil {
		return
	}
	timer := time.NewTimer(checkpointTipWait)
	defer timer.Stop()
	for {
		ch := sh.changed()
		_, next, err := sh.bounds()
		if err != nil || sn.Seq < next || sh.isClosed() {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		}
	}
}

func (e *Engine) proposeLeave(stream, group, member string) error {
	_, err := e.groupChange(opLeaveGroup, &groupArgs{Stream: stream, Group: group, Member: member})
	return err
}

func (e *Engine) proposeReset(stream, group string, to GroupReset) error {
	st, err := e.lookup(stream)
	if err != nil {
		return err
	}
	_, cps, only, err := e.resetTargets(stream, st, to)
	if err != nil {
		return err
	}
	_, err = e.groupChange(opResetGroup, &groupArgs{Stream: stream, Inc: st.inc, Group: group, CPs: cpArgs(cps), Only: only})
	return err
}

func (e *Engine) proposeDelete(stream, group string) error {
	_, err := e.groupChange(opDeleteGroup, &groupArgs{Stream: stream, Group: group})
	return err
}

// applyGroupChange applies a group change to this node's groups and writes
// what it changed to the stream's group log, with the change's index.
func (e *Engine) applyGroupChange(c *Change) (any, error) {
	var a groupArgs
	if err := decodeArgs(c, &a); err != nil {
		return nil, err
	}
	gs, st, err := e.lockGroups(a.Stream)
	if err != nil {
		return nil, err
	}
	defer gs.unlock()
	if st.inc != a.Inc {
		// Deleted and created again since the call was made.
		return nil, api.StreamNotFound(a.Stream)
	}
	if c.index != 0 && c.index <= gs.applied {
		return nil, nil // the group log holds it: applied before a restart
	}
	now := time.Unix(0, c.Now)
	before := gs.image(a.Group)
	gs.collect = true
	res, err := e.groupChangeLocked(gs, st, c.Op, &a, now)
	gs.collect = false
	recs := diffGroup(a.Group, before, gs.image(a.Group))
	recs = append(recs, groupRecord{Type: groupRecApplied, Index: c.index})
	if perr := e.persistGroups(gs, recs...); perr != nil {
		// This node's groups of the stream now differ from what its log
		// holds; the log refuses every later write (its error is
		// sticky), so every later change of them fails here, loudly,
		// until the node is restarted.
		e.opts.Logger.Error("could not persist a replicated change of consumer groups; this node's groups of the stream serve no more changes until it restarts",
			"stream", a.Stream, "group", a.Group, "op", c.Op, "index", c.index, "err", perr)
		return nil, perr
	}
	gs.applied = max(gs.applied, c.index)
	return res, err
}

// groupChangeLocked applies the group change op at now. Called with gs.mu
// held.
func (e *Engine) groupChangeLocked(gs *groupSet, st *stream, op string, a *groupArgs, now time.Time) (any, error) {
	at := func() time.Time { return now }
	switch op {
	case opJoinGroup:
		opts := GroupOptions{FailoverTime: a.Failover, StartAtLatest: a.StartAtLatest}
		return e.joinLocked(gs, st, a.Group, a.Member, opts, now, func() (map[int]checkpoint, error) { return cpMap(a.CPs), nil })
	case opGroupHeartbeat:
		return e.heartbeatGroup(gs, st, a.Group, a.Member, now)
	case opCheckpointGroup:
		if a.In == nil {
			return nil, errorf(api.CodeInternal, "a replicated checkpoint of group %s without its input", a.Group)
		}
		return nil, e.checkpointLocked(gs, st, a.Group, a.Shard, *a.In, now, func() (checkpoint, error) {
			return e.replicatedCheckpoint(st, a)
		})
	case opLeaveGroup:
		return nil, e.leaveLocked(gs, st, a.Group, a.Member, at)
	case opResetGroup:
		return nil, e.resetLocked(gs, st, a.Group, e.shardViews(st), cpMap(a.CPs), a.Only, at)
	case opDeleteGroup:
		return nil, e.deleteLocked(gs, st, a.Group)
	}
	return nil, errorf(api.CodeInternal, "unknown group change %q", clip(op))
}

// replicatedCheckpoint is the checkpoint the proposer parsed, checked
// against what every node agrees on: the catalog's shards.
func (e *Engine) replicatedCheckpoint(st *stream, a *groupArgs) (checkpoint, error) {
	if len(a.CPs) != 1 || a.CPs[0].Shard != a.Shard {
		return checkpoint{}, errorf(api.CodeInternal, "a replicated checkpoint of group %s without its position", a.Group)
	}
	c := checkpoint{kind: a.CPs[0].Kind, seq: a.CPs[0].Seq, sub: a.CPs[0].Sub}
	for _, s := range e.shardViews(st) {
		if s.idx != a.Shard {
			continue
		}
		if c.kind == cpEnd && !s.closed {
			return checkpoint{}, errorf(api.CodeInvalidArgument,
				"%s is open; SHARD_END is a checkpoint of a closed shard read to its end", api.ShardID(a.Shard))
		}
		return c, nil
	}
	return checkpoint{}, api.ShardNotFound(st.name, api.ShardID(a.Shard))
}

// groupImage is what a replica keeps of a group, to compare before and
// after a change.
type groupImage struct {
	failover time.Duration
	start    uint8
	created  int64
	members  map[string]int64 // last call, Unix ns
	leases   map[int]leaseImage
	cps      map[int]checkpoint
}

type leaseImage struct {
	owner     string
	epoch     uint64
	to        string
	releaseBy int64
}

// image copies group name of the set, nil if there is none. Called with
// gs.mu held.
func (gs *groupSet) image(name string) *groupImage {
	g := gs.groups[name]
	if g == nil {
		return nil
	}
	im := &groupImage{failover: g.failover, start: g.start, created: g.created,
		members: make(map[string]int64, len(g.members)), leases: make(map[int]leaseImage, len(g.leases)),
		cps: make(map[int]checkpoint, len(g.cps))}
	for n, m := range g.members {
		im.members[n] = unixNano(m.seen)
	}
	for idx, l := range g.leases {
		im.leases[idx] = leaseImage{owner: l.owner, epoch: l.epoch, to: l.to, releaseBy: unixNano(l.releaseBy)}
	}
	for idx, c := range g.cps {
		im.cps[idx] = c
	}
	return im
}

// diffGroup is the group log records that take group name from a to b (nil:
// no group).
func diffGroup(name string, a, b *groupImage) []groupRecord {
	if b == nil {
		if a == nil {
			return nil
		}
		return []groupRecord{{Type: groupRecDelete, Group: name}}
	}
	var recs []groupRecord
	if a != nil && a.created != b.created {
		// A group deleted and created again: nothing carries over.
		recs = append(recs, groupRecord{Type: groupRecDelete, Group: name})
		a = nil
	}
	if a == nil || a.failover != b.failover {
		recs = append(recs, groupRecord{Type: groupRecGroup, Group: name, Failover: uint64(b.failover / time.Millisecond),
			Start: b.start, Created: b.created})
	}
	if a == nil {
		a = &groupImage{}
	}
	for n, seen := range b.members {
		if old, ok := a.members[n]; !ok || old != seen {
			recs = append(recs, groupRecord{Type: groupRecMember, Group: name, Member: n, At: seen})
		}
	}
	for n := range a.members {
		if _, ok := b.members[n]; !ok {
			recs = append(recs, groupRecord{Type: groupRecMember, Group: name, Member: n})
		}
	}
	for idx, c := range b.cps {
		if old, ok := a.cps[idx]; !ok || old != c {
			recs = append(recs, groupRecord{Type: groupRecCheckpoint, Group: name, Shard: uint32(idx), Kind: uint8(c.kind), Seq: c.seq, Sub: c.sub})
		}
	}
	for idx := range a.cps {
		if _, ok := b.cps[idx]; !ok {
			recs = append(recs, groupRecord{Type: groupRecCheckpoint, Group: name, Shard: uint32(idx), Kind: uint8(cpNone)})
		}
	}
	for idx, l := range b.leases {
		if old, ok := a.leases[idx]; ok && old == l {
			continue
		}
		recs = append(recs, groupRecord{Type: groupRecLease, Group: name, Shard: uint32(idx), Owner: l.owner, Epoch: l.epoch})
		if l.to != "" || l.releaseBy != 0 {
			recs = append(recs, groupRecord{Type: groupRecMove, Group: name, Shard: uint32(idx), Member: l.to, At: l.releaseBy})
		}
	}
	for idx, l := range a.leases {
		if _, ok := b.leases[idx]; !ok {
			// The shard is gone from the catalog; the next assignment
			// drops the lease on every node alike.
			recs = append(recs, groupRecord{Type: groupRecLease, Group: name, Shard: uint32(idx), Epoch: l.epoch})
		}
	}
	return recs
}
