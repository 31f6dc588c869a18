package kpl

import (
	"crypto/md5"
	"fmt"
	"testing"
	"time"
)

// benchRecords are n user records of size bytes of data, each with its own
// partition key (as the KPL's users often give), every tenth with an
// explicit hash key.
func benchRecords(n, size int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{PartitionKey: fmt.Appendf(nil, "partition-key-%08d", i), Data: make([]byte, size)}
		if i%10 == 0 {
			recs[i].ExplicitHashKey = fmt.Appendf(nil, "%d", uint64(i)*0x9E3779B97F4A7C15)
		}
	}
	return recs
}

func BenchmarkDeaggregate(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, size := range []int{100, 1000} {
			if n*size > 1<<20 {
				continue
			}
			b.Run(fmt.Sprintf("records=%d/size=%d", n, size), func(b *testing.B) {
				data := aggregateAll(b, benchRecords(n, size)).Data
				users := 0
				fn := func(sub int, r Record) bool { users += len(r.Data) & 1; return true }
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				start := time.Now()
				for b.Loop() {
					if !Deaggregate(data, fn) {
						b.Fatal("refused")
					}
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*n), "ns/record")
			})
			// The same-run floor: the MD5 every reader of the format must
			// compute over the protobuf.
			b.Run(fmt.Sprintf("records=%d/size=%d/baseline=md5", n, size), func(b *testing.B) {
				data := aggregateAll(b, benchRecords(n, size)).Data
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				start := time.Now()
				for b.Loop() {
					md5.Sum(data[magicLen : len(data)-digestLen])
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*n), "ns/record")
			})
		}
	}
}

func BenchmarkAggregator_Add(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			recs := benchRecords(1000, size)
			a := NewAggregator(51200)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := a.Add(recs[i%len(recs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
