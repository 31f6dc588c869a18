package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

// Sizes of the disk measurements.
const (
	// fsyncSmall is the write of the latency measurement: one 4 KiB page.
	fsyncSmall = 4 << 10
	// fsyncBatch is the write of the bandwidth measurement: a 1 MiB batch.
	fsyncBatch = 1 << 20
	// batchScratch is the preallocated size of one bandwidth scratch file;
	// when it is full a fresh one is preallocated, outside the timing.
	batchScratch = 64 << 20
)

// MeasureFsync4K measures the latency of a 4 KiB pwrite followed by
// fdatasync, at successive offsets of a file preallocated with fallocate
// (mode 0, as segment files are), for up to opts.Samples samples or
// opts.Budget, whichever ends first.
func MeasureFsync4K(ctx context.Context, opts BaselineOptions) (LatencyFigure, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return LatencyFigure{}, err
	}
	f, err := newScratch(opts.Dir, int64(opts.Samples)*fsyncSmall)
	if err != nil {
		return LatencyFigure{}, err
	}
	defer removeScratch(f)

	buf := randomBytes(fsyncSmall)
	h := newNanosHistogram()
	deadline := time.Now().Add(opts.Budget)
	for i := range opts.Samples {
		if err := ctx.Err(); err != nil {
			return LatencyFigure{}, err
		}
		t0 := time.Now()
		if _, err := f.WriteAt(buf, int64(i)*fsyncSmall); err != nil {
			return LatencyFigure{}, fmt.Errorf("bench: baseline write: %w", err)
		}
		if err := fdatasync(f); err != nil {
			return LatencyFigure{}, fmt.Errorf("bench: baseline fdatasync: %w", err)
		}
		t1 := time.Now()
		recordNanos(h, t1.Sub(t0))
		if t1.After(deadline) {
			break
		}
	}
	return latencyFigure(h), nil
}

// MeasureFsyncBatch measures the bandwidth of 1 MiB pwrites, each followed
// by fdatasync, into preallocated space, for opts.Budget. Only the write and
// sync time counts: preallocating a fresh scratch file when one is full does
// not.
func MeasureFsyncBatch(ctx context.Context, opts BaselineOptions) (RateFigure, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return RateFigure{}, err
	}
	buf := randomBytes(fsyncBatch)
	var (
		f       *os.File
		off     int64
		busy    time.Duration
		written int64
	)
	defer func() {
		if f != nil {
			removeScratch(f)
		}
	}()
	deadline := time.Now().Add(opts.Budget)
	for first := true; first || time.Now().Before(deadline); first = false {
		if err := ctx.Err(); err != nil {
			return RateFigure{}, err
		}
		if f == nil || off+fsyncBatch > batchScratch {
			if f != nil {
				removeScratch(f)
				f = nil
			}
			if f, err = newScratch(opts.Dir, batchScratch); err != nil {
				return RateFigure{}, err
			}
			off = 0
		}
		t0 := time.Now()
		if _, err := f.WriteAt(buf, off); err != nil {
			return RateFigure{}, fmt.Errorf("bench: baseline write: %w", err)
		}
		if err := fdatasync(f); err != nil {
			return RateFigure{}, fmt.Errorf("bench: baseline fdatasync: %w", err)
		}
		busy += time.Since(t0)
		written += fsyncBatch
		off += fsyncBatch
	}
	return rateFigure(written, busy), nil
}

// newScratch creates a scratch file in dir with size bytes preallocated and
// the allocation made durable, so that the timed syncs carry only the data
// and the extent updates of the writes themselves.
func newScratch(dir string, size int64) (*os.File, error) {
	f, err := os.CreateTemp(dir, "sluice-baseline-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("bench: baseline scratch file: %w", err)
	}
	if err := preallocate(f, size); err != nil {
		removeScratch(f)
		return nil, fmt.Errorf("bench: preallocate %d bytes in %s: %w", size, dir, err)
	}
	if err := f.Sync(); err != nil {
		removeScratch(f)
		return nil, fmt.Errorf("bench: baseline scratch file: %w", err)
	}
	return f, nil
}

func removeScratch(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

// writeZeros preallocates by writing zeros, where fallocate is missing.
func writeZeros(f *os.File, size int64) error {
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	return nil
}

// randomBytes returns n pseudo-random bytes, so that no layer below can
// compress or deduplicate what the measurements write.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	var seed [32]byte
	copy(seed[:], "sluice baseline scratch content.")
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}
