package engine

import (
	"errors"
	"sort"
	"syscall"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/ticker"
	"github.com/sluicedb/sluice/segment"
)

// ShardFault is a shard that cannot serve: it failed to open, or its log
// failed a write or a sync and fenced itself. The other shards and streams go
// on serving. A fault lasts until the server restarts.
type ShardFault struct {
	Stream string
	Shard  string // shard ID
	// Reason is what failed, with the underlying error: "open: ...",
	// "write: ...", "sync: ...", "close: ...", or "fenced: ..." for a log
	// that fenced itself on a read (a segment file truncated or damaged
	// outside the server).
	Reason string
	// Since is when the fault was found (the engine clock).
	Since time.Time

	err error // what the shard's requests get
}

// Faults lists the shards that cannot serve, sorted by stream and shard, so
// that a health check can report each by name. After an unclean shutdown
// every shard is opened at start, so a shard that cannot open shows here at
// once; after a clean one shards open on first use, and a fault in the files
// of a shard not used since start shows once it is first put to or read
// from.
func (e *Engine) Faults() []ShardFault {
	var out []ShardFault
	for _, st := range *e.snap.Load() {
		for _, sh := range *st.shards.Load() {
			if sh == nil {
				continue
			}
			f := sh.fault.Load()
			if f == nil {
				// A read that found a segment's mapped bytes gone fences
				// the log without the writer knowing yet.
				if l := sh.log.Load(); l != nil {
					if err := l.Err(); err != nil {
						f = sh.setFault("fenced", err)
					}
				}
			}
			if f != nil {
				out = append(out, *f)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stream != out[j].Stream {
			return out[i].Stream < out[j].Stream
		}
		return out[i].Shard < out[j].Shard
	})
	return out
}

// setFault records the shard's first fault and returns the recorded one.
func (sh *shard) setFault(op string, err error) *ShardFault {
	e := sh.st.e
	f := &ShardFault{
		Stream: sh.st.name, Shard: sh.id, Reason: op + ": " + err.Error(), Since: e.now(),
		err: &api.Error{Code: api.CodeInternal, Detail: "shard " + sh.id + " of stream " + sh.st.name + " failed (" + op +
			") and serves no requests until the server restarts", Err: err},
	}
	if sh.fault.CompareAndSwap(nil, f) {
		e.opts.Logger.Error("shard failed; it serves no requests until the server restarts",
			"stream", sh.st.name, "shard", sh.id, "op", op, "err", err)
		return f
	}
	return sh.fault.Load()
}

// isTransient reports whether err is a failure for want of a resource that
// may come back (file descriptors, disk space) rather than a fault of the
// data or the device: segment's TransientError, or EMFILE, ENFILE or ENOSPC
// (from opening a log). The request fails and may be retried, and the shard
// is not marked failed. A write error counts only if it left the log
// unfenced (see shard.commit).
func isTransient(err error) bool {
	return errors.Is(err, segment.ErrTransient) ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOSPC)
}

// Usage is what the engine holds open at one moment.
type Usage struct {
	Streams, Shards int
	// OpenLogs are shard logs open (a file and mappings each); the others
	// are dormant.
	OpenLogs int
	// Writers are shard writer goroutines running.
	Writers int
	// LogBudget is how many logs may be open at once under the process
	// limits before idle ones are parked to make room.
	LogBudget int
}

// Usage returns what the engine holds open.
func (e *Engine) Usage() Usage {
	e.mu.RLock()
	u := Usage{Streams: len(e.streams), Shards: e.shardCountLocked()}
	e.mu.RUnlock()
	u.OpenLogs = int(e.openLogs.Load())
	u.Writers = int(e.writers.Load())
	u.LogBudget = e.logBudget
	return u
}

// shardCountLocked counts the shards in the catalog, open and closed. Called
// with e.mu held.
func (e *Engine) shardCountLocked() int {
	n := 0
	for _, m := range e.cat.Streams {
		n += len(m.Shards)
	}
	return n
}

// janitorLoop parks the logs of shards idle for ShardIdleTimeout, every half
// of it, until Close. Parking takes the shard's lock and gives up on a shard
// in use, so it never waits on the put or read path.
func (e *Engine) janitorLoop() {
	defer e.bg.Done()
	ticker.Every(max(e.opts.ShardIdleTimeout/2, time.Millisecond), e.stop, func() {
		cutoff := e.quotaClock.Now() - int64(e.opts.ShardIdleTimeout)
		e.eachShard(func(sh *shard) {
			if sh.log.Load() != nil && sh.uses.Load() == 0 && sh.wstate.Load() == 0 && sh.lastUse.Load() <= cutoff {
				sh.park()
			}
		})
	})
}

// eachShard calls f for every shard of every stream, without locking.
func (e *Engine) eachShard(f func(*shard)) {
	for _, st := range *e.snap.Load() {
		for _, sh := range *st.shards.Load() {
			if sh != nil {
				f(sh)
			}
		}
	}
}

// makeRoom parks the least recently used idle logs when the open logs reach
// the budget, before another is opened. Only one caller does the work; the
// others go ahead (an open that then fails for want of a descriptor is a
// retryable error).
func (e *Engine) makeRoom() {
	if e.openLogs.Load() < int64(e.logBudget) || !e.roomMu.TryLock() {
		return
	}
	defer e.roomMu.Unlock()
	var idle []*shard
	e.eachShard(func(sh *shard) {
		if sh.log.Load() != nil && sh.uses.Load() == 0 && sh.wstate.Load() == 0 {
			idle = append(idle, sh)
		}
	})
	sort.Slice(idle, func(i, j int) bool { return idle[i].lastUse.Load() < idle[j].lastUse.Load() })
	// Park an eighth of the budget at once, so that a burst of opens does
	// not scan every shard each time.
	n := max(e.logBudget/8, 1)
	for _, sh := range idle {
		if n == 0 {
			break
		}
		if sh.park() {
			n--
		}
	}
}
