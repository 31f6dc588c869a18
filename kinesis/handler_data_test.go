package kinesis

import (
	"bytes"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

func TestHandler_PutRecordsAndGetRecords(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "orders", 2)

	// PutRecords by StreamARN: one entry routed by ExplicitHashKey to each
	// shard, the rest by partition key.
	entries := []sdktypes.PutRecordsRequestEntry{
		{Data: []byte("low"), PartitionKey: aws.String("x"), ExplicitHashKey: aws.String("0")},
		{Data: []byte("high"), PartitionKey: aws.String("x"), ExplicitHashKey: aws.String("340282366920938463463374607431768211455")},
	}
	for i := range 20 {
		entries = append(entries, sdktypes.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("rec-%02d", i)), PartitionKey: aws.String(fmt.Sprintf("key-%d", i))})
	}
	out, err := env.client.PutRecords(bg, &sdk.PutRecordsInput{StreamARN: aws.String(streamARN("orders")), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 0 || len(out.Records) != len(entries) || out.EncryptionType != sdktypes.EncryptionTypeNone {
		t.Fatalf("PutRecords: failed %d, %d results, encryption %q", aws.ToInt32(out.FailedRecordCount), len(out.Records), out.EncryptionType)
	}
	if got := aws.ToString(out.Records[0].ShardId); got != "shardId-000000000000" {
		t.Errorf("hash key 0 went to %s", got)
	}
	if got := aws.ToString(out.Records[1].ShardId); got != "shardId-000000000001" {
		t.Errorf("hash key 2^128-1 went to %s", got)
	}
	// Sequence numbers grow numerically within a shard, in request order.
	last := map[string]*big.Int{}
	byShard := map[string][]string{}
	for i, r := range out.Records {
		seq, ok := new(big.Int).SetString(aws.ToString(r.SequenceNumber), 10)
		if !ok {
			t.Fatalf("entry %d: sequence number %q is not decimal", i, aws.ToString(r.SequenceNumber))
		}
		shard := aws.ToString(r.ShardId)
		if prev := last[shard]; prev != nil && seq.Cmp(prev) <= 0 {
			t.Fatalf("entry %d: sequence number %s not above %s on %s", i, seq, prev, shard)
		}
		last[shard] = seq
		byShard[shard] = append(byShard[shard], string(entries[i].Data))
	}

	// PutRecord returns the shard and a sequence number above the earlier ones.
	pr, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("orders"), Data: []byte("single"),
		PartitionKey: aws.String("p"), ExplicitHashKey: aws.String("0")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(pr.ShardId) != "shardId-000000000000" || pr.EncryptionType != sdktypes.EncryptionTypeNone {
		t.Fatalf("PutRecord: %+v", pr)
	}
	byShard["shardId-000000000000"] = append(byShard["shardId-000000000000"], "single")

	// Each shard reads back in order, with a fresh iterator every call.
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001"} {
		it := env.iterator(t, "orders", shard, sdktypes.ShardIteratorTypeTrimHorizon, "")
		var got []string
		seen := map[string]bool{it: true}
		for {
			g, err := env.client.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(3)})
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Records) > 3 {
				t.Fatalf("Limit 3 returned %d records", len(g.Records))
			}
			for _, r := range g.Records {
				got = append(got, string(r.Data))
				if r.ApproximateArrivalTimestamp == nil || time.Since(*r.ApproximateArrivalTimestamp) > time.Minute {
					t.Fatalf("record arrival %v", r.ApproximateArrivalTimestamp)
				}
			}
			next := aws.ToString(g.NextShardIterator)
			if next == "" || seen[next] {
				t.Fatalf("GetRecords returned NextShardIterator %q (a repeat or none) on an open shard", next)
			}
			seen[next] = true
			it = next
			if len(g.Records) == 0 {
				if aws.ToInt64(g.MillisBehindLatest) != 0 {
					t.Errorf("caught up, MillisBehindLatest = %d", aws.ToInt64(g.MillisBehindLatest))
				}
				break
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(byShard[shard]) {
			t.Errorf("%s read %v; want %v", shard, got, byShard[shard])
		}
	}
}

func TestHandler_GetShardIteratorTypes(t *testing.T) {
	env := newTestEnv(t, func(c *envConfig) {})
	env.createStream(t, "s", 1)
	var seqs []string
	for i := range 5 {
		out, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte{byte('a' + i)}, PartitionKey: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	read := func(it string) string {
		recs, _ := env.drain(t, it)
		var b bytes.Buffer
		for _, r := range recs {
			b.Write(r.Data)
		}
		return b.String()
	}
	shard := "shardId-000000000000"
	for _, tc := range []struct {
		typ  sdktypes.ShardIteratorType
		seq  string
		want string
	}{
		{sdktypes.ShardIteratorTypeTrimHorizon, "", "abcde"},
		{sdktypes.ShardIteratorTypeLatest, "", ""},
		{sdktypes.ShardIteratorTypeAtSequenceNumber, seqs[2], "cde"},
		{sdktypes.ShardIteratorTypeAfterSequenceNumber, seqs[2], "de"},
		{sdktypes.ShardIteratorTypeAfterSequenceNumber, seqs[4], ""},
	} {
		if got := read(env.iterator(t, "s", shard, tc.typ, tc.seq)); got != tc.want {
			t.Errorf("%s %s read %q; want %q", tc.typ, tc.seq, got, tc.want)
		}
	}
	// AT_TIMESTAMP before the first record reads everything; in the future, nothing.
	for _, tc := range []struct {
		ts   time.Time
		want string
	}{{time.Now().Add(-time.Hour), "abcde"}, {time.Now().Add(time.Hour), ""}} {
		out, err := env.client.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamARN: aws.String(streamARN("s")), ShardId: aws.String(shard),
			ShardIteratorType: sdktypes.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(tc.ts)})
		if err != nil {
			t.Fatal(err)
		}
		if got := read(aws.ToString(out.ShardIterator)); got != tc.want {
			t.Errorf("AT_TIMESTAMP %v read %q; want %q", tc.ts, got, tc.want)
		}
	}
	// A shard's own starting sequence number is accepted.
	ls, err := env.client.ListShards(bg, &sdk.ListShardsInput{StreamName: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	start := aws.ToString(ls.Shards[0].SequenceNumberRange.StartingSequenceNumber)
	if got := read(env.iterator(t, "s", shard, sdktypes.ShardIteratorTypeAtSequenceNumber, start)); got != "abcde" {
		t.Errorf("AT_SEQUENCE_NUMBER of the shard's start read %q", got)
	}

	// Mistakes, answered as AWS answers them.
	_, err = env.client.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: sdktypes.ShardIteratorTypeAtSequenceNumber})
	wantAPIError(t, err, CodeInvalidArgument, "Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber")
	_, err = env.client.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: sdktypes.ShardIteratorTypeLatest, StartingSequenceNumber: aws.String(seqs[0])})
	wantAPIError(t, err, CodeInvalidArgument, "Request specified LATEST and also a StartingSequenceNumber")
	_, err = env.client.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: sdktypes.ShardIteratorTypeAtTimestamp})
	wantAPIError(t, err, CodeInvalidArgument, "Must specify timestampInMillis parameter")
	_, err = env.client.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000009"), ShardIteratorType: sdktypes.ShardIteratorTypeLatest})
	wantAPIError(t, err, CodeResourceNotFound, "shardId-000000000009")
	_, err = env.client.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("nope"), ShardId: aws.String(shard), ShardIteratorType: sdktypes.ShardIteratorTypeLatest})
	wantAPIError(t, err, CodeResourceNotFound, "Stream nope under account 000000000000 not found")
	_, err = env.client.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: "SOMEWHERE"})
	wantAPIError(t, err, CodeValidation, "Value 'SOMEWHERE' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]")
	_, err = env.client.GetShardIterator(bg, &sdk.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: sdktypes.ShardIteratorTypeLatest, DryRun: aws.Bool(true)})
	wantAPIError(t, err, CodeDryRunOperation, "DryRun flag is set")
}

func TestHandler_IteratorExpiryAndTampering(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 1)
	if _, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	it := env.iterator(t, "s", "shardId-000000000000", sdktypes.ShardIteratorTypeTrimHorizon, "")
	if len(it) > 512 {
		t.Fatalf("iterator of %d characters; the API allows 512", len(it))
	}
	env.clock.Advance(IteratorTTL - time.Second)
	out, err := env.client.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	if err != nil {
		t.Fatalf("iterator 1 s before expiry: %v", err)
	}
	next := aws.ToString(out.NextShardIterator)
	env.clock.Advance(2 * time.Second)
	_, err = env.client.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
	var expired *sdktypes.ExpiredIteratorException
	if !errorsAs(err, &expired) {
		t.Fatalf("iterator past 5 minutes: err = %v; want ExpiredIteratorException", err)
	}
	wantAPIError(t, err, CodeExpiredIterator, "tolerated delay of 300000 milliseconds")
	// The iterator GetRecords handed out is fresh: it has its own 5 minutes.
	if _, err := env.client.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: aws.String(next)}); err != nil {
		t.Fatalf("fresh NextShardIterator: %v", err)
	}
	// An edited iterator is rejected.
	b := []byte(next)
	b[10] ^= 1
	if b[10] == '+' || b[10] == '/' {
		b[10] = 'A'
	}
	_, err = env.client.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: aws.String(string(b))})
	wantAPIError(t, err, CodeInvalidArgument, "Invalid ShardIterator.")
}

func TestHandler_PutRecordsThrottledEntries(t *testing.T) {
	clock := newTestClock()
	env := newTestEnv(t, func(c *envConfig) {
		c.quotas = ratelimit.Kinesis
		c.engClock = clock.Now // frozen: the quota does not refill during the test
	})
	env.createStream(t, "s", 1)
	batch := make([]sdktypes.PutRecordsRequestEntry, 500)
	for i := range batch {
		batch[i] = sdktypes.PutRecordsRequestEntry{Data: []byte("v"), PartitionKey: aws.String(fmt.Sprint(i))}
	}
	ok, throttled := 0, 0
	for range 3 {
		out, err := env.client.PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: batch})
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, r := range out.Records {
			switch {
			case r.ErrorCode == nil:
				ok++
				if r.SequenceNumber == nil || r.ShardId == nil {
					t.Fatalf("successful entry without sequence number or shard: %+v", r)
				}
			case aws.ToString(r.ErrorCode) == string(CodeProvisionedThroughputExceeded):
				failed++
				if r.SequenceNumber != nil || aws.ToString(r.ErrorMessage) == "" {
					t.Fatalf("throttled entry %+v", r)
				}
			default:
				t.Fatalf("entry failed with %s: %s", aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
			}
		}
		if int(aws.ToInt32(out.FailedRecordCount)) != failed {
			t.Fatalf("FailedRecordCount %d, %d entries failed", aws.ToInt32(out.FailedRecordCount), failed)
		}
		throttled += failed
	}
	// Kinesis quotas: 1000 records per second per shard, a second of burst.
	if ok != 1000 || throttled != 500 {
		t.Fatalf("%d entries stored, %d throttled; want 1000 and 500", ok, throttled)
	}
	// PutRecord over quota fails as a whole.
	_, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("v"), PartitionKey: aws.String("k")})
	wantAPIError(t, err, CodeProvisionedThroughputExceeded, "Rate exceeded")

	clock.Advance(time.Second)
	g, err := env.client.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: aws.String(env.iterator(t, "s", "shardId-000000000000", sdktypes.ShardIteratorTypeTrimHorizon, ""))})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Records) != 1000 {
		t.Fatalf("read %d records back; want the 1000 stored", len(g.Records))
	}
	// GetRecords: 5 calls per second per shard (once the bytes read are paid for).
	clock.Advance(time.Second)
	it := aws.ToString(g.NextShardIterator)
	var gerr error
	calls := 0
	for range 10 {
		out, err := env.client.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			gerr = err
			break
		}
		calls++
		it = aws.ToString(out.NextShardIterator)
	}
	if calls != 5 {
		t.Errorf("%d GetRecords calls admitted in a second; want 5", calls)
	}
	wantAPIError(t, gerr, CodeProvisionedThroughputExceeded, "Rate exceeded for shard")
}

func TestHandler_EncryptionReported(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 1)
	if _, err := env.client.StartStreamEncryption(bg, &sdk.StartStreamEncryptionInput{StreamName: aws.String("s"),
		EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
		t.Fatal(err)
	}
	pr, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x"), PartitionKey: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	prs, err := env.client.PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []sdktypes.PutRecordsRequestEntry{{Data: []byte("y"), PartitionKey: aws.String("k")}}})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := env.drain(t, env.iterator(t, "s", "shardId-000000000000", sdktypes.ShardIteratorTypeTrimHorizon, ""))
	if pr.EncryptionType != sdktypes.EncryptionTypeKms || prs.EncryptionType != sdktypes.EncryptionTypeKms || len(recs) != 2 || recs[0].EncryptionType != sdktypes.EncryptionTypeKms {
		t.Fatalf("after StartStreamEncryption: PutRecord %q, PutRecords %q, records %+v", pr.EncryptionType, prs.EncryptionType, recs)
	}
	sum, err := env.client.DescribeStreamSummary(bg, &sdk.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	if d := sum.StreamDescriptionSummary; d.EncryptionType != sdktypes.EncryptionTypeKms || aws.ToString(d.KeyId) != "alias/aws/kinesis" {
		t.Fatalf("summary encryption %q key %q", d.EncryptionType, aws.ToString(d.KeyId))
	}
	_, err = env.client.StopStreamEncryption(bg, &sdk.StopStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String("other-key")})
	wantAPIError(t, err, CodeInvalidArgument, "is encrypted with key alias/aws/kinesis")
	if _, err := env.client.StopStreamEncryption(bg, &sdk.StopStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
		t.Fatal(err)
	}
	pr, err = env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte("z"), PartitionKey: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if pr.EncryptionType != sdktypes.EncryptionTypeNone {
		t.Fatalf("after StopStreamEncryption: PutRecord %q", pr.EncryptionType)
	}
}

func TestHandler_PutRecordsValidation(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 1)
	put := func(in *sdk.PutRecordsInput) error {
		_, err := env.client.PutRecords(bg, in)
		return err
	}
	long := string(bytes.Repeat([]byte("é"), 257))
	err := put(&sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []sdktypes.PutRecordsRequestEntry{
		{Data: []byte("a"), PartitionKey: aws.String("ok")},
		{Data: []byte("b"), PartitionKey: aws.String(long)},
		{Data: []byte("c"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("-1")},
	}})
	wantAPIError(t, err, CodeValidation, "2 validation errors detected: Value '"+long+"' at 'records.2.member.partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256; Value '-1' at 'records.3.member.explicitHashKey'")
	err = put(&sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []sdktypes.PutRecordsRequestEntry{
		{Data: []byte("a"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("340282366920938463463374607431768211456")},
	}})
	wantAPIError(t, err, CodeInvalidArgument, "ExplicitHashKey must be in the range: [0, 2^128-1]")
	many := make([]sdktypes.PutRecordsRequestEntry, 501)
	for i := range many {
		many[i] = sdktypes.PutRecordsRequestEntry{Data: []byte("a"), PartitionKey: aws.String("k")}
	}
	err = put(&sdk.PutRecordsInput{StreamName: aws.String("s"), Records: many})
	wantAPIError(t, err, CodeValidation, "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500")
	err = put(&sdk.PutRecordsInput{StreamName: aws.String("bad name!"), Records: []sdktypes.PutRecordsRequestEntry{{Data: []byte("a"), PartitionKey: aws.String("k")}}})
	wantAPIError(t, err, CodeValidation, "Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
	err = put(&sdk.PutRecordsInput{Records: []sdktypes.PutRecordsRequestEntry{{Data: []byte("a"), PartitionKey: aws.String("k")}}})
	wantAPIError(t, err, CodeInvalidArgument, "Either StreamName or StreamARN")
	err = put(&sdk.PutRecordsInput{StreamName: aws.String("s"), StreamARN: aws.String(streamARN("t")), Records: []sdktypes.PutRecordsRequestEntry{{Data: []byte("a"), PartitionKey: aws.String("k")}}})
	wantAPIError(t, err, CodeInvalidArgument, "name different streams")
	big := bytes.Repeat([]byte("x"), api.DefaultMaxRecord)
	err = put(&sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []sdktypes.PutRecordsRequestEntry{{Data: big, PartitionKey: aws.String("k")}}})
	wantAPIError(t, err, CodeInvalidArgument, "the stream's limit is 1048576")
	err = put(&sdk.PutRecordsInput{StreamName: aws.String("s"), DryRun: aws.Bool(true), Records: []sdktypes.PutRecordsRequestEntry{{Data: []byte("a"), PartitionKey: aws.String("k")}}})
	wantAPIError(t, err, CodeDryRunOperation, "")
	recs, _ := env.drain(t, env.iterator(t, "s", "shardId-000000000000", sdktypes.ShardIteratorTypeTrimHorizon, ""))
	if len(recs) != 0 {
		t.Fatalf("%d records stored by refused requests", len(recs))
	}
	// After UpdateMaxRecordSize the same record is accepted.
	if _, err := env.client.UpdateMaxRecordSize(bg, &sdk.UpdateMaxRecordSizeInput{StreamARN: aws.String(streamARN("s")), MaxRecordSizeInKiB: aws.Int32(2048)}); err != nil {
		t.Fatal(err)
	}
	if err := put(&sdk.PutRecordsInput{StreamName: aws.String("s"), Records: []sdktypes.PutRecordsRequestEntry{{Data: big, PartitionKey: aws.String("k")}}}); err != nil {
		t.Fatalf("1 MiB record after raising the limit to 2 MiB: %v", err)
	}
}

func TestHandler_MillisBehindLatest(t *testing.T) {
	env := newTestEnv(t, func(c *envConfig) { c.shareClock = true })
	env.createStream(t, "s", 1)
	for i, gap := range []time.Duration{0, 3 * time.Second, 2 * time.Second} {
		env.clock.Advance(gap)
		if _, err := env.client.PutRecord(bg, &sdk.PutRecordInput{StreamName: aws.String("s"), Data: []byte{byte(i)}, PartitionKey: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
	}
	it := env.iterator(t, "s", "shardId-000000000000", sdktypes.ShardIteratorTypeTrimHorizon, "")
	for _, want := range []int64{5000, 2000, 0} {
		out, err := env.client.GetRecords(bg, &sdk.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToInt64(out.MillisBehindLatest); len(out.Records) != 1 || got != want {
			t.Fatalf("%d records, MillisBehindLatest %d; want 1 record, %d", len(out.Records), got, want)
		}
		it = aws.ToString(out.NextShardIterator)
	}
}

func TestHandler_ConcurrentClients(t *testing.T) {
	env := newTestEnv(t, nil)
	env.createStream(t, "s", 3)
	const producers, calls, batch = 4, 10, 50
	errs := make(chan error, producers)
	for p := range producers {
		go func() {
			c := env.sdkClient(nil)
			for i := range calls {
				entries := make([]sdktypes.PutRecordsRequestEntry, batch)
				for j := range entries {
					entries[j] = sdktypes.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("p%d-c%d-r%d", p, i, j)), PartitionKey: aws.String(fmt.Sprint(p, i, j))}
				}
				out, err := c.PutRecords(bg, &sdk.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
				if err == nil && aws.ToInt32(out.FailedRecordCount) != 0 {
					err = fmt.Errorf("%d entries failed", aws.ToInt32(out.FailedRecordCount))
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range producers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002"} {
		recs, _ := env.drain(t, env.iterator(t, "s", shard, sdktypes.ShardIteratorTypeTrimHorizon, ""))
		for _, r := range recs {
			if seen[string(r.Data)] {
				t.Fatalf("record %s read twice", r.Data)
			}
			seen[string(r.Data)] = true
		}
	}
	if len(seen) != producers*calls*batch {
		t.Fatalf("read %d distinct records; want %d", len(seen), producers*calls*batch)
	}
}
