package engine

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/ratelimit"
)

// Options configures an Engine. Zero fields take the documented defaults.
type Options struct {
	// Dir is the data directory. Required.
	Dir string
	// FS is the file system; default vfs.OS. Tests use a crashable vfs.Mem.
	FS vfs.FS
	// Durability is the server-wide acknowledgement mode; default Always.
	Durability api.Durability
	// SyncInterval is how often Interval mode syncs; default 50 ms.
	SyncInterval time.Duration
	// Quotas are the limits given to streams that set none; default
	// ratelimit.Kinesis. ratelimit.Unlimited turns quotas off.
	Quotas *ratelimit.Limits
	// SegmentSize is the size at which a shard's segment is sealed; default
	// 128 MiB. Smaller segments let retention free space in finer steps.
	SegmentSize int64
	// QueueDepth bounds each shard's submission queue (requests, not records);
	// default 1024. A full queue blocks producers (backpressure).
	QueueDepth int
	// MaxBatchBytes bounds the encoded bytes one group commit writes; default
	// 4 MiB. Larger batches amortise an fdatasync over more records but hold
	// early requests longer.
	MaxBatchBytes int
	// RetentionInterval is how often expired segments are removed; default 1 min.
	RetentionInterval time.Duration
	// Now is the clock; default time.Now. Tests inject one to expire data.
	Now func() time.Time
	// Logger receives recovery reports and background errors; default slog.Default().
	Logger *slog.Logger
	// OnSync, if set, is called by shard writers after every fdatasync with
	// its latency (for the server's fsync histogram). It must be cheap.
	OnSync func(time.Duration)

	clockInjected bool
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return fmt.Errorf("engine: Options.Dir is empty; set the data directory")
	}
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.Durability == api.DurabilityDefault {
		o.Durability = api.Always
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 50 * time.Millisecond
	}
	if o.Quotas == nil {
		q := ratelimit.Kinesis
		o.Quotas = &q
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = 128 << 20
	}
	if o.QueueDepth <= 0 {
		o.QueueDepth = 1024
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 4 << 20
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	} else {
		o.clockInjected = true
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}
