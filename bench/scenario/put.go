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

// producers is a put load over the binary protocol: each goroutine sends
// requests of Batch records of Size bytes, with keys drawn from the pool,
// back to back (closed loop) or at its share of a rate (open loop).
type producers struct {
	clients []*client.Client // goroutine i sends on clients[i % len]
	stream  string
	batch   int
	size    int
	keys    [][]byte
	rate    float64           // records/s over all goroutines; 0 for a closed loop
	workers int               // goroutines
	scheds  []*bench.Schedule // one per goroutine when rate > 0, set by arm
}

// newProducers connects a put load of workers goroutines to stream.
func newProducers(ctx context.Context, t *target, o Options, stream string, workers int, rate float64) (*producers, error) {
	conns := o.Conns
	if conns == 0 || conns > workers {
		conns = workers
	}
	cs, err := t.dialN(ctx, conns)
	if err != nil {
		return nil, err
	}
	return &producers{clients: cs, stream: stream, batch: o.Batch, size: o.Size, keys: keyPool(o.Keys),
		rate: rate, workers: workers}, nil
}

// arm sets the open loop's timetable to start now; call it right before the
// run.
func (p *producers) arm() error {
	if p.rate == 0 {
		return nil
	}
	s, err := bench.NewSchedules(p.rate/float64(p.batch), p.workers, time.Now())
	if err != nil {
		return fmt.Errorf("%w: --rate: %w", ErrUsage, err)
	}
	p.scheds = s
	return nil
}

func (p *producers) close() { closeAll(p.clients) }

// load is the put load for a run.
func (p *producers) load(name string) bench.Load {
	return bench.Load{Name: name, Workers: p.workers, Generate: p.generate}
}

// generate is one producer goroutine. It claims a batch per request and
// records the request's latency from send to acknowledgement with the
// records and bytes (key plus data, as Kinesis counts them) the server
// accepted; throttled and failed records are counted apart. In the open
// loop it skips the slots a slow request made it miss and corrects the
// latency for them (coordinated omission). A request that fails as a whole
// stops the run: it would fail again.
func (p *producers) generate(ctx context.Context, w *bench.Worker) error {
	c := p.clients[w.ID%len(p.clients)]
	rng := newRand(w.Load, w.ID)
	data := newPayload(p.size, rng)
	recs := make([]api.PutRecord, p.batch)
	results := make([]api.PutResult, p.batch)
	for i := range recs {
		recs[i].Data = data // encoded into the request during the call
	}
	var sched *bench.Schedule
	if p.scheds != nil {
		sched = p.scheds[w.ID]
	}
	// A request in flight when the run stops is waited for, so that what the
	// server accepted is counted.
	reqCtx := context.WithoutCancel(ctx)
	for {
		n := w.Claim(p.batch)
		if n == 0 {
			return nil
		}
		if sched != nil {
			if _, _, err := sched.NextOnTime(ctx); err != nil {
				return nil // the run stopped
			}
		}
		keyBytes := 0
		for i := range n {
			recs[i].Key = p.keys[rng.IntN(len(p.keys))]
			keyBytes += len(recs[i].Key)
		}
		start := time.Now()
		stamp(data, start)
		var failed int
		var err error
		if n == 1 {
			_, err = c.PutRecord(reqCtx, p.stream, recs[0])
			if errors.Is(err, api.ErrThroughputExceeded) {
				failed, err = 1, nil
				results[0].Err = api.ErrThroughputExceeded
			}
		} else {
			failed, err = c.PutRecords(reqCtx, p.stream, recs[:n], results[:n])
		}
		latency := time.Since(start)
		if err != nil {
			return fmt.Errorf("put %d records: %w", n, err)
		}
		okBytes := keyBytes + n*p.size
		throttled, errs := 0, 0
		if failed > 0 {
			for i := range n {
				if e := results[i].Err; e != nil {
					okBytes -= len(recs[i].Key) + p.size
					if errors.Is(e, api.ErrThroughputExceeded) {
						throttled++
					} else {
						errs++
					}
				}
			}
		}
		if sched != nil {
			w.RecordCorrected(latency, sched.Interval(), n-failed, okBytes)
		} else {
			w.Record(latency, n-failed, okBytes)
		}
		if failed > 0 {
			w.RecordFailures(errs, throttled)
		}
	}
}

// prefill puts records into stream with a closed loop of the options'
// producers, in batches of at least 100, outside any measurement, and says
// how long it took.
func prefill(ctx context.Context, t *target, o Options, stream string, records int64) error {
	po := o
	po.Batch = max(o.Batch, 100)
	p, err := newProducers(ctx, t, po, stream, o.Producers, 0)
	if err != nil {
		return err
	}
	defer p.close()
	rep, err := bench.Run(ctx, bench.RunOptions{Scenario: "prefill", Records: records}, p.load("prefill"))
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	if rep.StoppedBy == bench.StopInterrupted {
		return fmt.Errorf("prefill interrupted: %w", context.Cause(ctx))
	}
	if rep.Records < records {
		return fmt.Errorf("prefill: the server accepted %d of %d records (%d throttled, %d failed)", rep.Records, records, rep.Throttled, rep.Errors)
	}
	fmt.Fprintf(o.Log, "prefilled %s with %d records (%.1f MB) in %.2f s\n", stream, rep.Records, float64(rep.Bytes)/1e6, rep.Duration.Seconds())
	return nil
}
