package bench

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Stats are the figures of one load over a run: counts, rates and latency
// percentiles. Rates are per second of the run's duration; MB is 10^6 bytes;
// latencies are per request, in microseconds.
type Stats struct {
	Records   int64 `json:"records"`
	Requests  int64 `json:"requests"`
	Bytes     int64 `json:"bytes"`
	Errors    int64 `json:"errors"`
	Throttled int64 `json:"throttled"`

	RecordsPerSec  float64 `json:"records_per_sec"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	// MBPerSec is Bytes per second in MB of 10^6 bytes (not MiB).
	MBPerSec float64 `json:"mb_per_sec"`

	P50  int64   `json:"p50_us"`
	P90  int64   `json:"p90_us"`
	P99  int64   `json:"p99_us"`
	P999 int64   `json:"p999_us"`
	Max  int64   `json:"max_us"`
	Mean float64 `json:"mean_us"`
	// LatencySamples is the number of values in the histogram: one per request,
	// plus those RecordCorrected adds for coordinated omission.
	LatencySamples int64 `json:"latency_samples"`

	// Seconds is the duration the rates are taken over.
	Seconds float64 `json:"duration_s"`

	hist *hdrhistogram.Histogram
}

// NewStats computes the figures of counts and a latency histogram (in
// microseconds, as NewHistogram makes) recorded over elapsed. The Stats keep
// hist for Histogram and WriteHgrm; the caller must not change it afterwards.
// A zero elapsed gives zero rates.
func NewStats(c Counts, hist *hdrhistogram.Histogram, elapsed time.Duration) *Stats {
	if hist == nil {
		hist = NewHistogram()
	}
	s := &Stats{
		Records:        c.Records,
		Requests:       c.Requests,
		Bytes:          c.Bytes,
		Errors:         c.Errors,
		Throttled:      c.Throttled,
		LatencySamples: hist.TotalCount(),
		Seconds:        elapsed.Seconds(),
		hist:           hist,
	}
	if elapsed > 0 {
		sec := elapsed.Seconds()
		s.RecordsPerSec = float64(c.Records) / sec
		s.RequestsPerSec = float64(c.Requests) / sec
		s.MBPerSec = float64(c.Bytes) / 1e6 / sec
	}
	if hist.TotalCount() > 0 {
		s.P50 = hist.ValueAtPercentile(50)
		s.P90 = hist.ValueAtPercentile(90)
		s.P99 = hist.ValueAtPercentile(99)
		s.P999 = hist.ValueAtPercentile(99.9)
		s.Max = hist.Max()
		s.Mean = hist.Mean()
	}
	return s
}

// Collect merges what the recorders hold into one Stats over elapsed. It is
// safe while the recorders' goroutines still record: what they record after
// their recorder was collected stays for the next Collect.
func Collect(elapsed time.Duration, recs ...*Recorder) *Stats {
	hist := NewHistogram()
	var c Counts
	for _, r := range recs {
		r.drainInto(hist, &c)
	}
	return NewStats(c, hist, elapsed)
}

// Histogram returns the merged latency histogram, in microseconds (an empty
// one for Stats not made by NewStats). It must not be modified.
func (s *Stats) Histogram() *hdrhistogram.Histogram {
	if s.hist == nil {
		return NewHistogram()
	}
	return s.hist
}

// MetricReporter is what testing.B offers for custom benchmark metrics.
type MetricReporter interface {
	ReportMetric(n float64, unit string)
}

// ReportMetrics reports the latency percentiles of s as benchmark metrics
// (p50-µs, p99-µs, p99.9-µs, max-µs), for Go benchmarks that time their
// operations with a Recorder.
func ReportMetrics(b MetricReporter, s *Stats) {
	b.ReportMetric(float64(s.P50), "p50-µs")
	b.ReportMetric(float64(s.P99), "p99-µs")
	b.ReportMetric(float64(s.P999), "p99.9-µs")
	b.ReportMetric(float64(s.Max), "max-µs")
}
