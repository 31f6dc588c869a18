package engine

import (
	"sort"
	"time"
	"unicode/utf8"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// updateStream applies fn to a copy of a stream's catalog entry, persists it,
// and installs it. fn validates and returns an *Error to refuse the change.
func (e *Engine) updateStream(name string, fn func(m *streamMeta) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	st, err := e.lookupLocked(name)
	if err != nil {
		return err
	}
	next := st.meta.clone()
	if err := fn(next); err != nil {
		return err
	}
	if err := e.persist(name, next); err != nil {
		return err
	}
	st.meta = next
	st.applySettings()
	return nil
}

// IncreaseRetention raises a stream's retention period (24..8760 hours).
// Records that already expired stay gone.
func (e *Engine) IncreaseRetention(name string, hours int) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if err := checkRetention(hours); err != nil {
			return err
		}
		if hours < m.RetentionHours {
			return errorf(api.CodeInvalidArgument,
				"Requested retention period (%d hours) for stream %s can not be shorter than existing retention period (%d hours). Use DecreaseRetentionPeriod API.",
				hours, name, m.RetentionHours)
		}
		m.RetentionHours = hours
		return nil
	})
}

// DecreaseRetention lowers a stream's retention period; records older than
// the new period are removed by the next retention pass.
func (e *Engine) DecreaseRetention(name string, hours int) error {
	err := e.updateStream(name, func(m *streamMeta) error {
		if err := checkRetention(hours); err != nil {
			return err
		}
		if hours > m.RetentionHours {
			return errorf(api.CodeInvalidArgument,
				"Requested retention period (%d hours) for stream %s can not be longer than existing retention period (%d hours). Use IncreaseRetentionPeriod API.",
				hours, name, m.RetentionHours)
		}
		m.RetentionHours = hours
		return nil
	})
	if err == nil {
		e.expireStream(name)
	}
	return err
}

func checkRetention(hours int) error {
	if hours < api.MinRetentionHours || hours > api.MaxRetentionHours {
		return errorf(api.CodeInvalidArgument, "retention period is %d hours; it must be between %d and %d", hours, api.MinRetentionHours, api.MaxRetentionHours)
	}
	return nil
}

func checkTags(tags map[string]string, existing int) error {
	if len(tags)+existing > api.MaxTags {
		return errorf(api.CodeInvalidArgument, "a stream may have at most %d tags; this would make %d", api.MaxTags, len(tags)+existing)
	}
	for k, v := range tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			return errorf(api.CodeInvalidArgument, "tag key %q is %d characters; it must be 1 to 128", clip(k), n)
		}
		if n := utf8.RuneCountInString(v); n > 256 {
			return errorf(api.CodeInvalidArgument, "tag value for key %q is %d characters; the limit is 256", clip(k), n)
		}
	}
	return nil
}

// AddTags adds or replaces tags on a stream (at most 50 in all).
func (e *Engine) AddTags(name string, tags map[string]string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		added := 0
		for k := range tags {
			if _, ok := m.Tags[k]; !ok {
				added++
			}
		}
		if err := checkTags(tags, len(m.Tags)+added-len(tags)); err != nil {
			return err
		}
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		for k, v := range tags {
			m.Tags[k] = v
		}
		return nil
	})
}

// RemoveTags removes the named tags; unknown keys are ignored.
func (e *Engine) RemoveTags(name string, keys []string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		for _, k := range keys {
			delete(m.Tags, k)
		}
		return nil
	})
}

// SetEncryption records a stream's server-side encryption setting ("KMS"
// with a key id, or "NONE").
func (e *Engine) SetEncryption(name, typ, keyID string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		switch typ {
		case "KMS":
			if keyID == "" || len(keyID) > 2048 {
				return errorf(api.CodeInvalidArgument, "KeyId must be 1 to 2048 characters")
			}
			m.EncryptionType, m.KeyID = "KMS", keyID
		case "NONE":
			m.EncryptionType, m.KeyID = "NONE", ""
		default:
			return errorf(api.CodeInvalidArgument, "encryption type %q is not KMS or NONE", clip(typ))
		}
		return nil
	})
}

// ShardLevelMetrics are the enhanced monitoring metric names.
var ShardLevelMetrics = []string{
	"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
	"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds",
}

// SetMonitoring enables (enable=true) or disables shard-level metrics ("ALL"
// names them all) and returns the metrics enabled before and after.
func (e *Engine) SetMonitoring(name string, metrics []string, enable bool) (before, after []string, err error) {
	err = e.updateStream(name, func(m *streamMeta) error {
		set := map[string]bool{}
		for _, x := range m.Monitoring {
			set[x] = true
		}
		before = append([]string(nil), m.Monitoring...)
		for _, x := range metrics {
			names := []string{x}
			if x == "ALL" {
				names = ShardLevelMetrics
			} else if !isShardMetric(x) {
				return errorf(api.CodeInvalidArgument, "shard-level metric %q is not one of ALL, %v", clip(x), ShardLevelMetrics)
			}
			for _, n := range names {
				set[n] = enable
			}
		}
		m.Monitoring = m.Monitoring[:0]
		for _, n := range ShardLevelMetrics {
			if set[n] {
				m.Monitoring = append(m.Monitoring, n)
			}
		}
		after = append([]string(nil), m.Monitoring...)
		return nil
	})
	return before, after, err
}

func isShardMetric(s string) bool {
	for _, n := range ShardLevelMetrics {
		if n == s {
			return true
		}
	}
	return false
}

// SetMaxRecordSize changes the largest record (key + data) a stream accepts.
func (e *Engine) SetMaxRecordSize(name string, bytes int) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if bytes < api.DefaultMaxRecord || bytes > api.MaxMaxRecord {
			return errorf(api.CodeValidation, "maximum record size is %d KiB; it must be between 1024 and 10240 KiB", bytes>>10)
		}
		m.MaxRecordSize = bytes
		return nil
	})
}

// SetStreamMode switches a stream between PROVISIONED and ON_DEMAND. The
// shard count is kept; on-demand streams are not rescaled automatically.
func (e *Engine) SetStreamMode(name string, mode api.StreamMode) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if mode != api.Provisioned && mode != api.OnDemand {
			return errorf(api.CodeInvalidArgument, "stream mode %q is not PROVISIONED or ON_DEMAND", clip(string(mode)))
		}
		m.Mode = mode
		return nil
	})
}

// SetQuotas sets a stream's own limits; nil returns it to the server default.
// The change applies to the next request.
func (e *Engine) SetQuotas(name string, q *ratelimit.Limits) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if q == nil {
			m.Quotas = nil
			return nil
		}
		if err := q.Validate(); err != nil {
			return &api.Error{Code: api.CodeInvalidArgument, Detail: "quotas", Err: err}
		}
		c := *q
		m.Quotas = &c
		return nil
	})
}

// SetDurability sets a stream's acknowledgement mode (DurabilityDefault
// returns it to the server's).
func (e *Engine) SetDurability(name string, d api.Durability) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if d > api.None {
			return errorf(api.CodeInvalidArgument, "unknown durability mode %d", d)
		}
		m.Durability = d
		return nil
	})
}

// SetPolicy stores (or with "" deletes) the resource policy of a stream, or
// of one of its consumers when consumer is not empty.
func (e *Engine) SetPolicy(name, consumer, policy string) error {
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
func (e *Engine) RegisterConsumer(name, consumer string, tags map[string]string) (api.ConsumerInfo, error) {
	var out api.ConsumerInfo
	if !validName(consumer) {
		return out, errorf(api.CodeInvalidArgument, "consumer name %q is invalid: it must be 1 to 128 characters of a-z, A-Z, 0-9, '_', '.' and '-'", clip(consumer))
	}
	err := e.updateStream(name, func(m *streamMeta) error {
		for _, c := range m.Consumers {
			if c.Name == consumer {
				return &api.Error{Code: api.CodeResourceInUse, Reason: api.ReasonConsumerExists, Stream: name, Consumer: consumer}
			}
		}
		if len(m.Consumers) >= api.MaxConsumers {
			return errorf(api.CodeLimitExceeded, "stream %s already has %d consumers; the limit is %d", name, len(m.Consumers), api.MaxConsumers)
		}
		if err := checkTags(tags, 0); err != nil {
			return err
		}
		created := e.now().UnixNano()
		// Consumer ARNs carry the creation time in seconds: keep it distinct
		// from any earlier consumer of the same name.
		c := &consumerMeta{Name: consumer, Created: created, Status: "ACTIVE", Tags: cloneMap(tags)}
		m.Consumers = append(m.Consumers, c)
		sort.Slice(m.Consumers, func(i, j int) bool { return m.Consumers[i].Name < m.Consumers[j].Name })
		out = api.ConsumerInfo{Name: c.Name, Created: time.Unix(0, c.Created), Status: c.Status, Tags: cloneMap(tags)}
		return nil
	})
	return out, err
}

// DeregisterConsumer removes a consumer.
func (e *Engine) DeregisterConsumer(name, consumer string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		for i, c := range m.Consumers {
			if c.Name == consumer {
				m.Consumers = append(m.Consumers[:i], m.Consumers[i+1:]...)
				return nil
			}
		}
		return api.ConsumerNotFound(name, clip(consumer))
	})
}

// Consumer describes one registered consumer.
func (e *Engine) Consumer(name, consumer string) (api.ConsumerInfo, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st, err := e.lookupLocked(name)
	if err != nil {
		return api.ConsumerInfo{}, err
	}
	for _, c := range st.meta.Consumers {
		if c.Name == consumer {
			return api.ConsumerInfo{Name: c.Name, Created: time.Unix(0, c.Created), Status: c.Status, Tags: cloneMap(c.Tags)}, nil
		}
	}
	return api.ConsumerInfo{}, api.ConsumerNotFound(name, clip(consumer))
}

// Metrics calls fn with a snapshot of every live shard's counters.
func (e *Engine) Metrics(fn func(ShardMetrics)) {
	for _, st := range *e.snap.Load() {
		for _, sh := range *st.shards.Load() {
			if sh != nil {
				fn(sh.metrics())
			}
		}
	}
}
