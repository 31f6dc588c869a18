package bench

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histogram geometry, shared by every recorder of a run so that their
// histograms merge bucket for bucket.
const (
	// MaxLatency is the largest latency a histogram tells apart; a longer one is
	// recorded as MaxLatency, so a report whose max is exactly 60 s saturated.
	MaxLatency = 60 * time.Second

	// lowestMicros is the histogram's resolution: 1 µs.
	lowestMicros = 1
	// highestMicros is MaxLatency in microseconds.
	highestMicros = int64(MaxLatency / time.Microsecond)
	// significantDigits: 3 keeps every value within 0.1 % of what was recorded
	// and every value below 2048 µs exact, in ~17 Ki counters (~136 KiB).
	significantDigits = 3
)

// NewHistogram returns an empty latency histogram in microseconds, from 1 µs to
// MaxLatency, with 3 significant digits: the geometry every recorder of this
// package uses, so it merges with theirs.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(lowestMicros, highestMicros, significantDigits)
}

// micros converts a latency to whole microseconds for a histogram, rounding up
// so that any positive duration counts as at least 1 µs (a report never
// understates a latency), and clamping to [0, MaxLatency].
func micros(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	if d >= MaxLatency {
		return highestMicros
	}
	return int64((d + time.Microsecond - 1) / time.Microsecond)
}
