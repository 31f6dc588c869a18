package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicedb/sluice/commitlog"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/segment"
)

// commitLogDirName is the commit log's directory under the data directory.
const commitLogDirName = "commitlog"

// openCommitLog replays the commit log's files into the segments they name
// and, unless Options.NoCommitLog, keeps the log for the shards' durable
// batches.
func (e *Engine) openCommitLog() error {
	r := &replayer{e: e, files: map[string]vfs.File{}}
	size := e.opts.CommitLogFileSize
	if size <= 0 {
		size = commitLogFileSize(e.fs, e.opts.Dir)
	}
	cl, st, err := commitlog.Open(commitlog.Options{
		FS:       e.fs,
		Dir:      filepath.Join(e.opts.Dir, commitLogDirName),
		FileSize: size,
		Logger:   e.opts.Logger,
		OnSync:   e.opts.OnSync,
	}, r)
	r.closeAll()
	if err != nil {
		return fmt.Errorf("open the commit log: %w", err)
	}
	e.replayed = st
	if r.skipped > 0 {
		e.opts.Logger.Info("commit log entries for segments that no longer exist were skipped", "entries", r.skipped)
	}
	if e.opts.NoCommitLog {
		return cl.Close()
	}
	e.clog = cl
	return nil
}

// commitLogFileSize is the default size of the commit log's files:
// commitlog.DefaultFileSize, or on a small file system a 32nd of it (at
// least 1 MiB), so that the log, which holds a file or two, does not take
// the space the segments need.
func commitLogFileSize(fsys vfs.FS, dir string) int64 {
	if fsys != vfs.OS {
		return commitlog.DefaultFileSize
	}
	c, err := vfs.Capacity(dir)
	if err != nil || c <= 0 {
		return commitlog.DefaultFileSize
	}
	return min(commitlog.DefaultFileSize, max(1<<20, c/32&^(1<<20-1)))
}

// replayer writes the commit log's entries back into segment files.
type replayer struct {
	e       *Engine
	files   map[string]vfs.File
	skipped int
}

// maxReplayFiles bounds the segment files a replay holds open at once.
const maxReplayFiles = 256

func (r *replayer) Apply(en commitlog.Entry) error {
	path := filepath.Join(r.e.shardDir(en.Target.Stream, int(en.Target.Shard)), segment.FileName(en.Target.Segment))
	f := r.files[path]
	if f == nil {
		if len(r.files) >= maxReplayFiles {
			if err := r.Sync(); err != nil {
				return err
			}
		}
		var err error
		f, err = r.e.fs.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			// The stream was deleted or the segment expired after the
			// entry was written: nothing to put back.
			r.skipped++
			return nil
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		r.files[path] = f
	}
	if en.Offset == 0 && r.supersededKeyHeader(f, en.Data) {
		return nil
	}
	if _, err := f.WriteAt(en.Data, en.Offset); err != nil {
		return fmt.Errorf("write %d B at %d of %s: %w", len(en.Data), en.Offset, path, err)
	}
	return nil
}

// supersededKeyHeader reports whether data, a segment's key header as the
// commit log holds it, is older than the header the file holds now: a
// Rewrap (which syncs what it writes) rewrapped the segment's data key
// after the entry was written, and putting the entry back would undo it.
func (r *replayer) supersededKeyHeader(f vfs.File, data []byte) bool {
	logged, ok := segment.KeyHeaderGeneration(data)
	if !ok {
		return false
	}
	cur := make([]byte, segment.KeyHeaderSize)
	if n, _ := f.ReadAt(cur, 0); n < len(cur) {
		return false
	}
	now, ok := segment.KeyHeaderGeneration(cur)
	return ok && now > logged
}

// Sync makes the applied writes durable and closes the files.
func (r *replayer) Sync() error {
	for path, f := range r.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", path, err)
		}
		_ = f.Close()
		delete(r.files, path)
	}
	return nil
}

func (r *replayer) closeAll() {
	for path, f := range r.files {
		_ = f.Close()
		delete(r.files, path)
	}
}

// commitDurable makes the log's last Write durable: through the node-wide
// commit log, so that one fdatasync covers the batches of every shard
// committing at the moment, or, without one or when it refuses (a failed
// write or a full disk), by an fdatasync of the shard's own segment. A
// batch goes through the log even when no other shard is committing: a
// shard that synced its own segment whenever it found itself alone made
// the next moment's group smaller, and with 8 and 64 busy shards that cost
// far more than it saved one busy shard (docs/performance.md).
func (sh *shard) commitDurable(log *segment.Log, cb *commitlog.Batch) error {
	e := sh.st.e
	if e.clog != nil {
		cb.Reset(log)
		t := commitlog.Target{Stream: sh.st.inc, Shard: uint32(sh.index)}
		for _, x := range log.Written() {
			t.Segment = x.Segment
			cb.Add(t, x.Offset, x.Data)
		}
		err := e.clog.Commit(cb)
		cb.Reset(nil)
		if err == nil {
			return nil
		}
		e.commitFallbacks.Add(1)
	}
	t0 := time.Now()
	err := log.Sync()
	if e.opts.OnSync != nil {
		e.opts.OnSync(time.Since(t0))
	}
	return err
}

// CommitLogStats are the node-wide commit log's counters, for /metrics.
type CommitLogStats struct {
	commitlog.Stats
	// Fallbacks counts durable batches that a shard synced itself because
	// the commit log refused them.
	Fallbacks uint64
	// Enabled is false when the server runs without a commit log.
	Enabled bool
	// Replayed is what the last Open put back into segments from it.
	Replayed commitlog.ReplayStats
}

// CommitLogStats returns the commit log's counters.
func (e *Engine) CommitLogStats() CommitLogStats {
	st := CommitLogStats{Fallbacks: e.commitFallbacks.Load(), Replayed: e.replayed}
	if cl := e.clog; cl != nil {
		st.Stats = cl.Stats()
		st.Enabled = true
	}
	return st
}
