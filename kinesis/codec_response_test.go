package kinesis

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

var (
	testShard = Shard{ShardId: "shardId-000000000002", ParentShardId: "shardId-000000000000", AdjacentParentShardId: "shardId-000000000001",
		HashKeyRange:        HashKeyRange{StartingHashKey: "0", EndingHashKey: "340282366920938463463374607431768211455"},
		SequenceNumberRange: SequenceNumberRange{StartingSequenceNumber: "100", EndingSequenceNumber: "200"}}
	testChild = ChildShard{ShardId: "shardId-000000000003", ParentShards: []string{"shardId-000000000002"},
		HashKeyRange: HashKeyRange{StartingHashKey: "0", EndingHashKey: "170141183460469231731687303715884105727"}}
	testConsumer = Consumer{ConsumerName: "billing", ConsumerARN: testCARN, ConsumerStatus: ConsumerStatusActive, ConsumerCreationTimestamp: TimestampFromMillis(1700000000000)}
	testMetrics  = []EnhancedMetrics{{ShardLevelMetrics: []MetricsName{MetricsNameIncomingBytes}}}
)

// sdkOutputs holds, per operation, a response with every member set.
func sdkOutputs() map[string]any {
	empty := &EmptyOutput{}
	mon := &EnhancedMonitoringOutput{StreamName: "orders", StreamARN: testARN,
		CurrentShardLevelMetrics: []MetricsName{MetricsNameIncomingBytes}, DesiredShardLevelMetrics: []MetricsName{MetricsNameAll}}
	return map[string]any{
		"AddTagsToStream": empty, "CreateStream": empty, "DecreaseStreamRetentionPeriod": empty, "DeleteResourcePolicy": empty,
		"DeleteStream": empty, "DeregisterStreamConsumer": empty, "IncreaseStreamRetentionPeriod": empty, "MergeShards": empty,
		"PutResourcePolicy": empty, "RemoveTagsFromStream": empty, "SplitShard": empty, "StartStreamEncryption": empty,
		"StopStreamEncryption": empty, "TagResource": empty, "UntagResource": empty, "UpdateMaxRecordSize": empty, "UpdateStreamMode": empty,
		"DisableEnhancedMonitoring": mon, "EnableEnhancedMonitoring": mon,
		"DescribeLimits": &DescribeLimitsOutput{ShardLimit: 500, OpenShardCount: 7, OnDemandStreamCount: 1, OnDemandStreamCountLimit: 50},
		"DescribeStream": &DescribeStreamOutput{StreamDescription: StreamDescription{StreamName: "orders", StreamARN: testARN, StreamStatus: StreamStatusUpdating,
			StreamModeDetails: &StreamModeDetails{StreamMode: StreamModeProvisioned}, Shards: []Shard{testShard}, HasMoreShards: true,
			RetentionPeriodHours: 48, StreamCreationTimestamp: testTS, EnhancedMonitoring: testMetrics, EncryptionType: EncryptionTypeKMS, KeyId: "alias/aws/kinesis"}},
		"DescribeStreamConsumer": &DescribeStreamConsumerOutput{ConsumerDescription: ConsumerDescription{ConsumerName: "billing", ConsumerARN: testCARN,
			ConsumerStatus: ConsumerStatusCreating, ConsumerCreationTimestamp: testTS, StreamARN: testARN}},
		"DescribeStreamSummary": &DescribeStreamSummaryOutput{StreamDescriptionSummary: StreamDescriptionSummary{StreamName: "orders", StreamARN: testARN,
			StreamStatus: StreamStatusActive, StreamModeDetails: &StreamModeDetails{StreamMode: StreamModeOnDemand}, RetentionPeriodHours: 24,
			StreamCreationTimestamp: testTS, EnhancedMonitoring: testMetrics, EncryptionType: EncryptionTypeNone, OpenShardCount: 4, ConsumerCount: 2,
			WarmThroughput: &WarmThroughputObject{TargetMiBps: i32(0), CurrentMiBps: i32(4)}, MaxRecordSizeInKiB: 1024, RecordDistributionStrategy: RecordDistributionStrategyUserPartitionKey}},
		"GetRecords": &GetRecordsOutput{Records: []Record{
			{SequenceNumber: "49590338271490256608559692538361571095921575989136588898", ApproximateArrivalTimestamp: testTS, Data: testBlobA, PartitionKey: "k1", EncryptionType: EncryptionTypeNone},
			{SequenceNumber: "2", ApproximateArrivalTimestamp: TimestampFromMillis(1700000000120), Data: testBlobB, PartitionKey: "ключ \"2\"\u2028<&>"},
			{SequenceNumber: "3", ApproximateArrivalTimestamp: TimestampFromMillis(1700000001000), Data: []byte{}, PartitionKey: "k3", EncryptionType: EncryptionTypeKMS},
		}, NextShardIterator: "AAAAAAAAAAE+x/y==", MillisBehindLatest: 1234, ChildShards: []ChildShard{testChild}},
		"GetResourcePolicy":   &GetResourcePolicyOutput{Policy: `{"Version":"2012-10-17","Statement":[]}`},
		"GetShardIterator":    &GetShardIteratorOutput{ShardIterator: "AAAAAAAAAAE+x/y=="},
		"ListShards":          &ListShardsOutput{Shards: []Shard{testShard, {ShardId: "shardId-000000000000", HashKeyRange: HashKeyRange{StartingHashKey: "0", EndingHashKey: "1"}, SequenceNumberRange: SequenceNumberRange{StartingSequenceNumber: "0"}}}, NextToken: "next"},
		"ListStreamConsumers": &ListStreamConsumersOutput{Consumers: []Consumer{testConsumer}, NextToken: "n2"},
		"ListStreams": &ListStreamsOutput{StreamNames: []string{"a", "orders"}, HasMoreStreams: true, NextToken: "n3", StreamSummaries: []StreamSummary{
			{StreamName: "a", StreamARN: testARN, StreamStatus: StreamStatusCreating, StreamModeDetails: &StreamModeDetails{StreamMode: StreamModeOnDemand}, StreamCreationTimestamp: testTS}}},
		"ListTagsForResource":    &ListTagsForResourceOutput{Tags: []Tag{{Key: "k", Value: "v"}, {Key: "empty"}}},
		"ListTagsForStream":      &ListTagsForStreamOutput{Tags: []Tag{{Key: "k", Value: "v"}}, HasMoreTags: true},
		"PutRecord":              &PutRecordOutput{ShardId: "shardId-000000000001", SequenceNumber: "42", EncryptionType: EncryptionTypeKMS},
		"PutRecords":             &PutRecordsOutput{FailedRecordCount: 1, EncryptionType: EncryptionTypeNone, Records: []PutRecordsResultEntry{{SequenceNumber: "1", ShardId: "shardId-000000000000"}, {ErrorCode: EntryErrorThroughputExceeded, ErrorMessage: "Rate exceeded for shard shardId-000000000000"}, {SequenceNumber: "2", ShardId: "shardId-000000000001"}}},
		"RegisterStreamConsumer": &RegisterStreamConsumerOutput{Consumer: testConsumer},
		"UpdateShardCount":       &UpdateShardCountOutput{StreamName: "orders", StreamARN: testARN, CurrentShardCount: 2, TargetShardCount: 4},
	}
}

// TestAppendResponse_GoSDKReadsEveryOutput answers every operation with a
// JSON body from AppendResponse and checks that the unmodified Go SDK reads
// back every member.
func TestAppendResponse_GoSDKReadsEveryOutput(t *testing.T) {
	fake := newFakeKinesis(t)
	client := fake.client()
	outputs := sdkOutputs()
	for _, tc := range sdkCalls() {
		if tc.op == "SubscribeToShard" {
			continue // an event stream; see TestEventStream_GoSDKSubscription
		}
		want, ok := outputs[tc.op]
		if !ok {
			t.Fatalf("no output for %s", tc.op)
		}
		t.Run(tc.op, func(t *testing.T) {
			body, err := AppendResponse(nil, FormatJSON, want)
			if err != nil {
				t.Fatal(err)
			}
			fake.setRespond(respondWith(200, FormatJSON, body))
			got, err := tc.call(context.Background(), client)
			if err != nil {
				t.Fatalf("SDK rejected %s: %v", body, err)
			}
			sameAsSDK(t, tc.op, reflect.ValueOf(want), reflect.ValueOf(got))
		})
	}
}

// TestAppendResponse_CBORRoundTrip encodes every output as CBOR and reads it
// back, checking the typing the Java SDK relies on: timestamps are integers
// (it parses them with Long.parseLong) and blobs are byte strings.
func TestAppendResponse_CBORRoundTrip(t *testing.T) {
	for op, want := range sdkOutputs() {
		t.Run(op, func(t *testing.T) {
			body, err := AppendResponse(nil, FormatCBOR, want)
			if err != nil {
				t.Fatal(err)
			}
			if err := cbor.Wellformed(body); err != nil {
				t.Fatalf("not well-formed CBOR: %v", err)
			}
			got := reflect.New(reflect.TypeOf(want).Elem()).Interface()
			if err := cborDecMode.Unmarshal(body, got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(want)) {
				t.Errorf("round trip\ngot  %+v\nwant %+v", got, want)
			}
			var tree any
			if err := cbor.Unmarshal(body, &tree); err != nil {
				t.Fatal(err)
			}
			checkCBORTyping(t, "", tree)
		})
	}
}

// TestAppendResponse_JSONMatchesEncodingJSON checks that the hand-written JSON
// encoders produce what encoding/json produces for the same value.
func TestAppendResponse_JSONMatchesEncodingJSON(t *testing.T) {
	outs := sdkOutputs()
	for _, op := range []string{"GetRecords", "PutRecords"} {
		fast, err := AppendResponse(nil, FormatJSON, outs[op])
		if err != nil {
			t.Fatal(err)
		}
		var generic bytes.Buffer
		enc := jsonEncoderFor(&generic)
		if err := enc.Encode(outs[op]); err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(t, fast, generic.Bytes()) {
			t.Errorf("%s:\nfast    %s\ngeneric %s", op, fast, generic.Bytes())
		}
	}
	ev := &SubscribeToShardEvent{Records: outs["GetRecords"].(*GetRecordsOutput).Records, ContinuationSequenceNumber: "3", MillisBehindLatest: 5, ChildShards: []ChildShard{testChild}}
	fast, _ := AppendResponse(nil, FormatJSON, ev)
	var generic bytes.Buffer
	_ = jsonEncoderFor(&generic).Encode(ev)
	if !jsonEqual(t, fast, generic.Bytes()) {
		t.Errorf("SubscribeToShardEvent:\nfast    %s\ngeneric %s", fast, generic.Bytes())
	}
}

// TestAppendResponse_DrainedShard omits NextShardIterator once a closed
// shard is drained, and writes an empty Records list, not null.
func TestAppendResponse_DrainedShard(t *testing.T) {
	for _, f := range []Format{FormatJSON, FormatCBOR} {
		body, err := AppendResponse(nil, f, &GetRecordsOutput{ChildShards: []ChildShard{testChild}})
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if f == FormatJSON {
			err = jsonUnmarshal(body, &got)
		} else {
			err = cbor.Unmarshal(body, &got)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, ok := got["NextShardIterator"]; ok {
			t.Errorf("%s: NextShardIterator present in %v", f, got)
		}
		if recs, ok := got["Records"].([]any); !ok || len(recs) != 0 {
			t.Errorf("%s: Records = %#v, want an empty list", f, got["Records"])
		}
		if _, ok := got["ChildShards"]; !ok {
			t.Errorf("%s: ChildShards missing", f)
		}
	}
}

// sameAsSDK compares a sluice shape with the SDK's decoded output member by
// member: the SDK names its fields after the members, uses pointers for
// optional scalars and time.Time for timestamps.
func sameAsSDK(t *testing.T, path string, mine, theirs reflect.Value) {
	t.Helper()
	for mine.Kind() == reflect.Pointer {
		if mine.IsNil() {
			if !isNilOrZero(theirs) {
				t.Errorf("%s: sluice has nil, SDK has %v", path, theirs)
			}
			return
		}
		mine = mine.Elem()
	}
	for theirs.Kind() == reflect.Pointer || theirs.Kind() == reflect.Interface {
		if theirs.IsNil() {
			if !mine.IsZero() {
				t.Errorf("%s: SDK has nil, sluice has %v", path, mine)
			}
			return
		}
		theirs = theirs.Elem()
	}
	if mine.Type() == reflect.TypeFor[Timestamp]() {
		ts := mine.Interface().(Timestamp)
		tt, ok := theirs.Interface().(time.Time)
		if !ok || !tt.Equal(ts.Time()) {
			t.Errorf("%s: SDK read %v, want %v", path, theirs, ts)
		}
		return
	}
	switch mine.Kind() {
	case reflect.Struct:
		for i := 0; i < mine.NumField(); i++ {
			f := mine.Type().Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			tf := theirs.FieldByName(name)
			if !tf.IsValid() {
				t.Errorf("%s.%s: the SDK output has no such member", path, name)
				continue
			}
			sameAsSDK(t, path+"."+name, mine.Field(i), tf)
		}
	case reflect.Slice:
		if mine.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(mine.Bytes(), theirs.Bytes()) {
				t.Errorf("%s: SDK read %q, want %q", path, theirs.Bytes(), mine.Bytes())
			}
			return
		}
		if mine.Len() != theirs.Len() {
			t.Errorf("%s: SDK read %d elements, want %d", path, theirs.Len(), mine.Len())
			return
		}
		for i := 0; i < mine.Len(); i++ {
			sameAsSDK(t, path+"["+string(rune('0'+i))+"]", mine.Index(i), theirs.Index(i))
		}
	case reflect.String:
		if mine.String() != theirs.String() {
			t.Errorf("%s: SDK read %q, want %q", path, theirs.String(), mine.String())
		}
	case reflect.Bool:
		if mine.Bool() != theirs.Bool() {
			t.Errorf("%s: SDK read %v, want %v", path, theirs.Bool(), mine.Bool())
		}
	case reflect.Int32, reflect.Int64:
		if mine.Int() != theirs.Int() {
			t.Errorf("%s: SDK read %d, want %d", path, theirs.Int(), mine.Int())
		}
	default:
		t.Fatalf("%s: unhandled kind %s", path, mine.Kind())
	}
}

func isNilOrZero(v reflect.Value) bool {
	return !v.IsValid() || v.IsZero()
}

// checkCBORTyping walks a generic CBOR tree and checks that timestamps are
// integers and blobs are byte strings.
func checkCBORTyping(t *testing.T, member string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[any]any:
		for k, e := range v {
			checkCBORTyping(t, k.(string), e)
		}
		return
	case []any:
		for _, e := range v {
			checkCBORTyping(t, member, e)
		}
		return
	}
	if strings.HasSuffix(member, "Timestamp") {
		switch v.(type) {
		case uint64, int64:
		default:
			t.Errorf("%s is %T; Java reads timestamps with Long.parseLong", member, v)
		}
	}
	if member == "Data" {
		if _, ok := v.([]byte); !ok {
			t.Errorf("Data is %T, want a byte string", v)
		}
	}
}

// TestAppendResponse_RequiredListsNotNull writes [] for a nil list AWS
// always sends, and leaves optional ones out.
func TestAppendResponse_RequiredListsNotNull(t *testing.T) {
	out := &DescribeStreamOutput{StreamDescription: StreamDescription{StreamName: "s", StreamCreationTimestamp: testTS,
		EnhancedMonitoring: []EnhancedMetrics{{}}}}
	body, err := AppendResponse(nil, FormatJSON, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Shards":[]`, `"EnhancedMonitoring":[{"ShardLevelMetrics":[]}]`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("%s lacks %s", body, want)
		}
	}
	body, _ = AppendResponse(nil, FormatJSON, &ListStreamsOutput{})
	if string(body) != `{"StreamNames":[],"HasMoreStreams":false}` {
		t.Errorf("ListStreams body %s", body)
	}
	body, _ = AppendResponse(nil, FormatCBOR, &ListShardsOutput{})
	var m map[string]any
	if err := cbor.Unmarshal(body, &m); err != nil || m["Shards"] == nil {
		t.Errorf("CBOR ListShards %v: %v", m, err)
	}
}
