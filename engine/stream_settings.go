package engine

import (
	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

func (e *Engine) updateStream(name string, fn func(m *streamMeta) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.openStreamLocked(name)
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

func (e *Engine) increaseRetention(name string, hours int) error {
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

func (e *Engine) decreaseRetention(name string, hours int) error {
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

var ShardLevelMetrics = []string{
	"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
	"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds",
}

func (e *Engine) setMonitoring(name string, metrics []string, enable bool) (before, after []string, err error) {
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

func (e *Engine) setMaxRecordSize(name string, bytes int) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if bytes < api.DefaultMaxRecord || bytes > api.MaxMaxRecord {
			return errorf(api.CodeValidation, "maximum record size is %d KiB; it must be between 1024 and 10240 KiB", bytes>>10)
		}
		m.MaxRecordSize = bytes
		return nil
	})
}

func (e *Engine) setStreamMode(name string, mode api.StreamMode) error {
	if mode != api.Provisioned && mode != api.OnDemand {
		return errorf(api.CodeInvalidArgument, "stream mode %q is not PROVISIONED or ON_DEMAND", clip(string(mode)))
	}
	if !e.replicated() {
		// On a replica this is the apply of a committed change, which
		// every node must apply alike, whatever this node is resharding.
		st, err := e.beginUpdate(name, "UpdateStreamMode")
		if err != nil {
			return err
		}
		defer st.endUpdate()
	}
	return e.updateStream(name, func(m *streamMeta) error {
		if mode != api.Provisioned && mode != api.OnDemand {
			return errorf(api.CodeInvalidArgument, "stream mode %q is not PROVISIONED or ON_DEMAND", clip(string(mode)))
		}
		m.Mode = mode
		return nil
	})
}

func (e *Engine) setQuotas(name string, q *ratelimit.Limits) error {
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

func (e *Engine) setDurability(name string, d api.Durability) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if d > api.None {
			return errorf(api.CodeInvalidArgument, "unknown durability mode %d", d)
		}
		m.Durability = d
		return nil
	})
}

func (e *Engine) Metrics(fn func(ShardMetrics)) {
	for _, st := range *e.snap.Load() {
		for _, sh := range *st.shards.Load() {
			if sh != nil {
				fn(sh.metrics())
			}
		}
	}
}
