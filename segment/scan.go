package segment

import (
	"errors"
	"fmt"
	"io"

	"github.com/sluicedb/sluice/index"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// source gives a scanner the bytes of a segment.
type source interface {
	// at returns the bytes from pos on: at least need of them, unless the
	// segment ends first (then all that are left, possibly none).
	at(pos int64, need int) ([]byte, error)
	// size is the segment's size in bytes.
	size() int64
}

// memSource is a segment held in memory (or mapped).
type memSource []byte

func (m memSource) at(pos int64, need int) ([]byte, error) {
	if pos >= int64(len(m)) {
		return nil, nil
	}
	return m[pos:], nil
}

func (m memSource) size() int64 { return int64(len(m)) }

// scanChunk is how much of a file a fileSource reads at a time: large
// enough to amortize the system call, small enough to stay in the CPU cache
// while the frames in it are verified.
const scanChunk = 1 << 20

// fileSource reads a segment file sequentially with pread into a reused
// buffer. Recovery scans through it rather than through the file's fresh
// mapping: copying from the page cache costs less than first-touching the
// pages of a new mapping one by one.
type fileSource struct {
	f    vfs.File
	n    int64  // the file's size
	buf  []byte // holds the file's bytes [off, off+len(buf))
	off  int64
	full []byte // the backing array of buf, reused
}

func newFileSource(f vfs.File, size int64) *fileSource { return &fileSource{f: f, n: size} }

func (s *fileSource) size() int64 { return s.n }

func (s *fileSource) at(pos int64, need int) ([]byte, error) {
	if pos >= s.n {
		return nil, nil
	}
	if pos >= s.off && pos+int64(need) <= s.off+int64(len(s.buf)) {
		return s.buf[pos-s.off:], nil
	}
	want := int(min(max(int64(need), scanChunk), s.n-pos))
	if cap(s.full) < want {
		s.full = make([]byte, want) // need is bounded by the frame size limits, checked by the caller
	}
	b := s.full[:want]
	if n, err := s.f.ReadAt(b, pos); n < want {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %s at %d: %w", s.f.Name(), pos, err)
	}
	s.buf, s.off = b, pos
	return b, nil
}

// scanResult is what scanning a segment's frames found.
type scanResult struct {
	end      int64  // bytes of valid frames
	count    uint32 // valid frames
	lastTime int64  // arrival time of the last valid frame
	cut      error  // why the scan stopped before the data ended, nil at a clean end
}

// scanFrames verifies the frames of a segment, from offset start (after its
// key header, if any), whose first frame must carry sequence number base in
// order, adding each to idx (if not nil), and stops
// at the end of data or the first frame that fails its bounds, its CRC or
// sequence continuity, or whose arrival time goes backwards. The error is an
// I/O error of the source.
func scanFrames(src source, base uint64, start int64, idx *index.Index) (scanResult, error) {
	var r scanResult
	pos := start
	for pos < src.size() {
		b, err := src.at(pos, record.SeqOffset)
		if err != nil {
			return r, err
		}
		if n := record.FrameLen(b); n > len(b) {
			if b, err = src.at(pos, n); err != nil {
				return r, err
			}
		}
		f, n, err := record.DecodeFrame(b)
		if err == record.ErrEndOfData {
			break
		}
		if err == nil && f.Seq != base+uint64(r.count) {
			err = &record.CorruptionError{Err: fmt.Errorf("%w: seq %d, want %d", errSequence, f.Seq, base+uint64(r.count))}
		}
		if err == nil && r.count > 0 && f.Time < r.lastTime {
			err = &record.CorruptionError{Err: fmt.Errorf("arrival time %d before the previous frame's %d", f.Time, r.lastTime)}
		}
		if err == nil && (r.count == 1<<32-1 || pos+int64(n) > maxSegmentSize) {
			err = &record.CorruptionError{Err: errors.New("more frames than a segment can hold")}
		}
		if err != nil {
			if ce, ok := err.(*record.CorruptionError); ok {
				ce.Offset = pos
			}
			r.cut = err
			break
		}
		if idx != nil {
			idx.MaybeAdd(r.count, uint32(pos), f.Time)
		}
		r.count++
		r.lastTime = f.Time
		pos += int64(n)
	}
	r.end = pos
	return r, nil
}

// damage measures what lies after the valid frames of a segment, from
// offset end: the bytes up to the last non-zero one (0 if all zeros) and the
// frames they hold, whole, torn or corrupt, counted by stepping over
// plausible length words up to a zero length word (garbage that is no frame
// at all counts as one).
func damage(src source, end int64) (garbage int64, frames int, err error) {
	for pos := end; pos < src.size(); {
		b, err := src.at(pos, 1)
		if err != nil {
			return 0, 0, err
		}
		if k := lastNonZero(b); k > 0 {
			garbage = pos + int64(k) - end
		}
		pos += int64(len(b))
	}
	if garbage == 0 {
		return 0, 0, nil
	}
	for pos := end; pos < end+garbage; frames++ {
		b, err := src.at(pos, record.SeqOffset)
		if err != nil {
			return 0, 0, err
		}
		n := record.FrameLen(b)
		if n == 0 {
			if len(b) >= record.SeqOffset && b[4]|b[5]|b[6]|b[7] != 0 {
				frames++ // not even a plausible frame header
			}
			return garbage, frames, nil
		}
		pos += int64(n)
	}
	return garbage, frames, nil
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
