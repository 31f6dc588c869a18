package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/internal/vfs"
)

// Owner is the writer of an entry's target: it wrote the entry's bytes
// there itself (the commit log only repeats them) and can make them durable
// in place. A file of the log is removed once every owner that committed
// into it has flushed.
type Owner interface {
	// Flush makes everything the owner has written durable in its own
	// files. It returns nil for an owner that was closed cleanly or
	// removed, and an error when its bytes may not be durable.
	Flush() error
}

// Applier puts the entries of a replay back where they belong.
type Applier interface {
	// Apply writes e.Data at e.Offset of e.Target's segment file. A target
	// that no longer exists (its stream deleted, the segment expired) is
	// skipped, not an error.
	Apply(e Entry) error
	// Sync makes everything applied durable.
	Sync() error
}

// Options configures a Log. Zero fields take the documented defaults.
type Options struct {
	// FS is the file system; default vfs.OS.
	FS vfs.FS
	// Dir is the log's directory; created if missing. Required.
	Dir string
	// FileSize is the size each file is preallocated to; default 64 MiB.
	// A file is full when the next group does not fit; it is removed once
	// its owners have flushed.
	FileSize int64
	// RetryAfter is how long the log refuses commits after it failed to
	// create a file (a full disk, say); default one second. Refused
	// commits return an error and their callers sync their own files.
	RetryAfter time.Duration
	// Logger receives replay reports and I/O errors; default slog.Default().
	Logger *slog.Logger
	// OnSync, if set, is called after every fdatasync of a group with its
	// latency. It must be cheap.
	OnSync func(time.Duration)
	// MaxInFlight bounds the groups whose fdatasync runs at once; default
	// 1: a group is written once the previous one is durable, which lets
	// groups grow. With more, a group is written and its fdatasync started
	// while earlier ones run (they still complete in order); on the disks
	// measured this made groups smaller and fdatasyncs more numerous for
	// no gain in latency (docs/performance.md).
	MaxInFlight int
}

// DefaultFileSize is the default of Options.FileSize.
const DefaultFileSize = 64 << 20

// ErrClosed is returned by Commit after Close.
var ErrClosed = errors.New("commitlog: closed")

// errUnavailable is returned while the log waits to retry creating a file.
var errUnavailable = errors.New("commitlog: no file to write to (the last attempt to create one failed)")

// Log is a node-wide commit log: one append-only sequence of files that
// makes the writes of many owners durable with one fdatasync. See the
// package documentation.
type Log struct {
	opts Options

	mu      sync.Mutex
	idle    sync.Cond // signalled when no group is being written or synced
	arrived sync.Cond // signalled when an expected batch arrives or is withdrawn
	pending []*Batch  // waiting for the next group
	// writing is set while a caller writes a group, or has been handed
	// the lead to write the next one.
	writing bool
	// inflight are the groups written and not yet completed, in order.
	inflight []*group
	cur      *logFile // the file groups go into; nil until the first
	closed   bool
	// expected counts the batches announced by Expect and not yet
	// committed or withdrawn: a leader waits for them before it writes.
	expected int

	// The writer's state: touched only by the caller that writes a group.
	next    uint64 // the number of the next file
	pos     int64  // where the next group goes in cur
	size    int64  // cur's preallocated size
	retryAt time.Time
	iov     [][]byte
	hdrBuf  [fileHeaderSize]byte

	// Files waiting for their owners to flush, and the goroutine that
	// removes them.
	tmu    sync.Mutex
	sealed []*sealedFile
	twake  chan struct{}
	stop   chan struct{}
	tdone  chan struct{}

	stats struct {
		groups, batches, bytes, refused, trimmed atomic.Uint64
	}
}

// sealedFile is a full or broken file and the owners that committed into
// it.
type sealedFile struct {
	num    uint64
	path   string
	owners map[Owner]struct{}
}

// ReplayStats says what Open found in the files left by the last run.
type ReplayStats struct {
	// Files is the number of files read.
	Files int
	// Entries and Bytes count the entries applied and their data.
	Entries int
	Bytes   int64
	// Cut names the files whose entries ended at a header that did not
	// check, with bytes other than zeros after it: the tail of a write cut
	// by a crash or an I/O error. Nothing after that point was acknowledged
	// through this log.
	Cut []string
}

// Open replays the files in opts.Dir through apply (in file order, entries
// in their order), makes what it applied durable (apply.Sync), removes the
// files, and returns a log ready for Commit. A file whose header does not
// check is an error: the records it may hold cannot be put back, and Open
// refuses to go on without them.
func Open(opts Options, apply Applier) (*Log, ReplayStats, error) {
	if opts.Dir == "" {
		return nil, ReplayStats{}, errors.New("commitlog: no directory")
	}
	if opts.FS == nil {
		opts.FS = vfs.OS
	}
	if opts.FileSize <= 0 {
		opts.FileSize = DefaultFileSize
	}
	if opts.FileSize < fileHeaderSize+entryHeaderSize+1 {
		return nil, ReplayStats{}, fmt.Errorf("commitlog: file size %d B is too small", opts.FileSize)
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Log{opts: opts, twake: make(chan struct{}, 1), stop: make(chan struct{}), tdone: make(chan struct{})}
	l.idle.L = &l.mu
	l.arrived.L = &l.mu
	st, err := l.replay(apply)
	if err != nil {
		return nil, st, err
	}
	go l.trimmer()
	return l, st, nil
}

// replay applies every file in the directory and removes them.
func (l *Log) replay(apply Applier) (ReplayStats, error) {
	var st ReplayStats
	fsys := l.opts.FS
	if err := vfs.MkdirAllSync(fsys, l.opts.Dir); err != nil {
		return st, fmt.Errorf("commitlog: create %s: %w", l.opts.Dir, err)
	}
	names, err := fsys.ReadDir(l.opts.Dir)
	if err != nil {
		return st, fmt.Errorf("commitlog: list %s: %w", l.opts.Dir, err)
	}
	var files []string
	for _, name := range names {
		n, ok := parseFileName(name)
		if !ok {
			continue
		}
		files = append(files, name) // ReadDir is sorted and names are fixed-width
		l.next = n + 1
	}
	for _, name := range files {
		n, _ := parseFileName(name)
		if err := l.replayFile(n, filepath.Join(l.opts.Dir, name), apply, &st); err != nil {
			return st, err
		}
	}
	if len(files) == 0 {
		return st, nil
	}
	if err := apply.Sync(); err != nil {
		return st, fmt.Errorf("commitlog: make the replayed writes durable: %w", err)
	}
	for _, name := range files {
		if err := fsys.Remove(filepath.Join(l.opts.Dir, name)); err != nil {
			return st, fmt.Errorf("commitlog: remove replayed file: %w", err)
		}
	}
	if err := fsys.SyncDir(l.opts.Dir); err != nil {
		return st, fmt.Errorf("commitlog: sync %s: %w", l.opts.Dir, err)
	}
	if st.Entries > 0 || len(st.Cut) > 0 {
		l.opts.Logger.Info("replayed the commit log", "files", st.Files, "entries", st.Entries,
			"bytes", st.Bytes, "cut_files", st.Cut)
	}
	return st, nil
}

func (l *Log) replayFile(n uint64, path string, apply Applier, st *ReplayStats) error {
	f, err := l.opts.FS.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("commitlog: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("commitlog: size of %s: %w", path, err)
	}
	st.Files++
	if size == 0 {
		return nil // created, never written
	}
	if size > 1<<40 {
		return fmt.Errorf("commitlog: %s is %d B, larger than any commit log file", path, size)
	}
	m, err := f.Map(int(size))
	if err != nil {
		return fmt.Errorf("commitlog: map %s: %w", path, err)
	}
	defer m.Unmap()
	b := m.Bytes()[:size]
	if err := checkFileHeader(b, n); err != nil {
		if allZero(b) {
			return nil // created and preallocated; the header never reached the disk
		}
		return fmt.Errorf("commitlog: %s: %w; it may hold acknowledged records that are in no segment yet, so the server does not start without it (move it out of the directory to start without them)", path, err)
	}
	used, clean, err := scanEntries(b[fileHeaderSize:], func(e Entry) error {
		if err := apply.Apply(e); err != nil {
			return err
		}
		st.Entries++
		st.Bytes += int64(len(e.Data))
		return nil
	})
	if err != nil {
		return fmt.Errorf("commitlog: replay %s: %w", path, err)
	}
	if !clean {
		st.Cut = append(st.Cut, filepath.Base(path))
		l.opts.Logger.Warn("commit log file ends in a write that was cut; what follows it was never acknowledged",
			"file", path, "offset", fileHeaderSize+used)
	}
	return nil
}

// Batch is one caller's writes for one commit: entries, each bytes that the
// caller has already written to its target. A Batch is reused from commit
// to commit; it refers to the data until Commit returns.
type Batch struct {
	owner Owner
	hdrs  [][entryHeaderSize]byte
	data  [][]byte
	size  int64
	err   error
	lead  bool          // handed the lead by the previous leader
	exp   bool          // announced by Expect, not yet committed or withdrawn
	done  chan struct{} // cap 1
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{done: make(chan struct{}, 1)} }

// Reset empties b for the owner's next commit.
func (b *Batch) Reset(owner Owner) {
	b.owner = owner
	b.hdrs = b.hdrs[:0]
	clear(b.data)
	b.data = b.data[:0]
	b.size = 0
}

// Add adds an entry: data, already written at off of t by the owner. It
// computes the entry's checksum, so the work of checksumming is spread over
// the callers rather than done by the one that writes the group.
func (b *Batch) Add(t Target, off int64, data []byte) {
	if len(data) == 0 {
		return
	}
	b.hdrs = append(b.hdrs, [entryHeaderSize]byte{})
	putEntryHeader(b.hdrs[len(b.hdrs)-1][:], t, off, data)
	b.data = append(b.data, data)
	b.size += entryHeaderSize + int64(len(data))
}

// Len is the number of entries in b.
func (b *Batch) Len() int { return len(b.hdrs) }

// Expect announces that b is about to be committed: its owner is writing
// the bytes it will add. A caller about to lead a group waits until every
// expected batch has arrived (Commit) or been withdrawn (Withdraw), so that
// writers released together by one group, each writing its own file before
// it commits, make one group again rather than a group of the first to
// arrive and another of everyone else, a whole fdatasync later. The owner
// must follow Expect with Commit or Withdraw, without waiting on anything
// that waits for the log.
func (l *Log) Expect(b *Batch) {
	l.mu.Lock()
	if !b.exp {
		b.exp = true
		l.expected++
	}
	l.mu.Unlock()
}

// Withdraw cancels Expect for a batch that will not be committed.
func (l *Log) Withdraw(b *Batch) {
	l.mu.Lock()
	l.arriveLocked(b)
	l.mu.Unlock()
}

// arriveLocked settles b's announcement, if any. l.mu must be held.
func (l *Log) arriveLocked(b *Batch) {
	if b.exp {
		b.exp = false
		l.expected--
		if l.expected == 0 {
			l.arrived.Broadcast()
		}
	}
}

// Commit makes b durable in the log and returns once it is, or with the
// error that kept it from being. Callers commit concurrently: the batches
// waiting at one moment make one group, written by one of their callers
// with one pwritev and made durable with one fdatasync. While one group's
// fdatasync runs, the next group is written and its fdatasync started
// (up to Options.MaxInFlight groups at once), so a batch that arrives
// during a sync does not wait for it; groups still complete in order. A
// caller that gets an error must make its writes durable itself (its own
// fdatasync): the log may have lost its file, or be closed.
func (l *Log) Commit(b *Batch) error {
	if b.size == 0 {
		l.Withdraw(b)
		return nil
	}
	b.err = nil
	l.mu.Lock()
	l.arriveLocked(b)
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.pending = append(l.pending, b)
	if l.writing || len(l.inflight) >= l.opts.MaxInFlight {
		l.mu.Unlock()
		<-b.done
		if !b.lead {
			return b.err // a leader wrote and completed it
		}
		b.lead = false // handed the lead: writing is already set for us
		l.mu.Lock()
	} else {
		l.writing = true
	}
	// Lead: wait for the batches on their way, then take the waiting
	// batches (b among them) as one group and write it.
	for l.expected > 0 {
		l.arrived.Wait()
	}
	g := &group{batches: l.takeGroupLocked()}
	l.mu.Unlock()

	l.writeGroup(g)

	l.mu.Lock()
	l.writing = false
	l.inflight = append(l.inflight, g)
	l.handLeadLocked()
	l.mu.Unlock()

	if g.err == nil {
		t0 := time.Now()
		if err := g.file.f.Sync(); err != nil {
			g.err = fmt.Errorf("commitlog: sync %s: %w", g.file.f.Name(), err)
		}
		if l.opts.OnSync != nil {
			l.opts.OnSync(time.Since(t0))
		}
	}

	l.mu.Lock()
	g.synced = true
	mine := l.completeLocked(b)
	l.handLeadLocked()
	l.mu.Unlock()
	if !mine {
		<-b.done // an earlier group is still syncing: its completer completes ours
	}
	return b.err
}

// group is one write of the log: the batches it carries and where it went.
type group struct {
	batches []*Batch
	file    *logFile
	size    int64
	err     error
	synced  bool // its fdatasync returned (or it failed before one)
}

// logFile is a file of the log and the groups that still use it.
type logFile struct {
	f      vfs.File
	num    uint64
	owners map[Owner]struct{}
	refs   int  // groups written to it and not yet completed
	full   bool // no more groups go into it (full, broken, or closing)
	failed bool // a group in it failed: the groups after it fail too
}

// handLeadLocked hands the lead to the oldest waiting batch if a group may
// be written now. l.mu must be held.
func (l *Log) handLeadLocked() {
	if l.writing || len(l.inflight) >= l.opts.MaxInFlight || len(l.pending) == 0 {
		if !l.writing && len(l.inflight) == 0 {
			l.idle.Broadcast()
		}
		return
	}
	l.writing = true
	nl := l.pending[0]
	nl.lead = true
	nl.done <- struct{}{}
}

// completeLocked completes, in order, the groups at the head of inflight
// whose fdatasync has returned: it records each batch's outcome and wakes
// its caller, except self, whose caller is the one completing. It reports
// whether self's group was completed. A group after a failed one in the
// same file fails too: its entries follow a tail that may not be whole, so
// a replay would not reach them. l.mu must be held.
func (l *Log) completeLocked(self *Batch) (mine bool) {
	for len(l.inflight) > 0 && l.inflight[0].synced {
		g := l.inflight[0]
		l.inflight[0] = nil
		l.inflight = l.inflight[1:]
		if f := g.file; f != nil {
			if g.err == nil && f.failed {
				g.err = errEarlierFailed
			}
			if g.err != nil {
				f.failed = true
				f.full = true // the next group starts a new file
			} else {
				for _, b := range g.batches {
					f.owners[b.owner] = struct{}{}
				}
			}
			f.refs--
			l.maybeRetireLocked(f)
		}
		if g.err != nil {
			l.stats.refused.Add(uint64(len(g.batches)))
			l.opts.Logger.Error("commit log write failed; its writers sync their own files, and the log goes on in a new file",
				"err", g.err)
		} else {
			l.stats.groups.Add(1)
			l.stats.batches.Add(uint64(len(g.batches)))
			l.stats.bytes.Add(uint64(g.size))
		}
		for _, b := range g.batches {
			b.err = g.err
			if b == self {
				mine = true
				continue
			}
			b.done <- struct{}{}
		}
	}
	return mine
}

// errEarlierFailed fails a group written after a group of the same file
// that failed.
var errEarlierFailed = errors.New("commitlog: an earlier write to the same file failed")

// maybeRetireLocked closes a file that takes no more groups once none is
// under way in it, and hands it to the trimmer. l.mu must be held.
func (l *Log) maybeRetireLocked(f *logFile) {
	if !f.full || f.refs > 0 || f.f == nil {
		return
	}
	path := f.f.Name()
	_ = f.f.Close()
	f.f = nil
	l.tmu.Lock()
	l.sealed = append(l.sealed, &sealedFile{num: f.num, path: path, owners: f.owners})
	l.tmu.Unlock()
	select {
	case l.twake <- struct{}{}:
	default:
	}
}

// takeGroupLocked takes the waiting batches, at most what fits in half a
// file (and at least one), leaving the rest waiting. l.mu must be held.
func (l *Log) takeGroupLocked() []*Batch {
	limit := l.opts.FileSize / 2
	var total int64
	k := 0
	for k < len(l.pending) {
		total += l.pending[k].size
		if k > 0 && total > limit {
			break
		}
		k++
	}
	group := make([]*Batch, k)
	copy(group, l.pending)
	n := copy(l.pending, l.pending[k:])
	clear(l.pending[n:])
	l.pending = l.pending[:n]
	return group
}

// writeGroup writes g at the end of the current file (starting a new one
// when it does not fit). Only the leader calls it; on return g.file holds
// a reference for g unless g failed before it was written.
func (l *Log) writeGroup(g *group) {
	for _, b := range g.batches {
		g.size += b.size
	}
	f, err := l.ensureRoom(g.size)
	if err != nil {
		g.err, g.synced = err, true
		return
	}
	l.iov = l.iov[:0]
	for _, b := range g.batches {
		for i := range b.hdrs {
			l.iov = append(l.iov, b.hdrs[i][:], b.data[i])
		}
	}
	_, err = f.f.WritevAt(l.iov, l.pos)
	clear(l.iov)
	l.mu.Lock()
	f.refs++
	l.mu.Unlock()
	g.file = f
	if err != nil {
		g.err = fmt.Errorf("commitlog: write %s at %d: %w", f.f.Name(), l.pos, err)
		g.synced = true
		l.mu.Lock()
		f.full = true // its tail is unknown: no later group goes into it
		l.mu.Unlock()
		return
	}
	l.pos += g.size
}

// ensureRoom returns the current file if it can take n more bytes, or
// retires it and starts the next one. Only the leader calls it.
func (l *Log) ensureRoom(n int64) (*logFile, error) {
	l.mu.Lock()
	cur := l.cur
	if cur != nil && !cur.full && l.pos+n <= l.size {
		l.mu.Unlock()
		return cur, nil
	}
	if cur != nil {
		cur.full = true
		l.maybeRetireLocked(cur)
		l.cur = nil
	}
	l.mu.Unlock()
	if !l.retryAt.IsZero() && time.Now().Before(l.retryAt) {
		return nil, errUnavailable
	}
	num := l.next
	path := filepath.Join(l.opts.Dir, fileName(num))
	size := max(l.opts.FileSize, fileHeaderSize+n)
	vf, err := l.createFile(path, num, size)
	if err != nil {
		l.retryAt = time.Now().Add(l.opts.RetryAfter)
		l.opts.Logger.Warn("could not start a commit log file; writers sync their own files until it can",
			"file", path, "err", err, "retry_after", l.opts.RetryAfter)
		return nil, err
	}
	l.retryAt = time.Time{}
	l.next = num + 1
	f := &logFile{f: vf, num: num, owners: make(map[Owner]struct{})}
	l.mu.Lock()
	l.cur = f
	l.mu.Unlock()
	l.pos, l.size = fileHeaderSize, size
	return f, nil
}

// createFile creates, preallocates and heads a new file, and makes its
// name durable. The header reaches the disk with the first group's sync.
func (l *Log) createFile(path string, num uint64, size int64) (vfs.File, error) {
	fsys := l.opts.FS
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, vfs.FileMode)
	if err != nil {
		return nil, fmt.Errorf("commitlog: create %s: %w", path, err)
	}
	fail := func(err error) (vfs.File, error) {
		_ = f.Close()
		_ = fsys.Remove(path)
		return nil, err
	}
	if err := f.Allocate(0, size); err != nil {
		return fail(fmt.Errorf("commitlog: allocate %s to %d B: %w", path, size, err))
	}
	putFileHeader(l.hdrBuf[:], num)
	if _, err := f.WriteAt(l.hdrBuf[:], 0); err != nil {
		return fail(fmt.Errorf("commitlog: write header of %s: %w", path, err))
	}
	if err := fsys.SyncDir(l.opts.Dir); err != nil {
		return fail(fmt.Errorf("commitlog: sync %s: %w", l.opts.Dir, err))
	}
	return f, nil
}

// trimmer removes sealed files once their owners have flushed. An owner
// that fails to flush keeps its file (and the records it makes durable) for
// the next start's replay; the trimmer tries again later.
func (l *Log) trimmer() {
	defer close(l.tdone)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		stopping := false
		select {
		case <-l.twake:
		case <-retry.C:
		case <-l.stop:
			stopping = true
		}
		if left := l.trim(); left > 0 && !stopping {
			retry.Reset(l.opts.RetryAfter)
		}
		if stopping {
			return
		}
	}
}

// trim removes every sealed file whose owners all flush, and returns how
// many are left.
func (l *Log) trim() int {
	l.tmu.Lock()
	files := l.sealed
	l.sealed = nil
	l.tmu.Unlock()
	var keep []*sealedFile
	removed := false
	for _, sf := range files {
		if err := flushAll(sf.owners); err != nil {
			l.opts.Logger.Warn("a commit log file is kept: a shard it covers could not make its writes durable; the next start replays it",
				"file", sf.path, "err", err)
			keep = append(keep, sf)
			continue
		}
		if err := l.opts.FS.Remove(sf.path); err != nil {
			l.opts.Logger.Warn("could not remove a commit log file", "file", sf.path, "err", err)
			keep = append(keep, sf)
			continue
		}
		removed = true
		l.stats.trimmed.Add(1)
	}
	if removed {
		if err := l.opts.FS.SyncDir(l.opts.Dir); err != nil {
			l.opts.Logger.Warn("could not sync the commit log directory", "dir", l.opts.Dir, "err", err)
		}
	}
	if len(keep) > 0 {
		l.tmu.Lock()
		l.sealed = append(keep, l.sealed...)
		l.tmu.Unlock()
	}
	return len(keep)
}

func flushAll(owners map[Owner]struct{}) error {
	for o := range owners {
		if err := o.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// Close refuses further commits, waits for the groups under way, and
// removes every file whose owners flush (the caller closes its owners
// first, so that all of them do and the directory is left empty). Files
// kept are replayed by the next Open.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	for l.writing || len(l.inflight) > 0 {
		l.idle.Wait()
	}
	if f := l.cur; f != nil {
		f.full = true
		l.maybeRetireLocked(f)
		l.cur = nil
	}
	l.mu.Unlock()
	close(l.stop)
	<-l.tdone
	l.tmu.Lock()
	left := len(l.sealed)
	l.tmu.Unlock()
	if left > 0 {
		return fmt.Errorf("commitlog: %d file(s) kept for the next start: some of their writes may not be durable elsewhere", left)
	}
	return nil
}

// Stats are the log's counters since Open.
type Stats struct {
	Groups  uint64 // groups written and synced (one fdatasync each)
	Batches uint64 // batches made durable
	Bytes   uint64 // bytes written, headers included
	Refused uint64 // batches refused (a failed write, sync or file creation; their callers synced themselves)
	Trimmed uint64 // files removed after their owners flushed
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	return Stats{Groups: l.stats.groups.Load(), Batches: l.stats.batches.Load(), Bytes: l.stats.bytes.Load(),
		Refused: l.stats.refused.Load(), Trimmed: l.stats.trimmed.Load()}
}
