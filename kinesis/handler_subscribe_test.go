package kinesis

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/ratelimit"
)

// registerConsumer registers a consumer of stream and returns its ARN.
func (env *testEnv) registerConsumer(t testing.TB, stream, name string) string {
	t.Helper()
	out, err := env.client.RegisterStreamConsumer(bg, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN(stream)), ConsumerName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Consumer.ConsumerARN)
}

// subscribe starts a subscription through the SDK, on a client of its own:
// the SDK (service/kinesis v1.56.13) decodes the event streams of one client
// with one shared decoder, so concurrent subscriptions on one client race.
func (env *testEnv) subscribe(t testing.TB, consumer, shard string, pos sdktypes.StartingPosition) *sdk.SubscribeToShardEventStream {
	t.Helper()
	out, err := env.sdkClient(nil).SubscribeToShard(bg, &sdk.SubscribeToShardInput{ConsumerARN: aws.String(consumer), ShardId: aws.String(shard), StartingPosition: &pos})
	if err != nil {
		t.Fatalf("SubscribeToShard: %v", err)
	}
	s := out.GetStream()
	t.Cleanup(func() { s.Close() })
	return s
}

// eventWithRecords returns the next event that carries records or children,
// skipping heartbeats.
func eventWithRecords(t *testing.T, s *sdk.SubscribeToShardEventStream) sdktypes.SubscribeToShardEvent {
	t.Helper()
	for {
		ev := nextEvent(t, s.Events())
		if len(ev.Records) > 0 || len(ev.ChildShards) > 0 {
			return ev
		}
	}
}

// streamEnd waits for a subscription's event stream to end and returns its error.
func streamEnd(t *testing.T, s *sdk.SubscribeToShardEventStream) error {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.Events():
			if !ok {
				return s.Err()
			}
		case <-timeout:
			t.Fatal("the subscription did not end within 10 s")
		}
	}
}

func TestHandler_SubscribeToShardPushesRecords(t *testing.T) {
	env := newTestEnv(t, func(c *envConfig) { c.opts.HeartbeatInterval = 50 * time.Millisecond })
	env.createStream(t, "s", 1)
	carn := env.registerConsumer(t, "s", "app")
	shard := "shardId-000000000000"
	sub := env.subscribe(t, carn, shard, sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeLatest})

	// An idle subscription sends heartbeats with a continuation.
	hb := nextEvent(t, sub.Events())
	if len(hb.Records) != 0 || hb.ContinuationSequenceNumber == nil || aws.ToInt64(hb.MillisBehindLatest) != 0 {
		t.Fatalf("heartbeat %+v", hb)
	}

	var seqs []string
	for i := range 3 {
		out, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte(fmt.Sprint("r", i)), PartitionKey: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
		// Each commit is pushed: the event arrives without another put.
		ev := eventWithRecords(t, sub)
		if len(ev.Records) != 1 || string(ev.Records[0].Data) != fmt.Sprint("r", i) || aws.ToString(ev.Records[0].SequenceNumber) != seqs[i] ||
			aws.ToString(ev.ContinuationSequenceNumber) != seqs[i] || aws.ToInt64(ev.MillisBehindLatest) != 0 ||
			ev.Records[0].ApproximateArrivalTimestamp == nil || aws.ToString(ev.Records[0].PartitionKey) != "k" {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}

	// A new subscription resuming after the first record gets the other two
	// (a second after the first call, five after it started: it takes over).
	env.clock.Advance(6 * time.Second)
	sub2 := env.subscribe(t, carn, shard, sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(seqs[0])})
	var got []string
	for len(got) < 2 {
		for _, r := range eventWithRecords(t, sub2).Records {
			got = append(got, string(r.Data))
		}
	}
	if fmt.Sprint(got) != "[r1 r2]" {
		t.Fatalf("resumed subscription read %v", got)
	}
	var inUse *sdktypes.ResourceInUseException
	if err := streamEnd(t, sub); !errors.As(err, &inUse) {
		t.Fatalf("the replaced subscription ended with %v; want ResourceInUseException", err)
	}
}

func TestHandler_SubscribeToShardRules(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 2)
	carn := env.registerConsumer(t, "s", "app")
	latest := sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeLatest}
	first := env.subscribe(t, carn, "shardId-000000000000", latest)
	call := func(shard string) error {
		out, err := env.sdkClient(nil).SubscribeToShard(bg, &sdk.SubscribeToShardInput{ConsumerARN: aws.String(carn), ShardId: aws.String(shard), StartingPosition: &latest})
		if err == nil {
			out.GetStream().Close()
		}
		return err
	}
	wantAPIError(t, call("shardId-000000000000"), CodeLimitExceeded, "more than one SubscribeToShard call per second")
	// Another shard is another subscription.
	env.subscribe(t, carn, "shardId-000000000001", latest)
	env.clock.Advance(2 * time.Second)
	wantAPIError(t, call("shardId-000000000000"), CodeResourceInUse, "Another active subscription exists")

	// Mistakes in the request.
	for _, tc := range []struct {
		in   *sdk.SubscribeToShardInput
		code ErrorCode
		msg  string
	}{
		{&sdk.SubscribeToShardInput{ConsumerARN: aws.String(carn + "9"), ShardId: aws.String("shardId-000000000000"), StartingPosition: &latest}, CodeResourceNotFound, "Consumer"},
		{&sdk.SubscribeToShardInput{ConsumerARN: aws.String(streamARN("s")), ShardId: aws.String("shardId-000000000000"), StartingPosition: &latest}, CodeValidation, "at 'consumerARN'"},
		{&sdk.SubscribeToShardInput{ConsumerARN: aws.String(carn), ShardId: aws.String("shardId-000000000042"), StartingPosition: &latest}, CodeResourceNotFound, "shardId-000000000042"},
		{&sdk.SubscribeToShardInput{ConsumerARN: aws.String(carn), ShardId: aws.String("shardId-000000000001"),
			StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeAtSequenceNumber}}, CodeInvalidArgument, "StartingSequenceNumber"},
	} {
		_, err := env.client.SubscribeToShard(bg, tc.in)
		wantAPIError(t, err, tc.code, tc.msg)
	}

	// Deregistering the consumer ends its subscriptions with ResourceNotFoundException.
	if _, err := env.client.DeregisterStreamConsumer(bg, &sdk.DeregisterStreamConsumerInput{ConsumerARN: aws.String(carn)}); err != nil {
		t.Fatal(err)
	}
	var notFound *sdktypes.ResourceNotFoundException
	if err := streamEnd(t, first); !errors.As(err, &notFound) {
		t.Fatalf("subscription of a deregistered consumer ended with %v", err)
	}
}

func TestHandler_SubscribeToShardEndsAfterItsDuration(t *testing.T) {
	env := newTestEnv(t, func(c *envConfig) { c.opts.SubscriptionDuration = 300 * time.Millisecond })
	env.createStream(t, "s", 1)
	carn := env.registerConsumer(t, "s", "app")
	sub := env.subscribe(t, carn, "shardId-000000000000", sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeTrimHorizon})
	if err := streamEnd(t, sub); err != nil {
		t.Fatalf("a subscription at the end of its time ended with %v; want a clean end", err)
	}
}

func TestHandler_SubscribeToShardChildShards(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 1)
	carn := env.registerConsumer(t, "s", "app")
	if _, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("old"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	sub := env.subscribe(t, carn, "shardId-000000000000", sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeTrimHorizon})
	if ev := eventWithRecords(t, sub); len(ev.Records) != 1 {
		t.Fatalf("first event %+v", ev)
	}
	if _, err := env.client.SplitShard(bg, &sdk.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
		t.Fatal(err)
	}
	ev := eventWithRecords(t, sub)
	if ev.ContinuationSequenceNumber != nil || len(ev.ChildShards) != 2 || ev.ChildShards[0].ParentShards[0] != "shardId-000000000000" {
		t.Fatalf("last event of a closed shard: %+v", ev)
	}
	if err := streamEnd(t, sub); err != nil {
		t.Fatalf("subscription of a drained shard ended with %v", err)
	}
}

func TestHandler_SubscribeToShardConsumerQuota(t *testing.T) {
	clock := newTestClock()
	throttled := make(chan struct{}, 1)
	env := newTestEnv(t, func(c *envConfig) {
		c.quotas = ratelimit.Limits{ConsumerBytesPerSec: 1000}
		c.engClock = clock.Now // the quota moves only when the test says so
	})
	env.h.testHookThrottled = func() {
		select {
		case throttled <- struct{}{}:
		default:
		}
	}
	env.createStream(t, "s", 1)
	carn := env.registerConsumer(t, "s", "app")
	put := func(n int) {
		t.Helper()
		if _, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: make([]byte, n), PartitionKey: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
	}
	put(1499) // 1.5 s of the quota with its key
	sub := env.subscribe(t, carn, "shardId-000000000000", sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeTrimHorizon})
	if ev := eventWithRecords(t, sub); len(ev.Records) != 1 {
		t.Fatalf("first event %+v", ev)
	}
	put(10)
	<-throttled // the push of the second record waits for the consumer's quota
	clock.Advance(time.Second)
	if ev := eventWithRecords(t, sub); len(ev.Records) != 1 || len(ev.Records[0].Data) != 10 {
		t.Fatalf("second event %+v", ev)
	}
}

func TestHandler_CloseEndsSubscriptions(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 1)
	carn := env.registerConsumer(t, "s", "app")
	sub := env.subscribe(t, carn, "shardId-000000000000", sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeLatest})
	env.h.Close()
	if err := streamEnd(t, sub); err != nil {
		t.Fatalf("subscription ended by Close with %v; want a clean end", err)
	}
	env.clock.Advance(10 * time.Second)
	_, err := env.client.SubscribeToShard(bg, &sdk.SubscribeToShardInput{ConsumerARN: aws.String(carn), ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeLatest}})
	wantAPIError(t, err, CodeInternalFailure, "shutting down")
}
