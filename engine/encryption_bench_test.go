package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/kms"
)

// openBenchStream opens an engine with a keyring and a one-shard stream s,
// encrypted under the default key if enc is "kms".
func openBenchStream(b *testing.B, enc string) *Engine {
	dir := b.TempDir()
	e := openEncrypted(b, dir, nil)
	b.Cleanup(func() { e.Close() })
	if _, err := e.CreateStream(api.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		b.Fatal(err)
	}
	if enc == "kms" {
		if err := e.SetEncryption("s", "KMS", kms.DefaultAlias); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// BenchmarkPut_BatchedEncryption is BenchmarkPut_Batched (durable
// PutRecords of 500 records into one shard from 4 callers) on a stream
// stored in the clear and on one encrypted with KMS: the goal is at least
// 85% of the plaintext throughput. Compare the two in one run, interleaved.
func BenchmarkPut_BatchedEncryption(b *testing.B) {
	for _, size := range []int{100, 1 << 10} {
		for _, enc := range []string{"none", "kms"} {
			b.Run("batch=500/size="+sizeName(size)+"/enc="+enc, func(b *testing.B) {
				e := openBenchStream(b, enc)
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
							b.Error(err, f, res[0].Err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)*500/time.Since(start).Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkRead_Encryption is engine reads of 1 KiB records from a shard's
// start, 10,000 records (about 10 MiB) a read, touching every record's
// bytes as a door does: in the clear (zero-copy views of the segment) and
// encrypted (opened into the result's buffer with fresh CRCs).
func BenchmarkRead_Encryption(b *testing.B) {
	for _, enc := range []string{"none", "kms"} {
		b.Run("size=1KiB/enc="+enc, func(b *testing.B) {
			e := openBenchStream(b, enc)
			const n = 20_000
			data := make([]byte, 1<<10)
			recs := make([]api.PutRecord, 500)
			res := make([]api.PutResult, 500)
			for i := range recs {
				recs[i] = api.PutRecord{Key: []byte(fmt.Sprint("k", i)), Data: data}
			}
			for i := 0; i < n/500; i++ {
				if f, err := e.PutRecords("s", recs, res); err != nil || f != 0 {
					b.Fatal(err, f)
				}
			}
			pos, err := e.GetIterator("s", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon})
			if err != nil {
				b.Fatal(err)
			}
			var rr ReadResult
			b.ReportAllocs()
			var bytes int64
			start := time.Now()
			for b.Loop() {
				if err := e.Read(pos, 10_000, 0, ReadSubscription, &rr); err != nil || rr.Records == 0 {
					b.Fatal(err, rr.Records)
				}
				// What the binary protocol sends, and what GetRecords walks.
				sink += len(rr.Frames())
				it := rr.Iter()
				for r, ok := it.Next(); ok; r, ok = it.Next() {
					sink += len(r.Data)
				}
				bytes += int64(rr.Bytes)
				pos = rr.Next
				if rr.Records < 10_000 {
					pos.Seq = 0
				}
				rr.Release()
			}
			b.ReportMetric(float64(bytes)/time.Since(start).Seconds()/1e6, "MB/s")
		})
	}
}

var sink int
