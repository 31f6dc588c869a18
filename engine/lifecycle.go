package engine

import (
	"time"

	"github.com/sluicedb/sluice/api"
)

// The lifecycle of a stream, as Kinesis shows it: CREATING, then ACTIVE;
// UPDATING while a reshard (SplitShard, MergeShards, UpdateShardCount, the
// autoscaler) or a mode change runs; DELETING, then gone. In sluice a
// stream is created and deleted within the call, so CREATING and DELETING
// are never observed by a later call; UPDATING is held for the whole of a
// reshard and is kept in memory only: after a restart no reshard runs, and
// the catalog is always left either before or after each step of one.

// Limits of UpdateShardCount on a PROVISIONED stream, as Kinesis documents
// them.
const (
	// MaxShardCountUpdates is how many UpdateShardCount calls a stream may
	// make per rolling window of ShardCountUpdateWindow.
	MaxShardCountUpdates   = 10
	ShardCountUpdateWindow = 24 * time.Hour
)

// status is the state a describe shows. Called with Engine.mu held.
func (st *stream) status() api.StreamStatus {
	if st.scaling.Load() && st.meta.Status == api.StatusActive {
		return api.StatusUpdating
	}
	return st.meta.Status
}

// beginUpdate marks the stream UPDATING for a reshard or mode change, or
// refuses with ResourceInUse if one already runs. The caller calls
// st.endUpdate when done.
func (e *Engine) beginUpdate(name, op string) (*stream, error) {
	st, err := e.lookup(name)
	if err != nil {
		return nil, err
	}
	if !st.scaling.CompareAndSwap(false, true) {
		return nil, errorf(api.CodeResourceInUse,
			"stream %s is UPDATING: a reshard or stream mode change is in progress; %s can run once it is ACTIVE again", name, op)
	}
	return st, nil
}

func (st *stream) endUpdate() { st.scaling.Store(false) }

// checkShardCountRate refuses an 11th UpdateShardCount within the rolling
// window and otherwise returns the history with now appended, for the
// caller to persist with the reshard. Called with Engine.mu held.
func checkShardCountRate(m *streamMeta, now time.Time) ([]int64, error) {
	cut := now.Add(-ShardCountUpdateWindow).UnixNano()
	var recent []int64
	for _, t := range m.ShardCountUpdates {
		if t > cut {
			recent = append(recent, t)
		}
	}
	if len(recent) >= MaxShardCountUpdates {
		next := time.Unix(0, recent[0]).Add(ShardCountUpdateWindow)
		return nil, errorf(api.CodeLimitExceeded,
			"stream %s has been rescaled with UpdateShardCount %d times in the last 24 hours, the most allowed; the next call is allowed at %s",
			m.Name, len(recent), next.UTC().Format(time.RFC3339))
	}
	return append(recent, now.UnixNano()), nil
}
