package wireserver

import (
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/wire"
)

// Consumer groups on the binary protocol: every body opens with the stream
// name, so admit authorizes them on the stream like any stream operation.

// groupControl runs one operation of consumer groups.
func (c *conn) groupControl(op wire.Op, body []byte) (wire.Message, error) {
	eng := c.srv.eng
	switch op {
	case wire.OpJoinGroup:
		return decodeAnd(body, func(m *wire.ReqJoinGroup) (wire.Message, error) {
			a, err := eng.JoinGroup(m.Stream, m.Group, m.Member, engine.GroupOptions{
				FailoverTime: time.Duration(m.FailoverMillis) * time.Millisecond, StartAtLatest: m.StartAtLatest})
			return WireAssignment(a), err
		})
	case wire.OpGroupHeartbeat:
		return decodeAnd(body, func(m *wire.ReqGroupMember) (wire.Message, error) {
			a, err := eng.GroupHeartbeat(m.Stream, m.Group, m.Member)
			return WireAssignment(a), err
		})
	case wire.OpLeaveGroup:
		return decodeAnd(body, func(m *wire.ReqGroupMember) (wire.Message, error) {
			return &wire.ReqEmpty{}, eng.LeaveGroup(m.Stream, m.Group, m.Member)
		})
	case wire.OpCheckpointGroup:
		return decodeAnd(body, func(m *wire.ReqCheckpointGroup) (wire.Message, error) {
			return &wire.ReqEmpty{}, eng.CheckpointGroup(m.Stream, m.Group, engine.GroupCheckpointInput{
				Member: m.Member, Shard: m.Shard, Epoch: m.Epoch, Release: m.Release,
				Checkpoint: engine.GroupCheckpoint(m.Checkpoint)})
		})
	case wire.OpListGroups:
		return decodeAnd(body, func(m *wire.ReqStream) (wire.Message, error) {
			l, err := eng.ListGroups(m.Stream)
			return &wire.RespGroups{Groups: l}, err
		})
	case wire.OpDescribeGroup:
		return decodeAnd(body, func(m *wire.ReqGroup) (wire.Message, error) {
			info, err := eng.DescribeGroup(m.Stream, m.Group)
			if err != nil {
				return nil, err
			}
			return WireGroupInfo(info), nil
		})
	case wire.OpResetGroup:
		return decodeAnd(body, func(m *wire.ReqResetGroup) (wire.Message, error) {
			return &wire.ReqEmpty{}, eng.ResetGroup(m.Stream, m.Group, engine.GroupReset{
				To: api.IteratorType(m.To), Time: m.Time, Seq: m.Seq})
		})
	case wire.OpDeleteGroup:
		return decodeAnd(body, func(m *wire.ReqGroup) (wire.Message, error) {
			return &wire.ReqEmpty{}, eng.DeleteGroup(m.Stream, m.Group)
		})
	}
	return nil, fmt.Errorf("wire: no group handler for %v", op)
}

// WireAssignment is a member's leases as the protocol carries them.
func WireAssignment(a engine.GroupAssignment) *wire.RespGroupAssignment {
	out := &wire.RespGroupAssignment{FailoverMillis: uint32(a.FailoverTime / time.Millisecond),
		HeartbeatMillis: uint32(a.HeartbeatInterval / time.Millisecond)}
	for _, l := range a.Leases {
		out.Leases = append(out.Leases, wire.GroupLease{Shard: l.Shard, Epoch: l.Epoch,
			Checkpoint: wire.GroupCheckpoint(l.Checkpoint), Release: l.Release, ReleaseBy: l.ReleaseBy})
	}
	return out
}

// WireGroupInfo is a group's description as the protocol carries it.
func WireGroupInfo(info *engine.GroupInfo) *wire.RespGroupInfo {
	out := &wire.RespGroupInfo{Name: info.Name, FailoverMillis: uint32(info.FailoverTime / time.Millisecond),
		Created: info.Created, LeaseMoves: info.LeaseMoves, FencedCheckpoints: info.FencedCheckpoints}
	for _, m := range info.Members {
		out.Members = append(out.Members, wire.GroupMember{Name: m.Name, LastHeartbeat: m.LastHeartbeat, Leases: uint32(m.Leases)})
	}
	for _, s := range info.Shards {
		out.Shards = append(out.Shards, wire.GroupShard{Shard: s.Shard, Owner: s.Owner, Epoch: s.Epoch, Releasing: s.Releasing,
			Checkpoint: wire.GroupCheckpoint(s.Checkpoint), Closed: s.Closed, Waiting: s.Waiting,
			LagRecords: s.LagRecords, LagMillis: s.LagMillis})
	}
	return out
}
