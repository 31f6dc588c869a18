package ratelimit_test

import (
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/sluicedb/sluice/ratelimit"
)

func TestManualClock_NeverGoesBackwards(t *testing.T) {
	var c ratelimit.ManualClock
	if c.Now() != 0 {
		t.Fatalf("zero ManualClock reads %d", c.Now())
	}
	if got := c.Advance(time.Second); got != int64(time.Second) {
		t.Fatalf("Advance(1s) = %d", got)
	}
	c.Advance(-time.Hour)
	if got := c.Set(5); got != int64(time.Second) || c.Now() != int64(time.Second) {
		t.Fatalf("clock went backwards to %d", c.Now())
	}
	if got := c.Set(int64(2 * time.Second)); got != int64(2*time.Second) {
		t.Fatalf("Set(2s) = %d", got)
	}
}

func TestSystemClock_Monotonic(t *testing.T) {
	prev := ratelimit.SystemClock.Now()
	for range 10_000 {
		now := ratelimit.SystemClock.Now()
		if now < prev {
			t.Fatalf("SystemClock went from %d to %d", prev, now)
		}
		prev = now
	}
}

func TestBucket_WrappingClock(t *testing.T) {
	// A clock whose int64 reading overflows mid-test (as a UnixNano-based
	// clock times 16 ticks does inside the bucket) must not disturb it.
	clk := ratelimit.NewManualClock(math.MaxInt64 - int64(500*time.Millisecond))
	b := mustBucket(t, clk, 10, 10)
	for range 10 {
		if !b.Take(1) {
			t.Fatal("burst refused")
		}
	}
	clk.Advance(time.Second) // crosses the int64 boundary
	if clk.Now() > 0 {
		t.Fatal("test clock did not wrap")
	}
	for i := range 10 {
		if !b.Take(1) {
			t.Fatalf("take %d refused after the clock wrapped", i+1)
		}
	}
	if b.Take(1) {
		t.Fatal("more than the burst admitted after the clock wrapped")
	}
}

func TestCoarseClock_AdvancesAndStops(t *testing.T) {
	c := ratelimit.NewCoarseClock(time.Millisecond)
	start := c.Now()
	if sys := ratelimit.SystemClock.Now(); start > sys {
		t.Fatalf("CoarseClock reads %d, ahead of SystemClock %d", start, sys)
	}
	// Spin (yielding) until the background refresh moves the reading; a
	// stuck clock fails by the real-time deadline rather than hanging.
	deadline := time.Now().Add(10 * time.Second)
	for c.Now() == start {
		if time.Now().After(deadline) {
			t.Fatal("CoarseClock did not advance within 10 s at 1 ms resolution")
		}
		runtime.Gosched()
	}
	prev := c.Now()
	for range 10_000 {
		now := c.Now()
		if now < prev {
			t.Fatalf("CoarseClock went from %d to %d", prev, now)
		}
		prev = now
	}
	c.Close()
	c.Close() // idempotent
	stopped := c.Now()
	sys := ratelimit.SystemClock.Now()
	for ratelimit.SystemClock.Now() < sys+int64(5*time.Millisecond) {
		runtime.Gosched()
	}
	if c.Now() != stopped {
		t.Fatal("CoarseClock still advancing after Close")
	}
}
