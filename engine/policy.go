package engine

import "github.com/sluicedb/sluice/api"

// updateStream applies fn to a copy of a stream's catalog entry, persists it,

// and installs it. fn validates and returns an *Error to refuse the change.

// IncreaseRetention raises a stream's retention period (24..8760 hours).

// Records that already expired stay gone.

// DecreaseRetention lowers a stream's retention period; records older than

// the new period are removed by the next retention pass.

// AddTags adds or replaces tags on a stream (at most 50 in all).

// RemoveTags removes the named tags; unknown keys are ignored.

// SetEncryption records a stream's server-side encryption setting ("KMS"

// with a key id, or "NONE").

// ShardLevelMetrics are the enhanced monitoring metric names.

// SetMonitoring enables (enable=true) or disables shard-level metrics ("ALL"

// names them all) and returns the metrics enabled before and after.

// SetMaxRecordSize changes the largest record (key + data) a stream accepts.

// SetStreamMode switches a stream between PROVISIONED and ON_DEMAND. The

// shard count is kept; from then on the autoscaler (autoscale.go) rescales an

// ON_DEMAND stream, first up to its minimum of api.OnDemandShards. The stream

// is UPDATING meanwhile: a concurrent reshard or mode change fails with

// ResourceInUse.

// SetQuotas sets a stream's own limits; nil returns it to the server default.

// The change applies to the next request.

// SetDurability sets a stream's acknowledgement mode (DurabilityDefault

// returns it to the server's).

// setPolicy stores (or with "" deletes) the resource policy of a stream, or

// of one of its consumers when consumer is not empty.

func (e *Engine) setPolicy(name, consumer, policy string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if len(policy) > 20480 {
			return errorf(api.CodeInvalidArgument, "policy is %d bytes; the limit is 20480", len(policy))
		}
		if consumer == "" {
			m.Policy = policy
			return nil
		}
		for _, c := range m.Consumers {
			if c.Name == consumer {
				c.Policy = policy
				return nil
			}
		}
		return api.ConsumerNotFound(name, consumer)
	})
}

// Policy returns the resource policy of a stream or one of its consumers.

func (e *Engine) Policy(name, consumer string) (string, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st, err := e.lookupLocked(name)
	if err != nil {
		return "", err
	}
	if consumer == "" {
		return st.meta.Policy, nil
	}
	for _, c := range st.meta.Consumers {
		if c.Name == consumer {
			return c.Policy, nil
		}
	}
	return "", api.ConsumerNotFound(name, consumer)
}

// RegisterConsumer registers an enhanced fan-out consumer (at most 20 per

// stream). It is ACTIVE when the call returns.

// DeregisterConsumer removes a consumer.

// Consumer describes one registered consumer.

// Metrics calls fn with a snapshot of every live shard's counters.
