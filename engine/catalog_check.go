package engine

import (
	"fmt"
	"sort"

	"github.com/sluicedb/sluice/api"
)

// maxShardIndex bounds the shard indexes a catalog may name: indexes are
// never reused, so a stream that reshards often climbs past its open count,
// but never near this.
const maxShardIndex = 1 << 20

// check verifies the invariants every catalog the engine writes satisfies, so
// that a damaged or hand-edited file is refused with a reason instead of
// opening an engine that misroutes records or sizes memory by a bad number.
func (c *catalog) check() error {
	names := map[string]bool{}
	incs := map[uint32]bool{}
	for _, m := range c.Streams {
		if m == nil {
			return fmt.Errorf("a stream entry is null")
		}
		if err := m.check(); err != nil {
			return fmt.Errorf("stream %q: %w", clip(m.Name), err)
		}
		if names[m.Name] {
			return fmt.Errorf("stream %q appears twice", m.Name)
		}
		if incs[m.Incarnation] {
			return fmt.Errorf("incarnation %d appears twice", m.Incarnation)
		}
		if m.Incarnation > c.LastIncarnation {
			return fmt.Errorf("stream %q has incarnation %d, above the last issued %d", m.Name, m.Incarnation, c.LastIncarnation)
		}
		names[m.Name], incs[m.Incarnation] = true, true
	}
	return nil
}

func (m *streamMeta) check() error {
	switch {
	case !validName(m.Name):
		return fmt.Errorf("invalid name")
	case m.Incarnation == 0:
		return fmt.Errorf("incarnation 0")
	case m.Status != api.StatusActive && m.Status != api.StatusUpdating && m.Status != api.StatusCreating:
		return fmt.Errorf("status %q", clip(string(m.Status)))
	case m.Mode != api.Provisioned && m.Mode != api.OnDemand:
		return fmt.Errorf("mode %q", clip(string(m.Mode)))
	case m.RetentionHours < api.MinRetentionHours || m.RetentionHours > api.MaxRetentionHours:
		return fmt.Errorf("retention %d hours", m.RetentionHours)
	case m.MaxRecordSize < 1<<10 || m.MaxRecordSize > api.MaxMaxRecord:
		return fmt.Errorf("maximum record size %d", m.MaxRecordSize)
	case m.Durability > api.None:
		return fmt.Errorf("durability %d", m.Durability)
	case len(m.Tags) > api.MaxTags:
		return fmt.Errorf("%d tags", len(m.Tags))
	case len(m.Consumers) > api.MaxConsumers:
		return fmt.Errorf("%d consumers", len(m.Consumers))
	case m.NextShard < 1 || m.NextShard > maxShardIndex:
		return fmt.Errorf("next shard index %d", m.NextShard)
	case len(m.Shards) == 0 || len(m.Shards) > m.NextShard:
		return fmt.Errorf("%d shards with next index %d", len(m.Shards), m.NextShard)
	}
	if m.Quotas != nil {
		if err := m.Quotas.Validate(); err != nil {
			return err
		}
	}
	for _, c := range m.Consumers {
		if c == nil || !validName(c.Name) {
			return fmt.Errorf("invalid consumer")
		}
	}
	seen := map[int]bool{}
	var open []*shardMeta
	for _, sm := range m.Shards {
		if sm == nil {
			return fmt.Errorf("a shard entry is null")
		}
		if sm.Index < 0 || sm.Index >= m.NextShard || seen[sm.Index] {
			return fmt.Errorf("shard index %d is out of range or repeated", sm.Index)
		}
		seen[sm.Index] = true
		if sm.Parent < -1 || sm.Parent >= m.NextShard || sm.AdjacentParent < -1 || sm.AdjacentParent >= m.NextShard {
			return fmt.Errorf("shard %d names a parent out of range", sm.Index)
		}
		if sm.Start.Cmp(sm.End) > 0 {
			return fmt.Errorf("shard %d's hash key range is reversed", sm.Index)
		}
		if !sm.Closed {
			open = append(open, sm)
		}
	}
	// The open shards partition the hash key space exactly.
	sort.Slice(open, func(i, j int) bool { return open[i].Start.Cmp(open[j].Start) < 0 })
	if len(open) == 0 || open[0].Start != (api.HashKey{}) || open[len(open)-1].End != api.MaxHashKey {
		return fmt.Errorf("open shards do not cover the hash key space")
	}
	for i := 1; i < len(open); i++ {
		if open[i-1].End == api.MaxHashKey || open[i-1].End.Inc() != open[i].Start {
			return fmt.Errorf("open shards %d and %d leave a gap or overlap", open[i-1].Index, open[i].Index)
		}
	}
	return nil
}
