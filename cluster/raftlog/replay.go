package raftlog

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
)

// maxFileBytes bounds the size of a file replay maps: larger is not one of
// ours.
const maxFileBytes = 1 << 40

// replayState carries replay from one file to the next.
type replayState struct {
	seq     uint64 // the sequence of the last batch applied, 0 before the first
	pending []pendingRecord
	sumBuf  [4]byte
	cut     []string // files whose torn tail was cut off
}

// pendingRecord is a record of a batch whose commit record has not been
// read yet.
type pendingRecord struct {
	r    record
	off  int64
	cs   *raftpb.ConfState // a snapshot's configuration
	data []byte            // a snapshot's data (aliases the file)
}

// replay reads every file in order and rebuilds the groups. l.wmu need not
// be held: nothing else sees the log yet.
func (l *Log) replay() error {
	names, err := l.opts.FS.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("raftlog: list %s: %w", l.dir, err)
	}
	var nums []uint64
	for _, name := range names {
		if n, ok := parseFileName(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	var rs replayState
	for i, num := range nums {
		if err := l.replayFile(num, i == len(nums)-1, &rs); err != nil {
			return err
		}
	}
	if len(nums) > 0 {
		l.nextNum = nums[len(nums)-1] + 1
	}
	l.seq = rs.seq
	for id, g := range l.groups {
		if !g.prevKnown {
			return fmt.Errorf("%w: group %d: its entries start at %d, and no compaction point or snapshot covers the indexes before them: a file is missing",
				ErrCorrupt, id, g.compacted+1)
		}
	}
	if len(nums) > 0 {
		l.opts.Logger.Info("replayed the raft log", "dir", l.dir, "files", len(l.files), "groups", len(l.groups),
			"batches", rs.seq, "cut_files", rs.cut)
	}
	return nil
}

// replayFile applies the whole batches of file num. The last file's tail
// after its last whole batch (a write cut by a crash) is cut off; in any
// other file, anything but zeros after the last whole batch is corruption.
func (l *Log) replayFile(num uint64, last bool, rs *replayState) error {
	path := l.path(num)
	f, err := l.opts.FS.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("raftlog: open %s: %w", path, err)
	}
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("raftlog: size of %s: %w", path, err)
	}
	lf := &logFile{num: num, path: path, f: f, size: size}
	end, torn, err := l.scanFile(lf, last, rs)
	if err != nil {
		_ = f.Close()
		return err
	}
	if !last || end == size {
		l.files = append(l.files, lf)
		return nil
	}
	if torn {
		rs.cut = append(rs.cut, path)
		l.opts.Logger.Warn("the last raft log file ends in a write that was cut; it was never acknowledged and is dropped",
			"file", path, "offset", end)
	}
	if end <= fileHeaderSize {
		// Nothing in it was ever acknowledged: it was created, and the
		// crash came before its first batch was durable.
		_ = f.Close()
		if err := l.opts.FS.Remove(path); err != nil {
			return fmt.Errorf("raftlog: remove %s, which holds no whole batch: %w", path, err)
		}
		if err := l.opts.FS.SyncDir(l.dir); err != nil {
			return fmt.Errorf("raftlog: sync %s: %w", l.dir, err)
		}
		return nil
	}
	// Cut the tail, so that the file ends on its last whole batch and a
	// later replay reads it as a file that ends cleanly.
	if err := f.Truncate(end); err != nil {
		_ = f.Close()
		return fmt.Errorf("raftlog: cut %s to %d B: %w", path, end, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("raftlog: sync %s: %w", path, err)
	}
	lf.size = end
	l.files = append(l.files, lf)
	return nil
}

// scanFile applies the whole batches of lf and returns where they end and
// whether non-zero bytes follow.
func (l *Log) scanFile(lf *logFile, last bool, rs *replayState) (end int64, torn bool, err error) {
	if lf.size == 0 {
		return 0, false, nil
	}
	if lf.size > maxFileBytes {
		return 0, false, &CorruptionError{Path: lf.path, Err: fmt.Errorf("%d B is larger than any raft log file", lf.size)}
	}
	m, err := lf.f.Map(int(lf.size))
	if err != nil {
		return 0, false, fmt.Errorf("raftlog: map %s: %w", lf.path, err)
	}
	defer m.Unmap()
	b := m.Bytes()[:lf.size]
	if herr := verifyFileHeader(b, lf.num); herr != nil {
		// A header that never reached the disk: the file was created and
		// the crash came before its first batch was synced.
		if allZero(b) || (last && allZero(b[min(len(b), fileHeaderSize):])) {
			return 0, !allZero(b), nil
		}
		return 0, false, &CorruptionError{Path: lf.path, Offset: 0, Err: herr}
	}
	pos := int64(fileHeaderSize)
	end = pos
	rs.pending = rs.pending[:0]
	chain := uint32(0)
	for {
		r, sum, n, ok := decodeRecord(b[pos:])
		if !ok {
			break
		}
		if r.kind == kindCommit {
			if !rs.commits(&r, chain) {
				break
			}
			for i := range rs.pending {
				l.replayRecord(lf, &rs.pending[i])
			}
			clear(rs.pending)
			rs.pending, chain = rs.pending[:0], 0
			rs.seq = r.a
			end = pos + int64(n)
		} else {
			p := pendingRecord{r: r, off: pos}
			if !p.valid() {
				break
			}
			rs.pending = append(rs.pending, p)
			chain = chainSum(chain, sum, &rs.sumBuf)
		}
		pos += int64(n)
	}
	clear(rs.pending)
	rs.pending = rs.pending[:0]
	tail := b[end:]
	if !last && !allZero(tail) {
		return end, true, &CorruptionError{Path: lf.path, Offset: end,
			Err: fmt.Errorf("a record that does not check, or a batch without its commit record, in a file that is not the last: the log is damaged")}
	}
	return end, !allZero(tail), nil
}

// commits says whether r is the commit record of the pending records,
// whose CRCs chain to chain.
func (rs *replayState) commits(r *record, chain uint32) bool {
	return r.group == 0 && r.flags == 0 && len(r.payload) == commitSize &&
		binary.LittleEndian.Uint32(r.payload) == chain && r.b == uint64(len(rs.pending)) &&
		(rs.seq == 0 || r.a == rs.seq+1) && r.a != 0
}

// valid checks what a record's CRC cannot: that its fields make sense for
// its kind. It decodes a snapshot's configuration.
func (p *pendingRecord) valid() bool {
	r := &p.r
	if r.group == 0 {
		return false
	}
	switch r.kind {
	case kindEntry:
		return r.a != 0
	case kindHardState:
		return r.flags == 0 && len(r.payload) == hardStateSize
	case kindSnapshot:
		if r.flags&^flagReset != 0 || r.a == 0 {
			return false
		}
		cs, data, err := decodeConfState(r.payload)
		if err != nil {
			return false
		}
		p.cs, p.data = cs, data
		return true
	case kindCompact:
		return r.flags == 0 && len(r.payload) == 0 && r.a != 0
	case kindRemove:
		return r.flags == 0 && len(r.payload) == 0 && r.a == 0 && r.b == 0
	}
	return false
}

// replayRecord applies a record of a whole batch of lf.
func (l *Log) replayRecord(lf *logFile, p *pendingRecord) {
	r := &p.r
	g := l.groupFor(r.group)
	g.stored.Store(true)
	switch r.kind {
	case kindEntry:
		g.putEntry(r.a, slot{file: lf, off: p.off, n: uint32(len(r.payload)), typ: raftpb.EntryType(r.flags), term: r.b})
	case kindHardState:
		g.hasHS = true
		g.hs.term, g.hs.vote, g.hs.commit = r.a, r.b, binary.LittleEndian.Uint64(r.payload)
		g.hsFile = lf.num
	case kindSnapshot:
		if r.flags&flagReset != 0 {
			g.resetTo(r.a, r.b)
		}
		g.snap = snapState{index: r.a, term: r.b, cs: p.cs, data: append([]byte(nil), p.data...)}
		g.snapFile = lf.num
	case kindCompact:
		g.compactTo(r.a, r.b)
		g.compactFile = lf.num
	case kindRemove:
		g.forget()
		delete(l.groups, r.group)
	}
}
