package ratelimit_test

import (
	"testing"
	"time"

	"github.com/sluicedb/sluice/ratelimit"
)

// pushLoop simulates a fan-out push loop for span: whenever Allow refuses it
// waits Delay (on the simulated clock), otherwise it pushes a chunk and
// charges it. It returns the bytes pushed.
func pushLoop(clk *ratelimit.ManualClock, c *ratelimit.Consumer, chunk int, span time.Duration) int64 {
	var pushed int64
	end := clk.Now() + int64(span)
	for clk.Now() < end {
		if !c.Allow() {
			clk.Advance(c.Delay())
			continue
		}
		c.Charge(chunk)
		pushed += int64(chunk)
		clk.Advance(time.Microsecond) // the push itself
	}
	return pushed
}

func TestConsumer_PacedToItsRate(t *testing.T) {
	for _, chunk := range []int{16 * kib, 1 * mib, 5 * mib} {
		clk := ratelimit.NewManualClock(0)
		s := mustShard(t, clk, ratelimit.Kinesis)
		c := s.NewConsumer()
		pushLoop(clk, c, chunk, warmup)
		got := pushLoop(clk, c, chunk, measure)
		withinPct(t, "consumer bytes/s", float64(got)/measure.Seconds(), 2*mib, 2)
		if c.Throttled() == 0 || s.Throttled().ConsumerWaits != c.Throttled() {
			t.Errorf("chunk %d: consumer Throttled() = %d, shard ConsumerWaits = %d; want equal and > 0",
				chunk, c.Throttled(), s.Throttled().ConsumerWaits)
		}
	}
}

func TestConsumer_IndependentOfOtherConsumers(t *testing.T) {
	clk := ratelimit.NewManualClock(0)
	s := mustShard(t, clk, ratelimit.Kinesis)
	a, b := s.NewConsumer(), s.NewConsumer()
	a.Charge(20 * mib) // a is 10 s in debt
	if a.Allow() {
		t.Fatal("consumer admitted 10 s into debt")
	}
	if !b.Allow() {
		t.Fatal("another consumer's debt throttled this one")
	}
	// Shard reads and writes are separate quotas too.
	if !s.BeginRead() || !s.AllowPut(1000) {
		t.Fatal("fan-out debt throttled the shard's GetRecords or puts")
	}
}

func TestConsumer_FollowsShardLimits(t *testing.T) {
	clk := ratelimit.NewManualClock(0)
	s := mustShard(t, clk, ratelimit.Kinesis)
	c := s.NewConsumer()
	c.Charge(4 * mib) // 2 MiB of debt beyond the 2 MiB burst: 1 s
	if d := c.Delay(); d != time.Second {
		t.Fatalf("Delay() = %v, want 1s", d)
	}
	faster := ratelimit.Kinesis
	faster.ConsumerBytesPerSec = 8 * mib
	if err := s.SetLimits(faster); err != nil {
		t.Fatal(err)
	}
	// 4 MiB used of a new 8 MiB burst: allowed at once, 4 MiB left.
	if !c.Allow() {
		t.Fatal("consumer still throttled after its shard's fan-out limit was raised")
	}
	c.Charge(6 * mib)
	if d := c.Delay(); d != 250*time.Millisecond {
		t.Fatalf("Delay() after raising to 8 MiB/s = %v, want 250ms", d)
	}
	if err := s.SetLimits(ratelimit.Unlimited); err != nil {
		t.Fatal(err)
	}
	if !c.Allow() || c.Delay() != 0 {
		t.Fatal("consumer throttled after its shard became unlimited")
	}
}
