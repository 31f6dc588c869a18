package bench

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// fakeClock is virtual time: waiting for a moment moves the clock there at
// once, so a schedule can be driven through seconds of load in microseconds.
type fakeClock struct {
	t     time.Time
	waits int // waits that had to move the clock forward
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) waitUntil(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.After(c.t) {
		c.t = t
		c.waits++
	}
	return nil
}

func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TestSchedule_NextKeepsEverySlot checks that a late generator gets the
// overdue slots at once, with their intended times, and then waits again.
func TestSchedule_NextKeepsEverySlot(t *testing.T) {
	clk := &fakeClock{t: epoch}
	s := newSchedule(epoch, float64(time.Millisecond), clk)
	ctx := context.Background()

	for i := range 3 {
		got, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := epoch.Add(time.Duration(i) * time.Millisecond); !got.Equal(want) {
			t.Fatalf("slot %d intended at %v, want %v", i, got.Sub(epoch), want.Sub(epoch))
		}
	}
	clk.advance(5500 * time.Microsecond) // now 7.5 ms: slots 3..7 are overdue
	waitsBefore := clk.waits
	for i := 3; i <= 7; i++ {
		got, _ := s.Next(ctx)
		if want := epoch.Add(time.Duration(i) * time.Millisecond); !got.Equal(want) {
			t.Fatalf("overdue slot %d intended at %v, want %v", i, got.Sub(epoch), want.Sub(epoch))
		}
	}
	if clk.waits != waitsBefore {
		t.Errorf("waited %d times for overdue slots; want none", clk.waits-waitsBefore)
	}
	got, _ := s.Next(ctx)
	if want := epoch.Add(8 * time.Millisecond); !got.Equal(want) || !clk.now().Equal(want) {
		t.Errorf("slot 8 at %v, clock at %v; want both at 8 ms", got.Sub(epoch), clk.now().Sub(epoch))
	}
	if s.Sent() != 9 {
		t.Errorf("Sent = %d, want 9", s.Sent())
	}
}

// TestSchedule_NextOnTimeSkipsMissedSlots checks the skip arithmetic: after
// a request that took d since its slot, floor(d/interval)−1 slots are
// skipped, the number of values RecordCorrected adds for d.
func TestSchedule_NextOnTimeSkipsMissedSlots(t *testing.T) {
	ctx := context.Background()
	for _, d := range []time.Duration{0, 500 * time.Microsecond, time.Millisecond, 1500 * time.Microsecond,
		3 * time.Millisecond, 3500 * time.Microsecond, 10 * time.Millisecond} {
		clk := &fakeClock{t: epoch}
		s := newSchedule(epoch, float64(time.Millisecond), clk)
		slot, _, err := s.NextOnTime(ctx)
		if err != nil {
			t.Fatal(err)
		}
		clk.advance(d)
		_, skipped, _ := s.NextOnTime(ctx)

		wantSkipped := max(int64(d/time.Millisecond)-1, 0)
		if skipped != wantSkipped {
			t.Errorf("after %v: skipped %d slots, want %d", d, skipped, wantSkipped)
		}
		r := NewRecorder()
		r.RecordCorrected(clk.now().Sub(slot), s.Interval(), 1, 1)
		if got := Collect(time.Second, r).LatencySamples - 1; got != skipped {
			t.Errorf("after %v: RecordCorrected added %d values for %d skipped slots", d, got, skipped)
		}
	}
}

// TestCoordinatedOmission_CatchUpAndCorrectedAgree drives one paced loop
// through a 50 ms stall twice in virtual time: once keeping every slot and
// measuring from the intended time, once skipping the missed slots and
// correcting with RecordCorrected. Both must record the same distribution:
// the 49 requests stuck behind the stall are counted either way.
func TestCoordinatedOmission_CatchUpAndCorrectedAgree(t *testing.T) {
	const slots, stallAt = 1000, 100
	const stall = 50 * time.Millisecond
	ctx := context.Background()
	service := func(i int64) time.Duration {
		if i == stallAt {
			return stall
		}
		return 0
	}

	clkA := &fakeClock{t: epoch}
	a := newSchedule(epoch, float64(time.Millisecond), clkA)
	recA := NewRecorder()
	for a.Sent() < slots {
		i := a.Sent()
		intended, err := a.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		clkA.advance(service(i))
		recA.Record(clkA.now().Sub(intended), 1, 1)
	}

	clkB := &fakeClock{t: epoch}
	b := newSchedule(epoch, float64(time.Millisecond), clkB)
	recB := NewRecorder()
	var skippedTotal int64
	for b.Sent() < slots {
		sent, skipped, err := b.NextOnTime(ctx)
		if err != nil {
			t.Fatal(err)
		}
		skippedTotal += skipped
		i := b.Sent() - 1
		clkB.advance(service(i))
		recB.RecordCorrected(clkB.now().Sub(sent), b.Interval(), 1, 1)
	}

	sa, sb := Collect(time.Second, recA), Collect(time.Second, recB)
	if sa.Requests != slots {
		t.Errorf("catch-up loop sent %d requests, want %d", sa.Requests, slots)
	}
	if skippedTotal != 49 || sb.Requests != slots-49 {
		t.Errorf("skipping loop skipped %d and sent %d; want 49 and %d", skippedTotal, sb.Requests, slots-49)
	}
	if !sa.Histogram().Equals(sb.Histogram()) {
		t.Errorf("distributions differ: catch-up p90 %d p99 %d max %d (n=%d), corrected p90 %d p99 %d max %d (n=%d)",
			sa.P90, sa.P99, sa.Max, sa.LatencySamples, sb.P90, sb.P99, sb.Max, sb.LatencySamples)
	}
	// 5 % of the slots saw the stall: p90 does not, p99 (the 990th of 1000
	// values: 950 zeros, then 1 ms ... 50 ms) is 40 ms, max is the stall.
	h := sa.Histogram()
	if sa.P90 != 0 || !h.ValuesAreEquivalent(sa.P99, 40_000) || !h.ValuesAreEquivalent(sa.Max, 50_000) {
		t.Errorf("p90 %d µs, p99 %d µs, max %d µs; want 0, 40 ms, 50 ms", sa.P90, sa.P99, sa.Max)
	}
}

// TestNewSchedules_Interleave checks that split schedules are evenly spaced
// together and each runs at rate/workers.
func TestNewSchedules_Interleave(t *testing.T) {
	scheds, err := NewSchedules(3000, 3, epoch) // one slot every 333.3 µs overall
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for i := range int64(4) {
		for _, s := range scheds {
			times = append(times, s.At(i).Sub(epoch))
		}
	}
	for i, got := range times {
		want := time.Duration(float64(i) * 1e9 / 3000)
		if d := got - want; d < -time.Nanosecond || d > time.Nanosecond {
			t.Errorf("slot %d at %v, want %v", i, got, want)
		}
	}
	if iv := scheds[0].Interval(); iv != time.Millisecond {
		t.Errorf("per-worker interval %v, want 1ms", iv)
	}
}

// TestSchedule_NoDrift checks that slot times come from the start, not from
// adding up a rounded interval: at 3 per second, slot 3,000,000 is exactly
// 1,000,000 s after the start.
func TestSchedule_NoDrift(t *testing.T) {
	s, err := NewSchedule(3, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.At(3_000_000).Sub(epoch); got != 1_000_000*time.Second {
		t.Errorf("slot 3e6 at %v, want 1e6 s", got)
	}
}

// TestSchedule_Errors checks invalid rates and a cancelled wait.
func TestSchedule_Errors(t *testing.T) {
	for _, rate := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := NewSchedule(rate, epoch); !errors.Is(err, ErrOptions) {
			t.Errorf("NewSchedule(%v): err = %v, want ErrOptions", rate, err)
		}
	}
	if _, err := NewSchedules(10, 0, epoch); !errors.Is(err, ErrOptions) {
		t.Errorf("NewSchedules with 0 workers: err = %v, want ErrOptions", err)
	}

	// A real schedule whose next slot is an hour away returns at once when
	// its context is cancelled.
	s, _ := NewSchedule(1, time.Now().Add(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next on a cancelled context: %v, want context.Canceled", err)
	}
	if _, _, err := s.NextOnTime(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("NextOnTime on a cancelled context: %v, want context.Canceled", err)
	}
	if s.Sent() != 0 {
		t.Errorf("Sent = %d after cancelled waits, want 0", s.Sent())
	}
}

// TestSchedule_RealTimer checks the timer path: a real schedule at 1000/s
// hands out intended times in order and never before they are due.
func TestSchedule_RealTimer(t *testing.T) {
	s, err := NewSchedule(1000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	prev := time.Time{}
	for range 5 {
		intended, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); now.Before(intended) {
			t.Fatalf("Next returned %v before the intended time", intended.Sub(now))
		}
		if !intended.After(prev) {
			t.Fatalf("intended times not increasing: %v then %v", prev, intended)
		}
		prev = intended
	}
}
