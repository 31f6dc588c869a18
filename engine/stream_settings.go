package engine

import "github.com/sluicedb/sluice/ratelimit"

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
			return errorf(CodeInvalidArgument,
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
			return errorf(CodeInvalidArgument,
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
	if hours < MinRetentionHours || hours > MaxRetentionHours {
		return errorf(CodeInvalidArgument, "retention period is %d hours; it must be between %d and %d", hours, MinRetentionHours, MaxRetentionHours)
	}
	return nil
}

// SetMaxRecordSize changes the largest record (key + data) a stream accepts.
func (e *Engine) SetMaxRecordSize(name string, bytes int) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if bytes < DefaultMaxRecord || bytes > MaxMaxRecord {
			return errorf(CodeValidation, "maximum record size is %d KiB; it must be between 1024 and 10240 KiB", bytes>>10)
		}
		m.MaxRecordSize = bytes
		return nil
	})
}

// SetStreamMode switches a stream between PROVISIONED and ON_DEMAND. The
// shard count is kept; on-demand streams are not rescaled automatically.
func (e *Engine) SetStreamMode(name string, mode StreamMode) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if mode != Provisioned && mode != OnDemand {
			return errorf(CodeInvalidArgument, "stream mode %q is not PROVISIONED or ON_DEMAND", clip(string(mode)))
		}
		m.Mode = mode
		return nil
	})
}

// SetDurability sets a stream's acknowledgement mode (DurabilityDefault
// returns it to the server's).
func (e *Engine) SetDurability(name string, d Durability) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if d > None {
			return errorf(CodeInvalidArgument, "unknown durability mode %d", d)
		}
		m.Durability = d
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
			return &Error{Code: CodeInvalidArgument, Msg: "quotas", Err: err}
		}
		c := *q
		m.Quotas = &c
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
				return errorf(CodeInvalidArgument, "shard-level metric %q is not one of ALL, %v", clip(x), ShardLevelMetrics)
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
