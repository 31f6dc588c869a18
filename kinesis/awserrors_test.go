package kinesis

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	sdk "github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// The errors of the HTTP door as Kinesis answers them: the body member
// types (SerializationException), the constraints of the model
// (ValidationException, every broken constraint listed in AWS's order and
// words), the order in which the checks run, and the rest of the wire:
// request ids, empty bodies, shard ids.

// awsAnswer is an error response as a client reads it.
type awsAnswer struct {
	status  int
	errType string // X-Amzn-ErrorType
	body    map[string]any
}

// message returns the body's message member: "Message" for a
// SerializationException, "message" for every other error.
func (a awsAnswer) message(t testing.TB) string {
	t.Helper()
	key := "message"
	if a.errType == string(CodeSerialization) {
		key = "Message"
	}
	s, ok := a.body[key].(string)
	if !ok {
		t.Fatalf("answer %d %s has no %q member: %v", a.status, a.errType, key, a.body)
	}
	return s
}

// call sends body (JSON) to op and reads the answer.
func (env *testEnv) call(t testing.TB, op, body string) awsAnswer {
	t.Helper()
	resp, raw := env.do(t, nil, rawRequest{target: op, contentType: ContentTypeJSON, body: []byte(body)})
	a := awsAnswer{status: resp.StatusCode, errType: resp.Header.Get("X-Amzn-ErrorType")}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: body %q: %v", op, body, raw, err)
		}
	}
	return a
}

// wantError checks that op answers body with a 400 of code and exactly msg.
func (env *testEnv) wantError(t testing.TB, op, body string, code ErrorCode, msg string) {
	t.Helper()
	a := env.call(t, op, body)
	if a.status != http.StatusBadRequest || a.errType != string(code) {
		t.Errorf("%s %s: %d %s %v; want 400 %s", op, body, a.status, a.errType, a.body, code)
		return
	}
	if got, _ := a.body["__type"].(string); got != string(code) {
		t.Errorf("%s %s: __type %q; want %s", op, body, got, code)
	}
	if got := a.message(t); got != msg {
		t.Errorf("%s %s:\n got %s\nwant %s", op, body, got, msg)
	}
}

// Constraint phrases of the model, to keep the tables readable.
const (
	notNull    = "Member must not be null"
	namePat    = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
	lenAtLeast = "Member must have length greater than or equal to "
	lenAtMost  = "Member must have length less than or equal to "
	valAtLeast = "Member must have value greater than or equal to "
	valAtMost  = "Member must have value less than or equal to "
	sARN       = "arn:aws:kinesis:us-east-1:000000000000:stream/s"
)

// failed is one part of a validation message.
func failed(value, member, constraint string) string {
	if value != "null" {
		value = "'" + value + "'"
	}
	return "Value " + value + " at '" + member + "' failed to satisfy constraint: " + constraint
}

// detected joins parts into a whole validation message.
func detected(parts ...string) string {
	n := "1 validation error"
	if len(parts) != 1 {
		n = strconv.Itoa(len(parts)) + " validation errors"
	}
	return n + " detected: " + strings.Join(parts, "; ")
}

// TestValidation_PerOperation sends each operation bodies that break each
// constraint of its model alone and several at once, and checks the exact
// ValidationException.
func TestValidation_PerOperation(t *testing.T) {
	env := newTestEnv(t, unverified)
	long := strings.Repeat("a", 129)
	enumIterators := "Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"
	consumerPat := "Member must satisfy regular expression pattern: " + patternConsumer
	for _, c := range []struct {
		op, body string
		want     string
	}{
		// AddTagsToStream
		{"AddTagsToStream", `{"StreamName":"s"}`, detected(failed("null", "tags", notNull))},
		{"AddTagsToStream", `{"StreamName":"","Tags":{}}`, detected(
			failed("", "streamName", namePat), failed("", "streamName", lenAtLeast+"1"), failed("{}", "tags", lenAtLeast+"1"))},
		{"AddTagsToStream", `{"StreamName":"s","Tags":{"` + long + `":"v"}}`, detected(
			failed("{"+long+"=v}", "tags", "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"))},
		{"AddTagsToStream", `{"StreamName":"s","Tags":{"k":"` + strings.Repeat("v", 257) + `"}}`, detected(
			failed("{k="+strings.Repeat("v", 257)+"}", "tags", "Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]"))},
		// CreateStream
		{"CreateStream", `{}`, detected(failed("null", "streamName", notNull))},
		{"CreateStream", `{"StreamName":"","ShardCount":0}`, detected(
			failed("0", "shardCount", valAtLeast+"1"), failed("", "streamName", namePat), failed("", "streamName", lenAtLeast+"1"))},
		{"CreateStream", `{"StreamName":"` + long + `","ShardCount":1}`, detected(failed(long, "streamName", lenAtMost+"128"))},
		{"CreateStream", `{"StreamName":"s","ShardCount":100001}`, detected(failed("100001", "shardCount", valAtMost+"100000"))},
		{"CreateStream", `{"StreamName":"s","ShardCount":1,"StreamModeDetails":{}}`, detected(failed("null", "streamModeDetails.streamMode", notNull))},
		{"CreateStream", `{"StreamName":"s","ShardCount":1,"StreamModeDetails":{"StreamMode":""}}`, detected(
			failed("", "streamModeDetails.streamMode", "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"))},
		{"CreateStream", `{"StreamName":"s","MaxRecordSizeInKiB":1023,"WarmThroughputMiBps":-1,"RecordDistributionStrategy":"RANDOM"}`, detected(
			failed("1023", "maxRecordSizeInKiB", valAtLeast+"1024"),
			failed("RANDOM", "recordDistributionStrategy", "Member must satisfy enum value set: [AUTO, USER_PARTITION_KEY]"),
			failed("-1", "warmThroughputMiBps", valAtLeast+"0"))},
		// Retention
		{"IncreaseStreamRetentionPeriod", `{"StreamName":"s"}`, detected(failed("null", "retentionPeriodHours", notNull))},
		{"DecreaseStreamRetentionPeriod", `{"StreamName":"s","RetentionPeriodHours":0}`, detected(failed("0", "retentionPeriodHours", valAtLeast+"1"))},
		// Resource policies and tags of resources
		{"DeleteResourcePolicy", `{}`, detected(failed("null", "resourceARN", notNull))},
		{"GetResourcePolicy", `{"ResourceARN":"arn:aws:s3:::b"}`, detected(
			failed("arn:aws:s3:::b", "resourceARN", "Member must satisfy regular expression pattern: "+patternAnyARN))},
		{"PutResourcePolicy", `{"ResourceARN":"` + sARN + `"}`, detected(failed("null", "policy", notNull))},
		{"PutResourcePolicy", `{"ResourceARN":"","Policy":""}`, detected(
			failed("", "policy", lenAtLeast+"1"),
			failed("", "resourceARN", "Member must satisfy regular expression pattern: "+patternAnyARN), failed("", "resourceARN", lenAtLeast+"1"))},
		{"ListTagsForResource", `{}`, detected(failed("null", "resourceARN", notNull))},
		{"TagResource", `{"ResourceARN":"` + sARN + `"}`, detected(failed("null", "tags", notNull))},
		{"UntagResource", `{"ResourceARN":"` + sARN + `","TagKeys":[]}`, detected(failed("[]", "tagKeys", lenAtLeast+"1"))},
		// Streams
		{"DeleteStream", `{"StreamName":"a b"}`, detected(failed("a b", "streamName", namePat))},
		{"DescribeStream", `{"StreamName":"s","Limit":0,"ExclusiveStartShardId":""}`, detected(
			failed("", "exclusiveStartShardId", namePat), failed("", "exclusiveStartShardId", lenAtLeast+"1"), failed("0", "limit", valAtLeast+"1"))},
		{"DescribeStream", `{"StreamName":"s","Limit":10001}`, detected(failed("10001", "limit", valAtMost+"10000"))},
		// Integers are read as AWS reads them: truncated toward negative
		// infinity, clamped to 32 bits.
		{"ListStreams", `{"Limit":0.5}`, detected(failed("0", "limit", valAtLeast+"1"))},
		{"ListStreams", `{"Limit":1e11}`, detected(failed("2147483647", "limit", valAtMost+"10000"))},
		{"ListStreams", `{"Limit":-100000000000}`, detected(failed("-2147483648", "limit", valAtLeast+"1"))},
		{"CreateStream", `{"StreamName":"` + long + `","ShardCount":100000000000}`, detected(
			failed("2147483647", "shardCount", valAtMost+"100000"), failed(long, "streamName", lenAtMost+"128"))},
		{"DescribeStreamSummary", `{"StreamARN":"arn:nope"}`, detected(
			failed("arn:nope", "streamARN", "Member must satisfy regular expression pattern: "+patternStreamARN))},
		{"ListStreams", `{"Limit":0,"ExclusiveStartStreamName":"a b","NextToken":""}`, detected(
			failed("a b", "exclusiveStartStreamName", namePat), failed("0", "limit", valAtLeast+"1"), failed("", "nextToken", lenAtLeast+"1"))},
		{"ListTagsForStream", `{"StreamName":"s","Limit":51,"ExclusiveStartTagKey":""}`, detected(
			failed("", "exclusiveStartTagKey", lenAtLeast+"1"), failed("51", "limit", valAtMost+"50"))},
		{"RemoveTagsFromStream", `{"StreamName":"s"}`, detected(failed("null", "tagKeys", notNull))},
		{"RemoveTagsFromStream", `{"StreamName":"s","TagKeys":["a",""]}`, detected(
			failed("[a, ]", "tagKeys", "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"))},
		{"EnableEnhancedMonitoring", `{"StreamName":"s"}`, detected(failed("null", "shardLevelMetrics", notNull))},
		{"DisableEnhancedMonitoring", `{"StreamName":"s","ShardLevelMetrics":["IncomingBytes","Bogus"]}`, detected(
			failed("[IncomingBytes, Bogus]", "shardLevelMetrics", "Member must satisfy constraint: [Member must satisfy enum value set: [IncomingBytes, IncomingRecords, OutgoingBytes, OutgoingRecords, WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded, IteratorAgeMilliseconds, ALL]]"))},
		{"EnableEnhancedMonitoring", `{"StreamName":"s","ShardLevelMetrics":[]}`, detected(failed("[]", "shardLevelMetrics", lenAtLeast+"1"))},
		{"StartStreamEncryption", `{"StreamName":"s"}`, detected(failed("null", "encryptionType", notNull), failed("null", "keyId", notNull))},
		{"StopStreamEncryption", `{"StreamName":"s","EncryptionType":"AES","KeyId":""}`, detected(
			failed("AES", "encryptionType", "Member must satisfy enum value set: [NONE, KMS]"), failed("", "keyId", lenAtLeast+"1"))},
		{"UpdateMaxRecordSize", `{"StreamARN":"` + sARN + `"}`, detected(failed("null", "maxRecordSizeInKiB", notNull))},
		{"UpdateMaxRecordSize", `{"MaxRecordSizeInKiB":10241}`, detected(failed("10241", "maxRecordSizeInKiB", valAtMost+"10240"), failed("null", "streamARN", notNull))},
		{"UpdateStreamMode", `{}`, detected(failed("null", "streamARN", notNull), failed("null", "streamModeDetails", notNull))},
		{"UpdateStreamMode", `{"StreamARN":"` + sARN + `","StreamModeDetails":{"StreamMode":"BOTH"},"WarmThroughputMiBps":10241}`, detected(
			failed("BOTH", "streamModeDetails.streamMode", "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"),
			failed("10241", "warmThroughputMiBps", valAtMost+"10240"))},
		// Shards
		{"ListShards", `{"MaxResults":0,"NextToken":"","ShardFilter":{"Type":"NOPE","ShardId":""}}`, detected(
			failed("0", "maxResults", valAtLeast+"1"), failed("", "nextToken", lenAtLeast+"1"),
			failed("", "shardFilter.shardId", namePat), failed("", "shardFilter.shardId", lenAtLeast+"1"),
			failed("NOPE", "shardFilter.type", "Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]"))},
		{"ListShards", `{"StreamName":"s","ShardFilter":{}}`, detected(failed("null", "shardFilter.type", notNull))},
		{"SplitShard", `{"StreamName":"s"}`, detected(failed("null", "newStartingHashKey", notNull), failed("null", "shardToSplit", notNull))},
		{"SplitShard", `{"StreamName":"s","ShardToSplit":"a b","NewStartingHashKey":"1.5"}`, detected(
			failed("1.5", "newStartingHashKey", "Member must satisfy regular expression pattern: "+patternHashKey), failed("a b", "shardToSplit", namePat))},
		{"MergeShards", `{"StreamName":"s"}`, detected(failed("null", "adjacentShardToMerge", notNull), failed("null", "shardToMerge", notNull))},
		{"MergeShards", `{"StreamName":"s","ShardToMerge":"` + long + `","AdjacentShardToMerge":""}`, detected(
			failed("", "adjacentShardToMerge", namePat), failed("", "adjacentShardToMerge", lenAtLeast+"1"), failed(long, "shardToMerge", lenAtMost+"128"))},
		{"UpdateShardCount", `{"StreamName":"s"}`, detected(failed("null", "scalingType", notNull), failed("null", "targetShardCount", notNull))},
		{"UpdateShardCount", `{"StreamName":"s","TargetShardCount":0,"ScalingType":"X"}`, detected(
			failed("X", "scalingType", "Member must satisfy enum value set: [UNIFORM_SCALING]"), failed("0", "targetShardCount", valAtLeast+"1"))},
		// Consumers
		{"RegisterStreamConsumer", `{}`, detected(failed("null", "consumerName", notNull), failed("null", "streamARN", notNull))},
		{"DescribeStreamConsumer", `{"ConsumerARN":"x","ConsumerName":"a b"}`, detected(failed("x", "consumerARN", consumerPat), failed("a b", "consumerName", namePat))},
		{"DeregisterStreamConsumer", `{"StreamARN":"","ConsumerName":""}`, detected(
			failed("", "consumerName", namePat), failed("", "consumerName", lenAtLeast+"1"),
			failed("", "streamARN", "Member must satisfy regular expression pattern: "+patternStreamARN), failed("", "streamARN", lenAtLeast+"1"))},
		{"ListStreamConsumers", `{}`, detected(failed("null", "streamARN", notNull))},
		{"ListStreamConsumers", `{"StreamARN":"` + sARN + `","MaxResults":10001}`, detected(failed("10001", "maxResults", valAtMost+"10000"))},
		{"SubscribeToShard", `{}`, detected(failed("null", "consumerARN", notNull), failed("null", "shardId", notNull), failed("null", "startingPosition", notNull))},
		{"SubscribeToShard", `{"ConsumerARN":"` + sARN + `/consumer/c:1","ShardId":"shardId-0","StartingPosition":{"SequenceNumber":"x"}}`, detected(
			failed("x", "startingPosition.sequenceNumber", "Member must satisfy regular expression pattern: "+patternSeqNum),
			failed("null", "startingPosition.type", notNull))},
		// Data
		{"PutRecord", `{"StreamName":"s"}`, detected(failed("null", "data", notNull), failed("null", "partitionKey", notNull))},
		{"PutRecord", `{"StreamName":"s","Data":"","PartitionKey":"","ExplicitHashKey":"01","SequenceNumberForOrdering":"x"}`, detected(
			failed("01", "explicitHashKey", "Member must satisfy regular expression pattern: "+patternHashKey),
			failed("", "partitionKey", lenAtLeast+"1"),
			failed("x", "sequenceNumberForOrdering", "Member must satisfy regular expression pattern: "+patternSeqNum))},
		{"PutRecord", `{"StreamName":"s","Data":"AA==","PartitionKey":"` + strings.Repeat("k", 257) + `"}`, detected(
			failed(strings.Repeat("k", 257), "partitionKey", lenAtMost+"256"))},
		{"PutRecords", `{"StreamName":"s"}`, detected(failed("null", "records", notNull))},
		{"PutRecords", `{"StreamName":"","Records":[]}`, detected(
			failed("[]", "records", lenAtLeast+"1"), failed("", "streamName", namePat), failed("", "streamName", lenAtLeast+"1"))},
		{"PutRecords", `{"StreamName":"s","Records":[{"PartitionKey":""},{"Data":"AA==","PartitionKey":"k","ExplicitHashKey":"-1"}]}`, detected(
			failed("null", "records.1.member.data", notNull), failed("", "records.1.member.partitionKey", lenAtLeast+"1"),
			failed("-1", "records.2.member.explicitHashKey", "Member must satisfy regular expression pattern: "+patternHashKey))},
		{"GetShardIterator", `{}`, detected(failed("null", "shardId", notNull), failed("null", "shardIteratorType", notNull))},
		{"GetShardIterator", `{"StreamName":"","ShardIteratorType":"","ShardId":"","StartingSequenceNumber":""}`, detected(
			failed("", "shardId", namePat), failed("", "shardId", lenAtLeast+"1"),
			failed("", "shardIteratorType", enumIterators),
			failed("", "startingSequenceNumber", "Member must satisfy regular expression pattern: "+patternSeqNum),
			failed("", "streamName", namePat), failed("", "streamName", lenAtLeast+"1"))},
		{"GetShardIterator", `{"StreamName":"` + long + `","ShardId":"` + long + `","ShardIteratorType":"LATEST"}`, detected(
			failed(long, "shardId", lenAtMost+"128"), failed(long, "streamName", lenAtMost+"128"))},
		{"GetRecords", `{}`, detected(failed("null", "shardIterator", notNull))},
		{"GetRecords", `{"ShardIterator":"","Limit":10001}`, detected(failed("10001", "limit", valAtMost+"10000"), failed("", "shardIterator", lenAtLeast+"1"))},
		{"GetRecords", `{"ShardIterator":"x","Limit":0,"StreamARN":"s"}`, detected(
			failed("0", "limit", valAtLeast+"1"), failed("s", "streamARN", "Member must satisfy regular expression pattern: "+patternStreamARN))},
	} {
		env.wantError(t, c.op, c.body, CodeValidation, c.want)
	}
}

// TestValidation_AtMostTen: a request breaking more than ten constraints
// gets the first ten, as AWS lists them.
func TestValidation_AtMostTen(t *testing.T) {
	env := newTestEnv(t, unverified)
	entries := strings.Repeat(`{"PartitionKey":"k"},`, 12)
	body := `{"StreamName":"s","Records":[` + strings.TrimSuffix(entries, ",") + `]}`
	var parts []string
	for i := 1; i <= 10; i++ {
		parts = append(parts, failed("null", "records."+strconv.Itoa(i)+".member.data", notNull))
	}
	env.wantError(t, "PutRecords", body, CodeValidation, detected(parts...))
}

// TestValidation_EveryOperationHasATable: every operation the handler
// serves is in the table, bound to its shape, and a request that breaks
// nothing passes it.
func TestValidation_EveryOperationHasATable(t *testing.T) {
	for op := OpAddTagsToStream; op < opCount; op++ {
		if opModels[op] == nil {
			t.Errorf("%s has no table", op)
		}
		for i := range opModels[op] {
			mb := &opModels[op][i]
			if f, ok := shapeOf[op].FieldByName(mb.wire); !ok || f.Offset != mb.layout.off {
				t.Errorf("%s.%s is not bound to its field", op, mb.wire)
			}
			if i > 0 && strings.ToLower(opModels[op][i-1].name) > strings.ToLower(mb.name) {
				t.Errorf("%s: %s before %s", op, opModels[op][i-1].name, mb.name)
			}
		}
	}
	if err := validateInput(OpDescribeLimits, new(DescribeLimitsInput), 0); err != nil {
		t.Fatal(err)
	}
	// An input of another shape is refused, not read.
	if err := validateInput(OpDescribeLimits, new(PutRecordsInput), 0); err == nil {
		t.Fatal("validateInput read a PutRecordsInput as a DescribeLimitsInput")
	}
}

// TestValidation_NoAllocations: validating a valid PutRecords of 500
// entries and a GetRecords allocates nothing.
func TestValidation_NoAllocations(t *testing.T) {
	in := PutRecordsInput{StreamName: "s", Records: make([]PutRecordsRequestEntry, 500)}
	present := make([]uint8, 500)
	for i := range in.Records {
		in.Records[i] = PutRecordsRequestEntry{Data: []byte("payload"), PartitionKey: "partition-key", ExplicitHashKey: "12345"}
	}
	limit := int32(100)
	get := GetRecordsInput{ShardIterator: "AAAA", Limit: &limit}
	allocs := testing.AllocsPerRun(50, func() {
		if err := validateRecords(&in, 0, present); err != nil {
			t.Fatal(err)
		}
		if err := validateInput(OpGetRecords, &get, 0); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("validating valid inputs allocates %.1f times", allocs)
	}
}

// TestSerialization_TypeMismatches sends a member of every type of the
// model a value of each wrong JSON type, and checks AWS's
// SerializationException, its text under "Message".
func TestSerialization_TypeMismatches(t *testing.T) {
	env := newTestEnv(t, unverified)
	const (
		list   = "Start of list found where not expected"
		object = "Start of structure or map found where not expected."
		number = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to "
	)
	type mismatch struct{ value, msg string }
	for _, c := range []struct {
		op    string
		wrap  func(v string) string // the body with v at the member
		cases []mismatch
	}{
		{"DescribeStreamSummary", func(v string) string { return `{"StreamName":` + v + `}` }, []mismatch{
			{"true", "class java.lang.Boolean can not be converted to an String"},
			{"23", number + "an String"}, {"-2147483648", number + "an String"}, {"34.56", number + "an String"},
			{"[]", list}, {"{}", object}}},
		{"PutRecords", func(v string) string {
			return `{"StreamName":"s","Records":[{"Data":"AA==","PartitionKey":` + v + `}]}`
		}, []mismatch{
			{"true", "class java.lang.Boolean can not be converted to an String"}, {"23", number + "an String"}, {"[]", list}, {"{}", object}}},
		{"ListStreams", func(v string) string { return `{"Limit":` + v + `}` }, []mismatch{
			{`"23"`, "class java.lang.String can not be converted to an Integer"},
			{"true", "class java.lang.Boolean can not be converted to an Integer"}, {"[]", list}, {"{}", object}}},
		{"DeleteStream", func(v string) string { return `{"StreamName":"s","EnforceConsumerDeletion":` + v + `}` }, []mismatch{
			{`"23"`, "'23' can not be converted to an Boolean"}, {`"maybe"`, "'MAYBE' can not be converted to an Boolean"},
			{"23", number + "an Boolean"}, {"[]", list}, {"{}", object}}},
		{"PutRecord", func(v string) string { return `{"StreamName":"s","PartitionKey":"k","Data":` + v + `}` }, []mismatch{
			{"true", "class java.lang.Boolean can not be converted to a Blob"}, {"23", number + "a Blob"}, {"34.56", number + "a Blob"},
			{"[]", list}, {"{}", object},
			{`"23456"`, "'23456' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 5"},
			{`"=+/="`, "'=+/=' can not be converted to a Blob: Invalid Base64 character: '='"},
			{`"+/+="`, "'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"}}},
		{"PutRecords", func(v string) string { return `{"StreamName":"s","Records":[{"PartitionKey":"k","Data":` + v + `}]}` }, []mismatch{
			{"true", "class java.lang.Boolean can not be converted to a Blob"}, {"23", number + "a Blob"}, {"[]", list}, {"{}", object},
			{`"23456"`, "'23456' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 5"},
			{`"=+/="`, "'=+/=' can not be converted to a Blob: Invalid Base64 character: '='"},
			{`"+/+="`, "'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"}}},
		{"ListShards", func(v string) string { return `{"StreamName":"s","StreamCreationTimestamp":` + v + `}` }, []mismatch{
			{"true", "class java.lang.Boolean can not be converted to milliseconds since epoch"},
			{`"x"`, "class java.lang.String can not be converted to milliseconds since epoch"}, {"[]", list}, {"{}", object}}},
		{"PutRecords", func(v string) string { return `{"StreamName":"s","DryRun":` + v + `}` }, []mismatch{
			{`"maybe"`, "'MAYBE' can not be converted to an Boolean"}, {"23", number + "an Boolean"}, {"[]", list}, {"{}", object}}},
		{"PutRecords", func(v string) string { return `{"StreamName":"s","Records":` + v + `}` }, []mismatch{
			{`"23"`, "Expected list or null"}, {"true", "Expected list or null"}, {"23", "Expected list or null"}, {"34.56", "Expected list or null"},
			{"{}", object}}},
		{"RemoveTagsFromStream", func(v string) string { return `{"StreamName":"s","TagKeys":` + v + `}` }, []mismatch{
			{`"23"`, "Expected list or null"}, {"{}", object}}},
		{"AddTagsToStream", func(v string) string { return `{"StreamName":"s","Tags":` + v + `}` }, []mismatch{
			{`"23"`, "Expected map or null"}, {"true", "Expected map or null"}, {"23", "Expected map or null"}, {"[]", list}}},
		{"CreateStream", func(v string) string { return `{"StreamName":"s","StreamModeDetails":` + v + `}` }, []mismatch{
			{`"23"`, "Expected null"}, {"true", "Expected null"}, {"23", "Expected null"}, {"[]", list}}},
		{"PutRecords", func(v string) string { return `{"StreamName":"s","Records":[` + v + `]}` }, []mismatch{
			{`"23"`, "Expected null"}, {"true", "Expected null"}, {"23", "Expected null"}, {"[]", list}}},
		{"CreateStream", func(v string) string { return `{"StreamName":"s","StreamModeDetails":{"StreamMode":` + v + `}}` }, []mismatch{
			{"23", number + "an String"}, {"[]", list}}},
	} {
		for _, m := range c.cases {
			env.wantError(t, c.op, c.wrap(m.value), CodeSerialization, m.msg)
		}
	}
	// The same rules hold in CBOR, whose error body uses the same keys.
	resp, raw := env.do(t, nil, rawRequest{target: "ListStreams", contentType: ContentTypeCBOR,
		body: cborMapOf("Limit", appendCBORText(nil, "23"))})
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Amzn-ErrorType") != string(CodeSerialization) ||
		!strings.Contains(string(raw), "Message") || !strings.Contains(string(raw), "class java.lang.String can not be converted to an Integer") {
		t.Errorf("CBOR type mismatch: %d %q", resp.StatusCode, raw)
	}
}

// TestPrecedence: authentication, then serialization, then validation,
// then existence, then the operation's own checks.
func TestPrecedence(t *testing.T) {
	env := newTestEnv(t, nil) // verifying signatures
	open := newTestEnv(t, unverified)
	open.createStream(t, "s", 2)

	// Authentication first: an unsigned request with a malformed body.
	resp, _ := env.do(t, nil, rawRequest{target: "ListStreams", contentType: ContentTypeJSON, body: []byte(`{"Limit":"x"}`), unsigned: true})
	if got := resp.Header.Get("X-Amzn-ErrorType"); got != string(CodeMissingAuthenticationToken) {
		t.Errorf("unsigned request with a wrong type: %s; want MissingAuthenticationTokenException", got)
	}
	// Serialization before validation.
	open.wantError(t, "CreateStream", `{"StreamName":"a b","ShardCount":"one"}`, CodeSerialization,
		"class java.lang.String can not be converted to an Integer")
	// Validation before existence.
	open.wantError(t, "DescribeStreamSummary", `{"StreamName":"no such"}`, CodeValidation,
		detected(failed("no such", "streamName", namePat)))
	// Existence before the shard id: a missing stream is reported whatever the shard.
	notFound := "Stream missing under account 000000000000 not found."
	for _, shard := range []string{"shardId-000000000000", "nope", "shard-7", "2147483648"} {
		open.wantError(t, "GetShardIterator", `{"StreamName":"missing","ShardId":"`+shard+`","ShardIteratorType":"LATEST"}`,
			CodeResourceNotFound, notFound)
	}
	// Existence before the operation's own checks.
	open.wantError(t, "GetShardIterator", `{"StreamName":"missing","ShardId":"shardId-0","ShardIteratorType":"AT_SEQUENCE_NUMBER"}`,
		CodeResourceNotFound, notFound)
	open.wantError(t, "SplitShard", `{"StreamName":"missing","ShardToSplit":"nope","NewStartingHashKey":"`+strings.Repeat("9", 39)+`"}`,
		CodeResourceNotFound, notFound)
	open.wantError(t, "IncreaseStreamRetentionPeriod", `{"StreamName":"missing","RetentionPeriodHours":9000}`, CodeResourceNotFound, notFound)
	open.wantError(t, "StartStreamEncryption", `{"StreamName":"missing","EncryptionType":"NONE","KeyId":"k"}`, CodeResourceNotFound, notFound)
	open.wantError(t, "IncreaseStreamRetentionPeriod", `{"StreamName":"s","RetentionPeriodHours":9000}`, CodeInvalidArgument,
		"Maximum allowed retention period is 8760 hours. Requested retention period (9000 hours) is too long.")
	open.wantError(t, "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-0","ShardIteratorType":"AT_SEQUENCE_NUMBER"}`, CodeInvalidArgument,
		"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber.")
	open.wantError(t, "ListShards", `{}`, CodeInvalidArgument, "Either NextToken or StreamName should be provided.")
	// With authorization on, a request naming no stream still gets the
	// operation's own answer.
	_, err := env.client.ListShards(bg, &sdk.ListShardsInput{})
	wantAPIError(t, err, CodeInvalidArgument, "Either NextToken or StreamName should be provided.")
}

// TestShardIDs: the shard is the number after the last hyphen of a shard
// id, as Kinesis reads it.
func TestShardIDs(t *testing.T) {
	env := newTestEnv(t, unverified)
	env.createStream(t, "s", 2)
	for _, id := range []string{"shardId-000000000001", "shardId-1", "anything-1", "shard-0", "-00001", "1", "a-b-0"} {
		a := env.call(t, "GetShardIterator", `{"StreamName":"s","ShardId":"`+id+`","ShardIteratorType":"LATEST"}`)
		if a.status != http.StatusOK || a.body["ShardIterator"] == nil {
			t.Errorf("shard id %s: %d %v", id, a.status, a.body)
		}
	}
	env.wantError(t, "GetShardIterator", `{"StreamName":"s","ShardId":"anything-99","ShardIteratorType":"LATEST"}`, CodeResourceNotFound,
		"Shard shardId-000000000099 in stream s under account 000000000000 does not exist")
	for _, id := range []string{"ABKLFD8", "2147483648", "shardId-002147483648", "x-"} {
		env.wantError(t, "GetShardIterator", `{"StreamName":"s","ShardId":"`+id+`","ShardIteratorType":"LATEST"}`, CodeResourceNotFound,
			"Could not find shard "+id+" in stream s under account 000000000000.")
	}
	// Resharding reads them the same way.
	a := env.call(t, "SplitShard", `{"StreamName":"s","ShardToSplit":"any-0","NewStartingHashKey":"1000"}`)
	if a.status != http.StatusOK {
		t.Fatalf("SplitShard any-0: %d %v", a.status, a.body)
	}
	list := env.call(t, "ListShards", `{"StreamName":"s","ExclusiveStartShardId":"x-1"}`)
	shards, _ := list.body["Shards"].([]any)
	if len(shards) != 2 { // the two children of shard 0
		t.Fatalf("ListShards after x-1: %v", list.body)
	}
}

// TestIntegers_AsAWSReadsThem: a fraction or an exponent in an integer
// member is no error; the value is truncated, as AWS truncates it.
func TestIntegers_AsAWSReadsThem(t *testing.T) {
	env := newTestEnv(t, unverified)
	for _, body := range []string{`{"StreamName":"a","ShardCount":1.9}`, `{"StreamName":"b","ShardCount":2e0}`} {
		if a := env.call(t, "CreateStream", body); a.status != http.StatusOK {
			t.Fatalf("CreateStream %s: %d %v", body, a.status, a.body)
		}
	}
	// Booleans sent as strings AWS reads.
	for _, b := range []string{`"yes"`, `"TRUE"`, `"1"`, `"no"`, `"false"`, `"0"`} {
		env.wantError(t, "DeleteStream", `{"StreamName":"missing","EnforceConsumerDeletion":`+b+`}`, CodeResourceNotFound,
			"Stream missing under account 000000000000 not found.")
	}
	for name, want := range map[string]float64{"a": 1, "b": 2} {
		a := env.call(t, "DescribeStreamSummary", `{"StreamName":"`+name+`"}`)
		sum, _ := a.body["StreamDescriptionSummary"].(map[string]any)
		if got, _ := sum["OpenShardCount"].(float64); got != want {
			t.Errorf("stream %s has %v shards; want %v", name, got, want)
		}
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestResponses_RequestIDAndEmptyBodies: every answer carries an
// x-amzn-RequestId UUID, distinct per request; operations without output
// answer 200 with an empty body.
func TestResponses_RequestIDAndEmptyBodies(t *testing.T) {
	env := newTestEnv(t, unverified)
	seen := map[string]bool{}
	for _, req := range []rawRequest{
		{target: "CreateStream", contentType: ContentTypeJSON, body: []byte(`{"StreamName":"s","ShardCount":1}`)},
		{target: "AddTagsToStream", contentType: ContentTypeJSON, body: []byte(`{"StreamName":"s","Tags":{"k":"v"}}`)},
		{target: "IncreaseStreamRetentionPeriod", contentType: ContentTypeJSON, body: []byte(`{"StreamName":"s","RetentionPeriodHours":48}`)},
		{target: "DeleteStream", contentType: ContentTypeJSON, body: []byte(`{"StreamName":"s"}`)},
	} {
		resp, body := env.do(t, nil, req)
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Length") != "0" {
			t.Errorf("%s: %d, body %q, Content-Length %q; want 200 and no body", req.target, resp.StatusCode, body, resp.Header.Get("Content-Length"))
		}
		id := resp.Header.Get("X-Amzn-Requestid")
		if !uuidPattern.MatchString(id) || seen[id] {
			t.Errorf("%s: request id %q is not a fresh UUID", req.target, id)
		}
		seen[id] = true
	}
	resp, _ := env.do(t, nil, rawRequest{target: "DescribeStreamSummary", contentType: ContentTypeJSON, body: []byte(`{"StreamName":"s"}`)})
	if id := resp.Header.Get("X-Amzn-Requestid"); !uuidPattern.MatchString(id) || seen[id] {
		t.Errorf("error answer: request id %q", id)
	}
	// In CBOR too.
	cborBody := appendCBORText([]byte{cborMajorMap | 2}, "StreamName")
	cborBody = appendCBORText(cborBody, "c")
	cborBody = append(appendCBORText(cborBody, "ShardCount"), 0x01)
	resp, body := env.do(t, nil, rawRequest{target: "CreateStream", contentType: ContentTypeCBOR, body: cborBody})
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("CBOR CreateStream: %d %q", resp.StatusCode, body)
	}
}

// TestCORS: preflights are answered without authentication with the
// Access-Control headers; simple requests from an allowed origin carry them;
// other origins get none.
func TestCORS(t *testing.T) {
	preflight := func(t *testing.T, env *testEnv, origin string) *http.Response {
		t.Helper()
		r, err := http.NewRequest(http.MethodOptions, env.srv.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "content-type,x-amz-target,authorization,x-amz-date,x-amz-user-agent")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	checkPreflight := func(t *testing.T, resp *http.Response, allowOrigin string) {
		t.Helper()
		h := resp.Header
		if resp.StatusCode != http.StatusOK || resp.ContentLength != 0 ||
			h.Get("Access-Control-Allow-Origin") != allowOrigin ||
			h.Get("Access-Control-Allow-Methods") != "POST" ||
			h.Get("Access-Control-Allow-Headers") != "content-type,x-amz-target,authorization,x-amz-date,x-amz-user-agent" ||
			h.Get("Access-Control-Max-Age") != "172800" {
			t.Errorf("preflight: %d, length %d, headers %v", resp.StatusCode, resp.ContentLength, h)
		}
	}

	t.Run("open", func(t *testing.T) {
		env := newTestEnv(t, unverified)
		checkPreflight(t, preflight(t, env, "http://localhost:3000"), "*")
		resp, _ := env.do(t, nil, rawRequest{target: "ListStreams", contentType: ContentTypeJSON, body: []byte(`{}`)})
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("a request without Origin got CORS headers: %v", resp.Header)
		}
		r, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/", strings.NewReader(`{"StreamName":"nope"}`))
		r.Header.Set("Origin", "http://localhost:3000")
		r.Header.Set("X-Amz-Target", TargetPrefix+"DescribeStreamSummary")
		r.Header.Set("Content-Type", ContentTypeJSON)
		r.Header.Set("Authorization", testAuthorization)
		r.Header.Set("X-Amz-Date", "20240101T000000Z")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "x-amzn-RequestId") ||
			!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "x-amzn-ErrorType") {
			t.Errorf("error answer to a browser: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("auth without origins", func(t *testing.T) {
		env := newTestEnv(t, nil)
		resp := preflight(t, env, "https://app.example")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight with --auth and no origins: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("auth with origins", func(t *testing.T) {
		env := newTestEnv(t, func(c *envConfig) { c.opts.CORSOrigins = []string{"https://app.example"} })
		resp := preflight(t, env, "https://app.example") // not signed: preflights carry no credentials
		checkPreflight(t, resp, "https://app.example")
		if resp.Header.Get("Vary") != "Origin" {
			t.Errorf("a preflight answered for one origin lacks Vary: Origin: %v", resp.Header)
		}
		if resp := preflight(t, env, "https://evil.example"); resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from another origin: %d %v", resp.StatusCode, resp.Header)
		}
		// An OPTIONS that is no preflight is refused as before.
		r, _ := http.NewRequest(http.MethodOptions, env.srv.URL+"/", nil)
		resp2, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusForbidden || resp2.Header.Get("X-Amzn-ErrorType") != string(CodeAccessDenied) {
			t.Errorf("OPTIONS without Origin: %d %v", resp2.StatusCode, resp2.Header)
		}
	})
}
