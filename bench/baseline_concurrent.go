package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Shapes of the concurrent fdatasync measurement.
const (
	// concurrentWrite is the write of each concurrent op: 1 KiB, about
	// one small put batch.
	concurrentWrite = 1 << 10
	// concurrentScratch is the preallocated space of one concurrent case,
	// shared out among its files (at least concurrentMinFile each).
	concurrentScratch = 64 << 20
	concurrentMinFile = 1 << 20
)

// ConcurrentWriters are the writer (and file) counts of the concurrent
// fdatasync measurement.
var ConcurrentWriters = []int{1, 8, 64}

// Space says how a scratch file's space was made before the timed writes.
type Space string

const (
	// SpaceFallocated is space reserved with fallocate (mode 0), as segment
	// files grow: unwritten extents, which a write must convert.
	SpaceFallocated Space = "fallocate"
	// SpaceZeroed is space written with zeros and synced beforehand, as a
	// recycled file's: the writes overwrite allocated, written blocks.
	SpaceZeroed Space = "zeroed"
)

// ConcurrentSyncFigure is one case of the concurrent fdatasync measurement:
// Files goroutines, each writing 1 KiB at successive offsets of its own file
// and fdatasyncing it, in a loop, on Space.
type ConcurrentSyncFigure struct {
	Files int   `json:"files"`
	Space Space `json:"space"`
	// OpsPerSec is write+fdatasync pairs completed per second, all files
	// together.
	OpsPerSec float64 `json:"ops_per_sec"`
	Ops       int64   `json:"ops"`
	Seconds   float64 `json:"seconds"`
	// P50 and P99 are the latency of one write+fdatasync, in microseconds.
	P50 float64 `json:"p50_us"`
	P99 float64 `json:"p99_us"`
}

// MeasureConcurrentSyncs measures every case of ConcurrentWriters on
// fallocate'd and on pre-zeroed files, each within opts.Budget.
func MeasureConcurrentSyncs(ctx context.Context, opts BaselineOptions) ([]ConcurrentSyncFigure, error) {
	var out []ConcurrentSyncFigure
	for _, space := range []Space{SpaceFallocated, SpaceZeroed} {
		for _, n := range ConcurrentWriters {
			f, err := MeasureConcurrentSync(ctx, opts, n, space)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// MeasureConcurrentSync runs n goroutines, each on its own scratch file
// prepared as space says, writing 1 KiB and fdatasyncing in a loop until
// opts.Budget passes or a file's space runs out, and returns the aggregate
// rate and the per-op latency. Preparing the files is not timed.
func MeasureConcurrentSync(ctx context.Context, opts BaselineOptions, n int, space Space) (ConcurrentSyncFigure, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return ConcurrentSyncFigure{}, err
	}
	if n < 1 {
		return ConcurrentSyncFigure{}, fmt.Errorf("%w: concurrent fdatasync needs at least 1 file, not %d", ErrOptions, n)
	}
	if space != SpaceFallocated && space != SpaceZeroed {
		return ConcurrentSyncFigure{}, fmt.Errorf("%w: scratch space %q; want %q or %q", ErrOptions, space, SpaceFallocated, SpaceZeroed)
	}
	size := max(int64(concurrentScratch/n), concurrentMinFile)
	size -= size % concurrentWrite
	files := make([]*os.File, 0, n)
	defer func() {
		for _, f := range files {
			removeScratch(f)
		}
	}()
	for range n {
		if err := ctx.Err(); err != nil {
			return ConcurrentSyncFigure{}, err
		}
		var f *os.File
		if space == SpaceZeroed {
			f, err = newZeroedScratch(opts.Dir, size)
		} else {
			f, err = newScratch(opts.Dir, size)
		}
		if err != nil {
			return ConcurrentSyncFigure{}, err
		}
		files = append(files, f)
	}

	buf := randomBytes(concurrentWrite)
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		ops      atomic.Int64
	)
	hists := make([]*hdrhistogram.Histogram, n)
	start := time.Now()
	deadline := start.Add(opts.Budget)
	for i, f := range files {
		hists[i] = newNanosHistogram()
		wg.Add(1)
		go func(f *os.File, h *hdrhistogram.Histogram) {
			defer wg.Done()
			for off := int64(0); off+concurrentWrite <= size; off += concurrentWrite {
				if off > 0 && stop.Load() { // every writer takes one sample
					return
				}
				t0 := time.Now()
				_, err := f.WriteAt(buf, off)
				if err == nil {
					err = fdatasync(f)
				}
				t1 := time.Now()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("bench: concurrent write+fdatasync: %w", err)
					}
					mu.Unlock()
					stop.Store(true)
					return
				}
				recordNanos(h, t1.Sub(t0))
				ops.Add(1)
				if t1.After(deadline) || ctx.Err() != nil {
					stop.Store(true)
					return
				}
			}
			stop.Store(true) // this file is full: end the case for all
		}(f, hists[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return ConcurrentSyncFigure{}, err
	}
	if firstErr != nil {
		return ConcurrentSyncFigure{}, firstErr
	}
	h := hists[0]
	for _, o := range hists[1:] {
		h.Merge(o)
	}
	lat := latencyFigure(h)
	fig := ConcurrentSyncFigure{Files: n, Space: space, Ops: ops.Load(), Seconds: elapsed.Seconds(), P50: lat.P50, P99: lat.P99}
	if elapsed > 0 {
		fig.OpsPerSec = float64(fig.Ops) / elapsed.Seconds()
	}
	return fig, nil
}

// newZeroedScratch creates a scratch file of size bytes written with zeros
// and synced, so that the timed writes overwrite blocks already written.
func newZeroedScratch(dir string, size int64) (*os.File, error) {
	f, err := os.CreateTemp(dir, "sluice-baseline-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("bench: baseline scratch file: %w", err)
	}
	if err := writeZeros(f, size); err != nil {
		removeScratch(f)
		return nil, fmt.Errorf("bench: write %d zero bytes in %s: %w", size, dir, err)
	}
	if err := f.Sync(); err != nil {
		removeScratch(f)
		return nil, fmt.Errorf("bench: baseline scratch file: %w", err)
	}
	return f, nil
}
