package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Bucket is a token bucket (GCRA) whose whole state is one 64-bit word
// updated by compare-and-swap: no mutex and no allocation on any request
// path, safe for any number of goroutines. Units are whatever the caller
// counts (bytes, records, calls). The zero value is an unlimited bucket on
// SystemClock; NewBucket picks the clock. A Bucket must not be copied after
// first use.
type Bucket struct {
	// tat is the theoretical arrival time in ticks (see gcra.go): the only
	// state a request reads and writes.
	tat atomic.Uint64
	// cfg is the current setting; nil means unlimited. Replaced, never
	// edited, by SetLimit.
	cfg atomic.Pointer[config]
	// clock is fixed at construction; nil means SystemClock.
	clock Clock

	// mu serialises SetLimit calls (the config swap together with the
	// rescaling of tat). Requests never take it.
	mu sync.Mutex
}

// NewBucket returns a bucket on clock (nil means SystemClock) admitting rate
// units per second with bursts of up to burst units; rate 0 means unlimited.
// It fails with ErrInvalidLimit if rate or burst is negative.
func NewBucket(clock Clock, rate, burst int64) (*Bucket, error) {
	b := &Bucket{clock: clock}
	if err := b.SetLimit(rate, burst); err != nil {
		return nil, err
	}
	return b, nil
}

// SetLimit changes the rate (units per second, 0 for unlimited) and the
// burst (units). The next request is judged by the new setting. Units taken
// and not yet refilled stay taken: a bucket that was 3 units short of full
// is 3 units short of full under the new setting, whatever its rate, and a
// bucket that was unlimited starts full. Requests running concurrently with
// SetLimit are judged by either setting. It fails with ErrInvalidLimit if
// rate or burst is negative.
func (b *Bucket) SetLimit(rate, burst int64) error {
	if rate < 0 {
		return fmt.Errorf("ratelimit: rate is %d units/s; use 0 for unlimited or a positive rate: %w", rate, ErrInvalidLimit)
	}
	if burst < 0 {
		return fmt.Errorf("ratelimit: burst is %d units; use 0 or a positive burst: %w", burst, ErrInvalidLimit)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.install(newConfig(clockOr(b.clock), rate, burst))
	return nil
}

// install makes next the bucket's setting. b.mu must be held.
func (b *Bucket) install(next *config) {
	old := b.cfg.Load()
	if old == next {
		return
	}
	rescale(&b.tat, old, next)
	b.cfg.Store(next)
}

// Limit returns the current rate and burst; (0, 0) when unlimited.
func (b *Bucket) Limit() (rate, burst int64) {
	c := b.cfg.Load()
	if c == nil {
		return 0, 0
	}
	return c.rate, c.burst
}

// Take admits n units if the bucket holds them and takes them; otherwise it
// takes nothing and returns false. n larger than the whole burst is admitted
// only when the bucket is full, and leaves it in debt for the excess (so a
// 10 MiB record on a 1 MiB/s, 1 MiB-burst bucket passes once in 10 s rather
// than never). n <= 0 and unlimited buckets always succeed.
func (b *Bucket) Take(n int64) bool {
	c := b.cfg.Load()
	if c == nil || n <= 0 {
		return true
	}
	return c.take(&b.tat, uint64(n), c.now())
}

// Charge takes n units unconditionally, leaving the bucket in debt if it
// holds fewer; use it to bill work after the fact (bytes a read returned).
// n <= 0 and unlimited buckets are no-ops.
func (b *Bucket) Charge(n int64) {
	c := b.cfg.Load()
	if c == nil || n <= 0 {
		return
	}
	c.charge(&b.tat, uint64(n), c.now())
}

// Allowed reports whether the bucket is out of debt (holds zero or more
// units). It takes nothing. With burst 0 this means everything charged so
// far has been paid for at the rate.
func (b *Bucket) Allowed() bool {
	c := b.cfg.Load()
	return c == nil || c.allowed(&b.tat, c.now())
}

// Refund gives back n units that a successful Take took, for a caller whose
// request failed elsewhere after the Take. A bucket that has meanwhile
// refilled to full stays full (refunds cannot raise it above its burst).
func (b *Bucket) Refund(n int64) {
	c := b.cfg.Load()
	if c == nil || n <= 0 {
		return
	}
	c.refund(&b.tat, uint64(n), c.now())
}

// Delay returns how long until Take(n) would succeed if nothing else took
// from the bucket meanwhile (0 if it would succeed now); Delay(0) is the
// time until the bucket is out of debt.
func (b *Bucket) Delay(n int64) time.Duration {
	c := b.cfg.Load()
	if c == nil {
		return 0
	}
	return c.delay(&b.tat, uint64(max(n, 0)))
}

// Available returns the units the bucket holds now: the burst when full,
// negative while in debt. For unlimited buckets it returns math.MaxInt64.
func (b *Bucket) Available() int64 {
	c := b.cfg.Load()
	if c == nil {
		return maxInt64
	}
	return c.available(&b.tat)
}

const maxInt64 = 1<<63 - 1
