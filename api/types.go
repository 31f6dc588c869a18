package api

import (
	"time"

	"github.com/sluicedb/sluice/ratelimit"
)

// StreamStatus is a stream's lifecycle state, as Kinesis names them.
type StreamStatus string

// Stream states.
const (
	StatusCreating StreamStatus = "CREATING"
	StatusActive   StreamStatus = "ACTIVE"
	StatusUpdating StreamStatus = "UPDATING"
	StatusDeleting StreamStatus = "DELETING"
)

// StreamMode is PROVISIONED (a fixed shard count) or ON_DEMAND.
type StreamMode string

// Stream modes.
const (
	Provisioned StreamMode = "PROVISIONED"
	OnDemand    StreamMode = "ON_DEMAND"
)

// OnDemandShards is the shard count an on-demand stream starts with (4 MiB/s in).
const OnDemandShards = 4

// CreateStreamInput describes a new stream.
type CreateStreamInput struct {
	Name string
	// ShardCount is required for Provisioned streams (1..10000) and ignored
	// for OnDemand ones.
	ShardCount int
	Mode       StreamMode // default Provisioned
	Tags       map[string]string
	// MaxRecordSize is the limit on key+data of one record in bytes; default
	// 1 MiB, at most 10 MiB.
	MaxRecordSize int
	// RetentionHours defaults to 24.
	RetentionHours int
	// Durability overrides the server's mode for this stream.
	Durability Durability
	// Quotas override the server's default limits for this stream.
	Quotas *ratelimit.Limits
}

// StreamInfo is a snapshot of a stream's description.
type StreamInfo struct {
	Name           string
	Incarnation    uint32
	Status         StreamStatus
	Mode           StreamMode
	Created        time.Time
	RetentionHours int
	MaxRecordSize  int
	Durability     Durability // the stream's override; DurabilityDefault if none
	Quotas         ratelimit.Limits
	Tags           map[string]string
	EncryptionType string // "NONE" or "KMS"
	KeyID          string
	Monitoring     []string // enhanced shard-level metrics enabled
	Shards         []ShardInfo
	Consumers      []ConsumerInfo
	Policy         string // resource policy JSON, "" if none
}

// OpenShardCount is the number of shards that accept writes.
func (s *StreamInfo) OpenShardCount() int {
	n := 0
	for i := range s.Shards {
		if !s.Shards[i].Closed {
			n++
		}
	}
	return n
}

// ShardInfo describes one shard.
type ShardInfo struct {
	Index int
	ID    string // shardId-000000000000
	// Parent and AdjacentParent are shard ids, "" if none.
	Parent, AdjacentParent string
	HashStart, HashEnd     HashKey
	StartingSeq            SeqNum
	// EndingSeq is set once the shard is closed by a split or merge.
	EndingSeq SeqNum
	Closed    bool
	Created   time.Time
	// FirstSeq and NextSeq are the retained internal range: records
	// [FirstSeq, NextSeq) are readable.
	FirstSeq, NextSeq uint64
}

// ConsumerInfo describes a registered enhanced fan-out consumer.
type ConsumerInfo struct {
	Name    string
	Created time.Time
	Status  string // CREATING, ACTIVE, DELETING
	Tags    map[string]string
}

// PutRecord is one record to put. Key and Data are only read during the call.
type PutRecord struct {
	// Key is the partition key, 1..256 Unicode characters.
	Key  []byte
	Data []byte
	// ExplicitHash, when HasExplicitHash, routes the record instead of MD5(Key).
	ExplicitHash    HashKey
	HasExplicitHash bool
}

// PutResult is the outcome of one record of a put, in request order.
type PutResult struct {
	ShardID string
	Seq     SeqNum
	// Err is nil on success, or an *Error: CodeThroughputExceeded when the
	// shard is over quota, CodeInternal on a storage failure, or a validation
	// code. The record was not stored when Err is set.
	Err error
}

// IteratorType is where a shard iterator starts.
type IteratorType string

// Iterator types, as Kinesis names them.
const (
	AtSequenceNumber    IteratorType = "AT_SEQUENCE_NUMBER"
	AfterSequenceNumber IteratorType = "AFTER_SEQUENCE_NUMBER"
	TrimHorizon         IteratorType = "TRIM_HORIZON"
	Latest              IteratorType = "LATEST"
	AtTimestamp         IteratorType = "AT_TIMESTAMP"
)

// IteratorSpec says where to start reading a shard.
type IteratorSpec struct {
	Type IteratorType
	// Seq is required for AtSequenceNumber and AfterSequenceNumber.
	Seq string
	// Timestamp is required for AtTimestamp.
	Timestamp time.Time
}

// Position is where the next read of a shard starts. It is plain data: front
// doors serialise it into their iterator tokens.
type Position struct {
	Stream      string
	Incarnation uint32
	Shard       int
	Seq         uint64 // the internal sequence number of the next record
}
