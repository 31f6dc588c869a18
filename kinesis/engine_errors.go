package kinesis

import "github.com/sluicedb/sluice/api"

// engineMessage words an engine error as Kinesis does, naming account where
// AWS's message names one. Errors worded alike at every door keep the
// engine's plain message.
func engineMessage(e *api.Error, account string) string {
	switch e.Reason {
	case api.ReasonStreamNotFound:
		return "Stream " + e.Stream + " under account " + account + " not found."
	case api.ReasonStreamExists:
		return "Stream " + e.Stream + " under account " + account + " already exists."
	case api.ReasonShardNotFound:
		return "Shard " + e.Shard + " in stream " + e.Stream + " under account " + account + " does not exist"
	case api.ReasonConsumerNotFound:
		return "Consumer " + e.Consumer + " under stream " + e.Stream + " not found for account " + account + "."
	case api.ReasonConsumerExists:
		return "Consumer " + e.Consumer + " under stream " + e.Stream + " already exists for account " + account + "."
	case api.ReasonShardThrottled:
		if e.Shard == "" {
			return "Rate exceeded for shard"
		}
		return "Rate exceeded for shard " + e.Shard + " in stream " + e.Stream + " under account " + account + "."
	case api.ReasonSeqOtherStream:
		return seqMessage(e, account) + " is invalid: it belongs to an earlier stream of the same name"
	case api.ReasonSeqOtherShard:
		return seqMessage(e, account) + " is invalid because it did not come from this shard"
	case api.ReasonSeqBeyondEnd:
		return seqMessage(e, account) + " is beyond the newest record of the shard"
	case api.ReasonShardClosed:
		return "Shard " + e.Shard + " in stream " + e.Stream + " under account " + account +
			" has already been merged or split, and thus is not eligible for merging or splitting."
	case api.ReasonHashKeyOutOfRange:
		return "NewStartingHashKey " + e.Arg + " used in SplitShard() on shard " + e.Shard + " in stream " + e.Stream +
			" under account " + account + " is not within the shard's range " + e.Detail + " or equals its starting hash key"
	case api.ReasonNotAdjacent:
		return "shards " + e.Shard + " and " + e.Arg + " in stream " + e.Stream + " under account " + account +
			" are not adjacent: their hash key ranges do not touch"
	}
	return e.Error()
}

func seqMessage(e *api.Error, account string) string {
	return "StartingSequenceNumber " + e.Arg + " used in GetShardIterator on shard " + e.Shard + " in stream " + e.Stream +
		" under account " + account
}
