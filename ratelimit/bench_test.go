package ratelimit_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/ratelimit"
)

// Rates for the benchmarks, on SystemClock: "open" admits every request the
// machine can make; "tight" refuses most of a saturating load, so that the
// parallel runs exercise both outcomes and can check the admitted total.
const (
	openRate  = 1 << 50
	tightRate = 1_000_000
)

// parallel runs body from g goroutines in total (RunParallel starts
// p*GOMAXPROCS of them).
func parallel(b *testing.B, g int, body func(pb *testing.PB)) {
	procs := runtime.GOMAXPROCS(0)
	p := max(g/procs, 1)
	if p*procs != g {
		b.Logf("GOMAXPROCS=%d: running %d goroutines, not %d", procs, p*procs, g)
	}
	b.SetParallelism(p)
	b.RunParallel(body)
}

var sink atomic.Bool

// BenchmarkBucket measures one check. clock=system reads the monotonic clock
// on every check; clock=coarse reads a CoarseClock (1 ms); clock=manual (a
// clock that never moves) isolates the algorithm from the clock.
func BenchmarkBucket(b *testing.B) {
	coarse := ratelimit.NewCoarseClock(time.Millisecond)
	defer coarse.Close()
	clocks := []struct {
		name  string
		clock ratelimit.Clock
	}{
		{"system", ratelimit.SystemClock},
		{"coarse", coarse},
		{"manual", ratelimit.NewManualClock(0)},
	}
	for _, c := range clocks {
		b.Run("clock="+c.name+"/op=take/admitted/goroutines=1", func(b *testing.B) {
			bk := mustBucket(b, c.clock, openRate, openRate)
			b.ReportAllocs()
			ok := true
			for b.Loop() {
				ok = bk.Take(1) && ok
			}
			sink.Store(ok)
		})
		b.Run("clock="+c.name+"/op=take/refused/goroutines=1", func(b *testing.B) {
			bk := mustBucket(b, c.clock, 1, 1)
			bk.Take(1)
			b.ReportAllocs()
			ok := false
			for b.Loop() {
				ok = bk.Take(1) || ok
			}
			sink.Store(ok)
		})
		b.Run("clock="+c.name+"/op=allowed/goroutines=1", func(b *testing.B) {
			bk := mustBucket(b, c.clock, tightRate, 0)
			b.ReportAllocs()
			ok := false
			for b.Loop() {
				ok = bk.Allowed() || ok
			}
			sink.Store(ok)
		})
	}
	b.Run("clock=none/op=take/unlimited/goroutines=1", func(b *testing.B) {
		var bk ratelimit.Bucket
		b.ReportAllocs()
		ok := true
		for b.Loop() {
			ok = bk.Take(1) && ok
		}
		sink.Store(ok)
	})
	for _, c := range clocks[:2] {
		for _, g := range []int{2, 8} {
			b.Run(fmt.Sprintf("clock=%s/op=take/admitted/goroutines=%d", c.name, g), func(b *testing.B) {
				bk := mustBucket(b, c.clock, openRate, openRate)
				b.ReportAllocs()
				parallel(b, g, func(pb *testing.PB) {
					ok := true
					for pb.Next() {
						ok = bk.Take(1) && ok
					}
					sink.Store(ok)
				})
			})
			// tight: most takes are refused; the admitted total must stay
			// within rate*elapsed + burst however the goroutines interleave.
			b.Run(fmt.Sprintf("clock=%s/op=take/tight/goroutines=%d", c.name, g), func(b *testing.B) {
				const burst = tightRate / 10
				bk := mustBucket(b, c.clock, tightRate, burst)
				var admitted atomic.Int64
				b.ReportAllocs()
				// Measured on the bucket's own clock, so that a coarse
				// clock's lag cannot make the bound below wrong.
				start := c.clock.Now()
				parallel(b, g, func(pb *testing.PB) {
					n := int64(0)
					for pb.Next() {
						if bk.Take(1) {
							n++
						}
					}
					admitted.Add(n)
				})
				elapsed := time.Duration(c.clock.Now() - start)
				limit := tightRate*elapsed.Seconds() + burst
				if float64(admitted.Load()) > limit+1 {
					b.Fatalf("admitted %d in %v; the limit allows %.0f", admitted.Load(), elapsed, limit)
				}
				// <= 100 by the check above; lower when the goroutines were
				// descheduled, or the clock refresh was, for longer than the
				// 100 ms burst, so that the bucket filled and overflowed.
				b.ReportMetric(float64(admitted.Load())/limit*100, "%oflimit")
			})
		}
	}
}

// BenchmarkAtomicAdd is the baseline: the cheapest possible shared counter,
// one atomic.Int64.Add, under the same goroutine counts as BenchmarkBucket.
func BenchmarkAtomicAdd(b *testing.B) {
	b.Run("goroutines=1", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		for b.Loop() {
			n.Add(1)
		}
	})
	for _, g := range []int{2, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			var n atomic.Int64
			b.ReportAllocs()
			parallel(b, g, func(pb *testing.PB) {
				for pb.Next() {
					n.Add(1)
				}
			})
		})
	}
}

// BenchmarkShard_AllowPut is the per-record check of a put: two buckets, one
// clock read.
func BenchmarkShard_AllowPut(b *testing.B) {
	const size = 1 * kib
	coarse := ratelimit.NewCoarseClock(time.Millisecond)
	defer coarse.Close()
	open := ratelimit.Limits{WriteBytesPerSec: openRate, WriteRecordsPerSec: openRate}
	cases := []struct {
		name   string
		clock  ratelimit.Clock
		limits ratelimit.Limits
	}{
		{"clock=system/limits=open", ratelimit.SystemClock, open}, // every put admitted
		{"clock=coarse/limits=open", coarse, open},
		{"clock=system/limits=kinesis", ratelimit.SystemClock, ratelimit.Kinesis}, // almost every put refused
		{"clock=coarse/limits=kinesis", coarse, ratelimit.Kinesis},
		{"clock=none/limits=unlimited", ratelimit.SystemClock, ratelimit.Unlimited},
	}
	for _, c := range cases {
		for _, g := range []int{1, 2, 8} {
			b.Run(fmt.Sprintf("%s/size=1KiB/goroutines=%d", c.name, g), func(b *testing.B) {
				s := mustShard(b, c.clock, c.limits)
				b.SetBytes(size)
				b.ReportAllocs()
				if g == 1 {
					ok := true
					for b.Loop() {
						ok = s.AllowPut(size) && ok
					}
					sink.Store(ok)
					return
				}
				parallel(b, g, func(pb *testing.PB) {
					ok := true
					for pb.Next() {
						ok = s.AllowPut(size) && ok
					}
					sink.Store(ok)
				})
			})
		}
	}
}

func BenchmarkSystemClock(b *testing.B) {
	b.ReportAllocs()
	var x int64
	for b.Loop() {
		x += ratelimit.SystemClock.Now()
	}
	sink.Store(x != 0)
}
