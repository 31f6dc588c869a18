package raftlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/internal/vfs"
)

// Options configures a Log. Zero fields take the documented defaults.
type Options struct {
	// FS is the file system; default vfs.OS.
	FS vfs.FS
	// FileSize is the size each file is preallocated to; default 64 MiB. A
	// batch larger than a file gets a file of its own size. Smaller files
	// are retired sooner after their groups compact, at the cost of more
	// files and more rewriting of hard states and snapshots.
	FileSize int64
	// CacheBytes bounds the memory that recent entries take across all
	// groups (their data plus about 100 B each); default 64 MiB. Entries
	// beyond it are read back from the files. Negative keeps no entry in
	// memory.
	CacheBytes int64
	// Logger receives replay reports and I/O errors; default slog.Default().
	Logger *slog.Logger
	// OnSync, if set, is called after every fdatasync with its latency. It
	// must be cheap.
	OnSync func(time.Duration)
}

// Defaults of Options.
const (
	DefaultFileSize   = 64 << 20
	DefaultCacheBytes = 64 << 20
)

// Log is the node-wide durable storage of every Raft group's log, hard
// state and snapshot: one append-only series of files, written by one
// pwritev and made durable by one fdatasync per Save whatever the number of
// groups in it. See the package documentation.
type Log struct {
	opts Options
	dir  string
	lock io.Closer

	gmu    sync.RWMutex // guards groups (the map, not the groups)
	groups map[uint64]*group

	wmu     sync.Mutex // serialises the writers (Save, RemoveGroup, Close) and guards the fields below
	files   []*logFile // the live files, oldest first; head, when set, is the last
	head    *logFile   // the file batches go into; nil until the first write after Open or a failure
	pos     int64      // where the next batch goes in head
	nextNum uint64     // the number of the next file
	seq     uint64     // the sequence number of the last batch written
	saves   uint64     // Save calls, to find a group named twice in one
	err     error      // sticky: set when a sync failed
	closed  bool
	b       batch
	prep    []prepared
	cacheQ  []cacheRef // cached entries, oldest first from qHead: the eviction order
	qHead   int
	orphans []string // retired files whose removal failed, tried again at the next retirement

	pmu     sync.Mutex // guards pending
	pending []record   // records of CreateSnapshot and Compact waiting for the next write

	closedFlag             atomic.Bool
	cacheBytes, cacheCount atomic.Int64
	fileCount              atomic.Int64
	stats                  struct {
		bytes, syncs, batches, diskReads, retired atomic.Uint64
	}
}

var _ cluster.Store = (*Log)(nil)

// Open opens the log in dir (created if missing), replays its files and
// returns it ready for Save. Damage in the middle of the files is an error
// (a *CorruptionError naming the file and offset); the torn tail of the
// last file, left by a crash during a write that was never acknowledged,
// is cut off.
func Open(dir string, opts Options) (*Log, error) {
	if dir == "" {
		return nil, errors.New("raftlog: no directory")
	}
	if opts.FS == nil {
		opts.FS = vfs.OS
	}
	if opts.FileSize <= 0 {
		opts.FileSize = DefaultFileSize
	}
	if opts.FileSize < fileHeaderSize+2*recHeaderSize {
		return nil, fmt.Errorf("raftlog: file size %d B is too small; at least %d B", opts.FileSize, fileHeaderSize+2*recHeaderSize)
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := vfs.MkdirAllSync(opts.FS, dir); err != nil {
		return nil, fmt.Errorf("raftlog: create %s: %w", dir, err)
	}
	lock, err := opts.FS.Lock(dir)
	if err != nil {
		return nil, fmt.Errorf("raftlog: lock %s: %w", dir, err)
	}
	l := &Log{opts: opts, dir: dir, lock: lock, groups: map[uint64]*group{}, nextNum: firstFileNum}
	if err := l.replay(); err != nil {
		for _, f := range l.files {
			f.close()
		}
		_ = lock.Close()
		return nil, err
	}
	l.fileCount.Store(int64(len(l.files)))
	return l, nil
}

func (l *Log) path(num uint64) string { return filepath.Join(l.dir, fileName(num)) }

// Group returns the storage of group id, empty for a group never seen. The
// same storage serves the group until RemoveGroup.
func (l *Log) Group(id uint64) (cluster.GroupStorage, error) {
	if l.closedFlag.Load() {
		return nil, ErrClosed
	}
	return l.groupFor(id), nil
}

func (l *Log) lookup(id uint64) *group {
	l.gmu.RLock()
	defer l.gmu.RUnlock()
	return l.groups[id]
}

func (l *Log) groupFor(id uint64) *group {
	if g := l.lookup(id); g != nil {
		return g
	}
	l.gmu.Lock()
	defer l.gmu.Unlock()
	g := l.groups[id]
	if g == nil {
		g = newGroup(l, id)
		l.groups[id] = g
	}
	return g
}

// Groups lists, in order, the groups that have anything stored.
func (l *Log) Groups() []uint64 {
	l.gmu.RLock()
	ids := make([]uint64, 0, len(l.groups))
	for id, g := range l.groups {
		if g.stored.Load() {
			ids = append(ids, id)
		}
	}
	l.gmu.RUnlock()
	slices.Sort(ids)
	return ids
}

// prepared is an update checked by Save, and what it resolved.
type prepared struct {
	g    *group
	skip uint64 // entries at or below this index are already compacted: not written
}

// Save makes every update durable with one write and one fdatasync, then
// visible through the groups' storages. Entries replace those of the same
// and later indexes. The entries' Data is kept, not copied, for the cache:
// it must not be changed after Save (raft never changes it). An error
// leaves the stored state as it was; after a failed fdatasync every later
// call fails too.
func (l *Log) Save(updates []cluster.Update) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if err := l.prepare(updates); err != nil {
		return err
	}
	if !l.mustWrite(updates) {
		return nil // nothing to make durable: no write, no fdatasync
	}
	w, err := l.write(func(b *batch) {
		for i := range updates {
			encodeUpdate(b, &updates[i], l.prep[i].skip)
		}
	})
	if err != nil {
		return err
	}
	// The cached entries of the whole Save take one allocation.
	var block []diskEntry
	if l.opts.CacheBytes > 0 {
		n := 0
		for i := range updates {
			n += len(updates[i].Entries)
		}
		block = make([]diskEntry, n)
	}
	j := 0 // the next entry record's place in b.offs
	for i := range updates {
		var mine []diskEntry
		if block != nil {
			n := len(updates[i].Entries)
			mine, block = block[:n:n], block[n:]
		}
		j = l.apply(&updates[i], &l.prep[i], w, j, mine)
	}
	clear(l.prep)
	l.finish(w)
	return nil
}

// mustWrite says whether a Save of updates has anything to write: an
// update that is not empty, or records of CreateSnapshot and Compact
// waiting. l.wmu must be held.
func (l *Log) mustWrite(updates []cluster.Update) bool {
	for i := range updates {
		u := &updates[i]
		if len(u.Entries) > 0 || !raft.IsEmptyHardState(&u.HardState) || !raft.IsEmptySnap(&u.Snapshot) {
			return true
		}
	}
	l.pmu.Lock()
	defer l.pmu.Unlock()
	return len(l.pending) > 0
}

func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

// prepare checks updates against the groups' state and fills l.prep.
func (l *Log) prepare(updates []cluster.Update) error {
	l.saves++
	l.prep = slices.Grow(l.prep[:0], len(updates))[:len(updates)]
	for i := range updates {
		u := &updates[i]
		if u.Group == 0 {
			return errors.New("raftlog: an update names group 0; group ids start at 1")
		}
		g := l.groupFor(u.Group)
		if g.saveMark == l.saves {
			return fmt.Errorf("raftlog: group %d has two updates in one Save; merge them into one", u.Group)
		}
		g.saveMark = l.saves
		g.mu.RLock()
		last, floor, snapIndex, hasSnap := g.lastIndex(), g.compacted, g.snap.index, g.snap.cs != nil
		g.mu.RUnlock()
		if !raft.IsEmptySnap(&u.Snapshot) {
			m := u.Snapshot.GetMetadata()
			if hasSnap && m.GetIndex() <= snapIndex {
				return fmt.Errorf("raftlog: group %d: snapshot at %d is not newer than the stored one at %d: %w",
					u.Group, m.GetIndex(), snapIndex, raft.ErrSnapOutOfDate)
			}
			if size := confStateSize(m.GetConfState()) + len(u.Snapshot.GetData()); size > maxPayload {
				return fmt.Errorf("raftlog: group %d: snapshot of %d B; at most %d B fit a record", u.Group, size, maxPayload)
			}
			last, floor = m.GetIndex(), m.GetIndex()
		}
		for k := range u.Entries {
			e := &u.Entries[k]
			if k > 0 && e.GetIndex() != u.Entries[k-1].GetIndex()+1 {
				return fmt.Errorf("raftlog: group %d: entry %d follows entry %d; entries must be consecutive",
					u.Group, e.GetIndex(), u.Entries[k-1].GetIndex())
			}
			if t := e.GetType(); t < 0 || t > 255 {
				return fmt.Errorf("raftlog: group %d: entry %d has type %d; types are 0 to 255", u.Group, e.GetIndex(), t)
			}
			if len(e.GetData()) > maxPayload {
				return fmt.Errorf("raftlog: group %d: entry %d is %d B; at most %d B fit a record", u.Group, e.GetIndex(), len(e.GetData()), maxPayload)
			}
		}
		if len(u.Entries) > 0 {
			if first := u.Entries[0].GetIndex(); first == 0 || first > last+1 {
				return fmt.Errorf("raftlog: group %d: entries start at %d but its log ends at %d; they must start at or before %d",
					u.Group, first, last, last+1)
			}
		}
		l.prep[i] = prepared{g: g, skip: floor}
	}
	return nil
}

// encodeUpdate adds the records of u to b: its snapshot, its entries above
// skip, its hard state.
func encodeUpdate(b *batch, u *cluster.Update, skip uint64) {
	if !raft.IsEmptySnap(&u.Snapshot) {
		m := u.Snapshot.GetMetadata()
		cs := raftpb.EnsureConfState(m.GetConfState())
		r := record{kind: kindSnapshot, flags: flagReset, group: u.Group, a: m.GetIndex(), b: m.GetTerm()}
		r.payload = appendConfState(make([]byte, 0, confStateSize(cs)+len(u.Snapshot.Data)), cs)
		r.payload = append(r.payload, u.Snapshot.Data...)
		b.add(&r, true)
	}
	for k := range u.Entries {
		e := &u.Entries[k]
		if e.GetIndex() <= skip {
			continue
		}
		r := record{kind: kindEntry, flags: byte(e.GetType()), group: u.Group, a: e.GetIndex(), b: e.GetTerm(), payload: e.Data}
		b.add(&r, false)
	}
	if !raft.IsEmptyHardState(&u.HardState) {
		b.addHardState(u.Group, u.HardState.GetTerm(), u.HardState.GetVote(), u.HardState.GetCommit())
	}
}

// apply makes a written update visible. j is the place in l.b.offs of its
// first entry record; apply returns the place after its last. block holds
// an entry per entry of u to cache them in, empty if nothing is cached.
func (l *Log) apply(u *cluster.Update, p *prepared, w written, j int, block []diskEntry) int {
	g := p.g
	cache := len(block) > 0
	g.mu.Lock()
	if !raft.IsEmptySnap(&u.Snapshot) {
		m := u.Snapshot.GetMetadata()
		g.resetTo(m.GetIndex(), m.GetTerm())
		g.snap = snapState{index: m.GetIndex(), term: m.GetTerm(), cs: cloneConfState(raftpb.EnsureConfState(m.GetConfState())),
			data: append([]byte(nil), u.Snapshot.Data...)}
		g.snapFile = w.file.num
	}
	var added, count int64
	for k := range u.Entries {
		e := &u.Entries[k]
		index := e.GetIndex()
		if index <= p.skip {
			continue
		}
		s := slot{file: w.file, off: w.base + l.b.offs[j], n: uint32(len(e.Data)), typ: e.GetType(), term: e.GetTerm()}
		j++
		if index <= g.compacted {
			continue // compacted meanwhile
		}
		if cache {
			d := &block[k]
			d.index, d.term, d.typ = index, s.term, s.typ
			d.e.Index, d.e.Term, d.e.Type, d.e.Data = &d.index, &d.term, &d.typ, e.Data
			s.ent = &d.e
			added += cacheCost(s.n)
			count++
			l.cacheQ = append(l.cacheQ, cacheRef{g: g, index: index, ent: s.ent})
		}
		g.putEntry(index, s)
	}
	if !raft.IsEmptyHardState(&u.HardState) {
		g.hasHS = true
		g.hs.term, g.hs.vote, g.hs.commit = u.HardState.GetTerm(), u.HardState.GetVote(), u.HardState.GetCommit()
		g.hsFile = w.file.num
	}
	if len(u.Entries) > 0 || !raft.IsEmptyHardState(&u.HardState) || !raft.IsEmptySnap(&u.Snapshot) {
		g.stored.Store(true)
	}
	g.mu.Unlock()
	if added > 0 {
		l.cacheBytes.Add(added)
		l.cacheCount.Add(count)
	}
	return j
}

// written is what a write did, for the steps after it.
type written struct {
	file     *logFile
	base     int64      // the batch's offset in file
	retiring []*logFile // files to remove now that the write is durable
}

// write writes one batch: the small records of the files about to be
// retired, the pending records, then what encode adds, then the commit
// record; and syncs it. l.wmu must be held.
func (l *Log) write(encode func(b *batch)) (written, error) {
	var w written
	w.retiring = l.retirable()
	pend := l.takePending()
	b := &l.b
	b.reset()
	var carried []*group
	if len(w.retiring) > 0 {
		carried = l.carry(b, w.retiring[len(w.retiring)-1].num)
	}
	for i := range pend {
		b.add(&pend[i], true)
	}
	encode(b)
	b.commit(l.seq + 1)
	f, err := l.room(b.size)
	if err != nil {
		l.requeue(pend)
		return w, err
	}
	base := l.pos
	if _, err := f.f.WritevAt(b.vectors(), base); err != nil {
		l.requeue(pend)
		return w, l.writeFailed(f, base, err)
	}
	t0 := time.Now()
	if err := f.f.Sync(); err != nil {
		l.err = fmt.Errorf("raftlog: sync %s: %w; the log takes no more writes: reopen it to learn what is durable", f.path, err)
		l.opts.Logger.Error("raft log sync failed", "file", f.path, "err", err)
		return w, l.err
	}
	if l.opts.OnSync != nil {
		l.opts.OnSync(time.Since(t0))
	}
	l.pos += b.size
	l.seq++
	l.stats.bytes.Add(uint64(b.size))
	l.stats.syncs.Add(1)
	l.stats.batches.Add(1)
	w.file, w.base = f, base
	for i := range pend {
		if g := l.lookup(pend[i].group); g != nil {
			g.mu.Lock()
			if pend[i].kind == kindSnapshot {
				g.snapFile = f.num
			} else {
				g.compactFile = f.num
			}
			g.mu.Unlock()
		}
	}
	for _, g := range carried {
		g.mu.Lock()
		g.markCarried(f.num)
		g.mu.Unlock()
	}
	return w, nil
}

// retirable returns the oldest files, before the head, that hold no live
// entry. l.wmu must be held.
func (l *Log) retirable() []*logFile {
	var out []*logFile
	for _, f := range l.files {
		if f == l.head || f.pins.Load() != 0 {
			break
		}
		out = append(out, f)
	}
	return out
}

// carry adds to b the latest hard state, snapshot and compaction point of
// every group that has any of them in a file numbered upto or less, and
// returns those groups.
func (l *Log) carry(b *batch, upto uint64) []*group {
	l.gmu.RLock()
	all := make([]*group, 0, len(l.groups))
	for _, g := range l.groups {
		all = append(all, g)
	}
	l.gmu.RUnlock()
	in := func(n uint64) bool { return n != noFile && n <= upto }
	var carried []*group
	for _, g := range all {
		g.mu.RLock()
		if !g.removed && (in(g.hsFile) || in(g.snapFile) || in(g.compactFile)) {
			carried = append(carried, g)
			if g.hasHS {
				b.addHardState(g.id, g.hs.term, g.hs.vote, g.hs.commit)
			}
			if g.snap.cs != nil {
				r := g.snapshotRecord(false)
				b.add(&r, true)
			}
			if g.compacted > 0 {
				r := record{kind: kindCompact, group: g.id, a: g.compacted, b: g.prevTerm}
				b.add(&r, true)
			}
		}
		g.mu.RUnlock()
	}
	return carried
}

// markCarried notes that the group's small records were written again in
// file num. g.mu must be held for writing.
func (g *group) markCarried(num uint64) {
	if g.hasHS {
		g.hsFile = num
	}
	if g.snap.cs != nil {
		g.snapFile = num
	}
	if g.compacted > 0 {
		g.compactFile = num
	}
}

// room returns the file the next n bytes go into: the head if they fit,
// else a new file. l.wmu must be held.
func (l *Log) room(n int64) (*logFile, error) {
	if l.head != nil && l.pos+n <= l.head.size {
		return l.head, nil
	}
	l.head = nil // sealed: it stays among the files until its groups compact
	f, err := l.createFile(l.nextNum, max(l.opts.FileSize, fileHeaderSize+n))
	if err != nil {
		l.opts.Logger.Warn("could not start a raft log file", "err", err)
		return nil, err
	}
	l.nextNum++
	l.files = append(l.files, f)
	l.fileCount.Add(1)
	l.head, l.pos = f, fileHeaderSize
	return f, nil
}

// writeFailed handles a failed write at base of f: the file is cut back to
// base (its tail is unknown) and takes no more batches. If the cut cannot
// be made durable the log takes no more writes.
func (l *Log) writeFailed(f *logFile, base int64, err error) error {
	l.head = nil
	err = fmt.Errorf("raftlog: write %s at %d: %w", f.path, base, err)
	terr := f.f.Truncate(base)
	if terr == nil {
		terr = f.f.Sync()
	}
	if terr != nil {
		l.err = fmt.Errorf("%w; cutting the file back failed too (%v): the log takes no more writes", err, terr)
		return l.err
	}
	l.opts.Logger.Warn("raft log write failed; the next batch starts a new file", "err", err)
	return err
}

// finish removes the files retired by a write and trims the cache. l.wmu
// must be held.
func (l *Log) finish(w written) {
	if len(w.retiring) > 0 {
		l.files = slices.Delete(l.files, 0, len(w.retiring))
		l.fileCount.Add(-int64(len(w.retiring)))
		for _, f := range w.retiring {
			f.retire()
			l.orphans = append(l.orphans, f.path)
			l.stats.retired.Add(1)
		}
		l.removeRetired()
	}
	l.evict()
}

// removeRetired removes the retired files, oldest first, each removal made
// durable before the next: the files on disk must stay a suffix of the
// log, or a replay could bring back entries that a removed later file had
// truncated. A file that cannot be removed stops the others until a later
// retirement tries again. l.wmu must be held.
func (l *Log) removeRetired() {
	done := 0
	for _, p := range l.orphans {
		err := l.opts.FS.Remove(p)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			err = l.opts.FS.SyncDir(l.dir)
		}
		if err != nil {
			l.opts.Logger.Warn("could not remove a retired raft log file; trying again at the next retirement", "file", p, "err", err)
			break
		}
		done++
	}
	l.orphans = slices.Delete(l.orphans, 0, done)
}

// queue adds a record to be written with the next batch.
func (l *Log) queue(r record) {
	l.pmu.Lock()
	l.pending = append(l.pending, r)
	l.pmu.Unlock()
}

func (l *Log) takePending() []record {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	p := l.pending
	l.pending = nil
	return p
}

// requeue puts back records taken for a write that failed, ahead of those
// queued since.
func (l *Log) requeue(p []record) {
	if len(p) == 0 {
		return
	}
	l.pmu.Lock()
	l.pending = append(p, l.pending...)
	l.pmu.Unlock()
}

// RemoveGroup forgets a group and everything stored for it, durably. Its
// storage answers ErrRemoved from then on; Group(id) starts it anew.
func (l *Log) RemoveGroup(id uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	g := l.lookup(id)
	if g == nil {
		return nil
	}
	var w written
	if g.stored.Load() {
		var err error
		w, err = l.write(func(b *batch) {
			r := record{kind: kindRemove, group: id}
			b.add(&r, true)
		})
		if err != nil {
			return err
		}
	}
	l.gmu.Lock()
	delete(l.groups, id)
	l.gmu.Unlock()
	g.mu.Lock()
	g.forget()
	g.mu.Unlock()
	l.finish(w)
	return nil
}

// forget empties a removed group. g.mu must be held for writing.
func (g *group) forget() {
	g.dropAll()
	g.removed = true
	g.hasHS = false
	g.snap = snapState{}
	g.hsFile, g.snapFile, g.compactFile = noFile, noFile, noFile
	g.stored.Store(false)
}

// Close writes what CreateSnapshot and Compact left pending and closes the
// files. Reads fail with ErrClosed from then on.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var err error
	l.pmu.Lock()
	pending := len(l.pending) > 0
	l.pmu.Unlock()
	if pending && l.err == nil {
		var w written
		if w, err = l.write(func(*batch) {}); err == nil {
			l.finish(w)
		}
	}
	l.closed = true
	l.closedFlag.Store(true)
	for _, f := range l.files {
		f.retire()
	}
	if lerr := l.lock.Close(); err == nil && lerr != nil {
		err = fmt.Errorf("raftlog: unlock %s: %w", l.dir, lerr)
	}
	return err
}

// Stats are the log's figures for /metrics.
type Stats struct {
	Bytes      uint64 // bytes written since Open, headers included
	Syncs      uint64 // fdatasyncs since Open: one per Save (and per RemoveGroup)
	Files      int    // files on disk
	Groups     int    // groups with anything stored
	CacheBytes int64  // memory the cached entries take
	DiskReads  uint64 // entries read back from the files since Open
	Retired    uint64 // files removed since Open
}

// Stats returns the log's figures. It does not wait for a write under way.
func (l *Log) Stats() Stats {
	return Stats{
		Bytes: l.stats.bytes.Load(), Syncs: l.stats.syncs.Load(), Files: int(l.fileCount.Load()),
		Groups: len(l.Groups()), CacheBytes: l.cacheBytes.Load(), DiskReads: l.stats.diskReads.Load(),
		Retired: l.stats.retired.Load(),
	}
}
