package scenario

import (
	"context"
	"crypto/tls"
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
	"github.com/sluicedb/sluice/client"
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

// newKinesisClient returns an SDK client for the endpoint that signs with
// keys (a server started with --auth verifies them), or without keys with
// made-up static ones, and has room for conns idle connections.
func newKinesisClient(endpoint string, conns int, tlsConfig *tls.Config, keys *client.Credentials) *kinesis.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		if keys != nil { // a server started with --auth verifies the signature
			return aws.Credentials{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey, Source: "sluice bench"}, nil
		}
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
	kc := newKinesisClient(t.endpoint, o.Producers+o.Readers*o.Shards+2, o.TLS, o.Credentials)
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
		return measurePut(ctx, o, newKinesisProducers(kc, o, o.Stream, o.Rate))
	}

	pre := newKinesisProducers(kc, prefillOptions(o), o.Stream, 0)
	if err := runPrefill(ctx, o, "endpoint", o.Stream, o.Records, pre.load("prefill")); err != nil {
		return nil, err
	}

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
	pace
	client *kinesis.Client
	stream string
	size   int
	keys   []string
}

func newKinesisProducers(kc *kinesis.Client, o Options, stream string, rate float64) *kinesisProducers {
	pool := keyPool(o.Keys)
	keys := make([]string, len(pool))
	for i, k := range pool {
		keys[i] = string(k)
	}
	return &kinesisProducers{pace: pace{batch: o.Batch, rate: rate, workers: o.Producers},
		client: kc, stream: stream, size: o.Size, keys: keys}
}

func (p *kinesisProducers) load(name string) bench.Load {
	return bench.Load{Name: name, Workers: p.workers, Generate: p.generate}
}

// throttledCode is the error code of a throttled record in a PutRecords
// response.
const throttledCode = "ProvisionedThroughputExceededException"

// generate is one producer goroutine, measured as the wire producers are
// (pace.run).
func (p *kinesisProducers) generate(ctx context.Context, w *bench.Worker) error {
	rng := newRand(w.Load, w.ID)
	data := newPayload(p.size, rng)
	entries := make([]types.PutRecordsRequestEntry, p.batch)
	for i := range entries {
		entries[i].Data = data // serialised during the call
	}
	stream := aws.String(p.stream)
	reqCtx := context.WithoutCancel(ctx)
	return p.run(ctx, w, func(n int) (putOutcome, error) {
		keyBytes := 0
		for i := range n {
			k := &p.keys[rng.IntN(len(p.keys))]
			entries[i].PartitionKey = k
			keyBytes += len(*k)
		}
		start := time.Now()
		stamp(data, start)
		out := putOutcome{bytes: keyBytes + n*p.size}
		var err error
		if n == 1 {
			_, err = p.client.PutRecord(reqCtx, &kinesis.PutRecordInput{StreamName: stream, Data: data, PartitionKey: entries[0].PartitionKey})
			var thr *types.ProvisionedThroughputExceededException
			if errors.As(err, &thr) {
				out.throttled, out.bytes, err = 1, 0, nil
			}
		} else {
			var res *kinesis.PutRecordsOutput
			res, err = p.client.PutRecords(reqCtx, &kinesis.PutRecordsInput{StreamName: stream, Records: entries[:n]})
			if err == nil && len(res.Records) != n {
				err = fmt.Errorf("the response has %d results for %d records", len(res.Records), n)
			}
			if err == nil && aws.ToInt32(res.FailedRecordCount) > 0 {
				for i, r := range res.Records {
					if r.ErrorCode == nil {
						continue
					}
					out.bytes -= len(*entries[i].PartitionKey) + p.size
					if *r.ErrorCode == throttledCode {
						out.throttled++
					} else {
						out.failed++
					}
				}
			}
		}
		out.latency = time.Since(start)
		out.accepted = n - out.throttled - out.failed
		return out, err
	})
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
