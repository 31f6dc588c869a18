package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluicedb/sluice/index"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// File name parts. Part of the on-disk format.
const (
	segExt     = ".seg"
	idxExt     = ".idx"
	deletedExt = ".deleted"
	tmpExt     = ".tmp"
	nameDigits = 20 // %020d: every uint64 fits, and names sort numerically
)

// segName is the file name of the segment whose first sequence number is base.
// FileName is the name of the segment file whose first sequence number is
// base, within its log's directory.
func FileName(base uint64) string { return segName(base) }

func segName(base uint64) string { return fmt.Sprintf("%0*d%s", nameDigits, base, segExt) }

// parseSegName returns the base of a segment file name, false for any other
// name.
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segExt)
	if !ok || len(digits) != nameDigits {
		return 0, false
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	return base, err == nil
}

// Bits of segment.refs above the count of references.
const (
	// deadBit marks a segment the log has let go of: no new lease can be
	// taken, and the last release tears the segment down.
	deadBit = 1 << 62
	// evictBit marks a segment whose mapping the cache is dropping: a lease
	// waits until it is done (Cache.wait).
	evictBit = 1 << 61
)

// segment is one segment file of a Log: its mapping (while mapped), its
// sparse index, the published watermark readers stay below, and the
// writer's state while it is active.
type segment struct {
	log  *Log
	base uint64 // sequence number of the first frame; immutable
	path string // dir/%020d.seg; immutable (retention renames the file to path.deleted)
	idx  *index.Index

	// m is the segment's mapping, nil while unmapped. It is set by the
	// first reader (holding a lease, under mapMu) and cleared by the cache
	// when no lease is held, so a lease holder that loaded it may use it
	// until it releases the lease.
	m     atomic.Pointer[mapped]
	mapMu sync.Mutex // serializes mapping the segment
	// slot is the segment's index in its cache's ring, -1 if not in it;
	// guarded by Cache.mu.
	slot int
	// used is set by reads and cleared by the cache's CLOCK hand.
	used atomic.Bool
	// sealed is set once the segment is final (synced, .idx written): it is
	// then mapped at its file's size rather than at the segment size.
	sealed atomic.Bool
	// damaged is set after a read faulted on the mapping: later reads check
	// the file's size before touching it.
	damaged atomic.Bool

	// pub is what readers may see: the end offset of the published frames
	// in the high 32 bits and their count in the low 32, stored by Publish.
	pub atomic.Uint64
	// pubLast is the arrival time of the newest published frame (for an
	// empty segment, that of the previous segment's newest).
	pubLast atomic.Int64

	// refs counts one reference held by the log while the segment is part
	// of it plus one per reader lease; deadBit is added when the log drops
	// its reference, evictBit while the cache unmaps it. The segment is
	// unmapped (and, if removePath is set, unlinked) when refs becomes
	// exactly deadBit.
	refs atomic.Int64
	// populated is how far readers have had the mapping's page tables
	// populated (a hint for sequential readers); reset by each mapping.
	populated atomic.Int64

	// removePath is the file name to unlink at teardown (the .deleted name
	// after retention), or "" to keep the file; set before deadBit.
	removePath string

	// start is the offset of the first frame: KeyHeaderSize if the segment
	// has a key header, else 0. Set before the first frame is published.
	start atomic.Int64
	// hdr is the current slot of the key header, nil without one. Replaced
	// (under Log.mu) by Rewrap; readers load it without a lock.
	hdr atomic.Pointer[keyHeader]

	// Writer state, guarded by Log.mu.
	dk       DataKey  // the data key sealing frames into the segment, nil if none yet in this process
	f        vfs.File // open for writing while active and not parked; nil once sealed
	end      int64    // bytes of frames written
	count    uint32   // frames written
	lastTime int64    // arrival time of the newest frame written
	alloc    int64    // file size: bytes allocated
}

// mapped is a live mapping of a segment.
type mapped struct {
	mapping vfs.Mapping
	data    []byte // mapping.Bytes()
}

func newSegment(l *Log, base uint64, path string) *segment {
	return &segment{log: l, base: base, path: path, slot: -1}
}

func packPub(end int64, count uint32) uint64 { return uint64(end)<<32 | uint64(count) }

func unpackPub(p uint64) (end int, count uint32) { return int(p >> 32), uint32(p) }

// idxPath is the path of the segment's .idx file.
func (s *segment) idxPath() string { return strings.TrimSuffix(s.path, segExt) + idxExt }

// publishAll makes the writer state visible to readers; used when a segment
// is opened (no writer is running yet).
func (s *segment) publishAll() {
	s.pubLast.Store(s.lastTime)
	s.pub.Store(packPub(s.end, s.count))
}

// mapping returns the segment's mapping, mapping it first if it is not. The
// caller holds a lease, and may use the result until it releases it.
func (s *segment) mapping() (*mapped, error) {
	if m := s.m.Load(); m != nil {
		if !s.used.Load() {
			s.used.Store(true)
		}
		return m, nil
	}
	return s.mapSlow()
}

// mapSlow opens the segment file read-only, maps it (at its size if sealed,
// at the segment size if it is the active one) and closes the file: a
// mapping needs no descriptor. A file that shrank below the published
// frames is not mapped: that is a corruption of the segment.
func (s *segment) mapSlow() (*mapped, error) {
	s.mapMu.Lock()
	defer s.mapMu.Unlock()
	if m := s.m.Load(); m != nil {
		return m, nil
	}
	fsys := s.log.opts.FS
	f, err := fsys.OpenFile(s.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = fsys.OpenFile(s.path+deletedExt, os.O_RDONLY, 0) // removed by retention meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("segment: map %s: %w", s.path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("segment: map %s: %w", s.path, err)
	}
	end, _ := unpackPub(s.pub.Load())
	if size < int64(end) {
		return nil, s.shrunk(size, end)
	}
	length := size
	if !s.sealed.Load() {
		length = max(size, s.log.opts.SegmentSize)
	}
	mp, err := f.Map(int(length))
	if err != nil {
		return nil, fmt.Errorf("segment: map %s: %w", s.path, err)
	}
	m := &mapped{mapping: mp, data: mp.Bytes()}
	s.populated.Store(0)
	s.used.Store(true)
	s.m.Store(m)
	s.log.opts.Cache.add(s)
	return m, nil
}

// shrunk is the error of a segment file found shorter than its frames.
func (s *segment) shrunk(size int64, end int) error {
	s.damaged.Store(true)
	err := &record.CorruptionError{Path: s.path, Offset: size,
		Err: fmt.Errorf("the file is %d B, shorter than its %d B of frames: it was truncated outside the server", size, end)}
	s.log.fence(err)
	return err
}

// checkSize is the cheap check made before touching the mapping of a
// segment that faulted once: the file must still hold the first end bytes.
func (s *segment) checkSize(end int) error {
	fi, err := s.log.opts.FS.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		fi, err = s.log.opts.FS.Stat(s.path + deletedExt)
	}
	if err != nil {
		return fmt.Errorf("segment: stat %s: %w", s.path, err)
	}
	if fi.Size() < int64(end) {
		return s.shrunk(fi.Size(), end)
	}
	return nil
}

// prefault populates the page tables of the mapping for bytes [lo, hi) in
// one system call rather than a page fault per page, where the file system
// can (vfs.Mapping.Populate).
func (s *segment) prefault(m *mapped, lo, hi int) { m.mapping.Populate(lo, hi) }

// acquire takes a lease, false if the log has dropped the segment. While
// the cache is unmapping the segment it waits for the cache.
func (s *segment) acquire() bool {
	for {
		r := s.refs.Load()
		if r&deadBit != 0 || r == 0 {
			return false
		}
		if r&evictBit != 0 {
			s.log.opts.Cache.wait()
			continue
		}
		if s.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops a lease taken by acquire. The last lease of a segment the
// log let go of tears it down; a release that leaves a segment unleased
// while the cache is over its bound trims the cache.
func (s *segment) release() {
	switch r := s.refs.Add(-1); {
	case r == deadBit:
		s.teardown()
	case r == 1:
		if c := s.log.opts.Cache; c.over.Load() {
			c.trim()
		}
	}
}

// drop lets go of the log's reference; the segment is torn down now or when
// its last lease is released, and the file at path (if not "") is unlinked
// then.
func (s *segment) drop(path string) {
	s.log.opts.Cache.remove(s) // waits for an eviction in progress; none starts later
	s.removePath = path
	if s.refs.Add(deadBit-1) == deadBit {
		s.teardown()
	}
}

// teardown unmaps the segment and unlinks its file if it was removed. It
// runs exactly once, in whichever goroutine released the last reference.
// Its errors have nowhere to go: a file left behind is a *.deleted file that
// the next Open removes.
func (s *segment) teardown() {
	s.log.opts.Cache.remove(s) // mapped by a reader after drop: not added, but be sure
	if m := s.m.Swap(nil); m != nil {
		_ = m.mapping.Unmap()
	}
	if s.removePath == "" {
		return
	}
	fsys := s.log.opts.FS
	_ = fsys.Remove(s.removePath)
	if s.log.destroyed.Load() {
		_ = fsys.Remove(s.log.dir) // succeeds once the last leased file is gone
	}
}

// writeFileAtomic writes data to path through path.tmp: write, fdatasync,
// close, rename. The caller syncs the directory to make the rename durable.
func writeFileAtomic(fsys vfs.FS, path string, data []byte) error {
	tmp := path + tmpExt
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, vfs.FileMode)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fsys.Rename(tmp, path)
}

// removeIfExists removes path; a missing file is not an error.
func removeIfExists(fsys vfs.FS, path string) error {
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// join is filepath.Join for a file of the log's directory.
func (l *Log) join(name string) string { return filepath.Join(l.dir, name) }
