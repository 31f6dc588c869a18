package segment

import (
	"errors"
	"fmt"
	"io/fs"
)

// Expire removes every segment whose newest record arrived before before
// (Unix ns) and returns how many it removed. Arrival times are monotonic, so
// these are the oldest segments. If the active segment is among them and
// holds records, it is sealed first and an empty segment starting at the next
// sequence number becomes the active one, so the log keeps its position.
//
// Removal renames X.seg to X.seg.deleted (and X.idx to X.idx.deleted) and
// syncs the directory; a removed segment is unmapped and unlinked when the
// last reader lease on it is released. Reads that start after Expire returns
// never see a removed record. Expire serializes with Write and Sync.
func (l *Log) Expire(before int64) (removed int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	segs := l.segments()
	k := 0
	for k < len(segs) && segs[k].lastTime < before {
		s := segs[k]
		if s == l.active && (s.count == 0 || l.err != nil) {
			break // an empty active segment holds the position; a failed one cannot roll
		}
		k++
	}
	if k == 0 {
		return 0, nil
	}
	if k == len(segs) {
		parked := l.active.f == nil
		if err := l.roll(); err != nil {
			return 0, l.failAfter(false, err)
		}
		if parked { // retention does not wake an idle log: leave the new segment parked too
			_ = l.active.f.Close() // nothing written to it: its creation was synced
			l.active.f = nil
		}
		segs = l.segments()
	}
	gone := segs[:k]
	l.setSegs(append([]*segment(nil), segs[k:]...))

	// Rename first, sync the directory once, then let go: a crash in
	// between leaves *.deleted files that the next Open removes.
	fsys := l.opts.FS
	var errs []error
	renamed := make([]bool, len(gone))
	for i, s := range gone {
		if err := fsys.Rename(s.path, s.path+deletedExt); err != nil {
			errs = append(errs, err)
			continue
		}
		renamed[i] = true
		if err := fsys.Rename(s.idxPath(), s.idxPath()+deletedExt); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := fsys.SyncDir(l.dir); err != nil {
		errs = append(errs, err)
	}
	for i, s := range gone {
		if renamed[i] {
			_ = removeIfExists(fsys, s.idxPath()+deletedExt) // an index is never leased
			s.drop(s.path + deletedExt)
			removed++
		} else {
			s.drop("")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("segment: expire in %s: %w", l.dir, err)
	}
	return removed, nil
}
