package scenario

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/bench"
)

// The Kinesis API scenarios drive the same put and catch-up get workloads
// through the AWS SDK for Go against any Kinesis endpoint (sluice's --http
// address, or a local emulator such as kinesalite), so that one workload
// can be compared side by side. Every goroutine keeps its own HTTP/1.1
// connection. The SDK retries nothing but a read or write on a connection
// its transport closed (net.ErrClosed, the SDK's long-standing "use of
// closed network connection" failure, which its default retryer retries
// too): a throttled request is counted, not hidden behind retries.

// kinesisStreamWait bounds the wait for a created stream to become ACTIVE.
const kinesisStreamWait = 30 * time.Second

// newKinesisClient returns an SDK client for the endpoint with static
// credentials (a local endpoint checks the signature's form, not its key)
// and room for conns idle connections.
func newKinesisClient(endpoint string, conns int) *kinesis.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDSLUICEBENCH", SecretAccessKey: "sluice-bench", Source: "sluice bench"}, nil
	})
	retryer := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, net.ErrClosed) {
				return aws.TrueTernary
			}
			return aws.UnknownTernary // not retried
		})}
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = ratelimit.None
	})
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  aws.NewCredentialsCache(creds),
		Retryer:      retryer,
		HTTPClient:   &http.Client{Transport: tr},
	})
}

// runKinesis runs the put or get scenario through the Kinesis API.
func runKinesis(ctx context.Context, t *target, o Options) (rep *bench.Report, err error) {
	kc := newKinesisClient(t.endpoint, o.Producers+o.Readers*o.Shards+2)
	if err := kinesisCreateStream(ctx, kc, o.Stream, o.Shards); err != nil {
		return nil, fmt.Errorf("%s: %w", t.endpoint, err)
	}
	fmt.Fprintf(o.Log, "created stream %s on %s: %d shard(s) (fsync and quotas: the endpoint's defaults)\n", o.Stream, t.endpoint, o.Shards)
	defer func() {
		if o.Keep {
			return
		}
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, derr := kc.DeleteStream(dctx, &kinesis.DeleteStreamInput{StreamName: aws.String(o.Stream), EnforceConsumerDeletion: aws.Bool(true)}); derr != nil {
			err = errors.Join(err, fmt.Errorf("delete stream %s (it stays; delete it by hand): %w", o.Stream, derr))
		}
	}()

	if o.Scenario == Put {
		p := newKinesisProducers(kc, o, o.Stream, o.Rate)
		if err := p.arm(); err != nil {
			return nil, err
		}
		rep, err = bench.Run(ctx, runOptions(o, o.Records), p.load("put"))
		if rep != nil {
			shardsWorth(rep, "put", true, false, o.Shards, 1)
			noteShortfall(o, rep.LoadStats("put"))
		}
		return rep, err
	}

	po := o
	po.Batch = max(o.Batch, 100)
	pre := newKinesisProducers(kc, po, o.Stream, 0)
	prep, err := bench.Run(ctx, bench.RunOptions{Scenario: "prefill", Records: o.Records}, pre.load("prefill"))
	if err != nil {
		return nil, fmt.Errorf("prefill: %w", err)
	}
	if prep.Records < o.Records {
		return nil, fmt.Errorf("prefill: the endpoint accepted %d of %d records (%d throttled, %d failed)", prep.Records, o.Records, prep.Throttled, prep.Errors)
	}
	fmt.Fprintf(o.Log, "prefilled %s with %d records (%.1f MB) in %.2f s\n", o.Stream, prep.Records, float64(prep.Bytes)/1e6, prep.Duration.Seconds())

	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(o.Stream)})
	if err != nil {
		return nil, fmt.Errorf("list shards of %s: %w", o.Stream, err)
	}
	r := &kinesisReaders{client: kc, stream: o.Stream, readers: o.Readers, maxRecords: o.MaxRecords, poll: o.Poll}
	for _, s := range shards.Shards {
		r.shards = append(r.shards, aws.ToString(s.ShardId))
	}
	rep, err = bench.Run(ctx, runOptions(o, 0), r.load("get"))
	if rep != nil {
		shardsWorth(rep, "get", false, false, o.Shards, 1)
	}
	return rep, err
}

// kinesisCreateStream creates a stream and waits until it is ACTIVE.
func kinesisCreateStream(ctx context.Context, kc *kinesis.Client, name string, shards int) error {
	_, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return fmt.Errorf("%w: stream %s exists; name a new one with --stream, or delete it", ErrUsage, name)
	}
	if err != nil {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, kinesisStreamWait)
	defer cancel()
	wait := newWaiter()
	defer wait.stop()
	for {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe stream %s: %w", name, err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		if !wait.sleep(ctx, 50*time.Millisecond) {
			return fmt.Errorf("stream %s is not ACTIVE after %v: %w", name, kinesisStreamWait, ctx.Err())
		}
	}
}

// kinesisProducers is the put load through the Kinesis API: PutRecords of
// Batch records, or PutRecord for a batch of one.
type kinesisProducers struct {
	client  *kinesis.Client
	stream  string
	batch   int
	size    int
	keys    []string
	rate    float64
	workers int
	scheds  []*bench.Schedule
}

func newKinesisProducers(kc *kinesis.Client, o Options, stream string, rate float64) *kinesisProducers {
	pool := keyPool(o.Keys)
	keys := make([]string, len(pool))
	for i, k := range pool {
		keys[i] = string(k)
	}
	return &kinesisProducers{client: kc, stream: stream, batch: o.Batch, size: o.Size, keys: keys, rate: rate, workers: o.Producers}
}

func (p *kinesisProducers) arm() error {
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

func (p *kinesisProducers) load(name string) bench.Load {
	return bench.Load{Name: name, Workers: p.workers, Generate: p.generate}
}

// throttledCode is the error code of a throttled record in a PutRecords
// response.
const throttledCode = "ProvisionedThroughputExceededException"

// generate is one producer goroutine, measured as the wire producers are:
// send to response, accepted records and key-plus-data bytes, throttled and
// failed records apart; a request that fails as a whole stops the run.
func (p *kinesisProducers) generate(ctx context.Context, w *bench.Worker) error {
	rng := newRand(w.Load, w.ID)
	data := newPayload(p.size, rng)
	entries := make([]types.PutRecordsRequestEntry, p.batch)
	for i := range entries {
		entries[i].Data = data // serialised during the call
	}
	stream := aws.String(p.stream)
	var sched *bench.Schedule
	if p.scheds != nil {
		sched = p.scheds[w.ID]
	}
	reqCtx := context.WithoutCancel(ctx)
	for {
		n := w.Claim(p.batch)
		if n == 0 {
			return nil
		}
		if sched != nil {
			if _, _, err := sched.NextOnTime(ctx); err != nil {
				return nil
			}
		}
		keyBytes := 0
		for i := range n {
			k := &p.keys[rng.IntN(len(p.keys))]
			entries[i].PartitionKey = k
			keyBytes += len(*k)
		}
		start := time.Now()
		stamp(data, start)
		okBytes := keyBytes + n*p.size
		throttled, errs := 0, 0
		var err error
		if n == 1 {
			_, err = p.client.PutRecord(reqCtx, &kinesis.PutRecordInput{StreamName: stream, Data: data, PartitionKey: entries[0].PartitionKey})
			var thr *types.ProvisionedThroughputExceededException
			if errors.As(err, &thr) {
				throttled, okBytes, err = 1, 0, nil
			}
		} else {
			var out *kinesis.PutRecordsOutput
			out, err = p.client.PutRecords(reqCtx, &kinesis.PutRecordsInput{StreamName: stream, Records: entries[:n]})
			if err == nil && len(out.Records) != n {
				err = fmt.Errorf("the response has %d results for %d records", len(out.Records), n)
			}
			if err == nil && aws.ToInt32(out.FailedRecordCount) > 0 {
				for i, r := range out.Records {
					if r.ErrorCode == nil {
						continue
					}
					okBytes -= len(*entries[i].PartitionKey) + p.size
					if *r.ErrorCode == throttledCode {
						throttled++
					} else {
						errs++
					}
				}
			}
		}
		latency := time.Since(start)
		if err != nil {
			return fmt.Errorf("put %d records: %w", n, err)
		}
		ok := n - throttled - errs
		if sched != nil {
			w.RecordCorrected(latency, sched.Interval(), ok, okBytes)
		} else {
			w.Record(latency, ok, okBytes)
		}
		if throttled+errs > 0 {
			w.RecordFailures(errs, throttled)
		}
	}
}

// kinesisReaders is the catch-up get load through the Kinesis API: each
// reader reads every shard from TRIM_HORIZON with GetRecords until a read
// returns nothing and is not behind (the prefill's end: nothing else is
// put meanwhile).
type kinesisReaders struct {
	client     *kinesis.Client
	stream     string
	shards     []string
	readers    int
	maxRecords int
	poll       time.Duration
}

func (r *kinesisReaders) load(name string) bench.Load {
	return bench.Load{Name: name, Workers: r.readers * len(r.shards), Generate: r.generate}
}

// generate is one reader of one shard; it records each GetRecords call's
// latency with the records and key-plus-data bytes it returned, and counts
// throttled calls (retried after Poll).
func (r *kinesisReaders) generate(ctx context.Context, w *bench.Worker) error {
	shard := r.shards[w.ID%len(r.shards)]
	it, err := r.client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(r.stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("iterator for %s: %w", shard, err)
	}
	iter := it.ShardIterator
	limit := aws.Int32(int32(r.maxRecords))
	wait := newWaiter()
	defer wait.stop()
	reqCtx := context.WithoutCancel(ctx)
	for iter != nil && ctx.Err() == nil {
		start := time.Now()
		out, err := r.client.GetRecords(reqCtx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: limit})
		latency := time.Since(start)
		var thr *types.ProvisionedThroughputExceededException
		switch {
		case errors.As(err, &thr):
			w.RecordFailures(0, 1)
			if !wait.sleep(ctx, r.poll) {
				return nil
			}
			continue
		case err != nil:
			return fmt.Errorf("read %s: %w", shard, err)
		}
		bytes := 0
		for i := range out.Records {
			bytes += len(out.Records[i].Data) + len(aws.ToString(out.Records[i].PartitionKey))
		}
		w.Record(latency, len(out.Records), bytes)
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return nil
		}
		iter = out.NextShardIterator
	}
	return nil
}
