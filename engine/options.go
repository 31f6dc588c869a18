package engine

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/ratelimit"
)

// Defaults of the server-wide caps (Options.MaxStreams, Options.MaxShards).
const (
	DefaultMaxStreams = 1000
	DefaultMaxShards  = 10000
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

	// MaxStreams caps the streams the server holds; default 1,000.
	// CreateStream beyond it fails with LimitExceededException.
	MaxStreams int
	// MaxShards caps the shards the server holds, open and closed, over all
	// streams; default 10,000. CreateStream, UpdateShardCount and SplitShard
	// beyond it fail with LimitExceededException. An idle shard costs no
	// file, mapping or goroutine, only its catalog entry and a few hundred
	// bytes of memory; a shard in use costs a file descriptor and a mapping
	// per segment, so Open refuses a cap the process limits cannot serve
	// (see checkProcessLimits).
	MaxShards int
	// ShardIdleTimeout is how long a shard goes without puts or reads before
	// its writer goroutine exits and its log is closed (parked) so that it
	// holds no file and no mapping; default 30 s. The next put or read
	// reopens it, which costs a few fsyncs (the log's clean-shutdown marker).
	ShardIdleTimeout time.Duration

	// Keys is the key service that makes and unwraps the data keys of
	// encrypted streams (see SetEncryption); default nil: encryption is
	// unavailable, SetEncryption to KMS fails, and records stored encrypted
	// cannot be read.
	Keys kms.KeyService

	// NoCommitLog turns the node-wide commit log off: each durable batch is
	// then acknowledged after an fdatasync of its own shard's segment, as
	// before the log existed. Files the log left from an earlier run are
	// replayed at Open either way. See package commitlog.
	NoCommitLog bool
	// CommitLogFileSize is the size of each commit log file; default
	// commitlog.DefaultFileSize (64 MiB), less on a file system smaller
	// than 2 GiB (a 32nd of it, at least 1 MiB).
	CommitLogFileSize int64

	// RecoverCatalog rebuilds a missing or damaged catalog from the stream
	// and shard directories instead of refusing to start. See
	// recoverCatalog for what is and is not recovered. A damaged catalog is
	// kept beside the new one as catalog.json.damaged.
	RecoverCatalog bool
	// RemoveOrphans deletes stream directories that the catalog does not
	// name (left by a crash during a create or delete, or by a catalog
	// restored from an older copy). By default they are logged, kept and
	// listed by Engine.Orphans.
	RemoveOrphans bool

	// Replica, when set, makes the engine one replica of a cluster: puts
	// and catalog changes are replicated through it and applied by
	// ApplyEntry and ApplyChange (see replica.go). The commit log is off:
	// the Raft log under the Replica is the node's write-ahead log.
	Replica Replica

	// Autoscale configures how ON_DEMAND streams split and merge their
	// shards by themselves (see AutoscaleOptions).
	Autoscale AutoscaleOptions

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
	if o.Replica != nil {
		// A replica's Raft log is its write-ahead log. Its autoscaler
		// acts only while the node coordinates the cluster (Coordinator).
		o.NoCommitLog = true
	}
	if o.Now == nil {
		o.Now = time.Now
	} else {
		o.clockInjected = true
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.MaxShards <= 0 {
		o.MaxShards = DefaultMaxShards
	}
	if o.ShardIdleTimeout <= 0 {
		o.ShardIdleTimeout = 30 * time.Second
	}
	return o.Autoscale.setDefaults()
}
