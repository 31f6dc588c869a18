package segment

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluicedb/sluice/internal/checksum"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// Benchmarks write to b.TempDir() on the real disk (not /dev/shm): append
// figures include real fdatasync latency.

// crcSink keeps the baselines' checksums from being optimised away.
var crcSink uint32

var benchKey = []byte("partition-key-16")

// appendShapes is the sweep of BenchmarkAppend: batch
// sizes 1/10/100/500 × record sizes 100 B/1 KiB/64 KiB, plus two shapes
// whose batch is 1 MiB (the goal: one fdatasync per 1 MiB batch within 10%
// of raw pwrite+fdatasync).
var appendShapes = func() [][2]int {
	var s [][2]int
	for _, batch := range []int{1, 10, 100, 500} {
		for _, size := range []int{100, 1 << 10, 64 << 10} {
			s = append(s, [2]int{batch, size})
		}
	}
	return append(s, [2]int{1024, 1 << 10}, [2]int{16, 64 << 10})
}()

// reportLatency reports the p50/p99/p999 of h in microseconds.
func reportLatency(b *testing.B, h *hdrhistogram.Histogram) {
	if h.TotalCount() == 0 {
		return
	}
	b.ReportMetric(float64(h.ValueAtQuantile(50))/1e3, "p50-µs")
	b.ReportMetric(float64(h.ValueAtQuantile(99))/1e3, "p99-µs")
	b.ReportMetric(float64(h.ValueAtQuantile(99.9))/1e3, "p999-µs")
}

// BenchmarkAppend measures, for each shape of the sweep, the log's append
// (Begin + Add×batch + Write (+ Sync) + Publish, default options: 128 MiB
// segments, growing allocation, rolling and sealing included) and, right
// beside it, the baseline: the same encoded bytes written with one pwrite
// (and one fdatasync) per batch at the end of a file preallocated to 128 MiB
// up front (the preallocation of each next file is not timed; files are kept
// until the end, like segments). MB/s counts the encoded frame bytes.
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, sh := range appendShapes {
			batch, size := sh[0], sh[1]
			name := fmt.Sprintf("sync=%v/batch=%d/size=%s", sync, batch, sizeName(size))
			b.Run(name+"/log", func(b *testing.B) { benchLogAppend(b, sync, batch, size) })
			b.Run(name+"/baseline=raw", func(b *testing.B) { benchRawAppend(b, sync, batch, size) })
		}
	}
}

func benchLogAppend(b *testing.B, sync bool, batch, size int) {
	l, _, err := Open(filepath.Join(b.TempDir(), "shard"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Destroy()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
	h := hdrhistogram.New(1, int64(10*time.Second), 3)
	var bt Batch
	// Warm the batch buffer up to the batch's size outside the timing: a
	// Batch grows once and is then reused.
	l.Begin(&bt)
	for range batch {
		bt.Add(0, 0, benchKey, data)
	}
	b.SetBytes(int64(batch * record.FrameSize(len(benchKey), size)))
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := writeCopies(l, &bt, batch, start.UnixNano(), benchKey, data); err != nil {
			b.Fatal(err)
		}
		if sync {
			if err := l.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		l.Publish()
		h.RecordValue(int64(time.Since(start)))
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
	reportLatency(b, h)
}

func benchRawAppend(b *testing.B, sync bool, batch, size int) {
	dir := b.TempDir()
	var bt Batch
	bt.reset(0, 0)
	data := make([]byte, size)
	for range batch {
		bt.Add(1, 0, benchKey, data)
	}
	buf := bt.Bytes()
	var f vfs.File
	var off int64
	files := 0
	next := func() {
		b.StopTimer()
		if f != nil {
			// Keep the file, as the log keeps its segments: deleting it
			// would drop its dirty pages without writing them back.
			f.Close()
		}
		var err error
		f, err = vfs.OS.OpenFile(filepath.Join(dir, fmt.Sprint(files)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Allocate(0, DefaultSegmentSize); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		files++
		off = 0
		b.StartTimer()
	}
	next()
	defer func() { f.Close() }()
	h := hdrhistogram.New(1, int64(10*time.Second), 3)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if off+int64(len(buf)) > DefaultSegmentSize {
			next()
		}
		start := time.Now()
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		off += int64(len(buf))
		h.RecordValue(int64(time.Since(start)))
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
	reportLatency(b, h)
}

// fullSegmentLog writes 1 KiB records (16 B keys) until the first segment of
// a default-sized log is sealed, or, with stopBeforeRoll, until the active
// segment is about to roll, and returns the log's directory and the bytes of
// the segment.
func fullSegmentLog(b *testing.B, stopBeforeRoll bool) (string, int64) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "shard")
	l, _, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1<<10)
	frame := int64(record.FrameSize(len(benchKey), len(data)))
	var bt Batch
	for {
		end := l.active.end
		if stopBeforeRoll && end+100*frame > DefaultSegmentSize {
			break
		}
		if err := writeCopies(l, &bt, 100, 1, benchKey, data); err != nil {
			b.Fatal(err)
		}
		l.Publish()
		if !stopBeforeRoll && len(l.segments()) > 1 {
			break
		}
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	seg := l.segments()[0]
	n, _ := unpackPub(seg.pub.Load())
	if stopBeforeRoll {
		// Leave without Close: the next Open must scan.
		l.shut()
	} else if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return dir, int64(n)
}

// BenchmarkScan reads a sealed 128 MiB segment of 1 KiB records in the page
// cache through Read views of up to 1 MiB, decoding every frame and
// verifying its CRC: through a mapping whose pages were touched before
// (warm), and through a fresh mapping of a just-opened log (the first read
// of a segment after Open). Baseline: CRC-32C alone over the same bytes in a
// warm mapping.
func BenchmarkScan(b *testing.B) {
	dir, size := fullSegmentLog(b, false)
	scan := func(b *testing.B, l *Log) {
		seg := l.segments()[0]
		var v View
		defer v.Release()
		n := 0
		for seq := seg.base; seq < seg.base+uint64(seg.count); seq = v.Next {
			if err := l.Read(seq, 0, 1<<20, &v); err != nil {
				b.Fatal(err)
			}
			it := v.Iter()
			for {
				if _, ok := it.Next(); !ok {
					break
				}
				n++
			}
			if it.Err() != nil {
				b.Fatal(it.Err())
			}
		}
		if n != int(seg.count) {
			b.Fatalf("scanned %d frames, want %d", n, seg.count)
		}
	}
	l, _, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.Run("warm", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			scan(b, l)
		}
	})
	b.Run("fresh-mapping", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			l2, _, err := Open(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			scan(b, l2)
			b.StopTimer()
			if err := l2.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("baseline=crc", func(b *testing.B) {
		seg := l.segments()[0]
		if !seg.acquire() {
			b.Fatal("segment dropped")
		}
		defer seg.release()
		m, err := seg.mapping()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			checksum.Value(m.data[:size])
		}
	})
}

// BenchmarkRecover opens a log whose active segment holds ~128 MiB of 1 KiB
// records and has no clean marker, so Open scans it all (the file in the page
// cache). Beside it: the frame scan alone over the same file read with
// pread in 1 MiB chunks, and the baseline of that, pread + CRC-32C of the
// same chunks with no frame decoding.
func BenchmarkRecover(b *testing.B) {
	dir, size := fullSegmentLog(b, true)
	b.Run("open", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			l, rec, err := Open(dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if rec.Clean || rec.ScannedBytes != size {
				b.Fatalf("recovery %+v; want a scan of %d B", rec, size)
			}
			b.StopTimer()
			l.mu.Lock()
			l.shut() // no marker: the next Open scans again
			l.mu.Unlock()
			b.StartTimer()
		}
	})
	f, err := vfs.OS.OpenFile(filepath.Join(dir, segName(0)), os.O_RDONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fsize, err := f.Size()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if r, err := scanFrames(newFileSource(f, fsize), 0, 0, nil); err != nil || r.end != size {
				b.Fatalf("scan ended at %d of %d: %v %v", r.end, size, r.cut, err)
			}
		}
	})
	b.Run("baseline=pread+crc", func(b *testing.B) {
		b.SetBytes(size)
		buf := make([]byte, scanChunk)
		for b.Loop() {
			for off := int64(0); off < size; off += scanChunk {
				n, _ := f.ReadAt(buf[:min(scanChunk, size-off)], off)
				crcSink = checksum.Value(buf[:n])
			}
		}
	})
}

// BenchmarkAppendSyncRatio alternates, iteration by iteration, a 1 MiB
// batch appended to the log with fdatasync and the same bytes written with
// pwrite + fdatasync into a preallocated file, so that both see the same
// disk and machine load; it reports each one's MB/s and the log's share of
// the raw figure (the goal: at least 90%).
func BenchmarkAppendSyncRatio(b *testing.B) {
	for _, sh := range [][2]int{{1024, 1 << 10}, {16, 64 << 10}} {
		batch, size := sh[0], sh[1]
		b.Run(fmt.Sprintf("batch=%d/size=%s", batch, sizeName(size)), func(b *testing.B) {
			dir := b.TempDir()
			l, _, err := Open(filepath.Join(dir, "shard"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Destroy()
			data := make([]byte, size)
			var bt, enc Batch
			l.Begin(&bt)
			enc.reset(0, 0)
			for range batch {
				bt.Add(0, 0, benchKey, data)
				enc.Add(0, 0, benchKey, data)
			}
			buf := enc.Bytes()
			var f vfs.File
			var off int64
			files := 0
			defer func() {
				if f != nil {
					f.Close()
				}
			}()
			var logTime, rawTime time.Duration
			b.SetBytes(int64(2 * len(buf)))
			for b.Loop() {
				if f == nil || off+int64(len(buf)) > DefaultSegmentSize {
					if f != nil {
						f.Close()
					}
					if f, err = vfs.OS.OpenFile(filepath.Join(dir, fmt.Sprint(files)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
						b.Fatal(err)
					}
					files++
					if err := f.Allocate(0, DefaultSegmentSize); err != nil {
						b.Fatal(err)
					}
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
					off = 0
				}
				start := time.Now()
				if _, err := f.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				off += int64(len(buf))
				mid := time.Now()
				if err := writeCopies(l, &bt, batch, mid.UnixNano(), benchKey, data); err != nil {
					b.Fatal(err)
				}
				if err := l.Sync(); err != nil {
					b.Fatal(err)
				}
				l.Publish()
				logTime += time.Since(mid)
				rawTime += mid.Sub(start)
			}
			n := float64(b.N) * float64(len(buf)) / 1e6
			b.ReportMetric(n/logTime.Seconds(), "log-MB/s")
			b.ReportMetric(n/rawTime.Seconds(), "raw-MB/s")
			b.ReportMetric(100*rawTime.Seconds()/logTime.Seconds(), "log/raw-%")
		})
	}
}

// sizeName names a byte size for a benchmark: 100B, 1KiB, 64KiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
