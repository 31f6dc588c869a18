package engine

import (
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// stream is one stream: its catalog entry, its shards and the routing table
// that puts use.
type stream struct {
	e    *Engine
	name string // immutable
	inc  uint32 // immutable: the incarnation, unique per creation

	// meta is the catalog entry; replaced (never mutated in place) under
	// Engine.mu held exclusively. Read it only under Engine.mu.
	meta *streamMeta

	// shards holds every live shard by index (nil where retention removed a
	// closed shard). The slice is replaced, never mutated, under Engine.mu;
	// the put and read paths load it without locking.
	shards atomic.Pointer[[]*shard]

	// routes is the routing table over the open shards; routeCh is closed
	// when it is replaced (puts bounced by a closing shard wait on it).
	routes  atomic.Pointer[routeTable]
	routeCh atomic.Pointer[chan struct{}]

	deleted   atomic.Bool
	maxRecord atomic.Int64
	dur       atomic.Uint32             // effective Durability
	retention atomic.Int64              // retention period, ns
	enc       atomic.Pointer[streamEnc] // nil while records are written in the clear

	// sketches holds the traffic sketch of every open shard by index
	// (autoscale.go); guarded by Engine.mu. Each routing table carries the
	// sketches of its shards, for the put path.
	sketches map[int]*sketch
	// onDemand mirrors meta.Mode == ON_DEMAND for the put path: only the
	// streams the autoscaler acts on pay for their sketches.
	onDemand atomic.Bool
	// scaling is set while a reshard or a mode change of the stream runs:
	// the stream then shows UPDATING, and a second one is refused.
	scaling atomic.Bool
}

// closeParallelism bounds how many shards of a stream close at once.
const closeParallelism = 64

// routeTable maps the hash key space onto the open shards: shard i owns
// [starts[i], starts[i+1]-1]. Open shards always cover the whole space.
type routeTable struct {
	starts   []api.HashKey
	shards   []*shard
	sketches []*sketch // sketches[i] counts the writes offered to shards[i]
}

func (rt *routeTable) find(h api.HashKey) int {
	// The last start <= h.
	i := sort.Search(len(rt.starts), func(i int) bool { return rt.starts[i].Cmp(h) > 0 })
	return i - 1
}

// openStream makes the stream of m with every shard dormant: no shard's log
// is opened until it is used (see shard.acquire). fresh says the stream was
// just created.
func (e *Engine) openStream(m *streamMeta, fresh bool) (*stream, error) {
	st := &stream{e: e, name: m.Name, inc: m.Incarnation, meta: m}
	st.applySettings()
	ch := make(chan struct{})
	st.routeCh.Store(&ch)
	shards := make([]*shard, m.NextShard)
	for _, sm := range m.Shards {
		sh, err := st.newShard(sm, fresh)
		if err != nil {
			return nil, err
		}
		shards[sm.Index] = sh
	}
	st.shards.Store(&shards)
	st.rebuildRoutes()
	return st, nil
}

// applySettings copies hot settings from meta into atomics.
func (st *stream) applySettings() {
	st.maxRecord.Store(int64(st.meta.MaxRecordSize))
	st.onDemand.Store(st.meta.Mode == api.OnDemand)
	st.retention.Store(int64(time.Duration(st.meta.RetentionHours) * time.Hour))
	d := st.meta.Durability
	if d == api.DurabilityDefault {
		d = st.e.opts.Durability
	}
	st.dur.Store(uint32(d))
	if st.meta.EncryptionType == "KMS" {
		st.enc.Store(&streamEnc{keyID: st.meta.KeyID})
	} else {
		st.enc.Store(nil)
	}
	if p := st.shards.Load(); p != nil {
		lim := st.limits()
		for _, sh := range *p {
			if sh != nil {
				sh.quota.SetLimits(lim)
			}
		}
	}
}

func (st *stream) durability() api.Durability { return api.Durability(st.dur.Load()) }

// cutoff is the arrival time (Unix ns) before which records have expired.
func (st *stream) cutoff() int64 { return st.e.now().UnixNano() - st.retention.Load() }

// limits is the stream's quota set (its own or the server default).
func (st *stream) limits() ratelimit.Limits {
	if st.meta.Quotas != nil {
		return *st.meta.Quotas
	}
	return *st.e.opts.Quotas
}

// rebuildRoutes installs a routing table over the open shards and wakes puts
// waiting for one.
func (st *stream) rebuildRoutes() {
	rt := &routeTable{}
	open := make([]*shardMeta, 0, len(st.meta.Shards))
	for _, sm := range st.meta.Shards {
		if !sm.Closed {
			open = append(open, sm)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].Start.Cmp(open[j].Start) < 0 })
	shards := *st.shards.Load()
	sketches := make(map[int]*sketch, len(open))
	for _, sm := range open {
		rt.starts = append(rt.starts, sm.Start)
		rt.shards = append(rt.shards, shards[sm.Index])
		sk := st.sketches[sm.Index]
		if sk == nil {
			sk = newSketch(sm.Start, sm.End)
		}
		sketches[sm.Index] = sk
		rt.sketches = append(rt.sketches, sk)
	}
	st.sketches = sketches
	st.routes.Store(rt)
	ch := make(chan struct{})
	old := st.routeCh.Swap(&ch)
	close(*old)
}

func (st *stream) shard(index int) *shard {
	shards := *st.shards.Load()
	if index < 0 || index >= len(shards) {
		return nil
	}
	return shards[index]
}

// info builds a StreamInfo. Called with Engine.mu held.
func (st *stream) info() *api.StreamInfo {
	m := st.meta
	si := &api.StreamInfo{
		Name: m.Name, Incarnation: m.Incarnation, Status: st.status(), Mode: m.Mode,
		Created: time.Unix(0, m.Created), RetentionHours: m.RetentionHours, MaxRecordSize: m.MaxRecordSize,
		Durability: m.Durability, Quotas: st.limits(), Tags: cloneMap(m.Tags),
		EncryptionType: m.EncryptionType, KeyID: m.KeyID, Monitoring: append([]string(nil), m.Monitoring...),
		Policy: m.Policy,
	}
	if si.EncryptionType == "" {
		si.EncryptionType = "NONE"
	}
	for _, sm := range m.Shards {
		si.Shards = append(si.Shards, st.shardInfo(sm))
	}
	for _, c := range m.Consumers {
		si.Consumers = append(si.Consumers, api.ConsumerInfo{Name: c.Name, Created: time.Unix(0, c.Created), Status: c.Status, Tags: cloneMap(c.Tags)})
	}
	return si
}

func (st *stream) shardInfo(sm *shardMeta) api.ShardInfo {
	si := api.ShardInfo{
		Index: sm.Index, ID: api.ShardID(sm.Index), HashStart: sm.Start, HashEnd: sm.End,
		StartingSeq: api.SeqNum{Incarnation: st.inc, Shard: uint32(sm.Index), Seq: api.StartSeq},
		Closed:      sm.Closed, Created: time.Unix(0, sm.Created),
	}
	if sm.Parent >= 0 {
		si.Parent = api.ShardID(sm.Parent)
	}
	if sm.AdjacentParent >= 0 {
		si.AdjacentParent = api.ShardID(sm.AdjacentParent)
	}
	if sm.Closed {
		// The last record's number; a shard that never held a record ends
		// where it starts.
		si.EndingSeq = api.SeqNum{Incarnation: st.inc, Shard: uint32(sm.Index), Seq: sm.EndSeq - 1}
	}
	if sh := st.shard(sm.Index); sh != nil {
		// A shard that cannot open describes as empty; Faults says why.
		si.FirstSeq, si.NextSeq, _ = sh.bounds()
	}
	return si
}

// stop stops the shard's writer (if running) and closes its log cleanly.
func (sh *shard) stop() error {
	_, err := sh.finish(reqStop)
	sh.wake()
	if cerr := sh.shutLog(); err == nil {
		err = cerr
	}
	if sh.fault.Load() != nil {
		// A failed shard was logged and reported (Faults) when it failed;
		// whether its writer was still running to say so again at Close
		// is a matter of timing, not news.
		return nil
	}
	return err
}

// close shuts every shard down cleanly (engine Close) and wakes puts that
// wait for a routing table, so that they see the engine closed.
func (st *stream) close() error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards errs
		errs []error
	)
	goEachShard(*st.shards.Load(), &wg, make(chan struct{}, closeParallelism), func(sh *shard) {
		if err := sh.stop(); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	wg.Wait()
	st.wakeRoutes()
	return errors.Join(errs...)
}

// goEachShard runs fn on every shard of shards (skipping nil slots) on a
// goroutine of its own, at most cap(sem) at once among all callers sharing
// sem: it blocks while sem is full. wg counts the goroutines; the caller
// waits on it.
func goEachShard(shards []*shard, wg *sync.WaitGroup, sem chan struct{}, fn func(*shard)) {
	for _, sh := range shards {
		if sh == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(sh)
		}()
	}
}

func (st *stream) wakeRoutes() {
	old := st.routeCh.Load()
	ch := make(chan struct{})
	if st.routeCh.CompareAndSwap(old, &ch) {
		close(*old)
	}
}

// destroy stops every shard and removes the stream's files. Views that
// readers still hold stay valid until released.
func (st *stream) destroy() {
	for _, sh := range *st.shards.Load() {
		if sh != nil {
			sh.finish(reqStop)
			sh.wake()
			if err := sh.destroyLog(); err != nil {
				st.e.opts.Logger.Warn("could not remove shard files", "stream", st.name, "shard", sh.id, "err", err)
			}
		}
	}
	if err := st.e.fs.RemoveAll(st.e.streamDir(st.inc)); err != nil {
		st.e.opts.Logger.Warn("could not remove stream directory", "stream", st.name, "err", err)
	}
	st.wakeRoutes()
}
