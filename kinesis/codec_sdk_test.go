package kinesis

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// sdkCall is one operation invoked through the unmodified aws-sdk-go-v2
// client, and the input sluice must decode from the request it sends.
type sdkCall struct {
	op   string
	call func(ctx context.Context, c *sdk.Client) (any, error)
	want any
}

var (
	testTime  = time.UnixMilli(1700000000123).UTC()
	testTS    = TimestampFromMillis(1700000000123)
	testARN   = "arn:aws:kinesis:us-east-1:000000000000:stream/orders"
	testCARN  = testARN + "/consumer/billing:1700000000"
	testBlobA = []byte("hello, kinesis")
	testBlobB = []byte{0, 1, 2, 0xfe, 0xff}
)

func i32(v int32) *int32 { return &v }

// sdkCalls covers every operation sluice serves, each with every member set.
func sdkCalls() []sdkCall {
	return []sdkCall{
		{"AddTagsToStream", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.AddTagsToStream(ctx, &sdk.AddTagsToStreamInput{StreamName: aws.String("orders"), StreamARN: aws.String(testARN), StreamId: aws.String("id1"), Tags: map[string]string{"team": "billing", "env": ""}})
			return out, err
		}, &AddTagsToStreamInput{StreamName: "orders", StreamARN: testARN, StreamId: "id1", Tags: map[string]string{"team": "billing", "env": ""}}},
		{"CreateStream", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.CreateStream(ctx, &sdk.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(4),
				StreamModeDetails: &sdktypes.StreamModeDetails{StreamMode: sdktypes.StreamModeProvisioned}, Tags: map[string]string{"a": "b"},
				MaxRecordSizeInKiB: aws.Int32(2048), WarmThroughputMiBps: aws.Int32(0), RecordDistributionStrategy: sdktypes.RecordDistributionStrategyAuto})
			return out, err
		}, &CreateStreamInput{StreamName: "orders", ShardCount: i32(4), StreamModeDetails: &StreamModeDetails{StreamMode: StreamModeProvisioned},
			Tags: map[string]string{"a": "b"}, MaxRecordSizeInKiB: i32(2048), WarmThroughputMiBps: i32(0), RecordDistributionStrategy: RecordDistributionStrategyAuto}},
		{"DecreaseStreamRetentionPeriod", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.DecreaseStreamRetentionPeriod(ctx, &sdk.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("orders"), StreamARN: aws.String(testARN), RetentionPeriodHours: aws.Int32(24)})
			return out, err
		}, &RetentionPeriodInput{StreamName: "orders", StreamARN: testARN, RetentionPeriodHours: i32(24)}},
		{"DeleteResourcePolicy", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.DeleteResourcePolicy(ctx, &sdk.DeleteResourcePolicyInput{ResourceARN: aws.String(testARN)})
			return out, err
		}, &ResourceInput{ResourceARN: testARN}},
		{"DeleteStream", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.DeleteStream(ctx, &sdk.DeleteStreamInput{StreamName: aws.String("orders"), EnforceConsumerDeletion: aws.Bool(true)})
			return out, err
		}, &DeleteStreamInput{StreamName: "orders", EnforceConsumerDeletion: true}},
		{"DeregisterStreamConsumer", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.DeregisterStreamConsumer(ctx, &sdk.DeregisterStreamConsumerInput{StreamARN: aws.String(testARN), ConsumerName: aws.String("billing"), ConsumerARN: aws.String(testCARN)})
			return out, err
		}, &ConsumerInput{StreamARN: testARN, ConsumerName: "billing", ConsumerARN: testCARN}},
		{"DescribeLimits", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.DescribeLimits(ctx, &sdk.DescribeLimitsInput{})
			return out, err
		}, &DescribeLimitsInput{}},
		{"DescribeStream", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.DescribeStream(ctx, &sdk.DescribeStreamInput{StreamName: aws.String("orders"), Limit: aws.Int32(100), ExclusiveStartShardId: aws.String("shardId-000000000001")})
			return out, err
		}, &DescribeStreamInput{StreamName: "orders", Limit: i32(100), ExclusiveStartShardId: "shardId-000000000001"}},
		{"DescribeStreamConsumer", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.DescribeStreamConsumer(ctx, &sdk.DescribeStreamConsumerInput{ConsumerARN: aws.String(testCARN)})
			return out, err
		}, &ConsumerInput{ConsumerARN: testCARN}},
		{"DescribeStreamSummary", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.DescribeStreamSummary(ctx, &sdk.DescribeStreamSummaryInput{StreamARN: aws.String(testARN)})
			return out, err
		}, &DescribeStreamSummaryInput{StreamARN: testARN}},
		{"DisableEnhancedMonitoring", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.DisableEnhancedMonitoring(ctx, &sdk.DisableEnhancedMonitoringInput{StreamName: aws.String("orders"), ShardLevelMetrics: []sdktypes.MetricsName{sdktypes.MetricsNameAll}})
			return out, err
		}, &EnhancedMonitoringInput{StreamName: "orders", ShardLevelMetrics: []MetricsName{MetricsNameAll}}},
		{"EnableEnhancedMonitoring", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.EnableEnhancedMonitoring(ctx, &sdk.EnableEnhancedMonitoringInput{StreamARN: aws.String(testARN), ShardLevelMetrics: []sdktypes.MetricsName{sdktypes.MetricsNameIncomingBytes, sdktypes.MetricsNameIteratorAgeMilliseconds}})
			return out, err
		}, &EnhancedMonitoringInput{StreamARN: testARN, ShardLevelMetrics: []MetricsName{MetricsNameIncomingBytes, MetricsNameIteratorAgeMilliseconds}}},
		{"GetRecords", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.GetRecords(ctx, &sdk.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAE+iter/=="), Limit: aws.Int32(10000), StreamARN: aws.String(testARN), DryRun: aws.Bool(false)})
			return out, err
		}, &GetRecordsInput{ShardIterator: "AAAAAAAAAAE+iter/==", Limit: i32(10000), StreamARN: testARN}},
		{"GetResourcePolicy", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.GetResourcePolicy(ctx, &sdk.GetResourcePolicyInput{ResourceARN: aws.String(testCARN)})
			return out, err
		}, &ResourceInput{ResourceARN: testCARN}},
		{"GetShardIterator", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.GetShardIterator(ctx, &sdk.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"),
				ShardIteratorType: sdktypes.ShardIteratorTypeAtTimestamp, StartingSequenceNumber: aws.String("49590338271490256608559692538361571095921575989136588898"),
				Timestamp: aws.Time(testTime), DryRun: aws.Bool(true)})
			return out, err
		}, &GetShardIteratorInput{StreamName: "orders", ShardId: "shardId-000000000000", ShardIteratorType: ShardIteratorTypeAtTimestamp,
			StartingSequenceNumber: "49590338271490256608559692538361571095921575989136588898", Timestamp: testTS, DryRun: true}},
		{"IncreaseStreamRetentionPeriod", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.IncreaseStreamRetentionPeriod(ctx, &sdk.IncreaseStreamRetentionPeriodInput{StreamARN: aws.String(testARN), RetentionPeriodHours: aws.Int32(8760)})
			return out, err
		}, &RetentionPeriodInput{StreamARN: testARN, RetentionPeriodHours: i32(8760)}},
		{"ListShards", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.ListShards(ctx, &sdk.ListShardsInput{StreamName: aws.String("orders"), ExclusiveStartShardId: aws.String("shardId-000000000002"), MaxResults: aws.Int32(1000),
				StreamCreationTimestamp: aws.Time(time.Unix(1600000000, 0)), ShardFilter: &sdktypes.ShardFilter{Type: sdktypes.ShardFilterTypeFromTimestamp, ShardId: aws.String("shardId-000000000003"), Timestamp: aws.Time(testTime)}})
			return out, err
		}, &ListShardsInput{StreamName: "orders", ExclusiveStartShardId: "shardId-000000000002", MaxResults: i32(1000), StreamCreationTimestamp: TimestampFromMillis(1600000000000),
			ShardFilter: &ShardFilter{Type: ShardFilterTypeFromTimestamp, ShardId: "shardId-000000000003", Timestamp: testTS}}},
		{"ListStreamConsumers", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.ListStreamConsumers(ctx, &sdk.ListStreamConsumersInput{StreamARN: aws.String(testARN), NextToken: aws.String("tok"), MaxResults: aws.Int32(5), StreamCreationTimestamp: aws.Time(testTime)})
			return out, err
		}, &ListStreamConsumersInput{StreamARN: testARN, NextToken: "tok", MaxResults: i32(5), StreamCreationTimestamp: testTS}},
		{"ListStreams", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.ListStreams(ctx, &sdk.ListStreamsInput{Limit: aws.Int32(10), ExclusiveStartStreamName: aws.String("a"), NextToken: aws.String("n")})
			return out, err
		}, &ListStreamsInput{Limit: i32(10), ExclusiveStartStreamName: "a", NextToken: "n"}},
		{"ListTagsForResource", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.ListTagsForResource(ctx, &sdk.ListTagsForResourceInput{ResourceARN: aws.String(testARN)})
			return out, err
		}, &ResourceInput{ResourceARN: testARN}},
		{"ListTagsForStream", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.ListTagsForStream(ctx, &sdk.ListTagsForStreamInput{StreamName: aws.String("orders"), ExclusiveStartTagKey: aws.String("k"), Limit: aws.Int32(50)})
			return out, err
		}, &ListTagsForStreamInput{StreamName: "orders", ExclusiveStartTagKey: "k", Limit: i32(50)}},
		{"MergeShards", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.MergeShards(ctx, &sdk.MergeShardsInput{StreamName: aws.String("orders"), ShardToMerge: aws.String("shardId-000000000000"), AdjacentShardToMerge: aws.String("shardId-000000000001")})
			return out, err
		}, &MergeShardsInput{StreamName: "orders", ShardToMerge: "shardId-000000000000", AdjacentShardToMerge: "shardId-000000000001"}},
		{"PutRecord", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.PutRecord(ctx, &sdk.PutRecordInput{StreamName: aws.String("orders"), Data: testBlobA, PartitionKey: aws.String("ключ-1"),
				ExplicitHashKey: aws.String("340282366920938463463374607431768211455"), SequenceNumberForOrdering: aws.String("12345"), DryRun: aws.Bool(true)})
			return out, err
		}, &PutRecordInput{StreamName: "orders", Data: testBlobA, PartitionKey: "ключ-1", ExplicitHashKey: "340282366920938463463374607431768211455", SequenceNumberForOrdering: "12345", DryRun: true}},
		{"PutRecords", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.PutRecords(ctx, &sdk.PutRecordsInput{StreamARN: aws.String(testARN), Records: []sdktypes.PutRecordsRequestEntry{
				{Data: testBlobA, PartitionKey: aws.String("k1")},
				{Data: testBlobB, PartitionKey: aws.String("k\"2\\\n"), ExplicitHashKey: aws.String("0")},
				{Data: []byte{}, PartitionKey: aws.String("k3")},
			}})
			return out, err
		}, &PutRecordsInput{StreamARN: testARN, Records: []PutRecordsRequestEntry{
			{Data: testBlobA, PartitionKey: "k1"},
			{Data: testBlobB, PartitionKey: "k\"2\\\n", ExplicitHashKey: "0"},
			{Data: []byte{}, PartitionKey: "k3"},
		}}},
		{"PutResourcePolicy", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.PutResourcePolicy(ctx, &sdk.PutResourcePolicyInput{ResourceARN: aws.String(testARN), Policy: aws.String(`{"Version":"2012-10-17"}`)})
			return out, err
		}, &PutResourcePolicyInput{ResourceARN: testARN, Policy: `{"Version":"2012-10-17"}`}},
		{"RegisterStreamConsumer", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.RegisterStreamConsumer(ctx, &sdk.RegisterStreamConsumerInput{StreamARN: aws.String(testARN), ConsumerName: aws.String("billing"), Tags: map[string]string{"x": "y"}})
			return out, err
		}, &RegisterStreamConsumerInput{StreamARN: testARN, ConsumerName: "billing", Tags: map[string]string{"x": "y"}}},
		{"RemoveTagsFromStream", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.RemoveTagsFromStream(ctx, &sdk.RemoveTagsFromStreamInput{StreamName: aws.String("orders"), TagKeys: []string{"a", "b"}})
			return out, err
		}, &RemoveTagsFromStreamInput{StreamName: "orders", TagKeys: []string{"a", "b"}}},
		{"SplitShard", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.SplitShard(ctx, &sdk.SplitShardInput{StreamName: aws.String("orders"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("170141183460469231731687303715884105728")})
			return out, err
		}, &SplitShardInput{StreamName: "orders", ShardToSplit: "shardId-000000000000", NewStartingHashKey: "170141183460469231731687303715884105728"}},
		{"StartStreamEncryption", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.StartStreamEncryption(ctx, &sdk.StartStreamEncryptionInput{StreamName: aws.String("orders"), EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")})
			return out, err
		}, &StreamEncryptionInput{StreamName: "orders", EncryptionType: EncryptionTypeKMS, KeyId: "alias/aws/kinesis"}},
		{"StopStreamEncryption", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.StopStreamEncryption(ctx, &sdk.StopStreamEncryptionInput{StreamARN: aws.String(testARN), EncryptionType: sdktypes.EncryptionTypeKms, KeyId: aws.String("k")})
			return out, err
		}, &StreamEncryptionInput{StreamARN: testARN, EncryptionType: EncryptionTypeKMS, KeyId: "k"}},
		{"SubscribeToShard", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.SubscribeToShard(ctx, &sdk.SubscribeToShardInput{ConsumerARN: aws.String(testCARN), ShardId: aws.String("shardId-000000000000"),
				StartingPosition: &sdktypes.StartingPosition{Type: sdktypes.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String("42"), Timestamp: aws.Time(testTime)}})
			if err == nil {
				out.GetStream().Close()
			}
			return nil, nil // the fake server does not answer with an event stream
		}, &SubscribeToShardInput{ConsumerARN: testCARN, ShardId: "shardId-000000000000",
			StartingPosition: StartingPosition{Type: ShardIteratorTypeAfterSequenceNumber, SequenceNumber: "42", Timestamp: testTS}}},
		{"TagResource", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.TagResource(ctx, &sdk.TagResourceInput{ResourceARN: aws.String(testCARN), Tags: map[string]string{"k": "v"}})
			return out, err
		}, &TagResourceInput{ResourceARN: testCARN, Tags: map[string]string{"k": "v"}}},
		{"UntagResource", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.UntagResource(ctx, &sdk.UntagResourceInput{ResourceARN: aws.String(testCARN), TagKeys: []string{"k"}})
			return out, err
		}, &UntagResourceInput{ResourceARN: testCARN, TagKeys: []string{"k"}}},
		{"UpdateMaxRecordSize", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.UpdateMaxRecordSize(ctx, &sdk.UpdateMaxRecordSizeInput{StreamARN: aws.String(testARN), MaxRecordSizeInKiB: aws.Int32(10240)})
			return out, err
		}, &UpdateMaxRecordSizeInput{StreamARN: testARN, MaxRecordSizeInKiB: i32(10240)}},
		{"UpdateShardCount", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.UpdateShardCount(ctx, &sdk.UpdateShardCountInput{StreamName: aws.String("orders"), TargetShardCount: aws.Int32(8), ScalingType: sdktypes.ScalingTypeUniformScaling})
			return out, err
		}, &UpdateShardCountInput{StreamName: "orders", TargetShardCount: i32(8), ScalingType: ScalingTypeUniformScaling}},
		{"UpdateStreamMode", func(ctx context.Context, c *sdk.Client) (any, error) {
			out, err := c.UpdateStreamMode(ctx, &sdk.UpdateStreamModeInput{StreamARN: aws.String(testARN), StreamModeDetails: &sdktypes.StreamModeDetails{StreamMode: sdktypes.StreamModeOnDemand}, WarmThroughputMiBps: aws.Int32(100)})
			return out, err
		}, &UpdateStreamModeInput{StreamARN: testARN, StreamModeDetails: &StreamModeDetails{StreamMode: StreamModeOnDemand}, WarmThroughputMiBps: i32(100)}},
	}
}

// TestDecode_EveryOperationFromGoSDK runs every served operation through the
// unmodified aws-sdk-go-v2 client and decodes the request it sent, as JSON
// and, transcoded the way the Java SDK writes CBOR, as CBOR.
func TestDecode_EveryOperationFromGoSDK(t *testing.T) {
	fake := newFakeKinesis(t)
	client := fake.client()
	calls := sdkCalls()
	if len(calls) != int(opCount)-1 {
		t.Fatalf("the table covers %d operations; %d are served", len(calls), opCount-1)
	}
	var d Decoder
	for _, tc := range calls {
		t.Run(tc.op, func(t *testing.T) {
			if _, err := tc.call(context.Background(), client); err != nil {
				t.Fatalf("SDK call: %v", err)
			}
			req := fake.last(t)
			if req.contentType != ContentTypeJSON {
				t.Errorf("Content-Type %q", req.contentType)
			}
			op, err := ParseTarget(req.target)
			if err != nil || op.String() != tc.op {
				t.Fatalf("ParseTarget(%q) = %v, %v; want %s", req.target, op, err, tc.op)
			}
			got := op.NewInput()
			if err := d.Decode(FormatJSON, req.body, got); err != nil {
				t.Fatalf("decode %s: %v", req.body, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("JSON %s\ndecoded %+v\nwant    %+v", req.body, got, tc.want)
			}

			cborBody := jacksonCBOR(t, req.body)
			got = op.NewInput()
			if err := d.Decode(FormatCBOR, cborBody, got); err != nil {
				t.Fatalf("decode CBOR %x: %v", cborBody, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CBOR %x\ndecoded %+v\nwant    %+v", cborBody, got, tc.want)
			}
		})
	}
}

// jacksonCBOR transcodes an SDK JSON request body into CBOR the way the Java
// SDK v2 writes it (SdkCborGenerator over Jackson's CBORGenerator):
// indefinite-length maps and arrays, blobs as byte strings, timestamps as tag
// 1 followed by integer epoch milliseconds, text longer than 40 bytes in
// indefinite-length chunks.
func jacksonCBOR(t testing.TB, body []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("SDK body is not JSON: %v", err)
	}
	return appendJackson(t, nil, "", v)
}

func appendJackson(t testing.TB, b []byte, member string, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, cborIndefMap)
		for _, k := range keys {
			b = appendJacksonText(b, k)
			b = appendJackson(t, b, k, v[k])
		}
		return append(b, cborBreak)
	case []any:
		b = append(b, cborIndefArray)
		for _, e := range v {
			b = appendJackson(t, b, member, e)
		}
		return append(b, cborBreak)
	case string:
		if member == "Data" {
			raw, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatalf("Data %q: %v", v, err)
			}
			return appendCBORBytes(b, raw)
		}
		return appendJacksonText(b, v)
	case json.Number:
		switch member {
		case "Timestamp", "StreamCreationTimestamp":
			r, ok := new(big.Rat).SetString(string(v))
			if !ok {
				t.Fatalf("timestamp %q", v)
			}
			r.Mul(r, big.NewRat(1000, 1))
			b = appendCBORHead(b, cborMajorTag, cborTagEpoch)
			return appendCBORInt(b, new(big.Int).Quo(r.Num(), r.Denom()).Int64())
		}
		n, err := v.Int64()
		if err != nil {
			t.Fatalf("number %q: %v", v, err)
		}
		return appendCBORInt(b, n)
	case bool:
		return appendCBORBool(b, v)
	case nil:
		return append(b, cborNull)
	}
	t.Fatalf("unexpected JSON value %T", v)
	return nil
}

func appendJacksonText(b []byte, s string) []byte {
	if len(s) <= 40 {
		return appendCBORText(b, s)
	}
	b = append(b, cborMajorText|cborInfoIndef)
	for len(s) > 0 {
		n := min(len(s), 16)
		for n < len(s) && s[n]&0xc0 == 0x80 { // do not split a UTF-8 sequence
			n++
		}
		b = appendCBORText(b, s[:n])
		s = s[n:]
	}
	return append(b, cborBreak)
}

// TestDecode_JavaStyleCBORTimestamp checks the exact bytes the Java SDK sends
// for GetShardIterator AT_TIMESTAMP: tag 1 with epoch milliseconds.
func TestDecode_JavaStyleCBORTimestamp(t *testing.T) {
	body := []byte{cborIndefMap}
	body = appendCBORText(body, "ShardId")
	body = appendCBORText(body, "shardId-000000000000")
	body = appendCBORText(body, "ShardIteratorType")
	body = appendCBORText(body, "AT_TIMESTAMP")
	body = appendCBORText(body, "StreamName")
	body = appendCBORText(body, "orders")
	body = appendCBORText(body, "Timestamp")
	body = append(body, 0xc1, 0x1b, 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b) // tag 1, uint64 1700000000123
	body = append(body, cborBreak)
	var got GetShardIteratorInput
	var d Decoder
	if err := d.Decode(FormatCBOR, body, &got); err != nil {
		t.Fatal(err)
	}
	want := GetShardIteratorInput{StreamName: "orders", ShardId: "shardId-000000000000", ShardIteratorType: ShardIteratorTypeAtTimestamp, Timestamp: testTS}
	if got != want {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
}

// ExampleAppendResponse shows a response body for the Go SDK.
func ExampleAppendResponse() {
	body, _ := AppendResponse(nil, FormatJSON, &ListStreamsOutput{StreamNames: []string{"orders"}, HasMoreStreams: false})
	fmt.Println(string(body))
	// Output: {"StreamNames":["orders"],"HasMoreStreams":false}
}
