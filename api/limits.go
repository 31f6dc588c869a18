package api

// Limits from the Kinesis API model.
const (
	MaxStreamNameLen   = 128
	MaxPartitionKeyLen = 256     // Unicode characters
	DefaultMaxRecord   = 1 << 20 // 1 MiB: key + data of one record, by default
	MaxMaxRecord       = 10 << 20
	MaxPutRecords      = 500      // records in one PutRecords call
	MaxPutBytes        = 10 << 20 // 10 MiB: all keys + data of one PutRecords call
	MinRetentionHours  = 24
	MaxRetentionHours  = 8760
	DefaultRetention   = 24
	MaxShardsPerStream = 10000
	MaxTags            = 50
	MaxConsumers       = 20
)

// Read limits, as Kinesis GetRecords has them.
const (
	MaxReadRecords = 10000
	MaxReadBytes   = 10 << 20
)
