package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/commitlog"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/ratelimit"
)

// Engine is a set of Kinesis-style streams stored under one data directory.
// All methods are safe for concurrent use.
type Engine struct {
	opts Options
	fs   vfs.FS

	// mu guards cat, streams and every stream's meta and shard list. Control
	// operations take it exclusively; the put and read paths never take it:
	// they find streams through the snapshot below.
	mu      sync.RWMutex
	cat     *catalog
	streams map[string]*stream
	closed  bool
	// shut mirrors closed for the lock-free put path.
	shut atomic.Bool

	// snap is an immutable copy of streams, replaced under mu on every create
	// and delete, read without locking by puts and reads.
	snap atomic.Pointer[map[string]*stream]

	// quotaClock drives every shard's quota: the monotonic clock, or
	// Options.Now when a test injects one.
	quotaClock ratelimit.Clock
	coarse     *ratelimit.CoarseClock // nil when a test injects the clock

	// openLogs counts the shard logs open; logBudget is how many may be
	// (see planLogBudget); roomMu lets one caller of makeRoom park at a time.
	openLogs  atomic.Int64
	logBudget int
	roomMu    sync.Mutex
	// writers counts the shard writer goroutines running.
	writers atomic.Int64
	// recovered totals what the recovery scans at Open found, for one log
	// line.
	recovered struct {
		shards             atomic.Int64
		scanned, truncated atomic.Int64
	}
	// dataKeys holds the unwrapped data keys of encrypted segments read.
	dataKeys dataKeyCache
	// orphans are the stream directories the catalog does not name, kept.
	orphans []string
	// hooks are set by tests before any shard is used.
	hooks struct {
		writerExit func() // a writer goroutine is exiting
		idleExit   func() // a writer is about to exit for idleness
		parked     func() // a shard's log was parked
	}

	lock io.Closer // the data directory's lock, nil until taken
	// flusher flushes the syncing shards' files together (segment.Options
	// Flusher): the node-wide commit path.
	flusher *vfs.Flusher
	// clog is the node-wide commit log that makes durable batches of every
	// shard durable together; nil with Options.NoCommitLog.
	clog *commitlog.Log
	// replayed is what opening the commit log put back into segments.
	replayed commitlog.ReplayStats
	// commitFallbacks counts durable batches synced by their shard because
	// the commit log refused them.
	commitFallbacks atomic.Uint64
	stop            chan struct{} // closed by Close to stop background tasks
	bg              sync.WaitGroup
	reshards        sync.Mutex // serialises resharding operations across streams
	// groups holds the streams' consumer groups (groups.go).
	groups groupRegistry
	// scaler is the state of the ON_DEMAND autoscaler (autoscale.go).
	scaler autoscaler
}

// Open opens (creating if needed) the data directory and every stream in it,
// recovering each shard's log. Recovery reports are logged.
func Open(opts Options) (*Engine, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	e := &Engine{opts: opts, fs: opts.FS, streams: map[string]*stream{}, stop: make(chan struct{}), flusher: vfs.NewFlusher()}
	if opts.clockInjected {
		now := opts.Now
		e.quotaClock = ratelimit.ClockFunc(func() int64 { return now().UnixNano() })
	} else {
		// A cached monotonic reading refreshed every millisecond: a quota
		// check then costs an atomic load instead of a clock read per
		// record. The quotas' bursts are a second, far above the lag.
		c := ratelimit.NewCoarseClock(time.Millisecond)
		e.coarse = c
		e.quotaClock = c
	}
	if err := e.planLogBudget(); err != nil {
		e.release()
		return nil, err
	}
	if err := e.fs.MkdirAll(filepath.Join(opts.Dir, streamsDirName), 0o755); err != nil {
		e.release()
		return nil, fmt.Errorf("create data directory %s: %w", opts.Dir, err)
	}
	// Make the directories durable in their parents, in case they were
	// just created.
	for _, d := range []string{filepath.Dir(filepath.Clean(opts.Dir)), opts.Dir} {
		if err := e.fs.SyncDir(d); err != nil {
			e.release()
			return nil, fmt.Errorf("sync data directory %s: %w", d, err)
		}
	}
	l, err := e.fs.Lock(opts.Dir)
	if err != nil {
		e.release()
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	e.lock = l
	// Before anything reads a segment: put back what the commit log holds
	// of the last run's acknowledged writes.
	if err := e.openCommitLog(); err != nil {
		e.release()
		return nil, err
	}
	cat, err := e.openCatalog()
	if err != nil {
		e.release()
		return nil, err
	}
	e.cat = cat
	if n := e.shardCountLocked(); n > opts.MaxShards {
		e.opts.Logger.Warn("the catalog holds more shards than the server-wide cap; they are served, but no shard can be added",
			"shards", n, "max_shards", opts.MaxShards)
	}
	// Streams open with every shard dormant: a shard's log is opened (and
	// recovered, after an unclean shutdown) when it is first used.
	for _, m := range cat.Streams {
		st, err := e.openStream(m, false)
		if err != nil {
			e.closeStreams()
			e.release()
			return nil, err
		}
		e.streams[m.Name] = st
		if opts.Keys == nil && (m.Encrypted || m.EncryptionType == "KMS") {
			e.opts.Logger.Warn("the stream holds encrypted records and the server runs without a key service: they cannot be read, nor new ones written; start it with its keyring (--kms-keys)",
				"stream", m.Name)
		}
		if err := e.ensureIdent(m); err != nil {
			e.opts.Logger.Warn("could not write the stream's identity file (used by catalog recovery)", "stream", m.Name, "err", err)
		}
	}
	if clean := e.loadBounds(); !clean && len(e.streams) > 0 {
		e.recoverShards()
	}
	if err := e.checkOrphans(); err != nil {
		e.opts.Logger.Warn("could not check for stream directories the catalog does not name", "err", err)
	}
	if err := e.openGroups(); err != nil {
		e.groups.closeAll()
		e.closeStreams()
		e.release()
		return nil, err
	}
	e.publishSnap()
	e.bg.Add(2)
	go e.retentionLoop()
	go e.janitorLoop()
	if !opts.Autoscale.Off {
		e.bg.Add(1)
		go e.autoscaleLoop()
	}
	if opts.Replica != nil {
		e.bg.Add(1)
		go e.coordinateLoop()
	}
	return e, nil
}

// Close stops background work, drains every shard's queue, syncs and closes
// every log with a clean-shutdown marker. Calls after Close fail with ErrClosed.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.closed = true
	e.shut.Store(true)
	e.mu.Unlock()
	close(e.stop)
	e.bg.Wait()
	e.groups.closeAll()
	err := e.closeStreams()
	if e.clog != nil {
		// Every shard closed (and synced) first: the log's files all go.
		if cerr := e.clog.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	e.storeBounds()
	e.release()
	return err
}

// release frees what Open acquired before it failed.
func (e *Engine) release() {
	if e.clog != nil {
		_ = e.clog.Close()
	}
	e.flusher.Close()
	if e.lock != nil {
		e.lock.Close()
	}
	if e.coarse != nil {
		e.coarse.Close()
	}
}

func (e *Engine) closeStreams() error {
	var errs []error
	for _, st := range e.streams {
		if err := st.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) publishSnap() {
	m := make(map[string]*stream, len(e.streams))
	for k, v := range e.streams {
		m[k] = v
	}
	e.snap.Store(&m)
}

// lookup finds an active stream without locking.
func (e *Engine) lookup(name string) (*stream, error) {
	st := (*e.snap.Load())[name]
	if st == nil || st.deleted.Load() {
		if err := checkStreamName(name); err != nil {
			return nil, err
		}
		return nil, api.StreamNotFound(name)
	}
	return st, nil
}

func (e *Engine) streamDir(inc uint32) string {
	return filepath.Join(e.opts.Dir, streamsDirName, fmt.Sprintf("%010d", inc))
}

// persist writes the catalog with st's meta replaced by next (or removed if
// next is nil, or added if st is nil). Called with e.mu held exclusively; the
// in-memory state changes only after the write succeeded.
func (e *Engine) persist(name string, next *streamMeta) error {
	c := &catalog{Version: catalogVersion, LastIncarnation: e.cat.LastIncarnation, Applied: e.cat.Applied}
	found := false
	for _, m := range e.cat.Streams {
		if m.Name == name {
			found = true
			if next != nil {
				c.Streams = append(c.Streams, next)
			}
			continue
		}
		c.Streams = append(c.Streams, m)
	}
	if !found && next != nil {
		c.Streams = append(c.Streams, next)
		sort.Slice(c.Streams, func(i, j int) bool { return c.Streams[i].Name < c.Streams[j].Name })
	}
	if next != nil && next.Incarnation > c.LastIncarnation {
		c.LastIncarnation = next.Incarnation
	}
	if err := storeCatalog(e.fs, e.opts.Dir, c); err != nil {
		return &api.Error{Code: api.CodeInternal, Detail: "persist catalog", Err: err}
	}
	e.cat = c
	return nil
}

func (e *Engine) now() time.Time { return e.opts.Now() }

// createStream creates a stream with its shards. The stream is ACTIVE when
// createStream returns.
func (e *Engine) createStream(in api.CreateStreamInput, now time.Time) (*api.StreamInfo, error) {
	if err := checkStreamName(in.Name); err != nil {
		return nil, err
	}
	switch in.Mode {
	case "":
		in.Mode = api.Provisioned
	case api.Provisioned, api.OnDemand:
	default:
		return nil, errorf(api.CodeInvalidArgument, "stream mode %q is not PROVISIONED or ON_DEMAND", clip(string(in.Mode)))
	}
	if in.Mode == api.OnDemand {
		in.ShardCount = api.OnDemandShards
	}
	if in.ShardCount < 1 || in.ShardCount > api.MaxShardsPerStream {
		return nil, errorf(api.CodeInvalidArgument, "shard count is %d; it must be between 1 and %d", in.ShardCount, api.MaxShardsPerStream)
	}
	if in.MaxRecordSize == 0 {
		in.MaxRecordSize = api.DefaultMaxRecord
	}
	if in.MaxRecordSize < 1<<10 || in.MaxRecordSize > api.MaxMaxRecord {
		return nil, errorf(api.CodeValidation, "maximum record size is %d bytes; it must be between 1 KiB and 10 MiB", in.MaxRecordSize)
	}
	if in.RetentionHours == 0 {
		in.RetentionHours = api.DefaultRetention
	}
	if in.RetentionHours < api.MinRetentionHours || in.RetentionHours > api.MaxRetentionHours {
		return nil, errorf(api.CodeInvalidArgument, "retention period is %d hours; it must be between %d and %d", in.RetentionHours, api.MinRetentionHours, api.MaxRetentionHours)
	}
	if err := checkTags(in.Tags, 0); err != nil {
		return nil, err
	}
	if in.Quotas != nil {
		if err := in.Quotas.Validate(); err != nil {
			return nil, &api.Error{Code: api.CodeInvalidArgument, Detail: "quotas", Err: err}
		}
	}
	if in.Durability > api.None {
		return nil, errorf(api.CodeInvalidArgument, "unknown durability mode %d", in.Durability)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if _, ok := e.streams[in.Name]; ok {
		return nil, &api.Error{Code: api.CodeResourceInUse, Reason: api.ReasonStreamExists, Stream: in.Name}
	}
	if err := e.checkShardCap(1, in.ShardCount); err != nil {
		return nil, err
	}
	inc := uint32(now.Unix())
	if inc <= e.cat.LastIncarnation {
		inc = e.cat.LastIncarnation + 1
	}
	// Never reuse the directory of an earlier stream, even one the catalog
	// does not name.
	for {
		if _, err := e.fs.Stat(e.streamDir(inc)); err != nil {
			break
		}
		if e.opts.Replica != nil {
			// Every replica must give the stream the same incarnation:
			// a directory no catalog names is an orphan, and goes.
			if err := e.fs.RemoveAll(e.streamDir(inc)); err != nil {
				return nil, &api.Error{Code: api.CodeInternal, Detail: "remove an orphan stream directory", Err: err}
			}
			break
		}
		inc++
	}
	m := &streamMeta{
		Name: in.Name, Incarnation: inc, Status: api.StatusActive, Mode: in.Mode,
		Created: now.UnixNano(), RetentionHours: in.RetentionHours, MaxRecordSize: in.MaxRecordSize,
		Durability: in.Durability, Tags: cloneMap(in.Tags), EncryptionType: "NONE",
	}
	if in.Quotas != nil {
		q := *in.Quotas
		m.Quotas = &q
	}
	for i, r := range api.EvenRanges(in.ShardCount) {
		m.Shards = append(m.Shards, &shardMeta{Index: i, Parent: -1, AdjacentParent: -1, Start: r[0], End: r[1], Created: now.UnixNano()})
	}
	m.NextShard = in.ShardCount
	// Create the directories before the catalog names the stream, so that a
	// stream in the catalog always has its directories; a crash in between
	// leaves an orphan directory that the next Open reports.
	if err := e.createStreamDirs(m); err != nil {
		e.fs.RemoveAll(e.streamDir(inc))
		return nil, &api.Error{Code: api.CodeInternal, Detail: "create the directories of stream " + m.Name, Err: err}
	}
	st, err := e.openStream(m, true)
	if err != nil {
		e.fs.RemoveAll(e.streamDir(inc))
		return nil, err
	}
	if err := e.persist(m.Name, m); err != nil {
		st.destroy()
		return nil, err
	}
	e.streams[m.Name] = st
	e.publishSnap()
	return st.info(), nil
}

// deleteStream removes a stream and all its data. Readers holding views keep
// them valid until they release them. With consumers registered it fails
// unless enforceConsumerDeletion is set.
func (e *Engine) deleteStream(name string, enforceConsumerDeletion bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.openStreamLocked(name)
	if err != nil {
		return err
	}
	if len(st.meta.Consumers) > 0 && !enforceConsumerDeletion {
		return errorf(api.CodeResourceInUse, "stream %s has %d registered consumers; deregister them or set EnforceConsumerDeletion", name, len(st.meta.Consumers))
	}
	if err := e.persist(name, nil); err != nil {
		return err
	}
	st.deleted.Store(true)
	delete(e.streams, name)
	e.publishSnap()
	st.destroy()
	e.groups.drop(name)
	return nil
}

// openStreamLocked is lookupLocked for a call that changes the stream: it
// fails with ErrClosed once the engine is closed. e.mu must be held.
func (e *Engine) openStreamLocked(name string) (*stream, error) {
	if e.closed {
		return nil, ErrClosed
	}
	return e.lookupLocked(name)
}

func (e *Engine) lookupLocked(name string) (*stream, error) {
	st := e.streams[name]
	if st == nil {
		if err := checkStreamName(name); err != nil {
			return nil, err
		}
		return nil, api.StreamNotFound(name)
	}
	return st, nil
}

// DescribeStream returns a snapshot of a stream, including all its shards
// (open and closed, until retention removes closed ones).
func (e *Engine) DescribeStream(name string) (*api.StreamInfo, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st, err := e.lookupLocked(name)
	if err != nil {
		return nil, err
	}
	return st.info(), nil
}

// ListStreams returns the names of all streams, sorted.
func (e *Engine) ListStreams() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	names := make([]string, 0, len(e.streams))
	for n := range e.streams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Notify returns a channel that is closed when the stream has new data
// published on any shard after the call, or a shard closes, or the stream is
// deleted. Check for data after taking the channel, then wait on it.
func (e *Engine) Notify(pos api.Position) (<-chan struct{}, error) {
	st, sh, err := e.shardAt(pos)
	if err != nil {
		return nil, err
	}
	_ = st
	return sh.changed(), nil
}

// Wait blocks until the shard at pos has a record at or after pos.Seq, the
// shard is closed, the stream is deleted, or ctx is done.
func (e *Engine) Wait(ctx context.Context, pos api.Position) error {
	for {
		st, sh, err := e.shardAt(pos)
		if err != nil {
			return err
		}
		ch := sh.changed()
		_, next, err := sh.bounds()
		if err != nil {
			return err
		}
		if next > pos.Seq || sh.isClosed() || st.deleted.Load() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
