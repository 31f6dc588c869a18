package kinesis

// Shared shapes and enumerations of the Kinesis API (Kinesis_20131202), with
// the member names of the AWS model as JSON tags (github.com/fxamacker/cbor
// reads the same tags for CBOR). Members AWS omits when they are absent are
// tagged omitempty (omitzero for Timestamp and structs); members AWS always
// sends are not, so a nil slice in one of them encodes as null: handlers set an
// empty slice there.
//
// Strings of the model are plain Go strings: an absent member and an empty one
// both decode to "". Every string member of the model has a minimum length of
// 1 (or a pattern that excludes ""), so "" never is a valid value and
// validation treats it as absent.

// StreamStatus is the state of a stream.
type StreamStatus string

// Stream states.
const (
	StreamStatusCreating StreamStatus = "CREATING"
	StreamStatusDeleting StreamStatus = "DELETING"
	StreamStatusActive   StreamStatus = "ACTIVE"
	StreamStatusUpdating StreamStatus = "UPDATING"
)

// ConsumerStatus is the state of an enhanced fan-out consumer.
type ConsumerStatus string

// Consumer states.
const (
	ConsumerStatusCreating ConsumerStatus = "CREATING"
	ConsumerStatusDeleting ConsumerStatus = "DELETING"
	ConsumerStatusActive   ConsumerStatus = "ACTIVE"
)

// EncryptionType says whether records are encrypted at rest.
type EncryptionType string

// Encryption types.
const (
	EncryptionTypeNone EncryptionType = "NONE"
	EncryptionTypeKMS  EncryptionType = "KMS"
)

// StreamMode is the capacity mode of a stream.
type StreamMode string

// Capacity modes.
const (
	StreamModeProvisioned StreamMode = "PROVISIONED"
	StreamModeOnDemand    StreamMode = "ON_DEMAND"
)

// ScalingType is the resharding strategy of UpdateShardCount.
type ScalingType string

// ScalingTypeUniformScaling is the only scaling type Kinesis defines.
const ScalingTypeUniformScaling ScalingType = "UNIFORM_SCALING"

// ShardIteratorType is where a shard iterator or a subscription starts.
type ShardIteratorType string

// Starting positions.
const (
	ShardIteratorTypeAtSequenceNumber    ShardIteratorType = "AT_SEQUENCE_NUMBER"
	ShardIteratorTypeAfterSequenceNumber ShardIteratorType = "AFTER_SEQUENCE_NUMBER"
	ShardIteratorTypeTrimHorizon         ShardIteratorType = "TRIM_HORIZON"
	ShardIteratorTypeLatest              ShardIteratorType = "LATEST"
	ShardIteratorTypeAtTimestamp         ShardIteratorType = "AT_TIMESTAMP"
)

// ShardFilterType selects the shards ListShards returns.
type ShardFilterType string

// Shard filters.
const (
	ShardFilterTypeAfterShardId    ShardFilterType = "AFTER_SHARD_ID"
	ShardFilterTypeAtTrimHorizon   ShardFilterType = "AT_TRIM_HORIZON"
	ShardFilterTypeFromTrimHorizon ShardFilterType = "FROM_TRIM_HORIZON"
	ShardFilterTypeAtLatest        ShardFilterType = "AT_LATEST"
	ShardFilterTypeAtTimestamp     ShardFilterType = "AT_TIMESTAMP"
	ShardFilterTypeFromTimestamp   ShardFilterType = "FROM_TIMESTAMP"
)

// MetricsName is a shard-level metric of enhanced monitoring.
type MetricsName string

// Shard-level metrics.
const (
	MetricsNameIncomingBytes                      MetricsName = "IncomingBytes"
	MetricsNameIncomingRecords                    MetricsName = "IncomingRecords"
	MetricsNameOutgoingBytes                      MetricsName = "OutgoingBytes"
	MetricsNameOutgoingRecords                    MetricsName = "OutgoingRecords"
	MetricsNameWriteProvisionedThroughputExceeded MetricsName = "WriteProvisionedThroughputExceeded"
	MetricsNameReadProvisionedThroughputExceeded  MetricsName = "ReadProvisionedThroughputExceeded"
	MetricsNameIteratorAgeMilliseconds            MetricsName = "IteratorAgeMilliseconds"
	MetricsNameAll                                MetricsName = "ALL"
)

// RecordDistributionStrategy says how an on-demand stream maps records to shards.
type RecordDistributionStrategy string

// Record distribution strategies.
const (
	RecordDistributionStrategyAuto             RecordDistributionStrategy = "AUTO"
	RecordDistributionStrategyUserPartitionKey RecordDistributionStrategy = "USER_PARTITION_KEY"
)

// HashKeyRange is an inclusive range of 128-bit hash keys, as decimal strings.
type HashKeyRange struct {
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

// SequenceNumberRange is the range of sequence numbers of a shard;
// EndingSequenceNumber is set once the shard is closed.
type SequenceNumberRange struct {
	StartingSequenceNumber string `json:"StartingSequenceNumber"`
	EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"`
}

// Shard describes one shard of a stream.
type Shard struct {
	ShardId               string              `json:"ShardId"`
	ParentShardId         string              `json:"ParentShardId,omitempty"`
	AdjacentParentShardId string              `json:"AdjacentParentShardId,omitempty"`
	HashKeyRange          HashKeyRange        `json:"HashKeyRange"`
	SequenceNumberRange   SequenceNumberRange `json:"SequenceNumberRange"`
}

// ChildShard is a shard created by resharding a shard a reader has drained.
type ChildShard struct {
	ShardId      string       `json:"ShardId"`
	ParentShards []string     `json:"ParentShards"`
	HashKeyRange HashKeyRange `json:"HashKeyRange"`
}

// Record is a data record as GetRecords and SubscribeToShard return it.
type Record struct {
	SequenceNumber              string         `json:"SequenceNumber"`
	ApproximateArrivalTimestamp Timestamp      `json:"ApproximateArrivalTimestamp,omitzero"`
	Data                        []byte         `json:"Data"`
	PartitionKey                string         `json:"PartitionKey"`
	EncryptionType              EncryptionType `json:"EncryptionType,omitempty"`
}

// Tag is a key-value pair attached to a stream or consumer.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value,omitempty"`
}

// StreamModeDetails holds the capacity mode of a stream.
type StreamModeDetails struct {
	StreamMode StreamMode `json:"StreamMode"`
}

// EnhancedMetrics lists the shard-level metrics enabled on a stream.
type EnhancedMetrics struct {
	ShardLevelMetrics []MetricsName `json:"ShardLevelMetrics"`
}

// WarmThroughputObject is the warm throughput of an on-demand stream, in MiB/s.
type WarmThroughputObject struct {
	TargetMiBps  *int32 `json:"TargetMiBps,omitempty"`
	CurrentMiBps *int32 `json:"CurrentMiBps,omitempty"`
}

// Consumer is an enhanced fan-out consumer as ListStreamConsumers and
// RegisterStreamConsumer return it.
type Consumer struct {
	ConsumerName              string         `json:"ConsumerName"`
	ConsumerARN               string         `json:"ConsumerARN"`
	ConsumerStatus            ConsumerStatus `json:"ConsumerStatus"`
	ConsumerCreationTimestamp Timestamp      `json:"ConsumerCreationTimestamp"`
}

// ConsumerDescription is a consumer as DescribeStreamConsumer returns it.
type ConsumerDescription struct {
	ConsumerName              string         `json:"ConsumerName"`
	ConsumerARN               string         `json:"ConsumerARN"`
	ConsumerStatus            ConsumerStatus `json:"ConsumerStatus"`
	ConsumerCreationTimestamp Timestamp      `json:"ConsumerCreationTimestamp"`
	StreamARN                 string         `json:"StreamARN"`
}

// StreamSummary is one stream of ListStreams' StreamSummaries.
type StreamSummary struct {
	StreamName              string             `json:"StreamName"`
	StreamARN               string             `json:"StreamARN"`
	StreamStatus            StreamStatus       `json:"StreamStatus"`
	StreamModeDetails       *StreamModeDetails `json:"StreamModeDetails,omitempty"`
	StreamCreationTimestamp Timestamp          `json:"StreamCreationTimestamp,omitzero"`
}

// StreamDescription is a stream as DescribeStream returns it, with a page of
// its shards.
type StreamDescription struct {
	StreamName              string             `json:"StreamName"`
	StreamARN               string             `json:"StreamARN"`
	StreamStatus            StreamStatus       `json:"StreamStatus"`
	StreamModeDetails       *StreamModeDetails `json:"StreamModeDetails,omitempty"`
	Shards                  []Shard            `json:"Shards"`
	HasMoreShards           bool               `json:"HasMoreShards"`
	RetentionPeriodHours    int32              `json:"RetentionPeriodHours"`
	StreamCreationTimestamp Timestamp          `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []EnhancedMetrics  `json:"EnhancedMonitoring"`
	EncryptionType          EncryptionType     `json:"EncryptionType,omitempty"`
	KeyId                   string             `json:"KeyId,omitempty"`
}

// StreamDescriptionSummary is a stream as DescribeStreamSummary returns it.
type StreamDescriptionSummary struct {
	StreamName                 string                     `json:"StreamName"`
	StreamARN                  string                     `json:"StreamARN"`
	StreamId                   string                     `json:"StreamId,omitempty"`
	StreamStatus               StreamStatus               `json:"StreamStatus"`
	StreamModeDetails          *StreamModeDetails         `json:"StreamModeDetails,omitempty"`
	RetentionPeriodHours       int32                      `json:"RetentionPeriodHours"`
	StreamCreationTimestamp    Timestamp                  `json:"StreamCreationTimestamp"`
	EnhancedMonitoring         []EnhancedMetrics          `json:"EnhancedMonitoring"`
	EncryptionType             EncryptionType             `json:"EncryptionType,omitempty"`
	KeyId                      string                     `json:"KeyId,omitempty"`
	OpenShardCount             int32                      `json:"OpenShardCount"`
	ConsumerCount              int32                      `json:"ConsumerCount"`
	WarmThroughput             *WarmThroughputObject      `json:"WarmThroughput,omitempty"`
	MaxRecordSizeInKiB         int32                      `json:"MaxRecordSizeInKiB,omitempty"`
	ChannelCount               *int32                     `json:"ChannelCount,omitempty"`
	RecordDistributionStrategy RecordDistributionStrategy `json:"RecordDistributionStrategy,omitempty"`
}

// ShardFilter selects the shards ListShards returns. ShardId goes with
// AFTER_SHARD_ID, Timestamp with AT_TIMESTAMP and FROM_TIMESTAMP.
type ShardFilter struct {
	Type      ShardFilterType `json:"Type"`
	ShardId   string          `json:"ShardId,omitempty"`
	Timestamp Timestamp       `json:"Timestamp,omitzero"`
}

// StartingPosition is where a SubscribeToShard subscription starts.
// SequenceNumber goes with AT_/AFTER_SEQUENCE_NUMBER, Timestamp with AT_TIMESTAMP.
type StartingPosition struct {
	Type           ShardIteratorType `json:"Type"`
	SequenceNumber string            `json:"SequenceNumber,omitempty"`
	Timestamp      Timestamp         `json:"Timestamp,omitzero"`
}
