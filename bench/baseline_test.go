package bench

import (
	"context"
	"errors"
	"flag"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestMeasureBaseline_Short runs every measurement for a few milliseconds
// and checks the figures are non-zero and consistent, and that the scratch
// files are gone.
func TestMeasureBaseline_Short(t *testing.T) {
	dir := t.TempDir()
	b, err := MeasureBaseline(context.Background(), BaselineOptions{Dir: dir, Budget: 20 * time.Millisecond, Samples: 200})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]LatencyFigure{"fsync 4 KiB": b.Fsync4K, "TCP round trip": b.TCPRoundTrip} {
		if f.Samples < 1 || f.Samples > 200 || !(f.P50 > 0) || f.P99 < f.P50 {
			t.Errorf("%s: %+v; want 1..200 samples and 0 < p50 <= p99", name, f)
		}
	}
	for name, f := range map[string]RateFigure{"fsync 1 MiB": b.FsyncBatch, "TCP stream": b.TCPStream} {
		if !(f.MBPerSec > 0) || f.Bytes <= 0 || !(f.Seconds > 0) {
			t.Errorf("%s: %+v; want bytes moved at a positive rate", name, f)
		}
		if got := float64(f.Bytes) / 1e6 / f.Seconds; !near(got, f.MBPerSec) {
			t.Errorf("%s: %v MB/s but %d bytes in %v s", name, f.MBPerSec, f.Bytes, f.Seconds)
		}
	}
	if b.FsyncBatch.Bytes%fsyncBatch != 0 {
		t.Errorf("batch bytes %d are not whole MiB batches", b.FsyncBatch.Bytes)
	}
	if len(b.ConcurrentSync) != 2*len(ConcurrentWriters) {
		t.Errorf("%d concurrent fdatasync cases, want %d", len(b.ConcurrentSync), 2*len(ConcurrentWriters))
	}
	for _, space := range []Space{SpaceFallocated, SpaceZeroed} {
		for _, n := range ConcurrentWriters {
			if _, ok := b.ConcurrentSyncOps(n, space); !ok {
				t.Errorf("no concurrent fdatasync case for %d files on %s space", n, space)
			}
		}
	}
	for _, c := range b.ConcurrentSync {
		// Every writer finishes at least one op before it sees the deadline.
		if c.Ops < int64(c.Files) || !(c.Seconds > 0) || !near(float64(c.Ops)/c.Seconds, c.OpsPerSec) || !(c.P50 > 0) || c.P99 < c.P50 {
			t.Errorf("concurrent fdatasync %+v; want at least one op per file at a consistent rate and 0 < p50 <= p99", c)
		}
	}
	if runtime.GOOS == "linux" && b.Filesystem == "" {
		t.Errorf("file system type unknown on linux")
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("scratch files left behind: %v", left)
	}
}

// TestMeasureBaseline_Cancelled checks that a cancelled context stops the
// measurements with its error.
func TestMeasureBaseline_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	opts := BaselineOptions{Dir: t.TempDir(), Budget: time.Minute, Samples: 10}
	if _, err := MeasureBaseline(ctx, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("MeasureBaseline: %v, want context.Canceled", err)
	}
	if _, err := MeasureFsyncBatch(ctx, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("MeasureFsyncBatch: %v, want context.Canceled", err)
	}
	if _, err := MeasureConcurrentSync(ctx, opts, 8, SpaceZeroed); !errors.Is(err, context.Canceled) {
		t.Errorf("MeasureConcurrentSync: %v, want context.Canceled", err)
	}
	if _, err := MeasureTCPStream(ctx, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("MeasureTCPStream: %v, want context.Canceled", err)
	}
	if _, err := MeasureTCPRoundTrip(ctx, opts); !errors.Is(err, context.Canceled) {
		t.Errorf("MeasureTCPRoundTrip: %v, want context.Canceled", err)
	}
}

// TestMeasureBaseline_BadDir checks the error for a directory that is not
// there.
func TestMeasureBaseline_BadDir(t *testing.T) {
	_, err := MeasureFsync4K(context.Background(), BaselineOptions{Dir: "/nonexistent/sluice", Budget: time.Millisecond})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want one wrapping os.ErrNotExist", err)
	}
	for _, bad := range []struct {
		n     int
		space Space
	}{{0, SpaceZeroed}, {1, "sparse"}} {
		_, err := MeasureConcurrentSync(context.Background(), BaselineOptions{Dir: t.TempDir(), Budget: time.Millisecond}, bad.n, bad.space)
		if !errors.Is(err, ErrOptions) {
			t.Errorf("concurrent fdatasync with %d files on %q: %v, want ErrOptions", bad.n, bad.space, err)
		}
	}
	if _, err := MeasureBaseline(context.Background(), BaselineOptions{Budget: -1}); !errors.Is(err, ErrOptions) {
		t.Errorf("negative budget: %v, want ErrOptions", err)
	}
}

// fullBaseline enables TestMeasureBaseline_Full:
//
//	go test ./bench -run Full -v -args -baseline
var fullBaseline = flag.Bool("baseline", false, "run the machine baseline with its default budgets and log the figures")

// TestMeasureBaseline_Full measures the machine with the default budgets
// (2 s each) in the directory given by $SLUICE_BASELINE_DIR or the temp
// directory, and logs the figures. Skipped unless -baseline is given.
func TestMeasureBaseline_Full(t *testing.T) {
	if !*fullBaseline {
		t.Skip("run with -baseline")
	}
	b, err := MeasureBaseline(context.Background(), BaselineOptions{Dir: os.Getenv("SLUICE_BASELINE_DIR")})
	if err != nil {
		t.Fatal(err)
	}
	if !(b.Fsync4K.P50 > 0) || !(b.FsyncBatch.MBPerSec > 0) || !(b.TCPStream.MBPerSec > 0) || !(b.TCPRoundTrip.P50 > 0) {
		t.Errorf("a figure is zero: %+v", b)
	}
	t.Logf("file system %s", b.Filesystem)
	t.Logf("4 KiB write+fdatasync: p50 %.1f µs, p99 %.1f µs (%d samples)", b.Fsync4K.P50, b.Fsync4K.P99, b.Fsync4K.Samples)
	t.Logf("1 MiB write+fdatasync: %.1f MB/s (%d MiB in %.2f s)", b.FsyncBatch.MBPerSec, b.FsyncBatch.Bytes>>20, b.FsyncBatch.Seconds)
	for _, c := range b.ConcurrentSync {
		t.Logf("1 KiB write+fdatasync, %d writers on own %s files: %.0f ops/s, p50 %.1f µs, p99 %.1f µs", c.Files, c.Space, c.OpsPerSec, c.P50, c.P99)
	}
	t.Logf("loopback TCP stream: %.1f MB/s (%d MiB in %.2f s)", b.TCPStream.MBPerSec, b.TCPStream.Bytes>>20, b.TCPStream.Seconds)
	t.Logf("loopback TCP 100 B round trip: p50 %.1f µs, p99 %.1f µs (%d samples)", b.TCPRoundTrip.P50, b.TCPRoundTrip.P99, b.TCPRoundTrip.Samples)
}
