package ratelimit

import (
	"sync/atomic"
	"time"
)

// Consumer is the quota of one enhanced fan-out consumer on one shard:
// ConsumerBytesPerSec pushed to it, independent of every other consumer, with
// a burst of one second. It follows its Shard's SetLimits on its next call.
// Fan-out is paced, not refused: the push loop asks Allow before a push,
// waits Delay when refused, and bills the bytes it pushed with Charge.
// Consumers are created by Shard.NewConsumer; a Consumer must not be copied.
type Consumer struct {
	shard *Shard
	// bucket holds this consumer's state; its config is the shard's
	// consumer config, picked up lazily by cfg.
	bucket    Bucket
	throttled atomic.Int64
}

// NewConsumer returns a fresh (full) fan-out quota for one consumer of s.
// Dropping it needs no clean-up.
func (s *Shard) NewConsumer() *Consumer {
	c := &Consumer{shard: s}
	c.bucket.clock = clockOr(s.clock)
	c.cfg()
	return c
}

// cfg returns the shard's current consumer setting, installing it in the
// consumer's bucket first if the shard's limits changed since the last call
// (one pointer comparison when they did not).
func (c *Consumer) cfg() *config {
	p := c.shard.consumer.Load()
	if p != c.bucket.cfg.Load() {
		c.bucket.mu.Lock()
		c.bucket.install(p)
		c.bucket.mu.Unlock()
	}
	return p
}

// Allow reports whether the consumer may be sent more now (it is out of
// debt). A false is counted in Throttled and in the shard's ConsumerWaits.
func (c *Consumer) Allow() bool {
	p := c.cfg()
	if p == nil || p.allowed(&c.bucket.tat, p.now()) {
		return true
	}
	c.throttled.Add(1)
	c.shard.consumerThrottled.Add(1)
	return false
}

// Charge bills the consumer for bytes pushed to it; a push larger than what
// the consumer holds leaves it in debt until the rate has covered it.
func (c *Consumer) Charge(bytes int) {
	if p := c.cfg(); p != nil && bytes > 0 {
		p.charge(&c.bucket.tat, uint64(bytes), p.now())
	}
}

// Delay returns how long until Allow will succeed (0 if it would now).
func (c *Consumer) Delay() time.Duration {
	p := c.cfg()
	if p == nil {
		return 0
	}
	return p.delay(&c.bucket.tat, 0)
}

// Throttled returns how many times Allow refused this consumer.
func (c *Consumer) Throttled() int64 { return c.throttled.Load() }
