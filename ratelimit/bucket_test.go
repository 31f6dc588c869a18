package ratelimit_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sluicedb/sluice/ratelimit"
)

func TestBucket_ZeroValueIsUnlimited(t *testing.T) {
	var b ratelimit.Bucket
	for range 1000 {
		if !b.Take(1 << 40) {
			t.Fatal("zero Bucket refused a take")
		}
		b.Charge(1 << 40)
	}
	if !b.Allowed() || b.Delay(1<<40) != 0 || b.Available() != math.MaxInt64 {
		t.Fatalf("zero Bucket: Allowed=%v Delay=%v Available=%d, want unlimited", b.Allowed(), b.Delay(1<<40), b.Available())
	}
	if r, bu := b.Limit(); r != 0 || bu != 0 {
		t.Fatalf("Limit() = %d, %d, want 0, 0", r, bu)
	}
}

func TestBucket_BurstThenRate(t *testing.T) {
	clk := ratelimit.NewManualClock(12345)
	b := mustBucket(t, clk, 10, 10) // 10/s, one unit per 100 ms
	for i := range 10 {
		if !b.Take(1) {
			t.Fatalf("take %d of a full burst of 10 refused", i+1)
		}
	}
	if b.Take(1) {
		t.Fatal("11th take admitted with an empty bucket")
	}
	if d := b.Delay(1); d != 100*time.Millisecond {
		t.Fatalf("Delay(1) = %v, want 100ms", d)
	}
	clk.Advance(99 * time.Millisecond)
	if b.Take(1) {
		t.Fatal("take admitted after 99ms at 10/s")
	}
	clk.Advance(time.Millisecond)
	if !b.Take(1) {
		t.Fatal("take refused after 100ms at 10/s")
	}
	clk.Advance(time.Hour)
	if got := b.Available(); got != 10 {
		t.Fatalf("Available after an hour idle = %d, want the burst (10)", got)
	}
}

func TestBucket_TakeIsAllOrNothing(t *testing.T) {
	_, b := manualBucket(t, 10, 10)
	if !b.Take(7) {
		t.Fatal("Take(7) from a full bucket of 10 refused")
	}
	if b.Take(5) {
		t.Fatal("Take(5) admitted with 3 left")
	}
	if got := b.Available(); got != 3 {
		t.Fatalf("refused Take(5) consumed: Available = %d, want 3", got)
	}
	if !b.Take(3) {
		t.Fatal("Take(3) with 3 left refused")
	}
}

func TestBucket_OversizedRequestOnlyIntoFullBucket(t *testing.T) {
	clk, b := manualBucket(t, mib, mib) // 1 MiB/s, 1 s burst
	if !b.Take(1) {
		t.Fatal("first byte refused")
	}
	if b.Take(10 * mib) {
		t.Fatal("10 MiB admitted into a bucket that is not full")
	}
	clk.Advance(time.Second)
	if !b.Take(10 * mib) {
		t.Fatal("10 MiB refused by a full bucket; large requests must pass into a full bucket")
	}
	// 9 MiB of debt beyond the burst: nothing for 9 s, then small takes.
	if got := b.Available(); got != -9*mib {
		t.Fatalf("Available after 10 MiB = %d, want %d", got, -9*mib)
	}
	clk.Advance(9*time.Second - time.Nanosecond)
	if b.Allowed() {
		t.Fatal("bucket out of debt 1 ns early")
	}
	clk.Advance(time.Nanosecond)
	if !b.Allowed() || b.Take(1) {
		t.Fatal("bucket not exactly out of debt (0 units) after 9 s")
	}
	clk.Advance(954 * time.Nanosecond) // one byte at 1 MiB/s is 953.67 ns
	if !b.Take(1) {
		t.Fatal("one byte refused one byte-interval after the debt was paid")
	}
	if d := b.Delay(10 * mib); d != time.Second {
		t.Fatalf("Delay(10 MiB) = %v, want 1s (until full)", d)
	}
	clk.Advance(time.Second)
	if !b.Take(10 * mib) {
		t.Fatal("second 10 MiB refused by a full bucket")
	}
}

func TestBucket_ChargeDebtAndAllowed(t *testing.T) {
	clk, b := manualBucket(t, 2*mib, 0) // billed after the fact, no credit
	if !b.Allowed() {
		t.Fatal("fresh bucket not allowed")
	}
	b.Charge(3 * mib) // 1.5 s of quota
	if b.Allowed() {
		t.Fatal("allowed right after a 1.5 s charge")
	}
	if d := b.Delay(0); d != 1500*time.Millisecond {
		t.Fatalf("Delay(0) = %v, want 1.5s", d)
	}
	clk.Advance(1500*time.Millisecond - 1)
	if b.Allowed() {
		t.Fatal("allowed 1 ns before the debt is paid")
	}
	clk.Advance(1)
	if !b.Allowed() {
		t.Fatal("not allowed once the debt is paid")
	}
	// Charges accumulate from max(TAT, now): two back to back add up.
	b.Charge(mib)
	b.Charge(mib)
	if d := b.Delay(0); d != time.Second {
		t.Fatalf("Delay(0) after two 0.5 s charges = %v, want 1s", d)
	}
}

func TestBucket_Refund(t *testing.T) {
	_, b := manualBucket(t, 100, 100)
	if !b.Take(60) {
		t.Fatal("Take(60) refused")
	}
	b.Refund(60)
	if got := b.Available(); got != 100 {
		t.Fatalf("Available after take+refund = %d, want 100", got)
	}
	// A refund can never lift the bucket above its burst.
	b.Refund(1000)
	if got := b.Available(); got != 100 {
		t.Fatalf("Available after an extra refund = %d, want 100 (the burst)", got)
	}
	if !b.Take(100) || b.Take(1) {
		t.Fatal("bucket does not hold exactly its burst after refunds")
	}
}

func TestBucket_SetLimit_TakesEffectOnNextRequest(t *testing.T) {
	_, b := manualBucket(t, 100, 100)
	for b.Take(1) {
	}
	// Raise: the 100 units used stay used, the other 900 are there now.
	if err := b.SetLimit(1000, 1000); err != nil {
		t.Fatal(err)
	}
	if got := b.Available(); got != 900 {
		t.Fatalf("Available after raising to 1000 = %d, want 900", got)
	}
	if !b.Take(900) || b.Take(1) {
		t.Fatal("raised bucket does not admit exactly the 900 left")
	}
	// Lower: 1000 used against a burst of 10 is 990 of debt, 99 s at 10/s.
	if err := b.SetLimit(10, 10); err != nil {
		t.Fatal(err)
	}
	if d := b.Delay(1); d != 99*time.Second+100*time.Millisecond {
		t.Fatalf("Delay(1) after lowering = %v, want 99.1s", d)
	}
	// Unlimited: next request passes, whatever the debt.
	if err := b.SetLimit(0, 0); err != nil {
		t.Fatal(err)
	}
	if !b.Take(1 << 30) {
		t.Fatal("unlimited bucket refused")
	}
	// Back from unlimited: starts full.
	if err := b.SetLimit(50, 5); err != nil {
		t.Fatal(err)
	}
	if r, bu := b.Limit(); r != 50 || bu != 5 {
		t.Fatalf("Limit() = %d, %d, want 50, 5", r, bu)
	}
	if !b.Take(5) || b.Take(1) {
		t.Fatal("bucket back from unlimited does not hold exactly its burst")
	}
}

func TestBucket_NegativeLimitRejected(t *testing.T) {
	for _, c := range []struct{ rate, burst int64 }{{-1, 0}, {1, -1}} {
		if _, err := ratelimit.NewBucket(nil, c.rate, c.burst); !errors.Is(err, ratelimit.ErrInvalidLimit) {
			t.Errorf("NewBucket(%d, %d) error = %v, want ErrInvalidLimit", c.rate, c.burst, err)
		}
	}
	b := mustBucket(t, nil, 5, 5)
	if err := b.SetLimit(-5, 5); !errors.Is(err, ratelimit.ErrInvalidLimit) {
		t.Fatalf("SetLimit(-5, 5) error = %v, want ErrInvalidLimit", err)
	}
	if r, bu := b.Limit(); r != 5 || bu != 5 {
		t.Fatalf("rejected SetLimit changed the limit to %d, %d", r, bu)
	}
}

// TestBucket_FractionalRateAccuracy checks rates whose interval is not a
// whole number of nanoseconds: a saturating taker must get exactly
// rate*T + burst units over T (to within a request and 0.01%).
func TestBucket_FractionalRateAccuracy(t *testing.T) {
	cases := []struct {
		rate, burst, size int64
		step              time.Duration
	}{
		{rate: mib, burst: mib, size: 100, step: time.Millisecond},             // 953.67 ns/byte
		{rate: 3, burst: 1, size: 1, step: time.Millisecond},                   // 333,333,333.3 ns/unit
		{rate: 333_333_333, burst: 1e6, size: 100_000, step: time.Millisecond}, // 3.000000003 ns/unit
		{rate: 3e9, burst: 3e9, size: mib, step: 10 * time.Millisecond},        // 0.33 ns/byte
		{rate: 7919, burst: 7919, size: 1, step: time.Millisecond},             // 126,278.57 ns/unit
	}
	const span = 10 * time.Second
	for _, c := range cases {
		t.Run(fmt.Sprintf("rate=%d/size=%d", c.rate, c.size), func(t *testing.T) {
			clk := ratelimit.NewManualClock(1 << 40)
			b := mustBucket(t, clk, c.rate, c.burst)
			var got int64
			for el := time.Duration(0); el <= span; el += c.step {
				for b.Take(c.size) {
					got += c.size
				}
				clk.Advance(c.step)
			}
			want := float64(c.rate)*span.Seconds() + float64(c.burst)
			if diff := math.Abs(float64(got) - want); diff > float64(c.size) && diff/want > 1e-4 {
				t.Fatalf("admitted %d units in %v, want %.0f (off by %.4f%%)", got, span, want, diff/want*100)
			}
		})
	}
}

// TestBucket_ConcurrentTakersShareTheRate runs 8 goroutines taking from one
// bucket while they move a shared simulated clock: together they must get
// the rate, never more than rate*T + burst.
func TestBucket_ConcurrentTakersShareTheRate(t *testing.T) {
	const (
		rate       = 5_000
		goroutines = 8
		step       = 20 * time.Microsecond // per attempt: 50,000 attempts/s offered
		span       = 10 * time.Second
	)
	clk, b := manualBucket(t, rate, rate)
	admitted := raceOnClock(clk, goroutines, step, span, func() bool { return b.Take(1) })
	elapsed := time.Duration(clk.Now())
	limit := float64(rate)*elapsed.Seconds() + rate
	got := float64(admitted)
	if got > limit {
		t.Fatalf("admitted %.0f in %v, more than rate*T+burst = %.0f", got, elapsed, limit)
	}
	withinPct(t, "admitted", got, limit, 2)
}
