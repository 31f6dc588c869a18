package kinesis

// Control-plane operations on streams and shards. Every stream-addressed
// request names the stream by StreamName or StreamARN (StreamId is reserved
// by AWS and accepted but not used).

// EmptyOutput is the response of the operations that return no members
// (CreateStream, DeleteStream, SplitShard, MergeShards, UpdateStreamMode,
// Increase/DecreaseStreamRetentionPeriod, the tagging writes,
// DeregisterStreamConsumer, Start/StopStreamEncryption, UpdateMaxRecordSize,
// Put/DeleteResourcePolicy). It encodes as an empty object.
type EmptyOutput struct{}

// CreateStreamInput is the request of CreateStream. ShardCount is required
// for provisioned streams and must be absent for on-demand ones.
type CreateStreamInput struct {
	StreamName                 string                     `json:"StreamName"`
	ShardCount                 *int32                     `json:"ShardCount,omitempty"`
	StreamModeDetails          *StreamModeDetails         `json:"StreamModeDetails,omitempty"`
	Tags                       map[string]string          `json:"Tags,omitempty"`
	MaxRecordSizeInKiB         *int32                     `json:"MaxRecordSizeInKiB,omitempty"`
	WarmThroughputMiBps        *int32                     `json:"WarmThroughputMiBps,omitempty"`
	RecordDistributionStrategy RecordDistributionStrategy `json:"RecordDistributionStrategy,omitempty"`
}

// DeleteStreamInput is the request of DeleteStream.
type DeleteStreamInput struct {
	StreamName              string `json:"StreamName,omitempty"`
	StreamARN               string `json:"StreamARN,omitempty"`
	StreamId                string `json:"StreamId,omitempty"`
	EnforceConsumerDeletion bool   `json:"EnforceConsumerDeletion,omitempty"`
}

// DescribeStreamInput is the request of DescribeStream. Limit (1..10000,
// at most 100 shards returned) and ExclusiveStartShardId page the shards.
type DescribeStreamInput struct {
	StreamName            string `json:"StreamName,omitempty"`
	StreamARN             string `json:"StreamARN,omitempty"`
	StreamId              string `json:"StreamId,omitempty"`
	Limit                 *int32 `json:"Limit,omitempty"`
	ExclusiveStartShardId string `json:"ExclusiveStartShardId,omitempty"`
}

// DescribeStreamOutput is the response of DescribeStream.
type DescribeStreamOutput struct {
	StreamDescription StreamDescription `json:"StreamDescription"`
}

// DescribeStreamSummaryInput is the request of DescribeStreamSummary.
type DescribeStreamSummaryInput struct {
	StreamName string `json:"StreamName,omitempty"`
	StreamARN  string `json:"StreamARN,omitempty"`
	StreamId   string `json:"StreamId,omitempty"`
}

// DescribeStreamSummaryOutput is the response of DescribeStreamSummary.
type DescribeStreamSummaryOutput struct {
	StreamDescriptionSummary StreamDescriptionSummary `json:"StreamDescriptionSummary"`
}

// ListStreamsInput is the request of ListStreams.
type ListStreamsInput struct {
	Limit                    *int32 `json:"Limit,omitempty"`
	ExclusiveStartStreamName string `json:"ExclusiveStartStreamName,omitempty"`
	NextToken                string `json:"NextToken,omitempty"`
}

// ListStreamsOutput is the response of ListStreams.
type ListStreamsOutput struct {
	StreamNames     []string        `json:"StreamNames"`
	HasMoreStreams  bool            `json:"HasMoreStreams"`
	NextToken       string          `json:"NextToken,omitempty"`
	StreamSummaries []StreamSummary `json:"StreamSummaries,omitempty"`
}

// ListShardsInput is the request of ListShards. With NextToken, the stream
// name and ARN must be absent.
type ListShardsInput struct {
	StreamName              string       `json:"StreamName,omitempty"`
	StreamARN               string       `json:"StreamARN,omitempty"`
	StreamId                string       `json:"StreamId,omitempty"`
	NextToken               string       `json:"NextToken,omitempty"`
	ExclusiveStartShardId   string       `json:"ExclusiveStartShardId,omitempty"`
	MaxResults              *int32       `json:"MaxResults,omitempty"`
	StreamCreationTimestamp Timestamp    `json:"StreamCreationTimestamp,omitzero"`
	ShardFilter             *ShardFilter `json:"ShardFilter,omitempty"`
}

// ListShardsOutput is the response of ListShards.
type ListShardsOutput struct {
	Shards    []Shard `json:"Shards"`
	NextToken string  `json:"NextToken,omitempty"`
}

// SplitShardInput is the request of SplitShard.
type SplitShardInput struct {
	StreamName         string `json:"StreamName,omitempty"`
	StreamARN          string `json:"StreamARN,omitempty"`
	StreamId           string `json:"StreamId,omitempty"`
	ShardToSplit       string `json:"ShardToSplit"`
	NewStartingHashKey string `json:"NewStartingHashKey"`
}

// MergeShardsInput is the request of MergeShards.
type MergeShardsInput struct {
	StreamName           string `json:"StreamName,omitempty"`
	StreamARN            string `json:"StreamARN,omitempty"`
	StreamId             string `json:"StreamId,omitempty"`
	ShardToMerge         string `json:"ShardToMerge"`
	AdjacentShardToMerge string `json:"AdjacentShardToMerge"`
}

// UpdateShardCountInput is the request of UpdateShardCount.
type UpdateShardCountInput struct {
	StreamName       string      `json:"StreamName,omitempty"`
	StreamARN        string      `json:"StreamARN,omitempty"`
	StreamId         string      `json:"StreamId,omitempty"`
	TargetShardCount *int32      `json:"TargetShardCount,omitempty"`
	ScalingType      ScalingType `json:"ScalingType"`
}

// UpdateShardCountOutput is the response of UpdateShardCount.
type UpdateShardCountOutput struct {
	StreamName        string `json:"StreamName"`
	StreamARN         string `json:"StreamARN,omitempty"`
	CurrentShardCount int32  `json:"CurrentShardCount"`
	TargetShardCount  int32  `json:"TargetShardCount"`
}

// UpdateStreamModeInput is the request of UpdateStreamMode.
type UpdateStreamModeInput struct {
	StreamARN           string             `json:"StreamARN"`
	StreamId            string             `json:"StreamId,omitempty"`
	StreamModeDetails   *StreamModeDetails `json:"StreamModeDetails,omitempty"`
	WarmThroughputMiBps *int32             `json:"WarmThroughputMiBps,omitempty"`
}

// RetentionPeriodInput is the request of IncreaseStreamRetentionPeriod and
// DecreaseStreamRetentionPeriod (24..8760 hours).
type RetentionPeriodInput struct {
	StreamName           string `json:"StreamName,omitempty"`
	StreamARN            string `json:"StreamARN,omitempty"`
	StreamId             string `json:"StreamId,omitempty"`
	RetentionPeriodHours *int32 `json:"RetentionPeriodHours,omitempty"`
}

// UpdateMaxRecordSizeInput is the request of UpdateMaxRecordSize (1024..10240 KiB).
type UpdateMaxRecordSizeInput struct {
	StreamARN          string `json:"StreamARN"`
	StreamId           string `json:"StreamId,omitempty"`
	MaxRecordSizeInKiB *int32 `json:"MaxRecordSizeInKiB,omitempty"`
}

// StreamEncryptionInput is the request of StartStreamEncryption and
// StopStreamEncryption.
type StreamEncryptionInput struct {
	StreamName     string         `json:"StreamName,omitempty"`
	StreamARN      string         `json:"StreamARN,omitempty"`
	StreamId       string         `json:"StreamId,omitempty"`
	EncryptionType EncryptionType `json:"EncryptionType"`
	KeyId          string         `json:"KeyId"`
}

// EnhancedMonitoringInput is the request of EnableEnhancedMonitoring and
// DisableEnhancedMonitoring.
type EnhancedMonitoringInput struct {
	StreamName        string        `json:"StreamName,omitempty"`
	StreamARN         string        `json:"StreamARN,omitempty"`
	StreamId          string        `json:"StreamId,omitempty"`
	ShardLevelMetrics []MetricsName `json:"ShardLevelMetrics"`
}

// EnhancedMonitoringOutput is the response of EnableEnhancedMonitoring and
// DisableEnhancedMonitoring.
type EnhancedMonitoringOutput struct {
	StreamName               string        `json:"StreamName"`
	StreamARN                string        `json:"StreamARN,omitempty"`
	CurrentShardLevelMetrics []MetricsName `json:"CurrentShardLevelMetrics"`
	DesiredShardLevelMetrics []MetricsName `json:"DesiredShardLevelMetrics"`
}

// DescribeLimitsInput is the (memberless) request of DescribeLimits.
type DescribeLimitsInput struct{}

// DescribeLimitsOutput is the response of DescribeLimits.
type DescribeLimitsOutput struct {
	ShardLimit               int32  `json:"ShardLimit"`
	OpenShardCount           int32  `json:"OpenShardCount"`
	OnDemandStreamCount      int32  `json:"OnDemandStreamCount"`
	OnDemandStreamCountLimit int32  `json:"OnDemandStreamCountLimit"`
	ChannelCount             *int32 `json:"ChannelCount,omitempty"`
	ChannelCountLimit        *int32 `json:"ChannelCountLimit,omitempty"`
}
