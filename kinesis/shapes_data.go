package kinesis

// Data-plane operations: writes, iterators, reads and enhanced fan-out.

// PutRecordInput is the request of PutRecord.
type PutRecordInput struct {
	StreamName                string `json:"StreamName,omitempty"`
	StreamARN                 string `json:"StreamARN,omitempty"`
	StreamId                  string `json:"StreamId,omitempty"`
	Data                      []byte `json:"Data"`
	PartitionKey              string `json:"PartitionKey,omitempty"`
	ExplicitHashKey           string `json:"ExplicitHashKey,omitempty"`
	SequenceNumberForOrdering string `json:"SequenceNumberForOrdering,omitempty"`
	DryRun                    bool   `json:"DryRun,omitempty"`
}

// PutRecordOutput is the response of PutRecord.
type PutRecordOutput struct {
	ShardId        string         `json:"ShardId"`
	SequenceNumber string         `json:"SequenceNumber"`
	EncryptionType EncryptionType `json:"EncryptionType,omitempty"`
}

// PutRecordsInput is the request of PutRecords.
//
// A Decoder decodes it without allocating per record: Data slices point into
// the request body or into the Decoder's buffer, and all strings share one
// allocation. They stay valid until the Decoder decodes again and the body
// buffer is reused; copy what must outlive the request.
type PutRecordsInput struct {
	Records    []PutRecordsRequestEntry `json:"Records"`
	StreamName string                   `json:"StreamName,omitempty"`
	StreamARN  string                   `json:"StreamARN,omitempty"`
	StreamId   string                   `json:"StreamId,omitempty"`
	DryRun     bool                     `json:"DryRun,omitempty"`
}

// PutRecordsRequestEntry is one record of a PutRecords request. A nil Data
// means the member was absent or null; an empty non-nil Data is a valid
// zero-length record.
type PutRecordsRequestEntry struct {
	Data            []byte `json:"Data"`
	PartitionKey    string `json:"PartitionKey,omitempty"`
	ExplicitHashKey string `json:"ExplicitHashKey,omitempty"`
}

// PutRecordsOutput is the response of PutRecords. Records are in the order
// of the request; FailedRecordCount counts the entries with an ErrorCode
// (AppendResponse writes that count, whatever the field holds). For the
// allocation-free path, build the response with a PutRecordsWriter instead.
type PutRecordsOutput struct {
	FailedRecordCount int32                   `json:"FailedRecordCount"`
	Records           []PutRecordsResultEntry `json:"Records"`
	EncryptionType    EncryptionType          `json:"EncryptionType,omitempty"`
}

// Error codes of a failed PutRecords entry (PutRecordsResultEntry.ErrorCode).
// Note the per-entry internal failure is "InternalFailure", not the
// InternalFailureException of a failed call.
const (
	EntryErrorThroughputExceeded = "ProvisionedThroughputExceededException"
	EntryErrorInternalFailure    = "InternalFailure"
)

// PutRecordsResultEntry is the result of one PutRecords entry: either
// SequenceNumber and ShardId, or ErrorCode (ProvisionedThroughputExceededException
// or InternalFailure) and ErrorMessage.
type PutRecordsResultEntry struct {
	SequenceNumber string `json:"SequenceNumber,omitempty"`
	ShardId        string `json:"ShardId,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

// GetShardIteratorInput is the request of GetShardIterator.
type GetShardIteratorInput struct {
	StreamName             string            `json:"StreamName,omitempty"`
	StreamARN              string            `json:"StreamARN,omitempty"`
	StreamId               string            `json:"StreamId,omitempty"`
	ShardId                string            `json:"ShardId"`
	ShardIteratorType      ShardIteratorType `json:"ShardIteratorType"`
	StartingSequenceNumber string            `json:"StartingSequenceNumber,omitempty"`
	Timestamp              Timestamp         `json:"Timestamp,omitzero"`
	DryRun                 bool              `json:"DryRun,omitempty"`
}

// GetShardIteratorOutput is the response of GetShardIterator.
type GetShardIteratorOutput struct {
	ShardIterator string `json:"ShardIterator"`
}

// GetRecordsInput is the request of GetRecords.
type GetRecordsInput struct {
	ShardIterator string `json:"ShardIterator"`
	Limit         *int32 `json:"Limit,omitempty"`
	StreamARN     string `json:"StreamARN,omitempty"`
	StreamId      string `json:"StreamId,omitempty"`
	DryRun        bool   `json:"DryRun,omitempty"`
}

// GetRecordsOutput is the response of GetRecords. NextShardIterator is empty
// (and then omitted, as AWS omits it) only once a closed shard is drained, and
// then ChildShards lists its children. For the allocation-free path, build the
// response with a RecordsWriter instead.
type GetRecordsOutput struct {
	Records            []Record     `json:"Records"`
	NextShardIterator  string       `json:"NextShardIterator,omitempty"`
	MillisBehindLatest int64        `json:"MillisBehindLatest"`
	ChildShards        []ChildShard `json:"ChildShards,omitempty"`
}

// SubscribeToShardInput is the request of SubscribeToShard.
type SubscribeToShardInput struct {
	ConsumerARN      string           `json:"ConsumerARN"`
	StreamId         string           `json:"StreamId,omitempty"`
	ShardId          string           `json:"ShardId"`
	StartingPosition StartingPosition `json:"StartingPosition,omitzero"`
	DryRun           bool             `json:"DryRun,omitempty"`
}

// SubscribeToShardEvent is the payload of one SubscribeToShardEvent message
// of a subscription's event stream. ContinuationSequenceNumber is where a
// new subscription resumes, sent even when Records is empty; it is empty (and
// omitted) only once a closed shard is drained, and then ChildShards lists its
// children.
type SubscribeToShardEvent struct {
	Records                    []Record     `json:"Records"`
	ContinuationSequenceNumber string       `json:"ContinuationSequenceNumber,omitempty"`
	MillisBehindLatest         int64        `json:"MillisBehindLatest"`
	ChildShards                []ChildShard `json:"ChildShards,omitempty"`
}
