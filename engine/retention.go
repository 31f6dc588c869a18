package engine

import "time"

// retentionLoop removes expired data every RetentionInterval until Close.
// Each pass expires whole segments older than each stream's retention period
// and removes closed shards that no longer hold any record.
func (e *Engine) retentionLoop() {
	defer e.bg.Done()
	t := time.NewTicker(e.opts.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.ExpireNow()
		}
	}
}

// ExpireNow runs one retention pass over every stream. The background task
// calls it; tests with an injected clock call it directly.
func (e *Engine) ExpireNow() {
	for _, name := range e.ListStreams() {
		e.expireStream(name)
	}
}

func (e *Engine) expireStream(name string) {
	e.mu.RLock()
	st := e.streams[name]
	var hours int
	if st != nil {
		hours = st.meta.RetentionHours
	}
	e.mu.RUnlock()
	if st == nil {
		return
	}
	cutoff := e.now().Add(-time.Duration(hours) * time.Hour).UnixNano()
	var gone []int
	for _, sh := range *st.shards.Load() {
		if sh == nil {
			continue
		}
		if _, err := sh.log.Expire(cutoff); err != nil {
			e.opts.Logger.Warn("retention failed", "stream", name, "shard", sh.id, "err", err)
			continue
		}
		if sh.isClosed() {
			if first, next := sh.log.Bounds(); first == next {
				gone = append(gone, sh.index)
			}
		}
	}
	if len(gone) > 0 {
		e.removeShards(st, gone, cutoff)
	}
}

// removeShards drops closed shards whose records have all expired and that
// closed before the cutoff, as Kinesis stops listing expired shards.
func (e *Engine) removeShards(st *stream, idx []int, cutoff int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || st.deleted.Load() {
		return
	}
	next := st.meta.clone()
	var drop []int
	kept := next.Shards[:0]
	for _, sm := range next.Shards {
		rm := false
		for _, i := range idx {
			if sm.Index == i && sm.Closed && sm.ClosedAt < cutoff {
				rm = true
			}
		}
		if rm {
			drop = append(drop, sm.Index)
		} else {
			kept = append(kept, sm)
		}
	}
	if len(drop) == 0 {
		return
	}
	next.Shards = kept
	if err := e.persist(st.name, next); err != nil {
		e.opts.Logger.Warn("could not remove expired shards", "stream", st.name, "err", err)
		return
	}
	st.meta = next
	old := *st.shards.Load()
	shards := make([]*shard, len(old))
	copy(shards, old)
	for _, i := range drop {
		sh := shards[i]
		shards[i] = nil
		if err := sh.log.Destroy(); err != nil {
			e.opts.Logger.Warn("could not remove expired shard files", "stream", st.name, "shard", sh.id, "err", err)
		}
	}
	st.shards.Store(&shards)
}
