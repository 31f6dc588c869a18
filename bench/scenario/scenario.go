package scenario

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/ratelimit"
)

// Run runs a load scenario (all but Baseline, which MeasureBaseline runs)
// and returns its report: the figures of the primary load at the top level
// (the producers of put and mixed, the readers of get, the consumers of
// subscribe, the records-bound producers of limits), every load under
// Loads when there are several, and the ratios
// "kinesis_shards_per_shard" (how many Kinesis shards' worth of throughput
// one shard of the stream carried) and, with Options.Baseline, the ratios to
// the machine measured just before the load.
//
// The report comes back even when the run was interrupted (ctx cancelled:
// StoppedBy "interrupted") and alongside the error of a run that failed
// part-way; a limits run that did not conform returns its report and an
// error matching ErrLimits. The streams the scenario created are deleted
// afterwards unless Options.Keep.
func Run(ctx context.Context, opts Options) (rep *bench.Report, err error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Scenario == Baseline {
		return nil, fmt.Errorf("%w: the baseline scenario has no load; use MeasureBaseline", ErrUsage)
	}
	t, err := openTarget(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, t.close()) }()

	var bl *bench.Baseline
	if o.Baseline {
		fmt.Fprintf(o.Log, "measuring the machine baseline in %s\n", t.baselineDir())
		bl, err = bench.MeasureBaseline(ctx, bench.BaselineOptions{Dir: t.baselineDir(), Budget: o.BaselineBudget})
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	switch {
	case o.API == APIKinesis:
		rep, err = runKinesis(ctx, t, o)
	case o.Scenario == Put:
		rep, err = runPut(ctx, t, o)
	case o.Scenario == Get, o.Scenario == Subscribe, o.Scenario == Mixed:
		rep, err = runReads(ctx, t, o)
	case o.Scenario == Limits:
		rep, err = runLimits(ctx, t, o)
	}
	if rep != nil && bl != nil {
		rep.AddBaseline(bl)
	}
	return rep, err
}

// MeasureBaseline measures the machine (bench.MeasureBaseline) on the file
// system of Options.DataDir (default the current directory), each
// measurement within Options.BaselineBudget (default 2 s).
func MeasureBaseline(ctx context.Context, opts Options) (*bench.Baseline, error) {
	opts.Scenario = Baseline
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dir := o.DataDir
	if dir == "" {
		dir = "."
	}
	return bench.MeasureBaseline(ctx, bench.BaselineOptions{Dir: dir, Budget: o.BaselineBudget})
}

// runOptions are the bench.Run options of a scenario's measured run.
func runOptions(o Options, records int64) bench.RunOptions {
	return bench.RunOptions{
		Scenario: o.Scenario, Parameters: parameters(o), Duration: o.Duration, Records: records,
		Warmup: o.Warmup, Progress: o.Progress, ProgressInterval: o.ProgressInterval,
	}
}

// parameters echoes the options that shaped a run into its report.
func parameters(o Options) map[string]any {
	p := map[string]any{"api": o.API, "shards": o.Shards, "quotas": o.Quotas, "fsync": orServer(o.Fsync)}
	if o.API == APIKinesis && !o.InProc {
		// A stream created through the Kinesis API takes the endpoint's.
		p["quotas"], p["fsync"] = "endpoint", "endpoint"
	}
	if o.InProc {
		p["server"] = "in-process"
	} else if o.API == APIWire {
		p["server"] = o.Addr
	} else {
		p["server"] = o.Endpoint
	}
	producersRun := o.Scenario != Limits && !((o.Scenario == Get || o.Scenario == Subscribe) && o.From == FromTrim)
	if producersRun || o.Scenario == Limits {
		p["size"], p["batch"], p["producers"] = o.Size, o.Batch, o.Producers
	}
	if producersRun {
		p["keys"] = o.Keys
		if o.Rate > 0 {
			p["rate"] = o.Rate
		}
		if o.Conns > 0 {
			p["conns"] = o.Conns
		}
	}
	switch o.Scenario {
	case Get:
		p["readers"], p["from"], p["max_records"] = o.Readers, o.From, o.MaxRecords
		if o.From == FromTrim {
			p["prefill"], p["size"] = o.Records, o.Size
		}
	case Subscribe, Mixed:
		p["consumers"], p["from"], p["window"] = o.Consumers, o.From, o.Window
		if o.From == FromTrim {
			p["prefill"], p["size"] = o.Records, o.Size
		}
	case Limits:
		p["offer"], p["tolerance"] = o.Offer, o.Tolerance
	}
	return p
}

func orServer(s string) string {
	if s == "" {
		return "server"
	}
	return s
}

// shardsWorth states in the report how many Kinesis shards' worth of
// throughput one shard carried in a load (bench.Quotas.ShardsWorth over the
// stream's shards). Enhanced fan-out consumers each have their own
// 2 MiB/s per shard, so a subscription load is also divided by its
// consumers.
func shardsWorth(rep *bench.Report, load string, inbound, fanOut bool, shards, consumers int) {
	s := rep.LoadStats(load)
	if s == nil {
		return
	}
	q := bench.KinesisQuotas
	per := float64(shards)
	if fanOut {
		q = bench.Quotas{OutBytesPerSec: bench.KinesisQuotas.OutBytesPerSec}
		per *= float64(consumers)
	}
	name := "kinesis_shards_per_shard"
	if load != rep.Load {
		name = load + "." + name
	}
	rep.AddRatio(name, q.ShardsWorth(s, inbound), per)
}

// runPut is the put scenario over the binary protocol.
func runPut(ctx context.Context, t *target, o Options) (rep *bench.Report, err error) {
	if _, err := t.createStream(ctx, o.Stream, o.Shards, quotasOf(o.Quotas)); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, t.deleteStream(o.Stream)) }()
	p, err := newProducers(ctx, t, o, o.Stream, o.Producers, o.Rate)
	if err != nil {
		return nil, err
	}
	defer p.close()
	return measurePut(ctx, o, p)
}

// noteShortfall tells when an open loop could not send at its rate: each
// producer has one request in flight, so a rate needs about
// rate / batch × latency producers. The latencies are corrected for the
// slots missed; the rates are what was sent.
func noteShortfall(o Options, s *bench.Stats) {
	if o.Rate == 0 || s == nil || s.Seconds <= 0 {
		return
	}
	sent := float64(s.Records+s.Throttled+s.Errors) / s.Seconds
	if sent < 0.95*o.Rate {
		fmt.Fprintf(o.Log, "the producers sent %.0f records/s of the %.0f offered: each has one request in flight; raise --producers (the latencies count the missed sends)\n", sent, o.Rate)
	}
}

// runReads runs the scenarios with readers: get and subscribe (catch-up
// over a prefill, or at the tail beside producers) and mixed (producers
// first, tail subscribers beside them).
func runReads(ctx context.Context, t *target, o Options) (rep *bench.Report, err error) {
	quotas := quotasOf(o.Quotas)
	catchUp := o.From == FromTrim
	created := quotas
	if catchUp {
		created = ratelimit.Unlimited // the prefill is not what is measured
	}
	if _, err := t.createStream(ctx, o.Stream, o.Shards, created); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, t.deleteStream(o.Stream)) }()
	if catchUp {
		if err := prefill(ctx, t, o, o.Stream, o.Records); err != nil {
			return nil, err
		}
		if quotas != created {
			if err := t.admin.SetQuotas(ctx, o.Stream, &quotas); err != nil {
				return nil, fmt.Errorf("set the quotas of %s: %w", o.Stream, err)
			}
		}
	}
	shards, err := describeShards(ctx, t.admin, o.Stream)
	if err != nil {
		return nil, err
	}

	var read bench.Load
	readName := "get"
	if o.Scenario == Get {
		r, err := newReaders(ctx, t, o, shards, o.Readers)
		if err != nil {
			return nil, err
		}
		defer r.close()
		read = r.load(readName)
	} else {
		readName = "subscribe"
		s, err := newSubscribers(ctx, t, o, shards)
		if err != nil {
			return nil, err
		}
		defer s.close()
		read = s.load(readName)
	}
	if catchUp {
		// The readers end the run when they reach the prefill's end.
		rep, err = bench.Run(ctx, runOptions(o, 0), read)
	} else {
		p, perr := newProducers(ctx, t, o, o.Stream, o.Producers, o.Rate)
		if perr != nil {
			return nil, perr
		}
		defer p.close()
		if perr := p.arm(); perr != nil {
			return nil, perr
		}
		loads := []bench.Load{read, p.load("put")}
		if o.Scenario == Mixed {
			loads[0], loads[1] = loads[1], loads[0]
		}
		rep, err = bench.Run(ctx, runOptions(o, o.Records), loads...)
		if rep != nil {
			noteShortfall(o, rep.LoadStats("put"))
		}
	}
	if rep != nil {
		shardsWorth(rep, readName, false, o.Scenario != Get, o.Shards, o.Consumers)
		shardsWorth(rep, "put", true, false, o.Shards, 1)
	}
	return rep, err
}
