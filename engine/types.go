package engine

// ReadKind says which quota a read counts against.
type ReadKind uint8

const (
	// ReadPolling is a GetRecords-style read: it counts against the shard's
	// read-calls and read-bytes quotas.
	ReadPolling ReadKind = iota
	// ReadSubscription is a push subscription's read; its quota is the
	// subscriber's own (see ratelimit.Consumer), not the shard's.
	ReadSubscription
)

// ShardMetrics is a snapshot of a shard's counters since the server started.
type ShardMetrics struct {
	Stream, Shard                  string
	IncomingBytes, IncomingRecords uint64
	OutgoingBytes, OutgoingRecords uint64
	WriteThrottled, ReadThrottled  uint64
	IteratorAgeMillis              int64 // of the most recent read
	Closed                         bool
}
