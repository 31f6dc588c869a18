package auth

// Action names of sluice's own operations, which have no Kinesis
// counterpart. Kinesis operations are authorized as "kinesis:" and the
// operation's name, as on AWS ("kinesis:PutRecords").
const (
	// ActionSetQuotas changes a stream's per-shard quotas.
	ActionSetQuotas = "sluice:SetQuotas"
	// ActionSetDurability changes when a stream's puts are acknowledged.
	ActionSetDurability = "sluice:SetDurability"
)

// AllResources is the resource of actions that act on no particular
// resource (ListStreams, DescribeLimits): a statement must name "*" (or a
// pattern matching "*") to cover them, as on AWS.
const AllResources = "*"
