package engine

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/ticker"
	"github.com/sluicedb/sluice/ratelimit"
)

// Defaults of AutoscaleOptions.
const (
	DefaultAutoscaleWindow         = 5 * time.Minute
	DefaultAutoscaleMergeWindow    = 30 * time.Minute
	DefaultAutoscaleSplitThreshold = 0.8
	DefaultAutoscaleMergeThreshold = 0.2
)

// AutoscaleOptions configures how ON_DEMAND streams rescale themselves. Zero
// fields take the documented defaults.
type AutoscaleOptions struct {
	// Window is how long a shard's write rate must stay at or above
	// SplitThreshold before it is split; default 5 min. Shorter windows
	// follow traffic faster and split on shorter bursts.
	Window time.Duration
	// MergeWindow is how long two adjacent shards must both stay below
	// MergeThreshold before they are merged; default 30 min. It is longer
	// than Window so that a stream does not shrink between two bursts.
	MergeWindow time.Duration
	// SplitThreshold is the write rate, as a fraction of the shard's write
	// quota (bytes/s or records/s, whichever is nearer its limit; Kinesis's
	// 1 MiB/s and 1,000 records/s when the stream has no quota), at which a
	// shard counts as hot; default 0.8.
	SplitThreshold float64
	// MergeThreshold is the fraction below which a shard counts as cold;
	// default 0.2. Two merged cold shards stay below 2×MergeThreshold,
	// which must be below SplitThreshold so that a merge is not undone.
	MergeThreshold float64
	// Interval is how often the background loop looks at the streams;
	// default Window/10, between 100 ms and 30 s. Its length only sets how
	// finely the windows are measured.
	Interval time.Duration
	// Midpoint splits a hot shard in the middle of its hash key range, as
	// Kinesis does, instead of at the key that halves its observed traffic.
	// For comparisons; off by default.
	Midpoint bool
	// Off stops the background loop; Engine.AutoscaleNow still runs one
	// evaluation (tests drive it that way with an injected clock).
	Off bool
}

func (o *AutoscaleOptions) setDefaults() error {
	if o.Window <= 0 {
		o.Window = DefaultAutoscaleWindow
	}
	if o.MergeWindow <= 0 {
		o.MergeWindow = DefaultAutoscaleMergeWindow
	}
	if o.SplitThreshold == 0 {
		o.SplitThreshold = DefaultAutoscaleSplitThreshold
	}
	if o.MergeThreshold == 0 {
		o.MergeThreshold = DefaultAutoscaleMergeThreshold
	}
	if o.SplitThreshold <= 0 || o.SplitThreshold > 1 {
		return errorf(api.CodeInvalidArgument, "autoscale split threshold is %g; it must be a fraction of a shard's quota in (0, 1]", o.SplitThreshold)
	}
	if o.MergeThreshold <= 0 || 2*o.MergeThreshold >= o.SplitThreshold {
		return errorf(api.CodeInvalidArgument,
			"autoscale merge threshold is %g; it must be above 0 and below half the split threshold (%g), so that two merged shards are not split again",
			o.MergeThreshold, o.SplitThreshold/2)
	}
	if o.Interval <= 0 {
		o.Interval = min(max(o.Window/10, 100*time.Millisecond), 30*time.Second)
	}
	return nil
}

// AutoscaleStats counts the autoscaler's decisions since Open.
type AutoscaleStats struct {
	Splits      uint64 // hot shards split
	Merges      uint64 // pairs of cold shards merged
	MinScaleUps uint64 // streams scaled up to the ON_DEMAND minimum
	HotKeys     uint64 // single hot keys found (each reported once while hot)
	Refused     uint64 // splits or merges refused (caps, failures); a shard's refused split counts once per hot spell
	HotKeysNow  int    // single hot keys reported at the moment
}

// HotKey is a single hot key the autoscaler reports (see api.HotKey).
type HotKey = api.HotKey

// autoscaler is the state of the scaling loop: per open shard, what its
// sketch showed since it last changed from hot or cold. mu serialises
// evaluations (the loop and AutoscaleNow) and guards everything below.
type autoscaler struct {
	mu     sync.Mutex
	shards map[*sketch]*shardLoad
	hot    map[*sketch]*HotKey

	splits, merges, minUps, hotKeys, refused atomic.Uint64
	hotNow                                   atomic.Int64
}

// shardLoad is the autoscaler's record of one open shard.
type shardLoad struct {
	last      time.Time // end of the last tick
	hotSince  time.Time // zero unless every tick since was hot
	coldSince time.Time // zero unless every tick since was cold
	acc       sketchTick
	accFrom   time.Time // start of what acc sums
	refused   bool      // a split was refused in this hot spell (logged once)
	tick      sketchTick
}

// autoscaleLoop evaluates the ON_DEMAND streams every Interval until the
// engine closes. Each evaluation drains every shard's sketch, so the loop is
// the only reader of the sketches besides AutoscaleNow, with which it is
// serialised by autoscaler.mu.
func (e *Engine) autoscaleLoop() {
	defer e.bg.Done()
	ticker.Every(e.opts.Autoscale.Interval, e.stop, e.AutoscaleNow)
}

// AutoscaleStats returns the autoscaler's counters.
func (e *Engine) AutoscaleStats() AutoscaleStats {
	a := &e.scaler
	return AutoscaleStats{Splits: a.splits.Load(), Merges: a.merges.Load(), MinScaleUps: a.minUps.Load(),
		HotKeys: a.hotKeys.Load(), Refused: a.refused.Load(), HotKeysNow: int(a.hotNow.Load())}
}

// HotKeys returns the single hot keys reported at the moment for stream
// name ("" for every stream).
func (e *Engine) HotKeys(name string) []HotKey {
	a := &e.scaler
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []HotKey
	for _, hk := range a.hot {
		if name == "" || hk.Stream == name {
			out = append(out, *hk)
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

// openShard is an open shard as one evaluation sees it.
type openShard struct {
	capBytes, capRecs float64 // the shard's write quota
	meta              *shardMeta
	sk                *sketch
	load              *shardLoad
}

// AutoscaleNow runs one evaluation of every ON_DEMAND stream at the
// engine's clock: it drains the traffic sketches, splits the shards that
// stayed hot for Window, merges adjacent pairs that stayed cold for
// MergeWindow, and raises streams below the ON_DEMAND minimum. The
// background loop calls it every Interval; tests call it directly.
func (e *Engine) AutoscaleNow() {
	a := &e.scaler
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shards == nil {
		a.shards = map[*sketch]*shardLoad{}
		a.hot = map[*sketch]*HotKey{}
	}
	now := e.now()
	seen := make(map[*sketch]bool, len(a.shards))
	// On a cluster every node measures the traffic (its sketches count
	// the records its replicas apply), and only the coordinating node
	// splits and merges, through the cluster.
	act := e.opts.Replica == nil || e.coordinates()
	for _, st := range *e.snap.Load() {
		if st.deleted.Load() {
			continue
		}
		e.autoscaleStream(st, now, seen, act)
	}
	for sk := range a.shards {
		if !seen[sk] {
			delete(a.shards, sk)
		}
	}
	for sk := range a.hot {
		if !seen[sk] {
			delete(a.hot, sk)
		}
	}
	a.hotNow.Store(int64(len(a.hot)))
}

// autoscaleStream evaluates one ON_DEMAND stream; act says whether this
// node makes the decisions or only keeps the loads current.
func (e *Engine) autoscaleStream(st *stream, now time.Time, seen map[*sketch]bool, act bool) {
	a := &e.scaler
	o := &e.opts.Autoscale
	e.mu.RLock()
	if st.meta.Mode != api.OnDemand {
		e.mu.RUnlock()
		return
	}
	lim := st.limits()
	open := openSorted(st.meta)
	shards := make([]openShard, len(open))
	for i, sm := range open {
		shards[i] = openShard{meta: sm, sk: st.sketches[sm.Index]}
	}
	e.mu.RUnlock()
	if act {
		if !st.scaling.CompareAndSwap(false, true) {
			// A reshard or mode change runs: its shards are about to
			// change. The sketches keep counting; the next evaluation
			// reads them.
			for _, s := range shards {
				seen[s.sk] = true
			}
			return
		}
		defer st.endUpdate()
	}

	if len(shards) < api.OnDemandShards && act {
		target := min(api.OnDemandShards, 2*len(shards))
		err := e.updateShardCount(st.name, target, false)
		e.logScale(st.name, "raise to the ON_DEMAND minimum", err,
			"from", len(shards), "to", target, "minimum", api.OnDemandShards)
		if err == nil {
			a.minUps.Add(1)
		}
		return
	}

	capBytes, capRecs := float64(lim.WriteBytesPerSec), float64(lim.WriteRecordsPerSec)
	if capBytes <= 0 {
		capBytes = float64(ratelimit.Kinesis.WriteBytesPerSec)
	}
	if capRecs <= 0 {
		capRecs = float64(ratelimit.Kinesis.WriteRecordsPerSec)
	}
	for i := range shards {
		s := &shards[i]
		s.capBytes, s.capRecs = capBytes, capRecs
		seen[s.sk] = true
		ld := a.shards[s.sk]
		if ld == nil {
			ld = &shardLoad{last: time.Unix(0, s.meta.Created)}
			if ld.last.After(now) {
				ld.last = now
			}
			ld.accFrom = ld.last
			a.shards[s.sk] = ld
		}
		s.load = ld
		s.sk.drain(&ld.tick)
		secs := now.Sub(ld.last).Seconds()
		if secs <= 0 {
			continue
		}
		b, r := ld.tick.sums()
		load := max(float64(b)/secs/capBytes, float64(r)/secs/capRecs)
		hot, cold := load >= o.SplitThreshold, load < o.MergeThreshold
		switch {
		case hot && ld.hotSince.IsZero():
			ld.hotSince, ld.acc, ld.accFrom = ld.last, ld.tick, ld.last
		case hot:
			ld.acc.add(&ld.tick)
		default:
			ld.hotSince, ld.refused = time.Time{}, false
			ld.acc, ld.accFrom = ld.tick, ld.last
		}
		switch {
		case cold && ld.coldSince.IsZero():
			ld.coldSince = ld.last
		case !cold:
			ld.coldSince = time.Time{}
		}
		ld.last = now
		if !hot {
			delete(a.hot, s.sk)
		}
	}

	if !act || len(shards) < api.OnDemandShards {
		return
	}

	// Splits: every shard hot for a whole window.
	count := len(shards)
	for i := range shards {
		s := &shards[i]
		ld := s.load
		if ld == nil || ld.hotSince.IsZero() || now.Sub(ld.hotSince) < o.Window {
			continue
		}
		secs := now.Sub(ld.accFrom).Seconds()
		b, r := ld.acc.sums()
		bps, rps := float64(b)/secs, float64(r)/secs
		at, hotKey := e.splitPoint(s, capBytes, capRecs, secs)
		if hotKey {
			if a.hot[s.sk] == nil {
				hk := &HotKey{Stream: st.name, Shard: api.ShardID(s.meta.Index), HashKey: ld.acc.cand,
					Share: float64(ld.acc.candRecs) / float64(max(r, 1)), RecordsPerSec: rps, BytesPerSec: bps, Since: ld.hotSince}
				a.hot[s.sk] = hk
				a.hotKeys.Add(1)
				e.opts.Logger.Warn("autoscale: a single hot key carries most of a hot shard's writes; splitting cannot spread it, so the shard is left as it is: spread the key on the producer side",
					"stream", st.name, "shard", hk.Shard, "hash_key", hk.HashKey.String(), "share", round2(hk.Share),
					"records_per_sec", round2(rps), "bytes_per_sec", round2(bps), "window", o.Window)
			}
			continue
		}
		how := "at the key that halves its observed traffic"
		if o.Midpoint {
			how = "at the middle of its hash key range"
		}
		var err error
		if count >= api.MaxShardsPerStream {
			err = errorf(api.CodeLimitExceeded, "the stream has %d open shards, the most a stream may have", count)
		} else {
			err = e.splitShard(st.name, api.ShardID(s.meta.Index), at)
		}
		if err != nil && ld.refused {
			// Logged and counted when first refused in this hot
			// spell; retried every tick in case room was made.
			continue
		}
		e.logScale(st.name, "split a hot shard "+how, err, "shard", api.ShardID(s.meta.Index), "at", at.String(),
			"records_per_sec", round2(rps), "bytes_per_sec", round2(bps),
			"threshold", o.SplitThreshold, "hot_for", now.Sub(ld.hotSince).Round(time.Millisecond))
		if err != nil {
			ld.refused = true
			a.refused.Add(1)
			continue
		}
		a.splits.Add(1)
		count++
		s.load = nil // closed: not a merge candidate
	}

	// Merges: adjacent pairs of shards both cold for a whole merge window,
	// down to the ON_DEMAND minimum.
	for i := 0; i+1 < len(shards) && count > api.OnDemandShards; i++ {
		x, y := &shards[i], &shards[i+1]
		if x.load == nil || y.load == nil || !coldFor(x.load, now, o.MergeWindow) || !coldFor(y.load, now, o.MergeWindow) {
			continue
		}
		err := e.mergeShards(st.name, api.ShardID(x.meta.Index), api.ShardID(y.meta.Index))
		e.logScale(st.name, "merge two cold adjacent shards", err, "shard", api.ShardID(x.meta.Index),
			"adjacent", api.ShardID(y.meta.Index), "threshold", o.MergeThreshold,
			"cold_for", min(now.Sub(x.load.coldSince), now.Sub(y.load.coldSince)).Round(time.Millisecond))
		if err != nil {
			a.refused.Add(1)
			continue
		}
		a.merges.Add(1)
		count--
		i++ // y is closed too
	}
}

func coldFor(ld *shardLoad, now time.Time, d time.Duration) bool {
	return !ld.coldSince.IsZero() && now.Sub(ld.coldSince) >= d
}

// splitPoint is where to split hot shard s: the hash key that halves its
// observed load (bytes and records, each as a share of its quota), or the
// middle of its range with AutoscaleOptions.Midpoint.
//
// Unless Midpoint is set, when one key carries at least half of the shard's records, no split can
// halve its load: the split goes next to that key instead, putting it
// with the lighter side, so that the rest of the shard's traffic moves
// away from it (at most two such splits leave the key alone in a shard).
// hotKey reports that the key alone keeps a shard hot and nothing else
// worth moving shares its shard: splitting again would not help.
func (e *Engine) splitPoint(s *openShard, capBytes, capRecs, secs float64) (at api.HashKey, hotKey bool) {
	o := &e.opts.Autoscale
	start, end := s.meta.Start, s.meta.End
	acc := &s.load.acc
	b, r := acc.sums()
	load := max(float64(b)/secs/capBytes, float64(r)/secs/capRecs)
	if start == end {
		return api.HashKey{}, true
	}
	if r > 0 && 2*acc.candRecs >= r {
		share := float64(acc.candRecs) / float64(r)
		if load*share >= o.SplitThreshold && load*(1-share) < o.MergeThreshold {
			return api.HashKey{}, true
		}
		if o.Midpoint {
			return api.SplitRange(start, end, 2)[1][0], false
		}
		k := acc.cand
		if k.Cmp(start) < 0 || k.Cmp(end) > 0 {
			// A torn guess (see sketch.add): fall back to the median.
			return e.medianPoint(s), false
		}
		kb := s.sk.bucket(k)
		var below, above uint64
		for i := range acc.recs {
			switch {
			case i < kb:
				below += acc.recs[i]
			case i > kb:
				above += acc.recs[i]
			}
		}
		// The key joins the lighter side: [start, k] when the traffic
		// below it is the lighter, else [k, end].
		if (below < above && k != end) || k == start {
			return k.Inc(), false
		}
		return k, false
	}
	if o.Midpoint {
		return api.SplitRange(start, end, 2)[1][0], false
	}
	return e.medianPoint(s), false
}

// medianPoint is the hash key that halves the observed load of s, as far
// as its sketch's buckets tell.
func (e *Engine) medianPoint(s *openShard) (at api.HashKey) {
	o := &e.opts.Autoscale
	start, end := s.meta.Start, s.meta.End
	acc := &s.load.acc
	capBytes, capRecs := s.capBytes, s.capRecs
	mid := api.SplitRange(start, end, 2)[1][0]
	if o.Midpoint {
		return mid
	}
	var w [sketchBuckets]float64
	total := 0.0
	for b := range w {
		w[b] = float64(acc.bytes[b])/capBytes + float64(acc.recs[b])/capRecs
		total += w[b]
	}
	if total == 0 {
		return mid
	}
	half, cum := total/2, 0.0
	for b := range w {
		if cum+w[b] < half || w[b] == 0 {
			cum += w[b]
			continue
		}
		// The median falls in bucket b: place it within the bucket in
		// proportion, as if the bucket's traffic were spread evenly.
		frac := (half - cum) / w[b]
		var off api.HashKey
		if sh := s.sk.shift; sh <= 52 {
			off = api.HashKey{Lo: uint64(frac * float64(uint64(1)<<sh))}
		} else {
			off = shl128(uint64(frac*(1<<52)), sh-52)
		}
		at, _ = s.sk.bucketStart(b).Add(off)
		break
	}
	// A split point must leave both children at least one key.
	if at.Cmp(start) <= 0 {
		at = start.Inc()
	}
	if at.Cmp(end) > 0 {
		at = end
	}
	return at
}

func (e *Engine) logScale(stream, decision string, err error, args ...any) {
	args = append([]any{"stream", stream}, args...)
	if err != nil {
		e.opts.Logger.Warn("autoscale: could not "+decision, append(args, "err", err)...)
		return
	}
	e.opts.Logger.Info("autoscale: "+decision, args...)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func (t *sketchTick) sums() (bytes, recs uint64) {
	for b := range t.bytes {
		bytes += t.bytes[b]
		recs += t.recs[b]
	}
	return bytes, recs
}

// add sums u into t; the hot-key guess is kept while it stays the same key.
func (t *sketchTick) add(u *sketchTick) {
	for b := range t.bytes {
		t.bytes[b] += u.bytes[b]
		t.recs[b] += u.recs[b]
	}
	if t.cand == u.cand {
		t.candRecs += u.candRecs
	} else {
		t.cand, t.candRecs = u.cand, u.candRecs
	}
}
