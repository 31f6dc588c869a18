package api

import "time"

// HotKey is a single hash key that carries most of an ON_DEMAND stream's
// shard's writes and keeps that shard over its quota by itself: no split
// can spread one key, so the autoscaler reports it instead of splitting
// again and again. The producer has to spread it (a suffix on the
// partition key, or ExplicitHashKey).
type HotKey struct {
	Stream, Shard string
	HashKey       HashKey
	Share         float64   // fraction of the shard's records that carry the key
	RecordsPerSec float64   // the shard's offered records/s over the window
	BytesPerSec   float64   // the shard's offered bytes/s over the window
	Since         time.Time // since when the shard has been hot
}
