package wireserver

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/ratelimit"
)

// BenchmarkGroupConsume reads the same prefilled stream (8 shards, 200,000
// records of 100 B) to its end with a plain Consumer and with a group
// consumer of one member that checkpoints every batch, in the same run:
// records/s of each. One op is one read of the whole stream.
func BenchmarkGroupConsume(b *testing.B) {
	const shards, total, size = 8, 200_000, 100
	q := ratelimit.Unlimited
	env := newTestEnv(b, func(eo *engine.Options, _ *ServerOptions) { eo.Quotas = &q })
	c := env.dial(client.ClientOptions{})
	env.createStream(c, "s", shards)
	ctx := context.Background()
	recs := make([]api.PutRecord, 500)
	res := make([]api.PutResult, len(recs))
	data := make([]byte, size)
	for n := 0; n < total; n += len(recs) {
		for i := range recs {
			recs[i] = api.PutRecord{Key: fmt.Appendf(nil, "k%d", n+i), Data: data}
		}
		if failed, err := c.PutRecords(ctx, "s", recs, res); err != nil || failed > 0 {
			b.Fatalf("prefill: %d failed, %v", failed, err)
		}
	}
	b.Run("consumer=plain", func(b *testing.B) {
		b.SetBytes(total * size)
		for range b.N {
			k, err := client.NewConsumer(ctx, c, client.ConsumerOptions{Stream: "s"})
			if err != nil {
				b.Fatal(err)
			}
			for n := 0; n < total; n++ {
				if _, err := k.Next(ctx); err != nil {
					b.Fatal(err)
				}
			}
			k.Close()
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	groups := 0 // each read is by a new group, from the first records
	b.Run("consumer=group", func(b *testing.B) {
		b.SetBytes(total * size)
		for range b.N {
			groups++
			group := fmt.Sprintf("bench-%d", groups)
			gc, err := client.NewGroupConsumer(c, client.GroupConsumerOptions{Stream: "s", Group: group, Member: "m"})
			if err != nil {
				b.Fatal(err)
			}
			var got atomic.Int64
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- gc.Run(rctx, func(_ context.Context, batch *client.GroupBatch) error {
					if got.Add(int64(len(batch.Records))) >= total {
						cancel()
					}
					return nil
				})
			}()
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
			case <-time.After(5 * time.Minute):
				b.Fatalf("the group consumer read %d of %d records in 5 minutes", got.Load(), total)
			}
			cancel()
			if n := got.Load(); n < total {
				b.Fatalf("read %d of %d records", n, total)
			}
		}
		b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
