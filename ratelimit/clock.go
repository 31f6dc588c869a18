package ratelimit

import (
	"sync/atomic"
	"time"
)

// Clock is the time source of a bucket. Now returns nanoseconds since an
// arbitrary epoch and must never go backwards: a clock that steps back makes
// the buckets it drives refuse for as long as the step. Wrap-around of the
// value is harmless (the buckets compare times by signed difference).
type Clock interface {
	Now() int64
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() int64

// Now calls f.
func (f ClockFunc) Now() int64 { return f() }

// SystemClock reads the process's monotonic clock (time.Since a time taken at
// start-up, which uses the runtime's monotonic reading and never the wall
// clock, so NTP steps and leap seconds do not disturb the buckets).
var SystemClock Clock = systemClock{}

// processStart carries a monotonic reading; SystemClock counts from it.
var processStart = time.Now()

type systemClock struct{}

func (systemClock) Now() int64 { return int64(time.Since(processStart)) }

// ManualClock is a Clock that moves only when told to, for tests and
// simulations. The zero value reads 0. It is safe for concurrent use: any
// number of goroutines may read it while others advance it.
type ManualClock struct {
	ns atomic.Int64
}

// NewManualClock returns a ManualClock reading start nanoseconds.
func NewManualClock(start int64) *ManualClock {
	c := &ManualClock{}
	c.ns.Store(start)
	return c
}

// Now returns the current simulated time in nanoseconds.
func (c *ManualClock) Now() int64 { return c.ns.Load() }

// Advance moves the clock forward by d and returns the new reading. A
// negative d is ignored: the clock never goes backwards.
func (c *ManualClock) Advance(d time.Duration) int64 {
	if d <= 0 {
		return c.ns.Load()
	}
	return c.ns.Add(int64(d))
}

// Set moves the clock to ns if that is later than its current reading and
// returns the reading after the call.
func (c *ManualClock) Set(ns int64) int64 {
	for {
		cur := c.ns.Load()
		if ns <= cur {
			return cur
		}
		if c.ns.CompareAndSwap(cur, ns) {
			return ns
		}
	}
}

// clockOr returns c, or SystemClock when c is nil.
func clockOr(c Clock) Clock {
	if c == nil {
		return SystemClock
	}
	return c
}
