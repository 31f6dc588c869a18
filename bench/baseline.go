package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// BaselineOptions bound the machine measurements.
type BaselineOptions struct {
	// Dir is where the disk measurements write their scratch files (removed
	// afterwards); default os.TempDir(). Point it at the file system of the
	// server's data directory: /tmp is often tmpfs, where fdatasync is free.
	Dir string
	// Budget bounds the time of each measurement; default 2 s. A measurement
	// takes at least one sample however small the budget.
	Budget time.Duration
	// Samples bounds the samples of each latency measurement; default 10,000.
	Samples int
}

func (o BaselineOptions) withDefaults() (BaselineOptions, error) {
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	if o.Budget == 0 {
		o.Budget = 2 * time.Second
	}
	if o.Samples == 0 {
		o.Samples = 10_000
	}
	if o.Budget < 0 || o.Samples < 0 {
		return o, fmt.Errorf("%w: baseline budget %v and samples %d must be positive", ErrOptions, o.Budget, o.Samples)
	}
	return o, nil
}

// LatencyFigure is a latency measurement: percentiles in microseconds over
// Samples samples.
type LatencyFigure struct {
	P50     float64 `json:"p50_us"`
	P99     float64 `json:"p99_us"`
	Samples int64   `json:"samples"`
}

// RateFigure is a bandwidth measurement: Bytes moved in Seconds, MB of
// 10^6 bytes.
type RateFigure struct {
	MBPerSec float64 `json:"mb_per_sec"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
}

// Baseline is what the machine itself can do, measured in the same run as
// the load so that a report can state its figures as ratios to it.
type Baseline struct {
	// Filesystem is the type of the file system the disk figures were taken
	// on ("ext4", "xfs", "tmpfs"...), when known.
	Filesystem string `json:"filesystem,omitempty"`
	// Fsync4K is a 4 KiB pwrite plus fdatasync into preallocated space.
	Fsync4K LatencyFigure `json:"fsync_4k"`
	// FsyncBatch is 1 MiB pwrites, each followed by fdatasync, into
	// preallocated space.
	FsyncBatch RateFigure `json:"fsync_1m_batch"`
	// ConcurrentSync is N goroutines each writing 1 KiB and fdatasyncing its
	// own file, for N in ConcurrentWriters, on fallocate'd and on pre-zeroed
	// files: what the disk gives to concurrent flushers, the ceiling of a
	// design where every shard pays its own flush.
	ConcurrentSync []ConcurrentSyncFigure `json:"concurrent_fdatasync,omitempty"`
	// TCPStream is one loopback TCP connection carrying a stream of writes.
	TCPStream RateFigure `json:"tcp_stream"`
	// TCPRoundTrip is a 100-byte request echoed back over loopback TCP.
	TCPRoundTrip LatencyFigure `json:"tcp_rtt_100b"`
}

// MeasureBaseline takes the measurements one after the other, each within
// opts.Budget (the concurrent fdatasync cases each within it too), against
// opts.Dir and 127.0.0.1 only.
func MeasureBaseline(ctx context.Context, opts BaselineOptions) (*Baseline, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Baseline{Filesystem: filesystemType(opts.Dir)}
	if b.Fsync4K, err = MeasureFsync4K(ctx, opts); err != nil {
		return nil, err
	}
	if b.FsyncBatch, err = MeasureFsyncBatch(ctx, opts); err != nil {
		return nil, err
	}
	if b.ConcurrentSync, err = MeasureConcurrentSyncs(ctx, opts); err != nil {
		return nil, err
	}
	if b.TCPStream, err = MeasureTCPStream(ctx, opts); err != nil {
		return nil, err
	}
	if b.TCPRoundTrip, err = MeasureTCPRoundTrip(ctx, opts); err != nil {
		return nil, err
	}
	return b, nil
}

// newNanosHistogram is a histogram for the baseline's latencies, which are
// finer than a load's: nanoseconds from 1 ns to MaxLatency.
func newNanosHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(MaxLatency), significantDigits)
}

func recordNanos(h *hdrhistogram.Histogram, d time.Duration) {
	_ = h.RecordValue(min(max(int64(d), 0), int64(MaxLatency)))
}

func latencyFigure(h *hdrhistogram.Histogram) LatencyFigure {
	return LatencyFigure{
		P50:     float64(h.ValueAtPercentile(50)) / 1e3,
		P99:     float64(h.ValueAtPercentile(99)) / 1e3,
		Samples: h.TotalCount(),
	}
}

func rateFigure(bytes int64, d time.Duration) RateFigure {
	f := RateFigure{Bytes: bytes, Seconds: d.Seconds()}
	if d > 0 {
		f.MBPerSec = float64(bytes) / 1e6 / d.Seconds()
	}
	return f
}

// ConcurrentSyncOps returns the ops/s of the concurrent fdatasync case with
// files files on space, and false if it was not measured.
func (b *Baseline) ConcurrentSyncOps(files int, space Space) (float64, bool) {
	for _, f := range b.ConcurrentSync {
		if f.Files == files && f.Space == space {
			return f.OpsPerSec, true
		}
	}
	return 0, false
}
