package scenario

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/client"
)

// shardSet is what readers need to know of a stream: its shards and, for
// catch-up readers, where each one ends.
type shardSet struct {
	stream string
	ids    []string
	ends   []uint64 // internal sequence number after each shard's last record
}

// describeShards reads the stream's shards and where they end now.
func describeShards(ctx context.Context, c *client.Client, stream string) (*shardSet, error) {
	info, err := c.DescribeStream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("describe stream %s: %w", stream, err)
	}
	s := &shardSet{stream: stream}
	for _, sh := range info.Shards {
		s.ids = append(s.ids, sh.ID)
		s.ends = append(s.ends, sh.NextSeq)
	}
	return s, nil
}

// shardReaders is what the polling readers and the subscribers share: one
// connection per reader, and one worker per reader and shard, starting at
// TRIM_HORIZON or, tailing, at LATEST.
type shardReaders struct {
	clients []*client.Client // reader k's connection
	shards  *shardSet
	tail    bool // from LATEST (FromLatest), else from TRIM_HORIZON (FromTrim)
}

func newShardReaders(ctx context.Context, t *target, from string, shards *shardSet, n int) (shardReaders, error) {
	cs, err := t.dialN(ctx, n)
	if err != nil {
		return shardReaders{}, err
	}
	return shardReaders{clients: cs, shards: shards, tail: from == FromLatest}, nil
}

func (r *shardReaders) close() { closeAll(r.clients) }

// workers is the number of workers: one per reader and shard.
func (r *shardReaders) workers() int { return len(r.clients) * len(r.shards.ids) }

// start returns worker w's connection, its shard and where it starts. ok
// is false when the run stopped first.
func (r *shardReaders) start(ctx context.Context, w *bench.Worker) (c *client.Client, shard int, pos api.Position, ok bool, err error) {
	c, shard = r.clients[w.ID/len(r.shards.ids)], w.ID%len(r.shards.ids)
	typ := api.TrimHorizon
	if r.tail {
		typ = api.Latest
	}
	pos, err = c.GetIterator(ctx, r.shards.stream, r.shards.ids[shard], api.IteratorSpec{Type: typ})
	if err != nil {
		if ctx.Err() != nil {
			return c, shard, pos, false, nil
		}
		return c, shard, pos, false, fmt.Errorf("iterator for %s: %w", r.shards.ids[shard], err)
	}
	return c, shard, pos, true, nil
}

// tailLatencies records what a tail reader receives: each record's latency
// from its producer's send to now. It reuses one slice.
type tailLatencies []time.Duration

// record records recs (bytes of keys and data in all) and reports whether
// the run wants more: false once the run's records are all received.
func (l *tailLatencies) record(w *bench.Worker, recs []client.Record, bytes int, now time.Time) bool {
	*l = (*l)[:0]
	for i := range recs {
		*l = append(*l, sinceStamp(recs[i].Data, now))
	}
	n := len(recs)
	w.RecordEach(*l, n, bytes)
	return w.Claim(n) == n
}

// readers is a polling read load: every reader reads every shard, with one
// goroutine per reader and shard and one connection per reader.
type readers struct {
	shardReaders // tail: from LATEST; else catching up to the shards' ends
	maxRecords   int
	maxBytes     int           // 0 for the server's limit
	poll         time.Duration // a tail reader's wait after an empty read, and anyone's after a throttled one
	rate         float64       // read attempts/s per goroutine; 0 for back to back
	// cycle reads from TRIM_HORIZON without end, going back to it whenever
	// a read reaches the tip (the limits scenario's readers).
	cycle bool
}

func newReaders(ctx context.Context, t *target, o Options, shards *shardSet, n int) (*readers, error) {
	sr, err := newShardReaders(ctx, t, o.From, shards, n)
	if err != nil {
		return nil, err
	}
	return &readers{shardReaders: sr, maxRecords: o.MaxRecords, poll: o.Poll}, nil
}

func (r *readers) load(name string) bench.Load {
	return bench.Load{Name: name, Workers: r.workers(), Generate: r.generate}
}

// generate is one reader of one shard. A catch-up reader reads from
// TRIM_HORIZON until the shard's end (or, cycling, back to TRIM_HORIZON at
// each end) and records each read's latency; a tail
// reader starts at LATEST, waits Poll after a read that found nothing, and
// records each record's latency from its producer's send to the read's
// return. A throttled read is counted and retried after Poll. Reads that
// fail otherwise stop the run.
func (r *readers) generate(ctx context.Context, w *bench.Worker) error {
	c, shard, pos, ok, err := r.start(ctx, w)
	if !ok {
		return err
	}
	first := pos
	end := uint64(1<<64 - 1)
	if !r.tail && !r.cycle {
		end = r.shards.ends[shard]
	}
	var sched *bench.Schedule
	if r.rate > 0 {
		if sched, err = bench.NewSchedule(r.rate, time.Now()); err != nil {
			return err
		}
	}
	wait := newWaiter()
	defer wait.stop()
	var res client.ReadResult
	defer res.Release()
	latencies := make(tailLatencies, 0, r.maxRecords)
	reqCtx := context.WithoutCancel(ctx)
	for ctx.Err() == nil && (r.tail || pos.Seq < end) {
		if sched != nil {
			if _, _, err := sched.NextOnTime(ctx); err != nil {
				return nil
			}
		}
		start := time.Now()
		err := c.ReadInto(reqCtx, pos, r.maxRecords, r.maxBytes, &res)
		now := time.Now()
		switch {
		case errors.Is(err, api.ErrThroughputExceeded):
			w.RecordFailures(0, 1)
			if sched == nil && !wait.sleep(ctx, r.poll) {
				return nil
			}
			continue
		case err != nil:
			return fmt.Errorf("read %s at %d: %w", r.shards.ids[shard], pos.Seq, err)
		}
		n := len(res.Records)
		pos = res.Next
		if r.cycle && n == 0 {
			pos = first
		}
		if !r.tail {
			w.Record(now.Sub(start), n, res.Bytes)
			continue
		}
		if n == 0 {
			if !wait.sleep(ctx, r.poll) {
				return nil
			}
			continue
		}
		if !latencies.record(w, res.Records, res.Bytes, now) {
			return nil // the run's records are all received
		}
	}
	return nil
}

// waiter sleeps on one reused timer, cut short by the run's end.
type waiter struct{ t *time.Timer }

func newWaiter() *waiter { return &waiter{} }

// sleep waits d and reports whether the run goes on.
func (w *waiter) sleep(ctx context.Context, d time.Duration) bool {
	if w.t == nil {
		w.t = time.NewTimer(d)
	} else {
		w.t.Reset(d)
	}
	select {
	case <-w.t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *waiter) stop() {
	if w.t != nil {
		w.t.Stop()
	}
}
