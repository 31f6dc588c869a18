package bench

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Schedule is the timetable of one open-loop load goroutine: slot i is due
// at start + i×interval. Times are computed from the start, not by adding
// up waits, so a late wake-up or a slow request never shifts later slots and
// the rate over a run is exact. A Schedule belongs to one goroutine.
//
// Two ways to follow it, each with its matching latency record:
//   - Next keeps every slot. A generator that fell behind sends the overdue
//     slots back to back until it is on time again, so the offered rate
//     stays the rate; it measures latency from the intended time Next
//     returns and records it with Recorder.Record. This is the open-loop
//     measurement wrk2 makes, and it needs no correction.
//   - NextOnTime skips the slots that passed while a request was slow and
//     waits for the next one; the generator measures latency from its actual
//     send and records it with Recorder.RecordCorrected(latency, Interval()),
//     which adds back a value for each skipped slot (coordinated-omission
//     correction).
type Schedule struct {
	start    time.Time
	interval time.Duration
	period   float64 // interval in nanoseconds, unrounded
	next     int64   // the slot Next or NextOnTime hands out next
	clock    clock
}

// NewSchedule returns a schedule of rate sends per second starting at start.
func NewSchedule(rate float64, start time.Time) (*Schedule, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("%w: rate is %v per second; it must be a positive number", ErrOptions, rate)
	}
	return newSchedule(start, 1e9/rate, &realClock{}), nil
}

// NewSchedules splits rate sends per second evenly over workers goroutines:
// schedule k has rate/workers sends per second, offset by k/rate from start,
// so that together their slots are evenly spaced at 1/rate.
func NewSchedules(rate float64, workers int, start time.Time) ([]*Schedule, error) {
	if workers < 1 {
		return nil, fmt.Errorf("%w: %d workers; a rate needs at least 1", ErrOptions, workers)
	}
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("%w: rate is %v per second; it must be a positive number", ErrOptions, rate)
	}
	gap := 1e9 / rate
	out := make([]*Schedule, workers)
	for k := range out {
		out[k] = newSchedule(start.Add(time.Duration(float64(k)*gap)), gap*float64(workers), &realClock{})
	}
	return out, nil
}

func newSchedule(start time.Time, periodNanos float64, c clock) *Schedule {
	iv := time.Duration(math.Round(periodNanos))
	if iv < 1 {
		iv = 1
	}
	return &Schedule{start: start, interval: iv, period: periodNanos, clock: c}
}

// Interval is the time between two slots: the expected interval to give
// Recorder.RecordCorrected.
func (s *Schedule) Interval() time.Duration { return s.interval }

// At returns the intended time of slot i.
func (s *Schedule) At(i int64) time.Time {
	return s.start.Add(time.Duration(float64(i) * s.period))
}

// Sent returns the number of slots handed out so far, skipped ones included.
func (s *Schedule) Sent() int64 { return s.next }

// Next waits for the next slot and returns its intended time. When that time
// has passed already (the generator is behind), it returns at once. It
// returns ctx's error if ctx ends first.
func (s *Schedule) Next(ctx context.Context) (time.Time, error) {
	t := s.At(s.next)
	if err := s.clock.waitUntil(ctx, t); err != nil {
		return time.Time{}, err
	}
	s.next++
	return t, nil
}

// NextOnTime skips the slots that are overdue by a whole interval or more,
// waits for the next slot and returns its intended time and how many slots
// it skipped. After a request that took d since its slot, it skips
// floor(d/interval)−1 slots: the number of values RecordCorrected adds for d.
func (s *Schedule) NextOnTime(ctx context.Context) (time.Time, int64, error) {
	now := s.clock.now()
	// The latest slot due by now; the ones before it are skipped.
	due := int64(math.Floor(float64(now.Sub(s.start)) / s.period))
	var skipped int64
	if due > s.next {
		skipped = due - s.next
	}
	t := s.At(s.next + skipped)
	if err := s.clock.waitUntil(ctx, t); err != nil {
		return time.Time{}, 0, err
	}
	s.next += skipped + 1
	return t, skipped, nil
}

// clock is the seam between a Schedule and time, so that tests can drive a
// schedule through virtual time.
type clock interface {
	now() time.Time
	// waitUntil returns when t has come or ctx is done (with ctx's error).
	waitUntil(ctx context.Context, t time.Time) error
}

// realClock waits with a timer, reused from wait to wait. A timer may fire
// late by up to the scheduler's granularity; that lateness is part of each
// measured latency and never accumulates, since slots are absolute times.
type realClock struct {
	timer *time.Timer
}

func (*realClock) now() time.Time { return time.Now() }

func (c *realClock) waitUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d) // since Go 1.23 a reset timer never delivers a stale time
	}
	select {
	case <-c.timer.C:
		return nil
	case <-ctx.Done():
		c.timer.Stop()
		return ctx.Err()
	}
}
