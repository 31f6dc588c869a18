package wire

import "time"

// The messages of consumer groups (OpJoinGroup ... OpDeleteGroup): a
// stream's named groups of members that share its shards through leases
// and checkpoints kept by the server. docs/protocol.md lists their bodies;
// docs/groups.md explains the protocol a member follows.

// Checkpoint flags: part of the format.
const (
	checkpointWhole    = 1 << 0
	checkpointShardEnd = 1 << 1
)

// GroupCheckpoint is how far a group got in a shard: str sequence number
// ("" for none) | u64 sub-sequence number | u8 flags (0x1 every sub-record
// of the record is done, 0x2 SHARD_END).
type GroupCheckpoint struct {
	Seq      string
	SubSeq   uint64
	Whole    bool
	ShardEnd bool
}

// groupCheckpointSize is the smallest encoded checkpoint.
const groupCheckpointSize = 2 + 8 + 1

func appendGroupCheckpoint(b []byte, c *GroupCheckpoint) []byte {
	b = AppendStr(b, c.Seq)
	b = appendU64(b, c.SubSeq)
	var f uint8
	if c.Whole {
		f |= checkpointWhole
	}
	if c.ShardEnd {
		f |= checkpointShardEnd
	}
	return AppendU8(b, f)
}

func (d *Decoder) groupCheckpoint(c *GroupCheckpoint) {
	c.Seq = d.str("checkpoint sequence number")
	c.SubSeq = d.U64("checkpoint sub-sequence number")
	f := d.u8("checkpoint flags")
	if f&^(checkpointWhole|checkpointShardEnd) != 0 {
		d.invalid("checkpoint flags", "flags %#02x set bits other than 0x1 (whole record) and 0x2 (SHARD_END)", f)
	}
	c.Whole, c.ShardEnd = f&checkpointWhole != 0, f&checkpointShardEnd != 0
}

// ReqJoinGroup: str stream | str group | str member | u32 failover time
// in ms (0: the group's, or 10,000 for a new group) | bool start a new group
// at the tip (LATEST) instead of the first records.
type ReqJoinGroup struct {
	Stream, Group, Member string
	FailoverMillis        uint32
	StartAtLatest         bool
}

func (m *ReqJoinGroup) AppendTo(b []byte) []byte {
	b = AppendStr(AppendStr(AppendStr(b, m.Stream), m.Group), m.Member)
	return appendBool(AppendU32(b, m.FailoverMillis), m.StartAtLatest)
}

func (m *ReqJoinGroup) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Group = d.str("group name")
	m.Member = d.str("member name")
	m.FailoverMillis = d.U32("failover time")
	m.StartAtLatest = d.boolean("start at latest")
}

// ReqGroupMember: str stream | str group | str member. GroupHeartbeat and
// LeaveGroup.
type ReqGroupMember struct{ Stream, Group, Member string }

func (m *ReqGroupMember) AppendTo(b []byte) []byte {
	return AppendStr(AppendStr(AppendStr(b, m.Stream), m.Group), m.Member)
}

func (m *ReqGroupMember) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Group = d.str("group name")
	m.Member = d.str("member name")
}

// ReqGroup: str stream | str group. DescribeGroup and DeleteGroup.
type ReqGroup struct{ Stream, Group string }

func (m *ReqGroup) AppendTo(b []byte) []byte { return AppendStr(AppendStr(b, m.Stream), m.Group) }

func (m *ReqGroup) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Group = d.str("group name")
}

// GroupLease is a lease as its owner sees it: str shard | u64 epoch |
// checkpoint | bool release | time release by.
type GroupLease struct {
	Shard      string
	Epoch      uint64
	Checkpoint GroupCheckpoint
	// Release asks the owner to checkpoint and release the lease by
	// ReleaseBy.
	Release   bool
	ReleaseBy time.Time
}

const groupLeaseSize = 2 + 8 + groupCheckpointSize + 1 + 8

// RespGroupAssignment is the response of JoinGroup and GroupHeartbeat:
// u32 failover time ms | u32 heartbeat interval ms | u32 count | lease ×
// count, by shard.
type RespGroupAssignment struct {
	FailoverMillis, HeartbeatMillis uint32
	Leases                          []GroupLease
}

func (m *RespGroupAssignment) AppendTo(b []byte) []byte {
	b = AppendU32(AppendU32(b, m.FailoverMillis), m.HeartbeatMillis)
	b = AppendU32(b, uint32(len(m.Leases)))
	for i := range m.Leases {
		l := &m.Leases[i]
		b = appendU64(AppendStr(b, l.Shard), l.Epoch)
		b = appendGroupCheckpoint(b, &l.Checkpoint)
		b = AppendTime(appendBool(b, l.Release), l.ReleaseBy)
	}
	return b
}

func (m *RespGroupAssignment) DecodeFrom(d *Decoder) {
	m.FailoverMillis = d.U32("failover time")
	m.HeartbeatMillis = d.U32("heartbeat interval")
	n := d.count("lease count", true, groupLeaseSize)
	m.Leases = nil
	if n > 0 {
		m.Leases = make([]GroupLease, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		l := &m.Leases[i]
		l.Shard = d.str("shard id")
		l.Epoch = d.U64("epoch")
		d.groupCheckpoint(&l.Checkpoint)
		l.Release = d.boolean("release")
		l.ReleaseBy = d.time("release by")
	}
}

// ReqCheckpointGroup: str stream | str group | str member | str shard |
// u64 epoch | checkpoint | bool release the lease after it. A checkpoint
// with no sequence number and no SHARD_END, with release, leaves the
// checkpoint as it is.
type ReqCheckpointGroup struct {
	Stream, Group, Member, Shard string
	Epoch                        uint64
	Checkpoint                   GroupCheckpoint
	Release                      bool
}

func (m *ReqCheckpointGroup) AppendTo(b []byte) []byte {
	b = AppendStr(AppendStr(AppendStr(AppendStr(b, m.Stream), m.Group), m.Member), m.Shard)
	b = appendGroupCheckpoint(appendU64(b, m.Epoch), &m.Checkpoint)
	return appendBool(b, m.Release)
}

func (m *ReqCheckpointGroup) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Group = d.str("group name")
	m.Member = d.str("member name")
	m.Shard = d.str("shard id")
	m.Epoch = d.U64("epoch")
	d.groupCheckpoint(&m.Checkpoint)
	m.Release = d.boolean("release")
}

// RespGroups is the response of ListGroups: u32 count | str name × count,
// sorted.
type RespGroups struct{ Groups []string }

func (m *RespGroups) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(m.Groups)))
	for _, g := range m.Groups {
		b = AppendStr(b, g)
	}
	return b
}

func (m *RespGroups) DecodeFrom(d *Decoder) {
	n := d.count("group count", true, 2)
	m.Groups = nil
	for i := 0; i < n && d.err == nil; i++ {
		m.Groups = append(m.Groups, d.str("group name"))
	}
}

// GroupMember describes a member: str name | time last heartbeat | u32
// leases held.
type GroupMember struct {
	Name          string
	LastHeartbeat time.Time
	Leases        uint32
}

// GroupShard is a group's progress in one shard: str shard | str owner |
// u64 epoch | bool releasing | checkpoint | bool closed | bool waiting for
// a parent | i64 lag in records | i64 lag in ms.
type GroupShard struct {
	Shard, Owner          string
	Epoch                 uint64
	Releasing             bool
	Checkpoint            GroupCheckpoint
	Closed, Waiting       bool
	LagRecords, LagMillis int64
}

// RespGroupInfo is the response of DescribeGroup: str name | u32 failover
// time ms | time created | u64 lease moves | u64 fenced checkpoints | u32
// count | member × count | u32 count | shard × count.
type RespGroupInfo struct {
	Name                          string
	FailoverMillis                uint32
	Created                       time.Time
	LeaseMoves, FencedCheckpoints uint64
	Members                       []GroupMember
	Shards                        []GroupShard
}

func (m *RespGroupInfo) AppendTo(b []byte) []byte {
	b = AppendU32(AppendStr(b, m.Name), m.FailoverMillis)
	b = appendU64(appendU64(AppendTime(b, m.Created), m.LeaseMoves), m.FencedCheckpoints)
	b = AppendU32(b, uint32(len(m.Members)))
	for i := range m.Members {
		mm := &m.Members[i]
		b = AppendU32(AppendTime(AppendStr(b, mm.Name), mm.LastHeartbeat), mm.Leases)
	}
	b = AppendU32(b, uint32(len(m.Shards)))
	for i := range m.Shards {
		s := &m.Shards[i]
		b = appendBool(appendU64(AppendStr(AppendStr(b, s.Shard), s.Owner), s.Epoch), s.Releasing)
		b = appendGroupCheckpoint(b, &s.Checkpoint)
		b = appendBool(appendBool(b, s.Closed), s.Waiting)
		b = appendI64(appendI64(b, s.LagRecords), s.LagMillis)
	}
	return b
}

func (m *RespGroupInfo) DecodeFrom(d *Decoder) {
	m.Name = d.str("group name")
	m.FailoverMillis = d.U32("failover time")
	m.Created = d.time("creation time")
	m.LeaseMoves = d.U64("lease moves")
	m.FencedCheckpoints = d.U64("fenced checkpoints")
	n := d.count("member count", true, 2+8+4)
	m.Members = nil
	if n > 0 {
		m.Members = make([]GroupMember, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		mm := &m.Members[i]
		mm.Name = d.str("member name")
		mm.LastHeartbeat = d.time("last heartbeat")
		mm.Leases = d.U32("leases")
	}
	n = d.count("shard count", true, 2+2+8+1+groupCheckpointSize+2+16)
	m.Shards = nil
	if n > 0 {
		m.Shards = make([]GroupShard, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		s := &m.Shards[i]
		s.Shard = d.str("shard id")
		s.Owner = d.str("owner")
		s.Epoch = d.U64("epoch")
		s.Releasing = d.boolean("releasing")
		d.groupCheckpoint(&s.Checkpoint)
		s.Closed = d.boolean("closed")
		s.Waiting = d.boolean("waiting")
		s.LagRecords = d.i64("lag in records")
		s.LagMillis = d.i64("lag in ms")
	}
}

// ReqResetGroup: str stream | str group | str target (TRIM_HORIZON,
// LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER) | time (AT_TIMESTAMP) | str
// sequence number (AT_SEQUENCE_NUMBER: that record's shard only).
type ReqResetGroup struct {
	Stream, Group, To string
	Time              time.Time
	Seq               string
}

func (m *ReqResetGroup) AppendTo(b []byte) []byte {
	b = AppendStr(AppendStr(AppendStr(b, m.Stream), m.Group), m.To)
	return AppendStr(AppendTime(b, m.Time), m.Seq)
}

func (m *ReqResetGroup) DecodeFrom(d *Decoder) {
	m.Stream = d.str("stream name")
	m.Group = d.str("group name")
	m.To = d.str("reset target")
	m.Time = d.time("timestamp")
	m.Seq = d.str("sequence number")
}
