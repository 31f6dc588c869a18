package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/ratelimit"
)

// BenchmarkProducer_OneShardKinesisQuotas puts b.N user records of 100
// bytes (16-byte keys, a new key every record) into a one-shard stream
// under the Kinesis quotas (1,000 records/s and 1 MiB/s in), with and
// without aggregation, and reports the user records stored per second:
// without aggregation the shard's 1,000 records/s bound them; with it, its
// 1 MiB/s. Throttled records are retried until stored. Run it with a fixed
// count (-benchtime 20000x) so both see the same records; the first second
// includes the bucket's burst.
func BenchmarkProducer_OneShardKinesisQuotas(b *testing.B) {
	for _, agg := range []bool{false, true} {
		b.Run(fmt.Sprintf("aggregate=%v", agg), func(b *testing.B) {
			c := startServer(b)
			createStream(b, c, "s", 1, ratelimit.Kinesis)
			p, err := client.NewProducer(c, client.ProducerOptions{Stream: "s", Aggregate: agg, MaxAttempts: 1 << 20,
				BackoffBase: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 100)
			key := []byte("key-000000000000")
			pctx := ctx(b)
			b.SetBytes(int64(len(data) + len(key)))
			b.ReportAllocs()
			start := time.Now()
			for i := range b.N {
				for j, n := len(key)-1, i; j >= 4; j, n = j-1, n/10 {
					key[j] = byte('0' + n%10)
				}
				if err := p.Put(pctx, key, data); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Close(ctx(b)); err != nil {
				b.Fatal(err)
			}
			el := time.Since(start)
			st := p.Stats()
			if st.Stored != int64(b.N) {
				b.Fatalf("%d of %d stored", st.Stored, b.N)
			}
			b.ReportMetric(float64(st.Stored)/el.Seconds(), "user-records/s")
			b.ReportMetric(float64(st.Requests)/el.Seconds(), "requests/s")
			if agg {
				b.ReportMetric(float64(st.Aggregates)/el.Seconds(), "aggregates/s")
			}
		})
	}
}
