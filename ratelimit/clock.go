package ratelimit

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/internal/ticker"
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

// CoarseClock is a Clock that returns a cached SystemClock reading, refreshed
// by a background goroutine every resolution. Now is then a single atomic
// load (a few ns) instead of a clock read (tens of ns on a virtual machine),
// at the price of one timer wake-up per resolution while the clock is open
// and of readings up to resolution plus a scheduling delay old. The refresh
// goroutine needs a P like any other: with every P busy it may run only when
// the scheduler preempts (about every 10 ms), and a bucket whose burst is
// shorter than that loses the quota that overflows in the jump. So use it
// with bursts well above 10 ms (the presets' are 1 s). An old reading makes
// buckets stricter for that moment; rates over longer spans are unaffected.
// One CoarseClock can serve every bucket of a process.
type CoarseClock struct {
	ns   atomic.Int64
	stop chan struct{} // closed by Close
	done chan struct{} // closed by run when it exits
	once sync.Once     // guards close(stop)
}

// NewCoarseClock starts a CoarseClock refreshed every resolution (at least
// 100 µs). Close stops it.
func NewCoarseClock(resolution time.Duration) *CoarseClock {
	c := &CoarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.ns.Store(SystemClock.Now())
	go c.run(max(resolution, 100*time.Microsecond))
	return c
}

// run refreshes the cached reading every resolution until stop is closed,
// then closes done. It is the only writer of c.ns after construction, and
// SystemClock is monotonic, so readings never go backwards.
func (c *CoarseClock) run(resolution time.Duration) {
	defer close(c.done)
	ticker.Every(resolution, c.stop, func() { c.ns.Store(SystemClock.Now()) })
}

// Now returns the last cached reading in nanoseconds.
func (c *CoarseClock) Now() int64 { return c.ns.Load() }

// Close stops the refreshing goroutine and waits for it to exit; the clock
// then reads the same value forever. Close may be called more than once.
func (c *CoarseClock) Close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
