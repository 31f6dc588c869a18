package engine

import (
	"math/rand/v2"
	"time"

	"github.com/sluicedb/sluice/internal/ticker"
	"github.com/sluicedb/sluice/segment"
)

// dormantExpiryEvery is how often retention opens a dormant shard (one whose
// log is parked or was never opened) to expire it: hourly, against
// retention periods of 24 hours or more, rather than at every pass, so that
// idle shards are not reopened every minute. Shards are staggered over the
// hour (see expiryPhase). A dormant shard also expires on its next open.
const dormantExpiryEvery = time.Hour

// expiryPhase is a new shard's last expiry time: now minus a random part of
// dormantExpiryEvery, so that shards created or loaded together come due
// for their hourly expiry spread over the hour.
func expiryPhase(now int64) int64 { return now - rand.Int64N(int64(dormantExpiryEvery)) }

// acquireForRetention returns the shard's log for a retention pass at now
// (quota clock), held until release: an open log always, a dormant shard's
// only once dormantExpiryEvery has passed since its last expiry, nil
// otherwise.
func (sh *shard) acquireForRetention(now int64) *segment.Log {
	if sh.log.Load() == nil && now-sh.expired.Load() < int64(dormantExpiryEvery) {
		return nil
	}
	l, err := sh.acquire()
	if err != nil {
		return nil
	}
	return l
}

// retentionLoop removes expired data every RetentionInterval until Close.
// Each pass expires whole segments older than each stream's retention period
// and removes closed shards that no longer hold any record.
func (e *Engine) retentionLoop() {
	defer e.bg.Done()
	ticker.Every(e.opts.RetentionInterval, e.stop, e.ExpireNow)
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
	now := e.quotaClock.Now()
	var gone []int
	for _, sh := range *st.shards.Load() {
		if sh == nil {
			continue
		}
		log := sh.acquireForRetention(now)
		if log == nil {
			continue
		}
		_, err := log.Expire(cutoff)
		first, next := log.Bounds()
		sh.release()
		if err != nil {
			e.opts.Logger.Warn("retention failed", "stream", name, "shard", sh.id, "err", err)
			continue
		}
		sh.expired.Store(now)
		if sh.isClosed() && first == next {
			gone = append(gone, sh.index)
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
		if err := sh.destroyLog(); err != nil {
			e.opts.Logger.Warn("could not remove expired shard files", "stream", st.name, "shard", sh.id, "err", err)
		}
	}
	st.shards.Store(&shards)
}
