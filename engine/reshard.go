package engine

import (
	"sort"

	"github.com/sluicedb/sluice/api"
)

// childSpec is a shard a reshard creates.
type childSpec struct {
	start, end             api.HashKey
	parent, adjacentParent int
}

// SplitShard closes shardID and opens two children that divide its hash key
// range at newStart: [start, newStart-1] and [newStart, end]. The parent
// stays readable until retention removes it; writes go to the children from
// the moment SplitShard returns.
//
// While it runs the stream is UPDATING, and another reshard or mode change
// of the stream fails with ResourceInUse.
func (e *Engine) SplitShard(name, shardID string, newStart api.HashKey) error {
	if err := e.reshardable("SplitShard"); err != nil {
		return err
	}
	st, err := e.beginUpdate(name, "SplitShard")
	if err != nil {
		return err
	}
	defer st.endUpdate()
	return e.splitShard(name, shardID, newStart)
}

// splitShard is SplitShard for a caller that marked the stream UPDATING.
func (e *Engine) splitShard(name, shardID string, newStart api.HashKey) error {
	e.reshards.Lock()
	defer e.reshards.Unlock()
	idx, err := api.ParseShardID(shardID)
	if err != nil {
		return err
	}
	e.mu.RLock()
	st, sm, err := e.openShardMeta(name, idx)
	var spec [2]childSpec
	if err == nil {
		if newStart.Cmp(sm.Start) <= 0 || newStart.Cmp(sm.End) > 0 {
			err = &api.Error{Code: api.CodeInvalidArgument, Reason: api.ReasonHashKeyOutOfRange,
				Stream: name, Shard: shardID, Arg: newStart.String(), Detail: "[" + sm.Start.Inc().String() + ", " + sm.End.String() + "]"}
		}
		spec = [2]childSpec{
			{start: sm.Start, end: newStart.Dec(), parent: idx, adjacentParent: -1},
			{start: newStart, end: sm.End, parent: idx, adjacentParent: -1},
		}
	}
	e.mu.RUnlock()
	if err != nil {
		return err
	}
	return e.doReshard(st, []int{idx}, spec[:])
}

// MergeShards closes two shards with adjacent hash key ranges and opens one
// child covering both, whose parent is shardID and adjacent parent adjacentID.
// The stream is UPDATING meanwhile, as for SplitShard.
func (e *Engine) MergeShards(name, shardID, adjacentID string) error {
	if err := e.reshardable("MergeShards"); err != nil {
		return err
	}
	st, err := e.beginUpdate(name, "MergeShards")
	if err != nil {
		return err
	}
	defer st.endUpdate()
	return e.mergeShards(name, shardID, adjacentID)
}

// mergeShards is MergeShards for a caller that marked the stream UPDATING.
func (e *Engine) mergeShards(name, shardID, adjacentID string) error {
	e.reshards.Lock()
	defer e.reshards.Unlock()
	a, b, err := api.ParseShardPair(shardID, adjacentID)
	if err != nil {
		return err
	}
	e.mu.RLock()
	st, am, err := e.openShardMeta(name, a)
	var bm *shardMeta
	if err == nil {
		_, bm, err = e.openShardMeta(name, b)
	}
	var spec childSpec
	if err == nil {
		switch {
		case a == b:
			err = errorf(api.CodeInvalidArgument, "cannot merge shard %s with itself", shardID)
		case am.End.Inc() == bm.Start && am.End != api.MaxHashKey:
			spec = childSpec{start: am.Start, end: bm.End, parent: a, adjacentParent: b}
		case bm.End.Inc() == am.Start && bm.End != api.MaxHashKey:
			spec = childSpec{start: bm.Start, end: am.End, parent: a, adjacentParent: b}
		default:
			err = &api.Error{Code: api.CodeInvalidArgument, Reason: api.ReasonNotAdjacent,
				Stream: name, Shard: shardID, Arg: adjacentID}
		}
	}
	e.mu.RUnlock()
	if err != nil {
		return err
	}
	return e.doReshard(st, []int{a, b}, []childSpec{spec})
}

// UpdateShardCount rescales a stream to target open shards of equal hash key
// ranges (UNIFORM_SCALING), between half and double the current open count.
// It does so as a series of splits and then merges, so every new shard has
// one parent, or two adjacent ones; some intermediate shards are closed as
// soon as they are created, as on Kinesis.
//
// As on Kinesis, a stream may be rescaled this way at most
// MaxShardCountUpdates times per rolling 24 hours (LimitExceeded after);
// the stream is UPDATING while it runs, and a concurrent reshard or mode
// change fails with ResourceInUse.
func (e *Engine) UpdateShardCount(name string, target int) error {
	if err := e.reshardable("UpdateShardCount"); err != nil {
		return err
	}
	st, err := e.beginUpdate(name, "UpdateShardCount")
	if err != nil {
		return err
	}
	defer st.endUpdate()
	return e.updateShardCount(name, target, true)
}

// updateShardCount is UpdateShardCount for a caller that marked the stream
// UPDATING; counted says whether the call counts against the daily limit
// (the autoscaler's own rescaling does not).
func (e *Engine) updateShardCount(name string, target int, counted bool) error {
	e.reshards.Lock()
	defer e.reshards.Unlock()
	e.mu.RLock()
	st, err := e.lookupLocked(name)
	if err == nil {
		err = checkShardCountTarget(st.meta, target)
	}
	e.mu.RUnlock()
	if err != nil {
		return err
	}
	if counted && e.replicated() {
		// Counted in the controller's order, and checked again there.
		if _, err := e.change(opShardCountUpdate, shardCountArgs{Name: name, Target: target}); err != nil {
			return err
		}
	} else if counted {
		err := e.updateStream(name, func(m *streamMeta) error {
			h, err := checkShardCountRate(m, e.now())
			m.ShardCountUpdates = h
			return err
		})
		if err != nil {
			return err
		}
	}
	ranges := api.EvenRanges(target)
	// Phase 1: split every open shard at each target boundary inside it.
	for j := 1; j < target; j++ {
		b := ranges[j][0]
		e.mu.RLock()
		var hit *shardMeta
		for _, sm := range openSorted(st.meta) {
			if sm.Start.Cmp(b) < 0 && b.Cmp(sm.End) <= 0 {
				hit = sm
				break
			}
		}
		var spec []childSpec
		if hit != nil {
			spec = []childSpec{
				{start: hit.Start, end: b.Dec(), parent: hit.Index, adjacentParent: -1},
				{start: b, end: hit.End, parent: hit.Index, adjacentParent: -1},
			}
		}
		e.mu.RUnlock()
		if hit != nil {
			if err := e.doReshard(st, []int{hit.Index}, spec); err != nil {
				return err
			}
		}
	}
	// Phase 2: merge the pieces inside each target range into one shard.
	for j := 0; j < target; j++ {
		for {
			e.mu.RLock()
			var pieces []*shardMeta
			for _, sm := range openSorted(st.meta) {
				if ranges[j][0].Cmp(sm.Start) <= 0 && sm.End.Cmp(ranges[j][1]) <= 0 {
					pieces = append(pieces, sm)
				}
			}
			var spec childSpec
			if len(pieces) > 1 {
				spec = childSpec{start: pieces[0].Start, end: pieces[1].End, parent: pieces[0].Index, adjacentParent: pieces[1].Index}
			}
			e.mu.RUnlock()
			if len(pieces) <= 1 {
				break
			}
			if err := e.doReshard(st, []int{spec.parent, spec.adjacentParent}, []childSpec{spec}); err != nil {
				return err
			}
		}
	}
	return nil
}

func openSorted(m *streamMeta) []*shardMeta {
	var open []*shardMeta
	for _, sm := range m.Shards {
		if !sm.Closed {
			open = append(open, sm)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].Start.Cmp(open[j].Start) < 0 })
	return open
}

// openShardMeta finds an open shard's catalog entry. Called with e.mu held.
func (e *Engine) openShardMeta(name string, idx int) (*stream, *shardMeta, error) {
	st, err := e.lookupLocked(name)
	if err != nil {
		return nil, nil, err
	}
	for _, sm := range st.meta.Shards {
		if sm.Index == idx {
			if sm.Closed {
				return nil, nil, &api.Error{Code: api.CodeResourceInUse, Reason: api.ReasonShardClosed,
					Stream: name, Shard: api.ShardID(idx)}
			}
			return st, sm, nil
		}
	}
	return nil, nil, api.ShardNotFound(name, api.ShardID(idx))
}

// reshard closes the parent shards and opens the children, atomically in the
// catalog. Order: (1) open the children's logs; (2) close each parent's writer
// after everything already queued to it, which fixes its end sequence number
// (puts that arrive meanwhile wait for the new routing table); (3) persist the
// catalog with parents closed and children open; (4) install the children and
// the new routing table, which releases the waiting puts to the children. A
// crash before (3) leaves the old catalog (the reshard did not happen and
// orphan child directories are ignored and overwritten); after (3), the new one.
// Called with e.reshards held.
func (e *Engine) reshard(st *stream, parents []int, specs []childSpec) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	if st.deleted.Load() {
		e.mu.Unlock()
		return api.StreamNotFound(st.name)
	}
	if err := e.checkShardCap(0, len(specs)); err != nil {
		e.mu.Unlock()
		return err
	}
	for _, p := range parents {
		if f := st.shard(p).fault.Load(); f != nil {
			e.mu.Unlock()
			return f.err
		}
	}
	next := st.meta.clone()
	now := e.now().UnixNano()
	children := make([]*shardMeta, len(specs))
	for i, sp := range specs {
		children[i] = &shardMeta{Index: next.NextShard, Parent: sp.parent, AdjacentParent: sp.adjacentParent,
			Start: sp.start, End: sp.end, Created: now}
		next.NextShard++
	}
	e.mu.Unlock()

	opened := make([]*shard, 0, len(children))
	for _, cm := range children {
		// A directory left by an earlier reshard that crashed before its
		// catalog write holds nothing acknowledged: start clean.
		e.fs.RemoveAll(e.shardDir(st.inc, cm.Index))
		sh, err := st.newShard(cm, true)
		if err == nil {
			if err = e.createShardDir(st.inc, cm.Index); err != nil {
				err = &api.Error{Code: api.CodeInternal, Detail: "create the directory of shard " + api.ShardID(cm.Index) + " of stream " + st.name, Err: err}
			}
		}
		if err != nil {
			for _, o := range opened {
				o.finish(reqStop)
				o.destroyLog()
			}
			return err
		}
		opened = append(opened, sh)
	}
	ends := make([]uint64, len(parents))
	for i, p := range parents {
		end, err := st.shard(p).finish(reqClose)
		if err != nil {
			e.opts.Logger.Warn("closing a shard with a failed log", "stream", st.name, "shard", api.ShardID(p), "err", err)
		}
		ends[i] = end
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	for _, sm := range next.Shards {
		for i, p := range parents {
			if sm.Index == p {
				sm.Closed, sm.EndSeq, sm.ClosedAt = true, ends[i], now
			}
		}
	}
	next.Shards = append(next.Shards, children...)
	if err := e.persist(st.name, next); err != nil {
		for _, o := range opened {
			o.finish(reqStop)
			o.destroyLog()
		}
		for _, p := range parents {
			st.shard(p).reopen()
		}
		return err
	}
	st.meta = next
	old := *st.shards.Load()
	shards := make([]*shard, next.NextShard)
	copy(shards, old)
	for _, sh := range opened {
		shards[sh.index] = sh
	}
	for _, p := range parents {
		shards[p].meta = findShardMeta(next, p)
	}
	for _, sh := range opened {
		sh.meta = findShardMeta(next, sh.index)
	}
	st.shards.Store(&shards)
	st.rebuildRoutes()
	// Only now, with the children in place, do readers see the parents end.
	for i, p := range parents {
		shards[p].markClosed(ends[i])
	}
	return nil
}

func findShardMeta(m *streamMeta, idx int) *shardMeta {
	for _, sm := range m.Shards {
		if sm.Index == idx {
			return sm
		}
	}
	return nil
}

// reopen lets a shard whose close could not be persisted accept writes
// again; its writer starts with the next put.
func (sh *shard) reopen() {
	sh.qmu.Lock()
	defer sh.qmu.Unlock()
	sh.closed.Store(false)
	sh.endSeq.Store(0)
	sh.stopped = make(chan struct{})
	sh.accepting = true
}
