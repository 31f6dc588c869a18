package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sluicedb/sluice/index"
)

// Log is the append-only log of one shard: a directory of segment files.
//
// Write, Sync and Publish are called by one goroutine at a time (the shard's
// writer). Read, Bounds, SeekTime and LastTime may be called from any number
// of goroutines, concurrently with the writer and with Expire; they take no
// lock. Expire, Close and Destroy may be called from another goroutine: they
// serialize with Write and Sync through an internal mutex taken once per call.
type Log struct {
	dir  string
	opts Options

	// segs is the immutable list of retained segments, oldest first, never
	// empty while the log is open (empty after Close). It is replaced, under
	// mu, when a segment is added or removed; readers load it without a lock.
	segs atomic.Pointer[[]*segment]
	// pubNext is one past the newest published sequence number; pubLast the
	// arrival time of that record (0 if none). Stored by Publish after the
	// segments' own watermarks.
	pubNext atomic.Uint64
	pubLast atomic.Int64
	// destroyed is set by Destroy: the last segment torn down removes dir.
	destroyed atomic.Bool

	mu       sync.Mutex // guards the write side: active, next, lastTime, err, closed, and replacing segs
	active   *segment   // the last segment, the one written
	next     uint64     // sequence number of the next frame written
	lastTime int64      // arrival time of the newest frame written (0 if none)
	err      error      // the first write or sync error: sticky
	closed   bool
	idxBuf   []byte // reused to marshal .idx files
	// resume is the active segment of a clean Open whose key header the
	// writer may go on sealing under (see rekey); nil once used or if none.
	resume *segment

	// Handed from Write to Publish; touched only by the writer goroutine.
	pend     []pendingPub // segment watermarks written since the last Publish
	cur      []pendingPub // those of the Write in progress
	pendNext uint64
	pendLast int64
	iov      [][]byte       // the one-element vector of a pwritev, reused
	sealWG   sync.WaitGroup // the shares of a batch handed to seal workers
	// wrote lists the writes of the last Write, for Written.
	wrote     []Extent
	wroteDone bool // wrote is from a Write that succeeded: the next one starts afresh
	// closeErr is what Close returned: Flush of a closed log returns it.
	closeErr error
}

// Extent is one write that Write made to a segment file: data at Offset of
// the segment whose first sequence number is Segment.
type Extent struct {
	Segment uint64
	Offset  int64
	Data    []byte
}

// pendingPub is a segment watermark waiting for Publish.
type pendingPub struct {
	seg  *segment
	pub  uint64 // packPub(end, count)
	last int64  // arrival time of the segment's newest frame
}

// Recovery says what Open found and cut.
type Recovery struct {
	// Clean is true when the log was closed cleanly and opened without a
	// scan.
	Clean bool
	// ScannedBytes are the bytes of frames verified by scanning.
	ScannedBytes int64
	// TruncatedBytes are the bytes of damaged data (torn or corrupt frames,
	// garbage) cut from the end of the log and zeroed.
	TruncatedBytes int64
	// DroppedFrames counts the frames cut: the whole, torn or corrupt frames
	// after the end of the valid data (garbage that is no frame counts as
	// one) plus the frames of removed segments.
	DroppedFrames int
	// RemovedSegments are the file names of segments removed because the log
	// ended before them.
	RemovedSegments []string
	// RebuiltIndexes counts the .idx files of sealed segments that were
	// missing or damaged and rebuilt by scanning.
	RebuiltIndexes int
}

// Open opens the log in dir, creating dir and an empty log starting at
// sequence number 0 if there is none, and recovers it (see Recovery and the
// package documentation): with a valid clean-shutdown marker it does not
// scan; otherwise it scans the active segment and cuts the log at the first
// bad frame. On return the marker is gone, so that a later crash forces a
// scan. Open reads the .idx of every sealed segment but keeps no file open
// and maps nothing: the log starts parked (see Park).
func Open(dir string, opts Options) (*Log, Recovery, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, Recovery{}, err
	}
	l := &Log{dir: filepath.Clean(dir), opts: opts, iov: make([][]byte, 1)}
	rec, err := l.recover()
	if err != nil {
		return nil, rec, fmt.Errorf("segment: open log %s: %w", dir, err)
	}
	if s := l.active; s.f != nil {
		// Leave the log parked: an idle log holds no descriptor. The
		// segment was just created, empty, and its directory synced.
		_ = s.f.Close()
		s.f = nil
	}
	return l, rec, nil
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Begin resets b to hold the log's next records: the next sequence number
// and, for clamping, the arrival time of the newest record written.
func (l *Log) Begin(b *Batch) { b.reset(l.next, l.lastTime) }

// setSegs publishes a new segment list. Callers hold mu.
func (l *Log) setSegs(segs []*segment) { l.segs.Store(&segs) }

// segments is the current segment list (empty after Close).
func (l *Log) segments() []*segment {
	if p := l.segs.Load(); p != nil {
		return *p
	}
	return nil
}

// Close makes the log durable and lets go of it: fdatasync of the active
// segment, its .idx, and the clean-shutdown marker (temp, fsync, rename,
// fsync of the directory), so that the next Open does not scan. After a
// write or sync error it writes no marker and returns that error. It waits
// for no reader: segments are unmapped when their last lease is released.
// Later write-side calls return ErrClosed, and Read returns ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	err := l.err
	if err == nil {
		err = l.checkpoint()
	}
	l.shut()
	l.closeErr = err
	return err
}

// checkpoint writes the active segment's .idx and the clean marker. Callers
// hold mu.
func (l *Log) checkpoint() error {
	s := l.active
	if s.f != nil { // a parked segment was synced when parked
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("segment: sync %s: %w", s.path, err)
		}
	}
	l.idxBuf = s.idx.Marshal(l.idxBuf[:0], s.base, index.Tail{End: uint64(s.end), Count: s.count, LastTime: s.lastTime})
	if err := writeFileAtomic(l.opts.FS, s.idxPath(), l.idxBuf); err != nil {
		return fmt.Errorf("segment: write index of %s: %w", s.path, err)
	}
	cp := checkpoint{base: s.base, end: s.end, count: s.count, lastTime: s.lastTime}
	if err := writeFileAtomic(l.opts.FS, l.join(markerName), cp.marshal()); err != nil {
		return fmt.Errorf("segment: write clean marker: %w", err)
	}
	if err := l.opts.FS.SyncDir(l.dir); err != nil {
		return fmt.Errorf("segment: sync %s: %w", l.dir, err)
	}
	return nil
}

// shut marks the log closed, closes the active file and drops every segment
// (keeping the files). Callers hold mu.
func (l *Log) shut() {
	l.closed = true
	segs := l.segments()
	l.setSegs(nil)
	if l.active != nil && l.active.f != nil {
		_ = l.active.f.Close()
		l.active.f = nil
	}
	for _, s := range segs {
		s.drop("")
	}
}

// Destroy closes the log without a checkpoint and removes every file of it
// and then its directory. Segments still leased by readers stay mapped and
// are unlinked when their last lease is released (the directory goes with
// the last of them).
func (l *Log) Destroy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	fsys := l.opts.FS
	l.destroyed.Store(true)
	var keep []string
	if !l.closed {
		segs := l.segments()
		l.closed = true
		l.setSegs(nil)
		if l.active != nil && l.active.f != nil {
			_ = l.active.f.Close()
			l.active.f = nil
		}
		for _, s := range segs {
			keep = append(keep, filepath.Base(s.path))
			s.drop(s.path)
		}
	}
	names, err := fsys.ReadDir(l.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil // the teardown of the last unleased segment removed the directory
	}
	if err != nil {
		return fmt.Errorf("segment: destroy %s: %w", l.dir, err)
	}
	var errs []error
	for _, name := range names {
		if slices.Contains(keep, name) {
			continue // a segment file: unlinked by its teardown
		}
		if err := removeIfExists(fsys, l.join(name)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := fsys.Remove(l.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		if rest, _ := fsys.ReadDir(l.dir); len(rest) == 0 {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("segment: destroy %s: %w", l.dir, err)
	}
	return nil
}
