package client

import (
	"context"
	"time"

	"github.com/sluicedb/sluice/wire"
)

// The operations of consumer groups. GroupConsumer (group_consumer.go)
// runs a member on top of them; these are for tools and for members
// written by hand. A checkpoint refused because the member no longer holds
// the lease is an *Error named ResourceInUseException whose message opens
// with "lease lost" (see IsLeaseLost).

// GroupCheckpoint is how far a group got in a shard.
type GroupCheckpoint = wire.GroupCheckpoint

// GroupLease is a lease as its owner sees it.
type GroupLease = wire.GroupLease

// GroupAssignment is what a member holds after a join or a heartbeat.
type GroupAssignment = wire.RespGroupAssignment

// GroupInfo describes a group: members, and per shard its lease,
// checkpoint and lag.
type GroupInfo = wire.RespGroupInfo

// JoinGroupOptions configures a group when a join creates it.
type JoinGroupOptions struct {
	// FailoverTime is how long a member may go without a heartbeat before
	// its leases go to others; 0 keeps the group's (10 s for a new group).
	FailoverTime time.Duration
	// StartAtLatest makes a new group start at the tip of the shards open
	// now instead of at their first records.
	StartAtLatest bool
}

// JoinGroup makes member a member of group on stream (creating the group)
// and returns its leases.
func (c *Client) JoinGroup(ctx context.Context, stream, group, member string, opts JoinGroupOptions) (*GroupAssignment, error) {
	for _, f := range [][2]string{{"stream name", stream}, {"group name", group}, {"member name", member}} {
		if err := checkStr(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	var resp GroupAssignment
	err := c.do(ctx, wire.OpJoinGroup, &wire.ReqJoinGroup{Stream: stream, Group: group, Member: member,
		FailoverMillis: uint32(opts.FailoverTime / time.Millisecond), StartAtLatest: opts.StartAtLatest}, &resp)
	return &resp, err
}

// GroupHeartbeat keeps member alive and returns its leases.
func (c *Client) GroupHeartbeat(ctx context.Context, stream, group, member string) (*GroupAssignment, error) {
	var resp GroupAssignment
	err := c.do(ctx, wire.OpGroupHeartbeat, &wire.ReqGroupMember{Stream: stream, Group: group, Member: member}, &resp)
	return &resp, err
}

// LeaveGroup removes member from group; its leases go to others at once.
func (c *Client) LeaveGroup(ctx context.Context, stream, group, member string) error {
	return c.do(ctx, wire.OpLeaveGroup, &wire.ReqGroupMember{Stream: stream, Group: group, Member: member}, nil)
}

// CheckpointGroup records how far member got in shard under the lease of
// epoch, and gives the lease up if release. It returns once the checkpoint
// is durable on the server.
func (c *Client) CheckpointGroup(ctx context.Context, stream, group, member, shard string, epoch uint64, cp GroupCheckpoint, release bool) error {
	return c.do(ctx, wire.OpCheckpointGroup, &wire.ReqCheckpointGroup{Stream: stream, Group: group, Member: member,
		Shard: shard, Epoch: epoch, Checkpoint: cp, Release: release}, nil)
}

// ListGroups names the groups of stream.
func (c *Client) ListGroups(ctx context.Context, stream string) ([]string, error) {
	var resp wire.RespGroups
	err := c.do(ctx, wire.OpListGroups, &wire.ReqStream{Stream: stream}, &resp)
	return resp.Groups, err
}

// DescribeGroup describes group on stream.
func (c *Client) DescribeGroup(ctx context.Context, stream, group string) (*GroupInfo, error) {
	var resp GroupInfo
	if err := c.do(ctx, wire.OpDescribeGroup, &wire.ReqGroup{Stream: stream, Group: group}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// GroupResetTarget says where ResetGroup moves a group's checkpoints.
type GroupResetTarget struct {
	// To is TRIM_HORIZON, LATEST, AT_TIMESTAMP (with Time) or
	// AT_SEQUENCE_NUMBER (with Seq: that record's shard only).
	To   string
	Time time.Time
	Seq  string
}

// ResetGroup moves a group's checkpoints (backwards too) and takes its
// leases back; members get them again from the new checkpoints.
func (c *Client) ResetGroup(ctx context.Context, stream, group string, to GroupResetTarget) error {
	return c.do(ctx, wire.OpResetGroup, &wire.ReqResetGroup{Stream: stream, Group: group, To: to.To, Time: to.Time, Seq: to.Seq}, nil)
}

// DeleteGroup removes a group and its checkpoints.
func (c *Client) DeleteGroup(ctx context.Context, stream, group string) error {
	return c.do(ctx, wire.OpDeleteGroup, &wire.ReqGroup{Stream: stream, Group: group}, nil)
}
