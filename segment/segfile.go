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
	mapping vfs.Mapping
	data    []byte // mapping.Bytes(); immutable

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

// scanResult is what scanning a segment's frames found.
type scanResult struct {
	end      int64  // bytes of valid frames
	count    uint32 // valid frames
	lastTime int64  // arrival time of the last valid frame
	cut      error  // why the scan stopped before the data ended, nil at a clean end
}

// scanFrames verifies the frames of data (a segment whose first frame must
// carry sequence number base) in order, adding each to idx (if not nil), and
// stops at the end of data or the first frame that fails its bounds, its CRC
// or sequence continuity, or whose arrival time goes backwards.
func scanFrames(data []byte, base uint64, idx *index.Index) scanResult {
	var r scanResult
	pos := 0
	for pos < len(data) {
		f, n, err := DecodeFrame(data[pos:])
		if err == ErrEndOfData {
			break
		}
		if err == nil && f.Seq != base+uint64(r.count) {
			err = &CorruptionError{Err: fmt.Errorf("%w: seq %d, want %d", errSequence, f.Seq, base+uint64(r.count))}
		}
		if err == nil && r.count > 0 && f.Time < r.lastTime {
			err = &CorruptionError{Err: fmt.Errorf("arrival time %d before the previous frame's %d", f.Time, r.lastTime)}
		}
		if err == nil && r.count == 1<<32-1 {
			err = &CorruptionError{Err: errors.New("more frames than a segment can count")}
		}
		if err != nil {
			if ce, ok := err.(*CorruptionError); ok {
				ce.Offset = int64(pos)
			}
			r.cut = err
			break
		}
		if idx != nil {
			idx.MaybeAdd(r.count, uint32(pos), f.Time)
		}
		r.count++
		r.lastTime = f.Time
		pos += n
	}
	r.end = int64(pos)
	return r
}

// countFrames counts the frame headers with a plausible length in data,
// stepping over each by its length: the frames (whole, torn or corrupt) that
// a cut drops. It stops at a zero or out-of-bounds length word.
func countFrames(data []byte) int {
	n := 0
	for pos := 0; pos < len(data); n++ {
		l := frameLen(data[pos:])
		if l == 0 {
			if binary0(data[pos:]) {
				break
			}
			return n + 1 // garbage that is no frame at all counts as one
		}
		pos += l
	}
	return n
}

// binary0 reports whether the length word at the start of b is zero (or b is
// too short to hold one).
func binary0(b []byte) bool {
	return len(b) < offSeq || b[4]|b[5]|b[6]|b[7] == 0
}

// lastNonZero returns the index just past the last non-zero byte of b, 0 if
// b is all zeros.
func lastNonZero(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return i + 1
		}
	}
	return 0
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
