package engine

// SetPolicy stores (or with "" deletes) the resource policy of a stream, or
// of one of its consumers when consumer is not empty.
func (e *Engine) SetPolicy(name, consumer, policy string) error {
	return e.updateStream(name, func(m *streamMeta) error {
		if len(policy) > 20480 {
			return errorf(CodeInvalidArgument, "policy is %d bytes; the limit is 20480", len(policy))
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
		return errorf(CodeResourceNotFound, "consumer %s of stream %s not found", consumer, name)
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
	return "", errorf(CodeResourceNotFound, "consumer %s of stream %s not found", consumer, name)
}
