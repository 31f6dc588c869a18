package engine

import (
	"sort"
	"time"
)

// RegisterConsumer registers an enhanced fan-out consumer (at most 20 per
// stream). It is ACTIVE when the call returns.
func (e *Engine) RegisterConsumer(name, consumer string, tags map[string]string) (ConsumerInfo, error) {
	var out ConsumerInfo
	if !validName(consumer) {
		return out, errorf(CodeInvalidArgument, "consumer name %q is invalid: it must be 1 to 128 characters of a-z, A-Z, 0-9, '_', '.' and '-'", clip(consumer))
	}
	err := e.updateStream(name, func(m *streamMeta) error {
		for _, c := range m.Consumers {
			if c.Name == consumer {
				return errorf(CodeResourceInUse, "Consumer %s under stream %s already exists for account 000000000000.", consumer, name)
			}
		}
		if len(m.Consumers) >= MaxConsumers {
			return errorf(CodeLimitExceeded, "stream %s already has %d consumers; the limit is %d", name, len(m.Consumers), MaxConsumers)
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
		out = ConsumerInfo{Name: c.Name, Created: time.Unix(0, c.Created), Status: c.Status, Tags: cloneMap(tags)}
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
		return errorf(CodeResourceNotFound, "Consumer %s under stream %s not found for account 000000000000.", clip(consumer), name)
	})
}

// Consumer describes one registered consumer.
func (e *Engine) Consumer(name, consumer string) (ConsumerInfo, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st, err := e.lookupLocked(name)
	if err != nil {
		return ConsumerInfo{}, err
	}
	for _, c := range st.meta.Consumers {
		if c.Name == consumer {
			return ConsumerInfo{Name: c.Name, Created: time.Unix(0, c.Created), Status: c.Status, Tags: cloneMap(c.Tags)}, nil
		}
	}
	return ConsumerInfo{}, errorf(CodeResourceNotFound, "Consumer %s under stream %s not found for account 000000000000.", clip(consumer), name)
}
