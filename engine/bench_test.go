package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// BenchmarkPut_Concurrent is durable puts into one shard from 64 concurrent
// in-process producers: the group commit's throughput.
func BenchmarkPut_Concurrent(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 64 << 10} {
		b.Run("producers=64/size="+sizeName(size), func(b *testing.B) {
			e := openTest(b, nil)
			if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.SetParallelism(64 / runtime.GOMAXPROCS(0))
			var n atomic.Int64
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				rec := [1]api.PutRecord{{Key: []byte("key-" + strconv.FormatInt(n.Add(1), 10)), Data: data}}
				var res [1]api.PutResult
				for pb.Next() {
					if _, err := e.PutRecords("s", rec[:], res[:]); err != nil || res[0].Err != nil {
						b.Error(err, res[0].Err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkPut_Batched is durable PutRecords of 500 records into one shard
// from 8 concurrent callers.
func BenchmarkPut_Batched(b *testing.B) {
	for _, size := range []int{100, 1 << 10} {
		b.Run("batch=500/size="+sizeName(size), func(b *testing.B) {
			e := openTest(b, nil)
			if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, size)
			b.SetBytes(int64(size) * 500)
			b.ReportAllocs()
			b.SetParallelism(4)
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				recs := make([]api.PutRecord, 500)
				for i := range recs {
					recs[i] = api.PutRecord{Key: []byte(fmt.Sprint("k", i)), Data: data}
				}
				res := make([]api.PutResult, 500)
				for pb.Next() {
					if f, err := e.PutRecords("s", recs, res); err != nil || f != 0 {
						b.Error(err, f)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)*500/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkPut_SingleProducerLatency is one producer putting one record at a
// time, durably: its acknowledgement latency against BenchmarkRawWriteSync4K.
func BenchmarkPut_SingleProducerLatency(b *testing.B) {
	e := openTest(b, nil)
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		b.Fatal(err)
	}
	h := hdrhistogram.New(1, 10_000_000, 3)
	rec := api.PutRecord{Key: []byte("k"), Data: make([]byte, 100)}
	recs := [1]api.PutRecord{rec}
	var res [1]api.PutResult
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := e.PutRecords("s", recs[:], res[:]); err != nil {
			b.Fatal(err)
		}
		h.RecordValue(time.Since(t0).Microseconds())
	}
	b.ReportMetric(float64(h.ValueAtQuantile(50)), "p50_us")
	b.ReportMetric(float64(h.ValueAtQuantile(99)), "p99_us")
}

// BenchmarkRawWriteSync4K is the baseline: pwrite of 4 KiB plus fdatasync
// into a preallocated file, what one durable acknowledgement cannot beat.
func BenchmarkRawWriteSync4K(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const span = 64 << 20
	if err := unix.Fallocate(int(f.Fd()), 0, 0, span); err != nil {
		b.Fatal(err)
	}
	f.Sync()
	buf := make([]byte, 4096)
	h := hdrhistogram.New(1, 10_000_000, 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := f.WriteAt(buf, int64(i*4096)%span); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		h.RecordValue(time.Since(t0).Microseconds())
	}
	b.ReportMetric(float64(h.ValueAtQuantile(50)), "p50_us")
	b.ReportMetric(float64(h.ValueAtQuantile(99)), "p99_us")
}

// BenchmarkScale creates a stream of N shards, reports the RSS it costs, and
// the time to reopen the engine after a clean shutdown.
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run("shards="+strconv.Itoa(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				q := ratelimit.Unlimited
				runtime.GC()
				rss0 := rssBytes()
				e, err := Open(Options{Dir: dir, Quotas: &q})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: n}); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				rss1 := rssBytes()
				if err := e.Close(); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				e, err = Open(Options{Dir: dir, Quotas: &q})
				if err != nil {
					b.Fatal(err)
				}
				reopen := time.Since(t0)
				e.Close()
				b.ReportMetric(float64(rss1-rss0)/1e6, "rss_MB")
				b.ReportMetric(float64(reopen.Milliseconds()), "reopen_ms")
			}
		})
	}
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func sizeName(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	default:
		return strconv.Itoa(n) + "B"
	}
}

// BenchmarkPut_ManyShards is durable PutRecords of 10 records of 100 B from
// 64 concurrent callers into a stream of 1, 8 or 64 shards, with and
// without the node-wide commit log: what the number of shards costs when
// every put spans several of them.
func BenchmarkPut_ManyShards(b *testing.B) {
	for _, clog := range []bool{true, false} {
		for _, shards := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("commitlog=%v/shards=%d", clog, shards), func(b *testing.B) {
				e := openTest(b, func(o *Options) { o.NoCommitLog = !clog })
				if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: shards}); err != nil {
					b.Fatal(err)
				}
				data := make([]byte, 100)
				b.SetBytes(100 * 10)
				b.ReportAllocs()
				b.SetParallelism(64 / runtime.GOMAXPROCS(0))
				var n atomic.Int64
				start := time.Now()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					p := n.Add(1)
					recs := make([]api.PutRecord, 10)
					res := make([]api.PutResult, 10)
					for i := 0; pb.Next(); i++ {
						for k := range recs {
							recs[k] = api.PutRecord{Key: []byte(fmt.Sprint(p, "-", i, "-", k)), Data: data}
						}
						if f, err := e.PutRecords("s", recs, res); err != nil || f != 0 {
							b.Error(err, f)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)*10/time.Since(start).Seconds(), "records/s")
			})
		}
	}
}
