package raftlog

import "go.etcd.io/raft/v3/raftpb"

// cacheRef names a cached entry in the eviction queue. The entry may have
// left the cache since (truncated, compacted, its group removed): then the
// slot no longer holds ent and the reference is skipped.
type cacheRef struct {
	g     *group
	index uint64
	ent   *raftpb.Entry
}

// evict drops the oldest cached entries until the cache is within
// Options.CacheBytes, and drops the queue's references to entries that
// left the cache otherwise. l.wmu must be held.
func (l *Log) evict() {
	for l.cacheBytes.Load() > l.opts.CacheBytes && l.qHead < len(l.cacheQ) {
		// Take the run of references to one group under one lock.
		g := l.cacheQ[l.qHead].g
		end := l.qHead + 1
		for end < len(l.cacheQ) && l.cacheQ[end].g == g && end-l.qHead < 256 {
			end++
		}
		var bytes, count int64
		g.mu.Lock()
		for _, ref := range l.cacheQ[l.qHead:end] {
			if s := g.cached(ref); s != nil {
				bytes += cacheCost(s.n)
				count++
				s.ent = nil
			}
		}
		g.mu.Unlock()
		clear(l.cacheQ[l.qHead:end])
		l.qHead = end
		l.cacheBytes.Add(-bytes)
		l.cacheCount.Add(-count)
	}
	live := len(l.cacheQ) - l.qHead
	if l.qHead > 0 && l.qHead >= live {
		n := copy(l.cacheQ, l.cacheQ[l.qHead:])
		clear(l.cacheQ[n:])
		l.cacheQ = l.cacheQ[:n]
		l.qHead = 0
	}
	if live > 1024 && int64(live) > 2*l.cacheCount.Load() {
		l.sweepCacheQueue()
	}
}

// cached returns the slot ref names if it still holds ref's entry. g.mu
// must be held.
func (g *group) cached(ref cacheRef) *slot {
	if g.removed || ref.index <= g.compacted || ref.index > g.lastIndex() {
		return nil
	}
	s := &g.slots[ref.index-g.compacted-1]
	if s.ent != ref.ent {
		return nil
	}
	return s
}

// sweepCacheQueue drops the references to entries no longer cached, which
// pile up when groups compact faster than the cache fills.
func (l *Log) sweepCacheQueue() {
	q := l.cacheQ[l.qHead:]
	keep := q[:0]
	for _, ref := range q {
		ref.g.mu.RLock()
		ok := ref.g.cached(ref) != nil
		ref.g.mu.RUnlock()
		if ok {
			keep = append(keep, ref)
		}
	}
	clear(q[len(keep):])
	n := copy(l.cacheQ, keep)
	clear(l.cacheQ[n:])
	l.cacheQ = l.cacheQ[:n]
	l.qHead = 0
}
