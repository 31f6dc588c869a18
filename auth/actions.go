package auth

// Action names of sluice's own operations, which have no Kinesis
// counterpart. Kinesis operations are authorized as "kinesis:" and the
// operation's name, as on AWS ("kinesis:PutRecords").
const (
	// ActionSetQuotas changes a stream's per-shard quotas.
	ActionSetQuotas = "sluice:SetQuotas"
	// ActionSetDurability changes when a stream's puts are acknowledged.
	ActionSetDurability = "sluice:SetDurability"

	// The actions of consumer groups, on the stream's ARN. A member needs
	// ActionJoinGroup (JoinGroup, GroupHeartbeat, LeaveGroup) and
	// ActionCheckpointGroup, plus kinesis:GetRecords and
	// kinesis:GetShardIterator to read its shards.
	ActionJoinGroup       = "sluice:JoinGroup"
	ActionCheckpointGroup = "sluice:CheckpointGroup"
	ActionListGroups      = "sluice:ListGroups"
	ActionDescribeGroup   = "sluice:DescribeGroup"
	ActionResetGroup      = "sluice:ResetGroup"
	ActionDeleteGroup     = "sluice:DeleteGroup"
)

// AllResources is the resource of actions that act on no particular
// resource (ListStreams, DescribeLimits): a statement must name "*" (or a
// pattern matching "*") to cover them, as on AWS.
const AllResources = "*"
