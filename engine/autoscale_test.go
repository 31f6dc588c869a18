package engine

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// scaleRig is an ON_DEMAND stream "s" under Kinesis quotas on an engine
// with an injected clock and the autoscaler's loop off: the test moves the
// clock a second at a time, offers a second's load and runs one evaluation.
type scaleRig struct {
	t   *testing.T
	clk *testClock
	e   *Engine
	rng *rand.Rand
}

func newScaleRig(t *testing.T, mod func(*Options)) *scaleRig {
	requireSingleNode(t, "the autoscaler driven on the test's node: on a cluster only the coordinating node (the controller's leader) scales")
	t.Helper()
	clk := newTestClock()
	e := openTest(t, func(o *Options) {
		o.Now = clk.now
		q := ratelimit.Kinesis
		o.Quotas = &q
		o.Durability = api.None
		o.Autoscale = AutoscaleOptions{Window: 5 * time.Second, MergeWindow: 10 * time.Second, Off: true}
		if mod != nil {
			mod(o)
		}
	})
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", Mode: api.OnDemand}); err != nil {
		t.Fatal(err)
	}
	return &scaleRig{t: t, clk: clk, e: e, rng: rand.New(rand.NewPCG(1, 2))}
}

// offer puts n records of size bytes whose hash keys key gives and returns
// how many the quotas accepted.
func (r *scaleRig) offer(n, size int, key func() api.HashKey) int {
	r.t.Helper()
	data := make([]byte, size)
	recs := make([]api.PutRecord, 0, api.MaxPutRecords)
	res := make([]api.PutResult, api.MaxPutRecords)
	accepted := 0
	flush := func() {
		if len(recs) == 0 {
			return
		}
		failed, err := r.e.PutRecords("s", recs, res)
		if err != nil {
			r.t.Fatal(err)
		}
		for i := range recs {
			if e := res[i].Err; e != nil && !errors.Is(e, api.ErrThroughputExceeded) {
				r.t.Fatalf("record %d: %v", i, e)
			}
		}
		accepted += len(recs) - failed
		recs = recs[:0]
	}
	for i := 0; i < n; i++ {
		recs = append(recs, api.PutRecord{Key: []byte("k"), Data: data, ExplicitHash: key(), HasExplicitHash: true})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	flush()
	return accepted
}

// second moves the clock on a second, offers load and evaluates; it
// returns what was accepted.
func (r *scaleRig) second(load func() int) int {
	r.clk.advance(time.Second)
	n := load()
	r.e.AutoscaleNow()
	return n
}

func (r *scaleRig) open() []api.ShardInfo {
	r.t.Helper()
	si, err := r.e.DescribeStream("s")
	if err != nil {
		r.t.Fatal(err)
	}
	var open []api.ShardInfo
	for _, sh := range si.Shards {
		if !sh.Closed {
			open = append(open, sh)
		}
	}
	return open
}

// keyIn returns a uniformly random hash key in [lo, hi] for a range within
// one 2^64 block, as the tests use.
func (r *scaleRig) keyIn(lo, hi api.HashKey) func() api.HashKey {
	span := hi.Sub(lo)
	return func() api.HashKey {
		k, _ := lo.Add(api.HashKey{Lo: r.rng.Uint64N(span.Lo + 1)})
		return k
	}
}

func TestSketch_BucketsCoverTheRange(t *testing.T) {
	for _, rg := range [][2]api.HashKey{
		{{}, api.MaxHashKey},
		{{Hi: 1 << 62}, {Hi: 1<<63 - 1, Lo: ^uint64(0)}},
		{{Lo: 100}, {Lo: 163}},
		{{Lo: 7}, {Lo: 7}},
	} {
		s := newSketch(rg[0], rg[1])
		if b := s.bucket(rg[0]); b != 0 {
			t.Errorf("range %v: the first key falls in bucket %d, not 0", rg, b)
		}
		last := s.bucket(rg[1])
		if last >= sketchBuckets || s.bucketStart(last).Cmp(rg[1]) > 0 {
			t.Errorf("range %v: the last key falls in bucket %d starting at %v", rg, last, s.bucketStart(last))
		}
		if last < sketchBuckets/2 && rg[1].Sub(rg[0]).Cmp(api.HashKey{Lo: sketchBuckets}) >= 0 {
			t.Errorf("range %v uses only %d buckets; at least half of them should cover it", rg, last+1)
		}
	}
}

// TestAutoscale_SplitsHotRangeWhereTheTrafficIs offers twice a shard's
// record rate inside one narrow band of shard 0's range: within the window
// the shard is split inside that band (not at its midpoint), and the
// accepted rate of the band goes up accordingly.
func TestAutoscale_SplitsHotRangeWhereTheTrafficIs(t *testing.T) {
	r := newScaleRig(t, nil)
	s0 := r.open()[0]
	width := s0.HashEnd.Sub(s0.HashStart) // 2^126 - 1
	// The band [10/64, 12/64] of shard 0's range.
	lo := api.HashKey{Hi: width.Hi / 64 * 10}
	hi := api.HashKey{Hi: width.Hi / 64 * 12}
	band := func() api.HashKey {
		return api.HashKey{Hi: lo.Hi + r.rng.Uint64N(hi.Hi-lo.Hi), Lo: r.rng.Uint64()}
	}
	load := func() int { return r.offer(2400, 64, band) }
	before := r.second(load)
	if before > 1100 {
		t.Fatalf("one shard accepted %d records in a second; its quota is 1000", before)
	}
	var split time.Duration
	for i := 1; i <= 10 && len(r.open()) == 4; i++ {
		r.second(load)
		split = time.Duration(i+1) * time.Second
	}
	open := r.open()
	if len(open) != 5 {
		t.Fatalf("after %v of twice a shard's load, %d shards are open; want the hot one split (5)", split, len(open))
	}
	if split > 6*time.Second {
		t.Errorf("the split came after %v; the window is 5s", split)
	}
	var at api.HashKey
	for _, sh := range open {
		if sh.Parent == s0.ID && sh.HashStart != s0.HashStart {
			at = sh.HashStart
		}
	}
	if at.Cmp(lo) <= 0 || at.Cmp(hi) >= 0 {
		t.Fatalf("shard 0 was split at %v, outside the hot band [%v, %v] (its midpoint is %v)", at, lo, hi, api.SplitRange(s0.HashStart, s0.HashEnd, 2)[1][0])
	}
	r.second(load) // the children's buckets start full
	after := r.second(load)
	if after < 1900 {
		t.Errorf("after the split the band's accepted rate is %d records/s, before it %d; want about 2000 (two shards)", after, before)
	}
	if st := r.e.AutoscaleStats(); st.Splits != 1 {
		t.Errorf("stats count %d splits; want 1", st.Splits)
	}
}

// TestAutoscale_MidpointOptionSplitsInTheMiddle is the comparison the
// benchmark uses: with Midpoint, the same load splits at the midpoint.
func TestAutoscale_MidpointOptionSplitsInTheMiddle(t *testing.T) {
	r := newScaleRig(t, func(o *Options) { o.Autoscale.Midpoint = true })
	s0 := r.open()[0]
	band := r.keyIn(api.HashKey{Lo: 1000}, api.HashKey{Lo: 2000})
	for i := 0; i < 7 && len(r.open()) == 4; i++ {
		r.second(func() int { return r.offer(2400, 64, band) })
	}
	mid := api.SplitRange(s0.HashStart, s0.HashEnd, 2)[1][0]
	for _, sh := range r.open() {
		if sh.Parent == s0.ID && sh.HashStart != s0.HashStart && sh.HashStart != mid {
			t.Fatalf("midpoint splitting split at %v; want %v", sh.HashStart, mid)
		}
	}
	if len(r.open()) != 5 {
		t.Fatalf("%d shards open; want the hot one split", len(r.open()))
	}
}

// TestAutoscale_UniformLoadScalesOutAndBackIn offers 1.5 shards' worth to
// each of the 4 shards: each splits once (8 shards take the load below the
// threshold), and once the load stops they merge back to the minimum of 4,
// no further.
func TestAutoscale_UniformLoadScalesOutAndBackIn(t *testing.T) {
	r := newScaleRig(t, nil)
	uniform := func() api.HashKey { return api.HashKey{Hi: r.rng.Uint64(), Lo: r.rng.Uint64()} }
	load := func() int { return r.offer(6000, 64, uniform) }
	accepted := 0
	for i := 0; i < 12; i++ {
		accepted = r.second(load)
	}
	if n := len(r.open()); n != 8 {
		t.Fatalf("under 1.5× load per shard, %d shards are open after 12s; want 8", n)
	}
	if accepted < 5700 {
		t.Errorf("8 shards accept %d of 6000 records/s; want nearly all", accepted)
	}
	idle := func() int { return 0 }
	for i := 0; i < 30; i++ {
		r.second(idle)
	}
	if n := len(r.open()); n != 4 {
		t.Fatalf("after 30s idle, %d shards are open; want the ON_DEMAND minimum, 4", n)
	}
	st := r.e.AutoscaleStats()
	if st.Splits != 4 || st.Merges != 4 {
		t.Errorf("stats: %d splits, %d merges; want 4 and 4", st.Splits, st.Merges)
	}
}

// TestAutoscale_SingleHotKeyIsReportedNotSplit offers three shards' worth
// with one partition key: no split can spread one key, so the shard is left
// alone and the key is reported, once.
func TestAutoscale_SingleHotKeyIsReportedNotSplit(t *testing.T) {
	r := newScaleRig(t, nil)
	hot := api.HashPartitionKey([]byte("tenant-42"))
	key := func() api.HashKey { return hot }
	for i := 0; i < 30; i++ {
		r.second(func() int { return r.offer(3000, 64, key) })
	}
	if n := len(r.open()); n != 4 {
		t.Fatalf("%d shards open after 30s of one hot key; want 4 (no split)", n)
	}
	hks := r.e.HotKeys("s")
	if len(hks) != 1 || hks[0].HashKey != hot || hks[0].Share < 0.99 {
		t.Fatalf("hot keys reported: %+v; want the one key %v", hks, hot)
	}
	st := r.e.AutoscaleStats()
	if st.Splits != 0 || st.HotKeys != 1 || st.HotKeysNow != 1 {
		t.Errorf("stats %+v; want no split, one hot key reported once", st)
	}
	for i := 0; i < 2; i++ {
		r.second(func() int { return 0 })
	}
	if hks := r.e.HotKeys("s"); len(hks) != 0 {
		t.Errorf("the key is still reported after its load stopped: %+v", hks)
	}
}

// TestAutoscale_RaisesAStreamSwitchedToOnDemandToTheMinimum: a 1-shard
// PROVISIONED stream switched to ON_DEMAND is rescaled to 4 shards, and
// switched back it keeps them and is no longer rescaled.
func TestAutoscale_RaisesAStreamSwitchedToOnDemandToTheMinimum(t *testing.T) {
	r := newScaleRig(t, nil)
	mustCreate(t, r.e, "p", 1)
	if err := r.e.SetStreamMode("p", api.OnDemand); err != nil {
		t.Fatal(err)
	}
	r.e.AutoscaleNow()
	r.e.AutoscaleNow()
	si, _ := r.e.DescribeStream("p")
	if si.Mode != api.OnDemand || si.OpenShardCount() != 4 {
		t.Fatalf("switched to ON_DEMAND: mode %s with %d open shards; want ON_DEMAND with 4", si.Mode, si.OpenShardCount())
	}
	if err := r.e.SetStreamMode("p", api.Provisioned); err != nil {
		t.Fatal(err)
	}
	if err := r.e.UpdateShardCount("p", 2); err != nil {
		t.Fatal(err)
	}
	r.e.AutoscaleNow()
	si, _ = r.e.DescribeStream("p")
	if si.Mode != api.Provisioned || si.OpenShardCount() != 2 {
		t.Fatalf("switched back: mode %s with %d open shards; want PROVISIONED with 2", si.Mode, si.OpenShardCount())
	}
}

// TestAutoscale_HeavyKeyIsSplitAwayFromTheRest offers one key at 700
// records/s (below a shard's quota) and 500 records/s of other keys to
// shard 0: no split can halve that shard's load, so it is split right next
// to the key, which moves the other keys away, and nothing is reported.
func TestAutoscale_HeavyKeyIsSplitAwayFromTheRest(t *testing.T) {
	r := newScaleRig(t, nil)
	s0 := r.open()[0]
	heavy := api.HashKey{Hi: s0.HashEnd.Hi / 3, Lo: 12345}
	rest := func() api.HashKey { return api.HashKey{Hi: r.rng.Uint64N(s0.HashEnd.Hi), Lo: r.rng.Uint64()} }
	load := func() int {
		return r.offer(700, 64, func() api.HashKey { return heavy }) + r.offer(500, 64, rest)
	}
	for i := 0; i < 7 && len(r.open()) == 4; i++ {
		r.second(load)
	}
	var at api.HashKey
	for _, sh := range r.open() {
		if sh.Parent == s0.ID && sh.HashStart != s0.HashStart {
			at = sh.HashStart
		}
	}
	if at != heavy && at != heavy.Inc() {
		t.Fatalf("shard 0 was split at %v; want next to the heavy key %v", at, heavy)
	}
	r.second(load)
	if got := r.second(load); got < 1150 {
		t.Errorf("after the split %d of 1200 records/s are accepted; want nearly all", got)
	}
	if hks := r.e.HotKeys("s"); len(hks) != 0 {
		t.Errorf("a key below a shard's quota is reported as hot: %+v", hks)
	}
}

// TestAutoscale_StopsAtTheServerShardCap: with --max-shards 6 a stream of 4
// hot shards splits once (4 + 2 children), then every further split is
// refused, logged and counted, and the stream keeps serving.
func TestAutoscale_StopsAtTheServerShardCap(t *testing.T) {
	r := newScaleRig(t, func(o *Options) { o.MaxShards = 6 })
	uniform := func() api.HashKey { return api.HashKey{Hi: r.rng.Uint64(), Lo: r.rng.Uint64()} }
	for i := 0; i < 12; i++ {
		r.second(func() int { return r.offer(6000, 64, uniform) })
	}
	if n := len(r.open()); n != 5 {
		t.Fatalf("%d shards open; want 5 (one split, then the server's cap of 6 shards, open and closed)", n)
	}
	// Three shards stay hot; each refusal is counted once, not every tick.
	if st := r.e.AutoscaleStats(); st.Splits != 1 || st.Refused != 3 {
		t.Errorf("stats %+v; want 1 split and 3 refused (one per hot shard)", st)
	}
}
