package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sluicedb/sluice/index"
	"github.com/sluicedb/sluice/internal/vfs"
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

// deadBit in segment.refs marks a segment the log has let go of: no new
// lease can be taken, and the last release tears the segment down.
const deadBit = 1 << 62

// segment is one segment file of a Log: its mapping, its sparse index, the
// published watermark readers stay below, and the writer's state while it is
// active.
type segment struct {
	log     *Log
	base    uint64 // sequence number of the first frame; immutable
	path    string // dir/%020d.seg; immutable
	idx     *index.Index
	mapping vfs.Mapping // replaced only during Open, before readers exist
	data    []byte      // mapping.Bytes()

	// pub is what readers may see: the end offset of the published frames
	// in the high 32 bits and their count in the low 32, stored by Publish.
	pub atomic.Uint64
	// pubLast is the arrival time of the newest published frame (for an
	// empty segment, that of the previous segment's newest).
	pubLast atomic.Int64

	// refs counts one reference held by the log while the segment is part
	// of it plus one per reader lease; deadBit is added when the log drops
	// its reference. The segment is unmapped (and, if removePath is set,
	// unlinked) when refs becomes exactly deadBit.
	refs atomic.Int64
	// populated is how far readers have had the mapping's page tables
	// populated (a hint for sequential readers).
	populated atomic.Int64

	// removePath is the file name to unlink at teardown (the .deleted name
	// after retention), or "" to keep the file; set before deadBit.
	removePath string

	// Writer state, guarded by Log.mu.
	f        vfs.File // open for writing while active; nil once sealed
	end      int64    // bytes of frames written
	count    uint32   // frames written
	lastTime int64    // arrival time of the newest frame written
	alloc    int64    // file size: bytes allocated
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

// prefault populates the page tables of the mapping for bytes [lo, hi) in
// one system call rather than a page fault per page, where the file system
// can (vfs.Mapping.Populate).
func (s *segment) prefault(lo, hi int) { s.mapping.Populate(lo, hi) }

// acquire takes a lease, false if the log has dropped the segment.
func (s *segment) acquire() bool {
	for {
		r := s.refs.Load()
		if r&deadBit != 0 || r == 0 {
			return false
		}
		if s.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops a lease taken by acquire.
func (s *segment) release() {
	if s.refs.Add(-1) == deadBit {
		s.teardown()
	}
}

// drop lets go of the log's reference; the segment is torn down now or when
// its last lease is released, and the file at path (if not "") is unlinked
// then.
func (s *segment) drop(path string) {
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
	_ = s.mapping.Unmap()
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
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
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

// readFile reads a whole file of at most limit bytes.
func readFile(fsys vfs.FS, path string, limit int64) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, fmt.Errorf("%s is %d B; at most %d B expected", path, size, limit)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return b, nil
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
