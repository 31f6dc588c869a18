package scenario

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/ratelimit"
)

// The limits scenario measures two one-shard streams at once, each quota
// binding in one of them:
//
//	stream     puts                       reads                          binds
//	-records   Size-byte records (100 B)  100 records (~12 KB) a read   1,000 records/s in, 5 reads/s out
//	-bytes     10 KiB records             512 KiB a read                 1 MiB/s in, 2 MiB/s out
//
// Producers offer Offer times the binding inbound quota in an open loop;
// each reader attempts limitsReadAttempts reads a second, far over 5/s.
const (
	// limitsLargeSize is the data size of the bytes-bound puts: at 1 MiB/s
	// the bytes quota admits ~102 of them a second, far below 1,000.
	limitsLargeSize = 10 << 10
	// limitsMaxSmall is the largest Size of the records-bound puts: 1,000
	// records/s of it (with a 16-character key) stay under 90 % of 1 MiB/s,
	// so the records quota binds.
	limitsMaxSmall = 900
	// limitsSmallRead is the records of one calls-bound read: 5 reads/s of
	// them are far below 2 MiB/s, so the read-calls quota binds.
	limitsSmallRead = 100
	// limitsLargeRead is the bytes of one bytes-bound read: 2 MiB/s of them
	// is 4 reads/s, below 5, so the read-bytes quota binds.
	limitsLargeRead = 512 << 10
	// limitsReadAttempts is each reader's attempts per second: a read the
	// quota allows again is admitted within 2 ms (0.8 % of a 250 ms slot).
	limitsReadAttempts = 500.0
	// limitsSmallPrefill is the records in the -records stream before the
	// run, so that the first reads are full.
	limitsSmallPrefill = 20 * limitsSmallRead
)

// runLimits is the limits scenario: it creates the two streams unlimited,
// prefills them, sets the Kinesis quotas, runs all four loads at once
// through the warm-up (which drains the shards' one-second bursts) and the
// duration, and checks what each shard accepted and served against the
// quotas with bench.CheckLimits.
func runLimits(ctx context.Context, t *target, o Options) (rep *bench.Report, err error) {
	if o.Size > limitsMaxSmall {
		return nil, fmt.Errorf("%w: --size %d; the records-bound puts need records of at most %d bytes so that 1,000 a second stay under 1 MiB/s", ErrUsage, o.Size, limitsMaxSmall)
	}
	small, large := o.Stream+"-records", o.Stream+"-bytes"
	for _, name := range []string{small, large} {
		if _, err := t.createStream(ctx, name, 1, ratelimit.Unlimited); err != nil {
			return nil, err
		}
		defer func() { err = errors.Join(err, t.deleteStream(name)) }()
	}

	largeOpts := o
	largeOpts.Size = limitsLargeSize
	// The bytes reader drains the stream at 2 MiB/s while 1 MiB/s comes in:
	// enough for the run and then some (at the tip it starts over).
	prefillBytes := (o.Warmup + o.Duration + 2*time.Second).Seconds() * (1 << 20)
	if err := prefill(ctx, t, o, small, limitsSmallPrefill); err != nil {
		return nil, err
	}
	if err := prefill(ctx, t, largeOpts, large, int64(prefillBytes/limitsLargeSize)+1); err != nil {
		return nil, err
	}
	for _, name := range []string{small, large} {
		if err := t.admin.SetQuotas(ctx, name, &ratelimit.Kinesis); err != nil {
			return nil, fmt.Errorf("set the Kinesis quotas of %s: %w", name, err)
		}
	}
	fmt.Fprintf(o.Log, "offering %.3g× the quotas for a %v warm-up and %v\n", o.Offer, o.Warmup, o.Duration)

	q := bench.KinesisQuotas
	keyLen := float64(len(keyPool(o.Keys)[0]))
	putSmall, err := newProducers(ctx, t, o, small, o.Producers, o.Offer*q.InRecordsPerSec)
	if err != nil {
		return nil, err
	}
	defer putSmall.close()
	largeOpts.Batch = 1
	putLarge, err := newProducers(ctx, t, largeOpts, large, o.Producers, o.Offer*q.InBytesPerSec/(limitsLargeSize+keyLen))
	if err != nil {
		return nil, err
	}
	defer putLarge.close()

	readCalls, err := limitsReader(ctx, t, o, small, limitsSmallRead, 0)
	if err != nil {
		return nil, err
	}
	defer readCalls.close()
	readBytes, err := limitsReader(ctx, t, o, large, 0, limitsLargeRead)
	if err != nil {
		return nil, err
	}
	defer readBytes.close()

	if err := putSmall.arm(); err != nil {
		return nil, err
	}
	if err := putLarge.arm(); err != nil {
		return nil, err
	}
	rep, err = bench.Run(ctx, runOptions(o, 0),
		putSmall.load("put-records"), putLarge.load("put-bytes"),
		readCalls.load("get-calls"), readBytes.load("get-bytes"))
	if rep == nil || rep.Seconds <= 0 {
		return rep, err
	}
	opts := bench.LimitsOptions{Shards: 1, Tolerance: o.Tolerance}
	byRecords, cerr := bench.CheckLimits(q, bench.InboundFlow(rep.LoadStats("put-records")), bench.OutboundFlow(rep.LoadStats("get-calls")), opts)
	if cerr != nil {
		return rep, errors.Join(err, cerr)
	}
	byBytes, cerr := bench.CheckLimits(q, bench.InboundFlow(rep.LoadStats("put-bytes")), bench.OutboundFlow(rep.LoadStats("get-bytes")), opts)
	if cerr != nil {
		return rep, errors.Join(err, cerr)
	}
	rep.Limits, cerr = bench.CombineLimits([]string{"records", "bytes"}, byRecords, byBytes)
	if cerr != nil {
		return rep, errors.Join(err, cerr)
	}
	if err == nil && !rep.Limits.Pass && rep.StoppedBy == bench.StopDuration {
		err = ErrLimits
	}
	return rep, err
}

// limitsReader is one reader of a limits stream, cycling through it at
// limitsReadAttempts attempts a second, each read bounded by records or
// bytes.
func limitsReader(ctx context.Context, t *target, o Options, stream string, maxRecords, maxBytes int) (*readers, error) {
	shards, err := describeShards(ctx, t.admin, stream)
	if err != nil {
		return nil, err
	}
	ro := o
	ro.From = FromTrim
	r, err := newReaders(ctx, t, ro, shards, 1)
	if err != nil {
		return nil, err
	}
	r.maxRecords, r.maxBytes, r.rate, r.cycle = maxRecords, maxBytes, limitsReadAttempts, true
	return r, nil
}
