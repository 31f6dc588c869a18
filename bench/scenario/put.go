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

// pace is what the put loads of both protocols share: requests of batch
// records from workers goroutines, back to back (closed loop) or at their
// share of a rate (open loop).
type pace struct {
	batch   int
	rate    float64           // records/s over all goroutines; 0 for a closed loop
	workers int               // goroutines
	scheds  []*bench.Schedule // one per goroutine when rate > 0, set by arm
}

// arm sets the open loop's timetable to start now; call it right before the
// run.
func (p *pace) arm() error {
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

// putOutcome is what one put request did: how long it took from send to
// acknowledgement, and its records split into accepted, throttled and
// failed, with the bytes (key plus data, as Kinesis counts them) of those
// accepted.
type putOutcome struct {
	latency           time.Duration
	accepted, bytes   int
	throttled, failed int
}

// run is the loop of one producer goroutine. It claims a batch per request,
// has put send a request of that many records, and records the outcome. In
// the open loop it skips the slots a slow request made it miss and corrects
// the latency for them (coordinated omission). A request that fails as a
// whole stops the run: it would fail again.
func (p *pace) run(ctx context.Context, w *bench.Worker, put func(n int) (putOutcome, error)) error {
	var sched *bench.Schedule
	if p.scheds != nil {
		sched = p.scheds[w.ID]
	}
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
		out, err := put(n)
		if err != nil {
			return fmt.Errorf("put %d records: %w", n, err)
		}
		if sched != nil {
			w.RecordCorrected(out.latency, sched.Interval(), out.accepted, out.bytes)
		} else {
			w.Record(out.latency, out.accepted, out.bytes)
		}
		if out.throttled+out.failed > 0 {
			w.RecordFailures(out.failed, out.throttled)
		}
	}
}

// putLoad is a put load of either protocol.
type putLoad interface {
	arm() error
	load(name string) bench.Load
}

// measurePut runs a put load as the measured run of the put scenario.
func measurePut(ctx context.Context, o Options, p putLoad) (*bench.Report, error) {
	if err := p.arm(); err != nil {
		return nil, err
	}
	rep, err := bench.Run(ctx, runOptions(o, o.Records), p.load("put"))
	if rep != nil {
		shardsWorth(rep, "put", true, false, o.Shards, 1)
		noteShortfall(o, rep.LoadStats("put"))
	}
	return rep, err
}

// producers is a put load over the binary protocol: each goroutine sends
// requests of Batch records of Size bytes, with keys drawn from the pool.
type producers struct {
	pace
	clients []*client.Client // goroutine i sends on clients[i % len]
	stream  string
	size    int
	keys    [][]byte
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
	return &producers{pace: pace{batch: o.Batch, rate: rate, workers: workers},
		clients: cs, stream: stream, size: o.Size, keys: keyPool(o.Keys)}, nil
}

func (p *producers) close() { closeAll(p.clients) }

// load is the put load for a run.
func (p *producers) load(name string) bench.Load {
	return bench.Load{Name: name, Workers: p.workers, Generate: p.generate}
}

// generate is one producer goroutine over the binary protocol: PutRecords
// of the batch, or PutRecord for a batch of one.
func (p *producers) generate(ctx context.Context, w *bench.Worker) error {
	c := p.clients[w.ID%len(p.clients)]
	rng := newRand(w.Load, w.ID)
	data := newPayload(p.size, rng)
	recs := make([]api.PutRecord, p.batch)
	results := make([]api.PutResult, p.batch)
	for i := range recs {
		recs[i].Data = data // encoded into the request during the call
	}
	// A request in flight when the run stops is waited for, so that what the
	// server accepted is counted.
	reqCtx := context.WithoutCancel(ctx)
	return p.run(ctx, w, func(n int) (putOutcome, error) {
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
		out := putOutcome{latency: time.Since(start), accepted: n - failed, bytes: keyBytes + n*p.size}
		if err != nil {
			return out, err
		}
		if failed > 0 {
			for i := range n {
				if e := results[i].Err; e != nil {
					out.bytes -= len(recs[i].Key) + p.size
					if errors.Is(e, api.ErrThroughputExceeded) {
						out.throttled++
					} else {
						out.failed++
					}
				}
			}
		}
		return out, nil
	})
}

// prefill puts records into stream with a closed loop of the options'
// producers, in batches of at least 100, outside any measurement, and says
// how long it took.
func prefill(ctx context.Context, t *target, o Options, stream string, records int64) error {
	p, err := newProducers(ctx, t, prefillOptions(o), stream, o.Producers, 0)
	if err != nil {
		return err
	}
	defer p.close()
	return runPrefill(ctx, o, "server", stream, records, p.load("prefill"))
}

// prefillOptions are the options of a prefill's producers: batches of at
// least 100 records.
func prefillOptions(o Options) Options {
	o.Batch = max(o.Batch, 100)
	return o
}

// runPrefill runs the prefill load l until who (the server or endpoint)
// has accepted records, and says how long it took.
func runPrefill(ctx context.Context, o Options, who, stream string, records int64, l bench.Load) error {
	rep, err := bench.Run(ctx, bench.RunOptions{Scenario: "prefill", Records: records}, l)
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	if rep.StoppedBy == bench.StopInterrupted {
		return fmt.Errorf("prefill interrupted: %w", context.Cause(ctx))
	}
	if rep.Records < records {
		return fmt.Errorf("prefill: the %s accepted %d of %d records (%d throttled, %d failed)", who, rep.Records, records, rep.Throttled, rep.Errors)
	}
	fmt.Fprintf(o.Log, "prefilled %s with %d records (%.1f MB) in %.2f s\n", stream, rep.Records, float64(rep.Bytes)/1e6, rep.Duration.Seconds())
	return nil
}
