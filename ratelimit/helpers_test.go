package ratelimit_test

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/ratelimit"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// withinPct fails t unless got is within pct percent of want.
func withinPct(t *testing.T, what string, got, want, pct float64) {
	t.Helper()
	if want == 0 {
		if got != 0 {
			t.Errorf("%s = %.1f, want 0", what, got)
		}
		return
	}
	if dev := math.Abs(got-want) / want * 100; dev > pct {
		t.Errorf("%s = %.1f, want %.1f ±%.1f%% (off by %.2f%%)", what, got, want, pct, dev)
	}
}

func mustBucket(t testing.TB, clock ratelimit.Clock, rate, burst int64) *ratelimit.Bucket {
	t.Helper()
	b, err := ratelimit.NewBucket(clock, rate, burst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// manualBucket is a bucket on its own simulated clock, at 0.
func manualBucket(t testing.TB, rate, burst int64) (*ratelimit.ManualClock, *ratelimit.Bucket) {
	t.Helper()
	clk := ratelimit.NewManualClock(0)
	return clk, mustBucket(t, clk, rate, burst)
}

// manualShard is a shard's limiter on its own simulated clock, at 0.
func manualShard(t testing.TB, l ratelimit.Limits) (*ratelimit.ManualClock, *ratelimit.Shard) {
	t.Helper()
	clk := ratelimit.NewManualClock(0)
	return clk, mustShard(t, clk, l)
}

func mustShard(t testing.TB, clock ratelimit.Clock, l ratelimit.Limits) *ratelimit.Shard {
	t.Helper()
	s, err := ratelimit.NewShard(clock, l)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// raceOnClock has goroutines call try over and over, each moving the shared
// simulated clock forward by step after every attempt, until the clock reads
// until; it returns how many attempts were admitted in all.
func raceOnClock(clk *ratelimit.ManualClock, goroutines int, step, until time.Duration, try func() bool) int64 {
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			n := int64(0)
			for clk.Now() < int64(until) {
				if try() {
					n++
				}
				clk.Advance(step)
			}
			admitted.Add(n)
		})
	}
	wg.Wait()
	return admitted.Load()
}
