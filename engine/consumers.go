package engine

import (
	"sort"
	"time"

	"github.com/sluicedb/sluice/api"
)

func (e *Engine) registerConsumer(name, consumer string, tags map[string]string, now time.Time) (api.ConsumerInfo, error) {
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
		created := now.UnixNano()
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

func (e *Engine) deregisterConsumer(name, consumer string) error {
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
