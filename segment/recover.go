package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/sluicedb/sluice/index"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// recover opens the segments in l.dir and brings the log to a consistent
// state (see Open). It runs before the log is shared, so it takes no lock.
func (l *Log) recover() (rec Recovery, err error) {
	fsys := l.opts.FS
	var opened []*segment
	defer func() {
		if err != nil {
			for _, s := range opened {
				s.closeForAbort()
			}
		}
	}()

	if err := vfs.MkdirAllSync(fsys, l.dir); err != nil {
		return rec, err
	}
	names, err := fsys.ReadDir(l.dir)
	if err != nil {
		return rec, err
	}

	// Sort the directory out: leftovers of interrupted removals and atomic
	// writes go, the marker is read and removed.
	dirChanged := false
	var bases []uint64
	hasIdx := map[uint64]bool{}
	var cp checkpoint
	haveCP := false
	for _, name := range names {
		path := l.join(name)
		switch {
		case strings.HasSuffix(name, deletedExt) || strings.HasSuffix(name, tmpExt):
			if err := removeIfExists(fsys, path); err != nil {
				return rec, err
			}
			dirChanged = true
		case name == markerName:
			if b, err := vfs.ReadFile(fsys, path, markerSize); err == nil {
				cp, haveCP = unmarshalCheckpoint(b)
			}
			if err := removeIfExists(fsys, path); err != nil {
				return rec, err
			}
			dirChanged = true
		case strings.HasSuffix(name, idxExt):
			if base, ok := parseSegName(strings.TrimSuffix(name, idxExt) + segExt); ok {
				hasIdx[base] = true
			}
		default:
			if base, ok := parseSegName(name); ok {
				bases = append(bases, base) // ReadDir is sorted and names are fixed-width
			}
		}
	}
	// An .idx without its segment is left from a removal cut short.
	for base := range hasIdx {
		if _, ok := findBase(bases, base); !ok {
			if err := removeIfExists(fsys, l.join(idxName(base))); err != nil {
				return rec, err
			}
			dirChanged = true
		}
	}

	if len(bases) == 0 {
		s, err := l.createSegment(0, 0)
		if err != nil {
			return rec, err
		}
		opened = append(opened, s)
		l.install([]*segment{s})
		return rec, nil
	}

	// Open the segments in order until the log ends.
	endAt := len(bases) // index of the first segment file past the end of the log
	var expect uint64
	for i, base := range bases {
		if i > 0 && base != expect {
			endAt = i // a gap or an overlap: the log ends before this file
			break
		}
		isLast := i == len(bases)-1
		s, cut, err := l.openSegment(base, isLast, hasIdx[base], haveCP && cp.base == base, cp, &rec)
		if err != nil {
			if s != nil {
				s.closeForAbort()
			}
			return rec, err
		}
		opened = append(opened, s)
		if k := len(opened) - 2; k >= 0 {
			// Only the last segment opened may become the active one:
			// hold at most two files however long the log is.
			if err := opened[k].f.Close(); err != nil {
				return rec, fmt.Errorf("close %s: %w", opened[k].path, err)
			}
			opened[k].f = nil
		}
		if cut {
			dirChanged = true
		}
		expect = base + uint64(s.count)
		if cut && !isLast {
			endAt = i + 1
			break
		}
	}
	if rec.RebuiltIndexes > 0 {
		dirChanged = true
	}

	// Remove the segments past the end of the log.
	for _, base := range bases[endAt:] {
		rec.DroppedFrames += l.countSegmentFrames(base)
		if err := removeIfExists(fsys, l.join(segName(base))); err != nil {
			return rec, err
		}
		if err := removeIfExists(fsys, l.join(idxName(base))); err != nil {
			return rec, err
		}
		rec.RemovedSegments = append(rec.RemovedSegments, segName(base))
		dirChanged = true
	}

	// The last segment is the active one, without an .idx on disk (it would
	// go stale with the first append). The log is left parked: no segment
	// holds a file or a mapping until it is written or read.
	active := opened[len(opened)-1]
	if endAt < len(bases) {
		if err := l.activate(active, &rec); err != nil {
			return rec, err
		}
	}
	if err := fsys.Remove(active.idxPath()); err == nil {
		dirChanged = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return rec, err
	}
	if rec.Clean && active.hdr.Load() != nil {
		l.resume = active
	}
	if !rec.Clean {
		// After a process crash the frames recovery kept may still be
		// only in the page cache: make them durable before the log is
		// parked, since a parked log has nothing left to sync.
		if err := active.f.Sync(); err != nil {
			return rec, fmt.Errorf("sync %s: %w", active.path, err)
		}
	}
	if err := active.f.Close(); err != nil {
		return rec, fmt.Errorf("close %s: %w", active.path, err)
	}
	active.f = nil
	for _, s := range opened[:len(opened)-1] {
		s.sealed.Store(true)
	}
	if dirChanged {
		if err := fsys.SyncDir(l.dir); err != nil {
			return rec, err
		}
	}
	l.install(opened)
	return rec, nil
}

// openSegment opens the segment file of base (it maps nothing) and
// establishes its valid frames: from its .idx trailer if it is sealed (or
// the active one of a clean shutdown whose checkpoint it matches), else by
// scanning. Damage after the valid frames is cut (truncated, fsynced) and
// reported as cut. The segment is returned with its file open.
func (l *Log) openSegment(base uint64, isLast, hasIdx, cpHere bool, cp checkpoint, rec *Recovery) (*segment, bool, error) {
	fsys := l.opts.FS
	path := l.join(segName(base))
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, err
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	s := newSegment(l, base, path)
	s.f, s.alloc = f, size

	start, err := l.readKeyHeader(s, isLast, rec)
	if err != nil {
		return s, false, err
	}
	if start < 0 {
		return s, true, nil // a torn key header: the segment was emptied
	}

	if hasIdx && (!isLast || cpHere) {
		ix, tail, ok, contradicted := l.loadIndex(s, newFileSource(f, size), start)
		if contradicted && !isLast {
			// A sealed segment's .idx is written only after its frames
			// were synced: a file that is shorter than its intact index
			// says, or whose frames there fail, was damaged outside the
			// server (truncated, overwritten), not torn by a crash.
			// Cutting it would end the log there and remove every later
			// segment, acknowledged records and all: refuse instead, and
			// leave the files for the operator.
			return s, false, &record.CorruptionError{Path: path, Offset: min(size, int64(tail.End)), Err: ErrSealedDamaged}
		}
		if ok {
			matches := !isLast || (cp.end == int64(tail.End) && cp.count == tail.Count && cp.lastTime == tail.LastTime)
			if matches {
				s.idx, s.end, s.count, s.lastTime = ix, int64(tail.End), tail.Count, tail.LastTime
				rec.Clean = isLast
				return s, false, nil
			}
		}
	}

	hint := 0
	if !isLast {
		hint = int(size / int64(l.opts.IndexInterval))
	}
	s.idx = index.New(l.opts.IndexInterval, hint)
	src := newFileSource(f, size)
	r, err := scanFrames(src, base, start, s.idx)
	if err != nil {
		return s, false, err
	}
	s.end, s.count, s.lastTime = r.end, r.count, r.lastTime
	rec.ScannedBytes += r.end - start

	cut, err := l.cutDamage(s, src, rec)
	if err != nil {
		return s, false, err
	}
	if !isLast && !cut {
		l.idxBuf = s.idx.Marshal(l.idxBuf[:0], base, index.Tail{End: uint64(s.end), Count: s.count, LastTime: s.lastTime})
		if err := writeFileAtomic(fsys, s.idxPath(), l.idxBuf); err != nil {
			return s, false, fmt.Errorf("rebuild index of %s: %w", path, err)
		}
		rec.RebuiltIndexes++
	}
	return s, cut, nil
}

// readKeyHeader reads the key header at the start of s's file, if it has
// one, and returns the offset of its first frame. A header with no intact
// slot in the last segment was torn by a crash while the segment was being
// started (no frame after it can have been synced before it was): the
// segment is emptied, reported as cut, and -1 returned. In a sealed
// segment it is damage from outside the server: Open refuses.
func (l *Log) readKeyHeader(s *segment, isLast bool, rec *Recovery) (int64, error) {
	src := newFileSource(s.f, s.alloc)
	b, err := src.at(0, KeyHeaderSize)
	if err != nil || !isKeyHeader(b) {
		return 0, err
	}
	h, err := parseKeyHeader(b)
	if err == nil {
		s.hdr.Store(h)
		s.start.Store(KeyHeaderSize)
		return KeyHeaderSize, nil
	}
	if !isLast {
		return 0, &record.CorruptionError{Path: s.path, Offset: 0, Err: fmt.Errorf("%w: %v", ErrKeyHeaderDamaged, err)}
	}
	garbage, frames, derr := damage(src, 0)
	if derr != nil {
		return 0, derr
	}
	rec.TruncatedBytes += garbage
	rec.DroppedFrames += max(frames-1, 0) // the header is no frame
	if err := s.f.Truncate(0); err != nil {
		return 0, fmt.Errorf("truncate %s at 0: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return 0, fmt.Errorf("sync %s: %w", s.path, err)
	}
	s.alloc = 0
	s.idx = index.New(l.opts.IndexInterval, 0)
	return -1, nil
}

// loadIndex reads and checks the .idx of s against the segment's bytes,
// read from src with pread (no mapping).
// ok is false when the index cannot be used; contradicted says that the
// index itself is intact (it decodes, names this segment and is consistent)
// but the segment's file does not hold what it records: the file is shorter
// than the index's end, or a spot-checked frame fails.
func (l *Log) loadIndex(s *segment, src *fileSource, start int64) (ix *index.Index, tail index.Tail, ok, contradicted bool) {
	b, err := vfs.ReadFile(l.opts.FS, s.idxPath(), src.size()/2+4096)
	if err != nil {
		return nil, index.Tail{}, false, false
	}
	ix, hdr, tail, err := index.Unmarshal(b)
	if err != nil || hdr.Base != s.base || tail.End%record.Alignment != 0 ||
		(tail.Count == 0) != (tail.End == uint64(start)) || tail.End < uint64(start) ||
		uint64(tail.Count)*uint64(record.FrameSize(0, 0)) > tail.End-uint64(start) {
		return nil, index.Tail{}, false, false
	}
	if tail.End > uint64(src.size()) {
		return nil, tail, false, true
	}
	if tail.Count > 0 {
		// Spot-check the first frame and the frame of the last entry.
		if !frameAt(src, start, int64(tail.End), s.base) {
			return nil, tail, false, true
		}
		if e, ok := ix.Last(); ok && uint64(e.Pos) < tail.End {
			if !frameAt(src, int64(e.Pos), int64(tail.End), s.base+uint64(e.RelSeq)) {
				return nil, tail, false, true
			}
		}
	}
	return ix, tail, true, false
}

// frameAt reports whether a valid frame with sequence number seq starts at
// pos of src and ends by end.
func frameAt(src *fileSource, pos, end int64, seq uint64) bool {
	b, err := src.at(pos, record.SeqOffset)
	if err != nil {
		return false
	}
	if n := record.FrameLen(b); n > len(b) {
		if b, err = src.at(pos, n); err != nil {
			return false
		}
	}
	b = b[:min(int64(len(b)), end-pos)]
	f, _, err := record.DecodeFrame(b)
	return err == nil && f.Seq == seq
}

// activate turns s, opened as a sealed segment, into the active one because
// the log ends with it: any bytes after its frames are cut.
func (l *Log) activate(s *segment, rec *Recovery) error {
	_, err := l.cutDamage(s, newFileSource(s.f, s.alloc), rec)
	return err
}

// cutDamage zeroes whatever lies after the valid frames of s (torn or
// corrupt frames, garbage): the first bad frame ends the log, and no stale
// frame may ever line up behind new appends. It truncates the file at the
// end of the frames and fsyncs it, and reports whether it did.
func (l *Log) cutDamage(s *segment, src source, rec *Recovery) (bool, error) {
	garbage, frames, err := damage(src, s.end)
	if err != nil || garbage == 0 {
		return false, err
	}
	rec.TruncatedBytes += garbage
	rec.DroppedFrames += frames
	if err := s.f.Truncate(s.end); err != nil {
		return false, fmt.Errorf("truncate %s at %d: %w", s.path, s.end, err)
	}
	if err := s.f.Sync(); err != nil {
		return false, fmt.Errorf("sync %s: %w", s.path, err)
	}
	s.alloc = s.end
	return true, nil
}

// install publishes the opened segments and the log's position.
func (l *Log) install(segs []*segment) {
	var last int64
	for _, s := range segs {
		if s.count == 0 {
			s.lastTime = max(s.lastTime, last) // an empty segment carries its predecessor's time
		}
		last = s.lastTime
		s.refs.Store(1)
		s.publishAll()
	}
	l.active = segs[len(segs)-1]
	l.next = l.active.base + uint64(l.active.count)
	l.lastTime = last
	l.pendNext, l.pendLast = l.next, last
	l.pubLast.Store(last)
	l.pubNext.Store(l.next)
	l.setSegs(segs)
}

// countSegmentFrames counts the frames of a segment that is being removed.
func (l *Log) countSegmentFrames(base uint64) int {
	f, err := l.opts.FS.OpenFile(l.join(segName(base)), os.O_RDONLY, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0
	}
	src := newFileSource(f, size)
	start := int64(0)
	if b, err := src.at(0, 8); err == nil && isKeyHeader(b) {
		start = KeyHeaderSize
	}
	_, frames, _ := damage(src, start)
	return frames
}

// createSegment creates and allocates a new empty segment file for base,
// open for writing, and syncs the directory; it is mapped by its first
// read. lastTime is the arrival time of the log's newest record. On error
// no file is left behind.
func (l *Log) createSegment(base uint64, lastTime int64) (*segment, error) {
	fsys := l.opts.FS
	path := l.join(segName(base))
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, vfs.FileMode)
	if errors.Is(err, fs.ErrExist) {
		// Left by an earlier attempt whose removal failed: it was never
		// part of the log (no frame was written to it), so start it over.
		f, err = fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, vfs.FileMode)
	}
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		f.Close()
		_ = fsys.Remove(path)
		return nil, err
	}
	if err := f.Allocate(0, l.opts.InitialAllocation); err != nil {
		return fail(fmt.Errorf("allocate %s: %w", path, err))
	}
	if err := fsys.SyncDir(l.dir); err != nil {
		return fail(err)
	}
	s := newSegment(l, base, path)
	s.idx = index.New(l.opts.IndexInterval, 0)
	s.f, s.lastTime, s.alloc = f, lastTime, l.opts.InitialAllocation
	s.pubLast.Store(lastTime)
	return s, nil
}

// closeForAbort releases what a segment holds when Open fails.
func (s *segment) closeForAbort() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}

func idxName(base uint64) string { return strings.TrimSuffix(segName(base), segExt) + idxExt }

// findBase returns the position of base in the sorted bases.
func findBase(bases []uint64, base uint64) (int, bool) {
	for i, b := range bases {
		if b == base {
			return i, true
		}
	}
	return 0, false
}
