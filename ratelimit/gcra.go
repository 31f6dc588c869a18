package ratelimit

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Time inside a bucket is kept in ticks of 2^-tickShift ns. The fraction of a
// nanosecond keeps the per-request rounding below 1/16 ns, so that even a
// 1 GB/s byte limit charged per 100-byte record is off by less than 0.07%;
// the price is that a bucket must not sit untouched for 2^63 ticks (18 years)
// of a running process, after which its stale state would read as lying in
// the future.
const (
	tickShift      = 4
	ticksPerSecond = uint64(time.Second) << tickShift // 16e9
	// maxAhead caps how far a bucket's theoretical arrival time may run ahead
	// of now (2^61 ticks, about 4.6 years of debt), so that every signed
	// difference the buckets take stays far from wrapping.
	maxAhead = uint64(1) << 61
)

// config is one immutable setting of a bucket: a new SetLimit installs a new
// config rather than editing this one, so a request sees either the old
// setting or the new one, never half of each.
type config struct {
	clock Clock
	rate  int64 // units per second, > 0
	burst int64 // units, >= 0

	// perUnit + perUnitFrac/2^64 is the emission interval: ticks per unit,
	// 1e9<<tickShift / rate, as 64.64 fixed point rounded down.
	perUnit     uint64
	perUnitFrac uint64
	// tolerance is burst*interval rounded down: how far (in ticks) the
	// arrival time may run ahead of now while requests are still admitted.
	// Costs round down as well, so that any split of the burst into requests
	// fits it exactly (sum of floors <= floor of sum); the price is that a
	// request may be undercharged by less than one tick.
	tolerance uint64
}

// newConfig returns the config for rate units per second with a burst of
// burst units, or nil (unlimited) when rate is 0. rate and burst must not be
// negative.
func newConfig(clock Clock, rate, burst int64) *config {
	if rate == 0 {
		return nil
	}
	c := &config{clock: clock, rate: rate, burst: burst}
	r := uint64(rate)
	c.perUnit = ticksPerSecond / r
	if rem := ticksPerSecond % r; rem != 0 {
		// rem < r, so the 128-by-64 division cannot overflow.
		c.perUnitFrac, _ = bits.Div64(rem, 0, r)
	}
	// tolerance = floor(burst * ticksPerSecond / rate), exactly.
	c.tolerance = maxAhead
	if hi, lo := bits.Mul64(uint64(burst), ticksPerSecond); hi < r {
		q, _ := bits.Div64(hi, lo, r)
		c.tolerance = min(q, maxAhead)
	}
	return c
}

// now returns the clock reading in ticks (modulo 2^64).
func (c *config) now() uint64 { return uint64(c.clock.Now()) << tickShift }

// cost returns the ticks that n > 0 units occupy at the configured rate,
// rounded down to a whole tick but at least 1 (so that no request is free,
// even at rates above 16e9 units/s), and capped at maxAhead. Two 64x64
// multiplications, no division.
func (c *config) cost(n uint64) uint64 {
	hi, whole := bits.Mul64(n, c.perUnit)
	frac, _ := bits.Mul64(n, c.perUnitFrac)
	sum, carry := bits.Add64(whole, frac, 0)
	if hi != 0 || carry != 0 || sum > maxAhead {
		return maxAhead
	}
	return max(sum, 1)
}

// The operations below implement GCRA (the generic cell rate algorithm, the
// "virtual scheduling" form of a token bucket). tat, the theoretical arrival
// time, is the one word of state: the instant at which the bucket would be
// full again if nothing more were taken. A tat at or before now means a full
// bucket (burst units available); tokens available at time now are
// (now + tolerance - max(tat, now)) / interval, negative while in debt.
// Every change to tat is a compare-and-swap, so concurrent requests neither
// lock nor lose updates; a request that loses the race recomputes from the
// winner's value with the same now (a slightly old now only makes it
// stricter). now is passed in, in ticks, so that a caller judging several
// buckets of one shard reads the clock once.

// take admits n units if the bucket holds them, all or nothing. A request
// larger than the whole burst can never fit, so it is admitted only into a
// full bucket and leaves the bucket in debt for the excess; see doc.go.
func (c *config) take(tat *atomic.Uint64, n, now uint64) bool {
	cost := c.cost(n)
	for {
		t := tat.Load()
		base := fillBase(t, now)
		next := base + cost
		if int64(next-now) > int64(c.tolerance) && (cost <= c.tolerance || base != now) {
			return false
		}
		if tat.CompareAndSwap(t, next) {
			return true
		}
	}
}

// fillBase is the instant a new cost counts from: tat, or now if tat has
// passed (the bucket is full).
func fillBase(tat, now uint64) uint64 {
	if int64(tat-now) < 0 {
		return now
	}
	return tat
}

// charge takes n units unconditionally, pushing the bucket into debt when it
// holds fewer. Debt is capped at maxAhead.
func (c *config) charge(tat *atomic.Uint64, n, now uint64) {
	cost := c.cost(n)
	for {
		t := tat.Load()
		base := fillBase(t, now)
		next := base + cost
		if next-now > maxAhead {
			next = now + maxAhead
		}
		if tat.CompareAndSwap(t, next) {
			return
		}
	}
}

// allowed reports whether the bucket is not in debt (tokens >= 0).
func (c *config) allowed(tat *atomic.Uint64, now uint64) bool {
	return int64(tat.Load()-now) <= int64(c.tolerance)
}

// refund gives back n units taken earlier. Units that the bucket has since
// refilled past its capacity are gone (a full bucket stays full).
func (c *config) refund(tat *atomic.Uint64, n, now uint64) {
	cost := c.cost(n)
	for {
		t := tat.Load()
		if int64(t-now) <= 0 {
			return
		}
		next := now
		if cost < t-now {
			next = t - cost
		}
		if tat.CompareAndSwap(t, next) {
			return
		}
	}
}

// delay returns how long until take(n) would succeed if nothing else were
// taken meanwhile; with n == 0, how long until the bucket is out of debt.
func (c *config) delay(tat *atomic.Uint64, n uint64) time.Duration {
	var cost uint64
	if n > 0 {
		cost = c.cost(n)
	}
	now := c.now()
	t := tat.Load()
	base := t
	if int64(t-now) < 0 {
		base = now
	}
	var wait int64
	if cost > c.tolerance {
		wait = int64(base - now) // oversized: wait for a full bucket
	} else {
		wait = int64(base+cost-now) - int64(c.tolerance)
	}
	if wait <= 0 {
		return 0
	}
	return time.Duration((uint64(wait) + 1<<tickShift - 1) >> tickShift)
}

// available returns the units the bucket holds now: burst when full,
// negative in debt.
func (c *config) available(tat *atomic.Uint64) int64 {
	now := c.now()
	t := tat.Load()
	base := t
	if int64(t-now) < 0 {
		base = now
	}
	d := int64(now + c.tolerance - base) // ticks of credit, < 0 in debt
	neg := d < 0
	mag := uint64(d)
	if neg {
		mag = uint64(-d)
	}
	hi, lo := bits.Mul64(mag, uint64(c.rate))
	if hi >= ticksPerSecond {
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	units, rm := bits.Div64(hi, lo, ticksPerSecond)
	if neg && rm != 0 {
		// Round away from zero so that a bucket owing a fraction of a unit
		// never reports 0 (which would read as "not in debt").
		units++
	}
	units = min(units, math.MaxInt64)
	if neg {
		return -int64(units)
	}
	return int64(units)
}

// rescale carries the debt of a bucket across a change of setting: the units
// taken and not yet refilled under old are still taken under next. It does
// not install next; the caller does, holding the bucket's mutex.
func rescale(tat *atomic.Uint64, old, next *config) {
	if next == nil {
		return
	}
	now := next.now()
	if old == nil {
		// Unlimited buckets do not track anything: start full.
		tat.Store(now)
		return
	}
	for {
		t := tat.Load()
		if int64(t-now) <= 0 {
			return // full under any setting
		}
		// outstanding ticks scale with the interval, i.e. inversely with the
		// rate: d' = d * oldRate / newRate.
		hi, lo := bits.Mul64(t-now, uint64(old.rate))
		d := maxAhead
		if hi < uint64(next.rate) {
			q, _ := bits.Div64(hi, lo, uint64(next.rate))
			d = min(q, maxAhead)
		}
		if tat.CompareAndSwap(t, now+d) {
			return
		}
	}
}
