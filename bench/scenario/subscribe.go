package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/client"
)

// subscribers is a push read load: every consumer subscribes to every
// shard, with one goroutine per consumer and shard and one connection per
// consumer, so that K consumers receive every record K times (fan-out).
type subscribers struct {
	shardReaders // a reader is a consumer
	window       int
	maxRecs      int
}

func newSubscribers(ctx context.Context, t *target, o Options, shards *shardSet) (*subscribers, error) {
	sr, err := newShardReaders(ctx, t, o.From, shards, o.Consumers)
	if err != nil {
		return nil, err
	}
	return &subscribers{shardReaders: sr, window: o.Window, maxRecs: api.MaxReadRecords}, nil
}

func (s *subscribers) load(name string) bench.Load {
	return bench.Load{Name: name, Workers: s.workers(), Generate: s.generate}
}

// generate is one consumer's subscription to one shard. At the tail it
// records each record's latency from its producer's send to the event's
// arrival; catching up from TRIM_HORIZON, it records how long each event
// took to come (Next's wait), and it ends at the shard's end as it was when
// the prefill finished. Each event is one request.
func (s *subscribers) generate(ctx context.Context, w *bench.Worker) error {
	c, shard, pos, ok, err := s.start(ctx, w)
	if !ok {
		return err
	}
	if !s.tail && pos.Seq >= s.shards.ends[shard] {
		return nil // an empty shard: nothing to catch up on
	}
	sub, err := c.Subscribe(ctx, pos, client.SubscribeOptions{Window: s.window})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("subscribe to %s: %w", s.shards.ids[shard], err)
	}
	defer sub.Close()
	latencies := make(tailLatencies, 0, s.maxRecs)
	for {
		start := time.Now()
		ev, err := sub.Next(ctx)
		now := time.Now()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, io.EOF):
			return nil // the shard was closed and drained
		case err != nil:
			return fmt.Errorf("subscription to %s: %w", s.shards.ids[shard], err)
		}
		n := len(ev.Records)
		if !s.tail {
			w.Record(now.Sub(start), n, ev.Bytes)
			if ev.Next.Seq >= s.shards.ends[shard] {
				return nil
			}
			continue
		}
		if !latencies.record(w, ev.Records, ev.Bytes, now) {
			return nil // the run's records are all received
		}
	}
}
