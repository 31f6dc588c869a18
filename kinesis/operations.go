package kinesis

import "strings"

// TargetPrefix is the service part of the X-Amz-Target header.
const TargetPrefix = "Kinesis_20131202."

// Operation is an operation of the Kinesis API that sluice serves.
type Operation uint8

// Operations, in the order of the API reference. The zero Operation is invalid.
const (
	OpAddTagsToStream Operation = iota + 1
	OpCreateStream
	OpDecreaseStreamRetentionPeriod
	OpDeleteResourcePolicy
	OpDeleteStream
	OpDeregisterStreamConsumer
	OpDescribeLimits
	OpDescribeStream
	OpDescribeStreamConsumer
	OpDescribeStreamSummary
	OpDisableEnhancedMonitoring
	OpEnableEnhancedMonitoring
	OpGetRecords
	OpGetResourcePolicy
	OpGetShardIterator
	OpIncreaseStreamRetentionPeriod
	OpListShards
	OpListStreamConsumers
	OpListStreams
	OpListTagsForResource
	OpListTagsForStream
	OpMergeShards
	OpPutRecord
	OpPutRecords
	OpPutResourcePolicy
	OpRegisterStreamConsumer
	OpRemoveTagsFromStream
	OpSplitShard
	OpStartStreamEncryption
	OpStopStreamEncryption
	OpSubscribeToShard
	OpTagResource
	OpUntagResource
	OpUpdateMaxRecordSize
	OpUpdateShardCount
	OpUpdateStreamMode
	opCount
)

// opInfo describes an operation: its name and a constructor of its input shape.
type opInfo struct {
	name     string
	newInput func() any
}

var operations = [opCount]opInfo{
	OpAddTagsToStream:               {"AddTagsToStream", func() any { return new(AddTagsToStreamInput) }},
	OpCreateStream:                  {"CreateStream", func() any { return new(CreateStreamInput) }},
	OpDecreaseStreamRetentionPeriod: {"DecreaseStreamRetentionPeriod", func() any { return new(RetentionPeriodInput) }},
	OpDeleteResourcePolicy:          {"DeleteResourcePolicy", func() any { return new(ResourceInput) }},
	OpDeleteStream:                  {"DeleteStream", func() any { return new(DeleteStreamInput) }},
	OpDeregisterStreamConsumer:      {"DeregisterStreamConsumer", func() any { return new(ConsumerInput) }},
	OpDescribeLimits:                {"DescribeLimits", func() any { return new(DescribeLimitsInput) }},
	OpDescribeStream:                {"DescribeStream", func() any { return new(DescribeStreamInput) }},
	OpDescribeStreamConsumer:        {"DescribeStreamConsumer", func() any { return new(ConsumerInput) }},
	OpDescribeStreamSummary:         {"DescribeStreamSummary", func() any { return new(DescribeStreamSummaryInput) }},
	OpDisableEnhancedMonitoring:     {"DisableEnhancedMonitoring", func() any { return new(EnhancedMonitoringInput) }},
	OpEnableEnhancedMonitoring:      {"EnableEnhancedMonitoring", func() any { return new(EnhancedMonitoringInput) }},
	OpGetRecords:                    {"GetRecords", func() any { return new(GetRecordsInput) }},
	OpGetResourcePolicy:             {"GetResourcePolicy", func() any { return new(ResourceInput) }},
	OpGetShardIterator:              {"GetShardIterator", func() any { return new(GetShardIteratorInput) }},
	OpIncreaseStreamRetentionPeriod: {"IncreaseStreamRetentionPeriod", func() any { return new(RetentionPeriodInput) }},
	OpListShards:                    {"ListShards", func() any { return new(ListShardsInput) }},
	OpListStreamConsumers:           {"ListStreamConsumers", func() any { return new(ListStreamConsumersInput) }},
	OpListStreams:                   {"ListStreams", func() any { return new(ListStreamsInput) }},
	OpListTagsForResource:           {"ListTagsForResource", func() any { return new(ResourceInput) }},
	OpListTagsForStream:             {"ListTagsForStream", func() any { return new(ListTagsForStreamInput) }},
	OpMergeShards:                   {"MergeShards", func() any { return new(MergeShardsInput) }},
	OpPutRecord:                     {"PutRecord", func() any { return new(PutRecordInput) }},
	OpPutRecords:                    {"PutRecords", func() any { return new(PutRecordsInput) }},
	OpPutResourcePolicy:             {"PutResourcePolicy", func() any { return new(PutResourcePolicyInput) }},
	OpRegisterStreamConsumer:        {"RegisterStreamConsumer", func() any { return new(RegisterStreamConsumerInput) }},
	OpRemoveTagsFromStream:          {"RemoveTagsFromStream", func() any { return new(RemoveTagsFromStreamInput) }},
	OpSplitShard:                    {"SplitShard", func() any { return new(SplitShardInput) }},
	OpStartStreamEncryption:         {"StartStreamEncryption", func() any { return new(StreamEncryptionInput) }},
	OpStopStreamEncryption:          {"StopStreamEncryption", func() any { return new(StreamEncryptionInput) }},
	OpSubscribeToShard:              {"SubscribeToShard", func() any { return new(SubscribeToShardInput) }},
	OpTagResource:                   {"TagResource", func() any { return new(TagResourceInput) }},
	OpUntagResource:                 {"UntagResource", func() any { return new(UntagResourceInput) }},
	OpUpdateMaxRecordSize:           {"UpdateMaxRecordSize", func() any { return new(UpdateMaxRecordSizeInput) }},
	OpUpdateShardCount:              {"UpdateShardCount", func() any { return new(UpdateShardCountInput) }},
	OpUpdateStreamMode:              {"UpdateStreamMode", func() any { return new(UpdateStreamModeInput) }},
}

// opByName maps operation names to operations.
var opByName = func() map[string]Operation {
	m := make(map[string]Operation, opCount)
	for op := OpAddTagsToStream; op < opCount; op++ {
		m[operations[op].name] = op
	}
	return m
}()

// String returns the operation's name ("PutRecords").
func (op Operation) String() string {
	if op == 0 || op >= opCount {
		return "UnknownOperation"
	}
	return operations[op].name
}

// NewInput returns a new zero value of the operation's input shape, as a
// pointer (*PutRecordsInput for OpPutRecords), ready for Decoder.Decode.
func (op Operation) NewInput() any {
	if op == 0 || op >= opCount {
		return nil
	}
	return operations[op].newInput()
}

// ParseTarget returns the operation an X-Amz-Target header names
// ("Kinesis_20131202.PutRecords"). Anything else, including an operation of
// the API that sluice does not serve, is an UnknownOperationException, which
// AWS answers without a message.
func ParseTarget(target string) (Operation, error) {
	name, ok := strings.CutPrefix(target, TargetPrefix)
	if ok {
		if op, found := opByName[name]; found {
			return op, nil
		}
	}
	return 0, &Error{Code: CodeUnknownOperation, Status: CodeUnknownOperation.Status()}
}

// Per-operation names of the shapes that several operations share.
type (
	// IncreaseStreamRetentionPeriodInput is the request of IncreaseStreamRetentionPeriod.
	IncreaseStreamRetentionPeriodInput = RetentionPeriodInput
	// DecreaseStreamRetentionPeriodInput is the request of DecreaseStreamRetentionPeriod.
	DecreaseStreamRetentionPeriodInput = RetentionPeriodInput
	// StartStreamEncryptionInput is the request of StartStreamEncryption.
	StartStreamEncryptionInput = StreamEncryptionInput
	// StopStreamEncryptionInput is the request of StopStreamEncryption.
	StopStreamEncryptionInput = StreamEncryptionInput
	// EnableEnhancedMonitoringInput is the request of EnableEnhancedMonitoring.
	EnableEnhancedMonitoringInput = EnhancedMonitoringInput
	// DisableEnhancedMonitoringInput is the request of DisableEnhancedMonitoring.
	DisableEnhancedMonitoringInput = EnhancedMonitoringInput
	// EnableEnhancedMonitoringOutput is the response of EnableEnhancedMonitoring.
	EnableEnhancedMonitoringOutput = EnhancedMonitoringOutput
	// DisableEnhancedMonitoringOutput is the response of DisableEnhancedMonitoring.
	DisableEnhancedMonitoringOutput = EnhancedMonitoringOutput
	// DescribeStreamConsumerInput is the request of DescribeStreamConsumer.
	DescribeStreamConsumerInput = ConsumerInput
	// DeregisterStreamConsumerInput is the request of DeregisterStreamConsumer.
	DeregisterStreamConsumerInput = ConsumerInput
	// ListTagsForResourceInput is the request of ListTagsForResource.
	ListTagsForResourceInput = ResourceInput
	// GetResourcePolicyInput is the request of GetResourcePolicy.
	GetResourcePolicyInput = ResourceInput
	// DeleteResourcePolicyInput is the request of DeleteResourcePolicy.
	DeleteResourcePolicyInput = ResourceInput
)
