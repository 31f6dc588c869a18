package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedb/sluice/internal/checksum"
)

// flowState is one flow at run time: its sources, its tailer's buffers and
// the queue of batches between its tailer and its sender.
type flowState struct {
	a     *Agent
	cfg   *Flow
	key   string
	log   *slog.Logger
	pipe  *pipeline
	keyer *keyer
	multi *regexp.Regexp // multiLineStartPattern, or nil

	// mu guards sources and the fields of each source that source.go marks
	// as guarded (the tailer writes them; the checkpointer and the progress
	// line read them).
	mu      sync.Mutex
	sources []*source // chain by chain in the order of their generations

	// Tailer only.
	startAtEnd bool   // END_OF_FILE on a first start: files of the first poll begin at their end
	buf        []byte // the read buffer: one record at most (1 MiB) and its newline
	scratch    []byte // a processed record and its newline
	rc         recordContext
	cur        *batch // the batch being filled

	out  chan *batch // filled batches, to the sender (bounded: backpressure)
	free chan *batch // emptied batches, back from the sender
	// onFull, if set (by tests), is called by the tailer when it finds the
	// queue full and is about to wait for the sender.
	onFull func()

	stats flowStats
}

// flowStats are a flow's counters since the agent started.
type flowStats struct {
	lines      atomic.Int64 // lines read
	records    atomic.Int64 // records made of them (several lines each with multiLineStartPattern)
	sent       atomic.Int64 // records acknowledged
	failed     atomic.Int64 // records refused as invalid, never stored
	unparsed   atomic.Int64 // records a processing option could not parse (sent raw with an error field)
	retries    atomic.Int64 // put requests sent again after a refusal or error
	truncated  atomic.Int64 // records cut to the record size limit
	lostFiles  atomic.Int64 // files truncated with no copy found: lines after the last read are lost
	keyMissing atomic.Int64 // JSON_FIELD records without the field (keyed as DETERMINISTIC)
}

// queueBatches is how many filled batches wait for a flow's sender; with
// the one being filled and the one being sent it bounds what a flow
// buffers: at most 4 batches of at most maxBufferSizeBytes each.
const queueBatches = 2

func newFlowState(a *Agent, cfg *Flow) (*flowState, error) {
	fl := &flowState{a: a, cfg: cfg, key: cfg.key(), log: a.log.With("flow", cfg.key()),
		keyer: newKeyer(cfg), buf: make([]byte, maxRecordBytes+1),
		out: make(chan *batch, queueBatches), free: make(chan *batch, queueBatches+2)}
	var err error
	if fl.pipe, err = newPipeline(cfg.DataProcessingOptions); err != nil {
		return nil, err
	}
	if cfg.MultiLineStartPattern != "" {
		fl.multi = regexp.MustCompile(cfg.MultiLineStartPattern) // validated with the configuration
	}
	fl.rc.host = a.host
	fl.cur = &batch{}
	for range queueBatches + 1 {
		fl.free <- &batch{}
	}
	return fl, nil
}

// candidate is a file the glob matched at one poll.
type candidate struct {
	path  string
	id    identity
	size  int64
	mtime time.Time
}

// glob lists the regular files the flow's pattern matches, oldest first.
func (fl *flowState) glob() []candidate {
	paths, _ := filepath.Glob(fl.cfg.FilePattern) // the pattern was validated
	cands := make([]candidate, 0, len(paths))
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		id, ok := fileIdentity(fi)
		if !ok {
			continue
		}
		cands = append(cands, candidate{path: p, id: id, size: fi.Size(), mtime: fi.ModTime()})
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if c := a.mtime.Compare(b.mtime); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.path), []byte(b.path))
	})
	return cands
}

// restore opens the files of the flow's checkpoints: at the path they were
// last seen, or renamed within its directory (found by inode), or, for a
// file truncated since, its copy. A file whose fingerprint no longer
// matches was rewritten; one that cannot be found is gone: both are logged.
func (fl *flowState) restore(entries []checkpoint) {
	for i := range entries {
		e := &entries[i]
		if e.Flow != fl.key {
			continue
		}
		s := fl.restoreOne(e)
		if s != nil {
			fl.sources = append(fl.sources, s)
		}
	}
}

func (fl *flowState) restoreOne(e *checkpoint) *source {
	f, fi, path := locate(e.Path, e.ID)
	done := e.Flags&ckptDone != 0
	if f != nil {
		fp, same, err := readFingerprint(f, fi.Size(), e.FP)
		if err == nil && same && fi.Size() >= e.Offset {
			s := &source{id: e.ID, path: path, chain: e.Chain, fp: fp, f: f, readOff: e.Offset,
				rotated: e.Flags&ckptRotated != 0 || path != e.Chain, size: fi.Size(), mtime: fi.ModTime()}
			if fp.N < e.FP.N {
				s.fp = e.FP
			}
			s.acked.Store(e.Offset)
			if done {
				s.done, s.finalOff, s.f = true, e.Offset, nil
				f.Close()
			}
			return s
		}
		f.Close()
	}
	if done {
		return nil // a finished file that is gone or was replaced: nothing to do
	}
	if cp := findCopy(filepath.Dir(e.Path), filepath.Base(e.Path), e.FP, e.Offset, fl.owned); cp != nil {
		fl.log.Info("resuming a file truncated since the last run from its copy", "file", e.Path, "copy", cp.path, "offset", e.Offset)
		s := &source{id: cp.id, path: cp.path, chain: e.Chain, fp: e.FP, f: cp.f, readOff: e.Offset, rotated: true, size: cp.size, mtime: cp.mtime}
		s.acked.Store(e.Offset)
		return s
	}
	if f != nil {
		fl.log.Warn("a checkpointed file was rewritten since the last run (its first bytes differ) and no copy of it was found: its lines after the checkpoint were not sent", "file", path, "offset", e.Offset)
	} else {
		fl.log.Warn("a checkpointed file is gone since the last run (deleted, or rotated out of its directory): its lines after the checkpoint were not sent", "file", e.Path, "offset", e.Offset)
	}
	return nil
}

// locate opens the file with identity id: at path, or under another name
// in path's directory.
func locate(path string, id identity) (*os.File, fs.FileInfo, string) {
	if f, fi := openIdentity(path, id); f != nil {
		return f, fi, path
	}
	dir := filepath.Dir(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, ""
	}
	for _, de := range ents {
		p := filepath.Join(dir, de.Name())
		if fi, err := os.Stat(p); err == nil {
			if got, ok := fileIdentity(fi); ok && got == id {
				if f, fi := openIdentity(p, id); f != nil {
					return f, fi, p
				}
			}
		}
	}
	return nil, nil, ""
}

// openIdentity opens path if it is the file with identity id.
func openIdentity(path string, id identity) (*os.File, fs.FileInfo) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().IsRegular() {
		if got, ok := fileIdentity(fi); ok && got == id {
			return f, fi
		}
	}
	f.Close()
	return nil, nil
}

// copyFile is an open copy found by findCopy.
type copyFile struct {
	f     *os.File
	path  string
	id    identity
	size  int64
	mtime time.Time
}

// findCopy looks in dir for the copy a copy-truncate rotation made of the
// file base: a generation of its name (base.1, base-20240101) whose first
// bytes have fingerprint fp and which holds at least minSize bytes, and
// that is no file owned already reads.
func findCopy(dir, base string, fp fingerprint, minSize int64, owned func(identity) bool) *copyFile {
	if fp.N == 0 {
		return nil // nothing was read of it: there is nothing to finish
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, de := range ents {
		if !isGeneration(de.Name(), base) {
			continue
		}
		p := filepath.Join(dir, de.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		id, ok := identity{}, false
		if err == nil {
			id, ok = fileIdentity(fi)
		}
		if ok && fi.Mode().IsRegular() && fi.Size() >= minSize && !owned(id) {
			if _, same, err := readFingerprint(f, fi.Size(), fp); err == nil && same {
				return &copyFile{f: f, path: p, id: id, size: fi.Size(), mtime: fi.ModTime()}
			}
		}
		f.Close()
	}
	return nil
}

// owned reports whether a source of the flow has identity id. Called with
// mu held or by the tailer.
func (fl *flowState) owned(id identity) bool {
	for _, s := range fl.sources {
		if s.id == id && id != (identity{}) {
			return true
		}
	}
	return false
}

// poll is one pass of the tailer: match the glob, follow what happened to
// each source (moved, rotated, truncated, deleted), pick up new files, and
// read every chain's oldest unfinished file to its end. final finishes
// rotated files even without a successor and ends partial last lines and
// multi-line records (the end of a --once run).
func (fl *flowState) poll(ctx context.Context, final bool) error {
	cands := fl.glob()
	fl.mu.Lock()
	fl.follow(cands)
	fl.discover(cands)
	chains := fl.chains()
	fl.mu.Unlock()
	if fl.startAtEnd {
		// The files skipped to their end are checkpointed there at once, so
		// that a restart before any line is acknowledged does not skip the
		// lines written since.
		fl.startAtEnd = false
		fl.a.wakeCheckpoint()
	}
	for _, ch := range chains {
		if err := fl.readChain(ctx, ch, final); err != nil {
			return err
		}
	}
	return nil
}

// follow updates the sources from the glob's matches. Called with mu held.
func (fl *flowState) follow(cands []candidate) {
	byID := make(map[identity]*candidate, len(cands))
	for i := range cands {
		byID[cands[i].id] = &cands[i]
	}
	kept := fl.sources[:0]
	for _, s := range fl.sources {
		c, matched := byID[s.id]
		if s.done {
			switch {
			case matched && s.id != (identity{}) && c.size == s.size && c.mtime.Equal(s.mtime):
				s.path = c.path
			case matched && s.id != (identity{}) && c.size >= s.finalOff:
				if _, same := fingerprintOf(c.path, s.fp); same {
					s.path, s.size, s.mtime = c.path, c.size, c.mtime
					break
				}
				fallthrough // the inode was reused by another file
			default:
				if s.acked.Load() < s.finalOff {
					s.id = identity{} // its identity is free; the source waits for its acknowledgements
					kept = append(kept, s)
				}
				continue
			}
			kept = append(kept, s)
			continue
		}
		s.gone = !matched
		if matched {
			s.path, s.mtime = c.path, c.mtime
		}
		if s.path != s.chain || !matched {
			s.rotated = true
		}
		if fi, err := s.f.Stat(); err == nil {
			s.size = fi.Size()
		}
		if !s.rotated {
			fl.checkTruncated(s)
		}
		kept = append(kept, s)
	}
	clear(fl.sources[len(kept):])
	fl.sources = kept
}

// checkTruncated notices a file that was truncated (copy-truncate
// rotation): it is shorter than what was read, or its first bytes changed.
// The source moves to the copy, if there is one, to be finished there; the
// truncated file is then picked up again as a new generation. Called with
// mu held.
func (fl *flowState) checkTruncated(s *source) {
	fp, same, err := readFingerprint(s.f, s.size, s.fp)
	if err != nil {
		return
	}
	if same && s.size >= s.readOff {
		if fp.N > s.fp.N {
			s.fp = fp
		}
		return
	}
	if cp := findCopy(filepath.Dir(s.path), filepath.Base(s.path), s.fp, s.readOff, fl.owned); cp != nil {
		fl.log.Info("file truncated: finishing it from its copy", "file", s.path, "copy", cp.path, "offset", s.readOff)
		s.f.Close()
		s.f, s.id, s.path, s.size, s.mtime, s.rotated = cp.f, cp.id, cp.path, cp.size, cp.mtime, true
		return
	}
	fl.log.Warn("file truncated and no copy of it found (a copy-truncate whose copy is compressed, moved away or not named after the file?): lines written after the last read were not sent",
		"file", s.path, "read", s.readOff, "size", s.size)
	fl.stats.lostFiles.Add(1)
	s.f.Close()
	s.f, s.id, s.done, s.finalOff, s.rotated = nil, identity{}, true, s.readOff, true
}

// discover adds the glob's matches that no source has. A match that is a
// copy of a file being read (named as its generation, with its first
// bytes) is left alone: it is the first half of a copy-truncate, finished
// from when the truncation is seen. Called with mu held.
func (fl *flowState) discover(cands []candidate) {
	for i := range cands {
		c := &cands[i]
		if fl.owned(c.id) {
			continue
		}
		f, fi := openIdentity(c.path, c.id)
		if f == nil {
			continue
		}
		var head [fingerprintLen]byte
		n, err := f.ReadAt(head[:min(fi.Size(), fingerprintLen)], 0)
		if err != nil && !errors.Is(err, io.EOF) {
			f.Close()
			continue
		}
		fp := fingerprint{N: uint16(n), Sum: checksum.Value(head[:n])}
		if fl.copyOfLive(c.path, head[:n]) {
			f.Close()
			continue
		}
		chain := fl.chainOf(c.path, cands)
		s := &source{id: c.id, path: c.path, chain: chain, fp: fp, f: f, size: fi.Size(), mtime: fi.ModTime(), rotated: c.path != chain}
		if fl.startAtEnd {
			s.readOff = fi.Size()
		} else {
			s.skip = fl.cfg.SkipHeaderLines
		}
		s.acked.Store(s.readOff)
		fl.log.Debug("tailing a new file", "file", c.path, "chain", chain, "offset", s.readOff)
		fl.insert(s)
	}
}

// copyOfLive reports whether a new file at path whose first bytes are
// head is a copy of a file being read at its chain's path: it is named as
// a generation of it and starts with the bytes of its fingerprint.
func (fl *flowState) copyOfLive(path string, head []byte) bool {
	for _, s := range fl.sources {
		if s.done || s.rotated || s.fp.N == 0 || len(head) < int(s.fp.N) {
			continue
		}
		if checksum.Value(head[:s.fp.N]) == s.fp.Sum && sameDirGeneration(path, s.chain) {
			return true
		}
	}
	return false
}

// chainOf returns the chain a new file at path belongs to: the longest
// known path it is a generation of (app.log for app.log.1), else its own.
func (fl *flowState) chainOf(path string, cands []candidate) string {
	best := ""
	consider := func(p string) {
		if p != path && len(p) > len(best) && sameDirGeneration(path, p) {
			best = p
		}
	}
	for _, s := range fl.sources {
		consider(s.chain)
		consider(s.path)
	}
	for i := range cands {
		consider(cands[i].path)
	}
	if best == "" {
		return path
	}
	for _, s := range fl.sources {
		if s.path == best {
			return s.chain
		}
	}
	return best
}

// insert places a new source in its chain: a rotated generation before
// the chain's current file, the current file last.
func (fl *flowState) insert(s *source) {
	if s.rotated {
		for i, o := range fl.sources {
			if o.chain == s.chain && !o.rotated {
				fl.sources = slices.Insert(fl.sources, i, s)
				return
			}
		}
	}
	fl.sources = append(fl.sources, s)
}

// chains returns the unfinished sources chain by chain, each chain in
// order. Called with mu held.
func (fl *flowState) chains() [][]*source {
	var out [][]*source
	index := map[string]int{}
	for _, s := range fl.sources {
		if s.done {
			continue
		}
		i, ok := index[s.chain]
		if !ok {
			i = len(out)
			index[s.chain] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], s)
	}
	return out
}

// readChain reads a chain's sources in order: each rotated one to its end
// and then finished, when a newer generation exists (or final); the first
// that is not finished ends the pass.
func (fl *flowState) readChain(ctx context.Context, ch []*source, final bool) error {
	for i, s := range ch {
		finishing := s.rotated && (i+1 < len(ch) || final)
		if err := fl.read(ctx, s, finishing || final); err != nil {
			return err
		}
		if !finishing {
			return nil
		}
		fl.mu.Lock()
		s.done, s.finalOff = true, s.readOff
		fl.mu.Unlock()
		s.f.Close()
		s.f = nil
		fl.log.Debug("finished a rotated file", "file", s.path, "offset", s.readOff)
	}
	return nil
}

// read emits the records of s from readOff to the file's end. end says the
// file's last bytes are a record even without a newline.
func (fl *flowState) read(ctx context.Context, s *source, end bool) error {
	for {
		n, err := s.f.ReadAt(fl.buf, s.readOff)
		if err != nil && !errors.Is(err, io.EOF) {
			fl.log.Error("read failed; trying again at the next poll", "file", s.path, "offset", s.readOff, "err", err)
			return nil
		}
		if n == 0 {
			return nil
		}
		atEnd := n < len(fl.buf)
		used, err := fl.scan(ctx, s, fl.buf[:n], atEnd && end)
		if err != nil {
			return err
		}
		if used == 0 && !atEnd {
			// One record fills the buffer: it is cut where it leaves room for
			// the longest partition key, and the rest is the next record.
			fl.stats.truncated.Add(1)
			if err := fl.emit(ctx, s, fl.buf[:cutLen], s.readOff+cutLen); err != nil {
				return err
			}
			used = cutLen
		}
		s.readOff += int64(used)
		if atEnd {
			return nil
		}
	}
}

// scan emits the complete records at the start of buf (which starts at
// s.readOff) and returns the bytes they took. final makes the bytes after
// the last newline a record too.
func (fl *flowState) scan(ctx context.Context, s *source, buf []byte, final bool) (int, error) {
	used := 0   // bytes emitted or skipped
	start := -1 // the start of the pending multi-line record, or -1
	pos := 0    // the start of the next line
	for pos < len(buf) {
		nl := bytes.IndexByte(buf[pos:], '\n')
		if nl < 0 {
			break
		}
		lineEnd := pos + nl + 1
		fl.stats.lines.Add(1)
		if s.skip > 0 {
			s.skip--
			if start < 0 {
				used = lineEnd
			}
			pos = lineEnd
			continue
		}
		if fl.multi == nil {
			if err := fl.emit(ctx, s, buf[pos:lineEnd], s.readOff+int64(lineEnd)); err != nil {
				return 0, err
			}
			used, pos = lineEnd, lineEnd
			continue
		}
		if start < 0 || fl.multi.Match(bytes.TrimRight(buf[pos:lineEnd], "\r\n")) {
			if start >= 0 {
				if err := fl.emit(ctx, s, buf[start:pos], s.readOff+int64(pos)); err != nil {
					return 0, err
				}
				used = pos
			}
			start = pos
		}
		pos = lineEnd
	}
	if start >= 0 {
		// A multi-line record waits for the next record's first line; it is
		// sent without one when it has not grown for maxBufferAgeMillis.
		pending := pos - start
		now := fl.a.clock.Now()
		if start > 0 {
			s.pendingLen = 0 // records before it were sent: it is a new one
		}
		expired := pending == s.pendingLen && now.Sub(s.pendingAt) >= fl.cfg.bufferAge()
		if final || expired {
			if err := fl.emit(ctx, s, buf[start:pos], s.readOff+int64(pos)); err != nil {
				return 0, err
			}
			used = pos
			s.pendingLen = 0
		} else if pending != s.pendingLen {
			s.pendingLen, s.pendingAt = pending, now
		}
	}
	if final && pos < len(buf) && used == pos {
		fl.stats.lines.Add(1)
		if err := fl.emit(ctx, s, buf[pos:], s.readOff+int64(len(buf))); err != nil {
			return 0, err
		}
		used = len(buf)
	}
	return used, nil
}

// emit processes a record, keys it and adds it to the batch, handing the
// batch to the sender when full. end is the file offset just past the
// record.
func (fl *flowState) emit(ctx context.Context, s *source, rec []byte, end int64) error {
	fl.stats.records.Add(1)
	data := rec
	if len(fl.pipe.procs) > 0 {
		fl.rc.file, fl.rc.now = s.path, fl.a.clock.Now()
		before := fl.pipe.errors
		out := fl.pipe.run(bytes.TrimRight(rec, "\r\n"), &fl.rc)
		if fl.pipe.errors != before {
			fl.stats.unparsed.Add(1)
		}
		fl.scratch = append(append(fl.scratch[:0], out...), '\n')
		data = fl.scratch
	}
	before := fl.keyer.fallbacks
	key := fl.keyer.key(data)
	if fl.keyer.fallbacks != before {
		fl.stats.keyMissing.Add(1)
	}
	if len(key)+len(data) > maxRecordBytes {
		data = data[:maxRecordBytes-len(key)]
		fl.stats.truncated.Add(1)
	}
	b := fl.cur
	if b.len() > 0 && b.bytes+len(key)+len(data) > fl.cfg.MaxBufferSizeBytes {
		if err := fl.handoff(ctx); err != nil {
			return err
		}
	}
	fl.cur.add(key, data, mark{src: s, end: end}, fl.a.clock.Now())
	if fl.cur.len() >= fl.cfg.MaxBufferSizeRecords {
		return fl.handoff(ctx)
	}
	return nil
}

// handoff gives the current batch to the sender and takes an empty one. It
// blocks while the sender is behind: the tailer stops reading files.
func (fl *flowState) handoff(ctx context.Context) error {
	if fl.cur.len() == 0 {
		return nil
	}
	select {
	case fl.out <- fl.cur:
	default:
		if fl.onFull != nil {
			fl.onFull()
		}
		select {
		case fl.out <- fl.cur:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case fl.cur = <-fl.free:
		fl.cur.reset()
		return nil
	case <-ctx.Done():
		fl.cur = &batch{}
		return ctx.Err()
	}
}

// tail is the flow's tailer goroutine: it polls every pollInterval and
// sends a batch that is older than maxBufferAgeMillis. It stops reading
// when ctx ends; then (or after the drain of a --once run) it hands the
// last batch to the sender within sendCtx and closes the queue, which ends
// the sender.
func (fl *flowState) tail(ctx, sendCtx context.Context) error {
	defer close(fl.out)
	if fl.a.opts.Once {
		err := fl.drain(ctx)
		if err == nil {
			err = fl.handoff(sendCtx)
		}
		return err
	}
	clock := fl.a.clock
	for {
		if err := fl.poll(ctx, false); err != nil {
			break
		}
		wait := fl.a.opts.PollInterval
		if fl.cur.len() > 0 {
			age := clock.Now().Sub(fl.cur.first)
			if age >= fl.cfg.bufferAge() {
				if err := fl.handoff(ctx); err != nil {
					break
				}
			} else {
				wait = min(wait, fl.cfg.bufferAge()-age)
			}
		}
		t := clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fl.handoff(sendCtx)
}

// drain is a --once run's tailer: read every file to its end; while a
// file ends in a partial line, poll again for up to the partial-line
// timeout for its newline; then finish everything, partial lines included.
func (fl *flowState) drain(ctx context.Context) error {
	if err := fl.poll(ctx, false); err != nil {
		return err
	}
	clock := fl.a.clock
	deadline := clock.Now().Add(fl.a.opts.PartialLineTimeout)
	for fl.partial() && clock.Now().Before(deadline) {
		t := clock.NewTimer(min(fl.a.opts.PollInterval, deadline.Sub(clock.Now())))
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		if err := fl.poll(ctx, false); err != nil {
			return err
		}
	}
	return fl.poll(ctx, true)
}

// partial reports whether a source has bytes after its last record: a
// line without its newline yet, or a multi-line record without its end.
func (fl *flowState) partial() bool {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for _, s := range fl.sources {
		if !s.done && s.f != nil {
			if fi, err := s.f.Stat(); err == nil && fi.Size() > s.readOff {
				return true
			}
		}
	}
	return false
}

// behind returns the bytes of each file not yet acknowledged, for the
// progress line.
func (fl *flowState) behind() (total int64, files []fileBehind) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for _, s := range fl.sources {
		end := s.size
		if s.done {
			end = s.finalOff // what a finished file gains later is not read
		}
		if b := end - s.acked.Load(); b > 0 {
			total += b
			files = append(files, fileBehind{path: s.path, bytes: b})
		}
	}
	return total, files
}

type fileBehind struct {
	path  string
	bytes int64
}

// snapshot appends the flow's checkpoints: every source with an identity,
// at its acknowledged offset.
func (fl *flowState) snapshot(dst []checkpoint) []checkpoint {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for _, s := range fl.sources {
		if s.id == (identity{}) {
			continue
		}
		e := checkpoint{Flow: fl.key, Chain: s.chain, Path: s.path, ID: s.id, Offset: s.acked.Load(), FP: s.fp}
		if s.rotated {
			e.Flags |= ckptRotated
		}
		if s.done && e.Offset >= s.finalOff {
			e.Flags |= ckptDone
		}
		dst = append(dst, e)
	}
	return dst
}

func (fl *flowState) String() string { return fmt.Sprintf("flow %s", fl.key) }
