package raftlog

import (
	"fmt"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
)

// slot is one stored entry of a group: its term, where its record is, and
// the entry itself while the cache holds it.
type slot struct {
	ent  *raftpb.Entry // nil when not cached (evicted, or replayed from disk)
	file *logFile      // the file holding the entry's record
	off  int64         // the record's offset in file
	n    uint32        // the entry's data length
	typ  raftpb.EntryType
	term uint64
}

// span says which indexes of a group's entries in one file may still be
// live: the file is pinned by the group while the span is not compacted.
type span struct {
	file   *logFile
	lo, hi uint64
}

// snapState is a group's latest snapshot.
type snapState struct {
	index, term uint64
	cs          *raftpb.ConfState // never changed once set: a new snapshot gets a new one
	data        []byte
}

// group is one Raft group's stored state and its raft.Storage.
type group struct {
	id  uint64
	log *Log

	mu sync.RWMutex // guards the fields below; readers take it once per call
	// slots[k] is the entry at index compacted+1+k.
	slots     []slot
	compacted uint64 // the last index compacted away (or covered by an incoming snapshot)
	prevTerm  uint64 // the term of entry compacted
	// prevKnown is false during replay while the group's oldest entries seen
	// follow a gap that no compaction point has covered yet.
	prevKnown bool
	hasHS     bool
	hs        struct{ term, vote, commit uint64 }
	snap      snapState
	spans     []span
	removed   bool
	// The files holding the group's latest hard state, snapshot and
	// compaction records (noFile when there is none): a file is retired only
	// once they have been written again into a newer one.
	hsFile, snapFile, compactFile uint64

	stored   atomic.Bool // anything was ever stored for the group (for Groups)
	saveMark uint64      // the batch sequence of the Save that last named the group; writer only
}

var _ cluster.GroupStorage = (*group)(nil)

func newGroup(l *Log, id uint64) *group {
	return &group{id: id, log: l, prevKnown: true}
}

// lastIndex is the index of the group's last entry. g.mu must be held.
func (g *group) lastIndex() uint64 { return g.compacted + uint64(len(g.slots)) }

// cacheCost is what a cached entry counts against Options.CacheBytes: its
// data and the entry's own structures.
func cacheCost(n uint32) int64 { return int64(n) + 96 }

// release uncounts the cached entries of s. g.mu must be held for writing.
func (g *group) release(s []slot) {
	var bytes, count int64
	for i := range s {
		if s[i].ent != nil {
			bytes += cacheCost(s[i].n)
			count++
		}
	}
	if count > 0 {
		g.log.cacheBytes.Add(-bytes)
		g.log.cacheCount.Add(-count)
	}
	clear(s)
}

// dropAll forgets every entry. g.mu must be held for writing.
func (g *group) dropAll() {
	g.release(g.slots)
	g.slots = nil
	for _, s := range g.spans {
		s.file.pins.Add(-1)
	}
	g.spans = nil
}

// truncateFrom drops the entries at index i and after. g.mu must be held
// for writing.
func (g *group) truncateFrom(i uint64) {
	if i > g.lastIndex() {
		return
	}
	k := i - g.compacted - 1
	g.release(g.slots[k:])
	g.slots = g.slots[:k]
	spans := g.spans[:0]
	for _, s := range g.spans {
		if s.lo >= i {
			s.file.pins.Add(-1)
			continue
		}
		s.hi = min(s.hi, i-1)
		spans = append(spans, s)
	}
	clear(g.spans[len(spans):])
	g.spans = spans
}

// compactTo discards the entries up to and including c, whose term is
// term. g.mu must be held for writing.
func (g *group) compactTo(c, term uint64) {
	if c < g.compacted || (c == g.compacted && g.prevKnown) {
		return
	}
	if c >= g.lastIndex() {
		g.release(g.slots)
		g.slots = nil
	} else {
		k := c - g.compacted
		g.release(g.slots[:k])
		g.slots = g.slots[k:]
		if cap(g.slots) > 1024 && len(g.slots) < cap(g.slots)/4 {
			g.slots = append([]slot(nil), g.slots...) // let the compacted part go
		}
	}
	g.compacted, g.prevTerm, g.prevKnown = c, term, true
	spans := g.spans[:0]
	for _, s := range g.spans {
		if s.hi <= c {
			s.file.pins.Add(-1)
			continue
		}
		spans = append(spans, s)
	}
	clear(g.spans[len(spans):])
	g.spans = spans
}

// resetTo replaces the log with an incoming snapshot's point: no entries,
// index compacted with term. g.mu must be held for writing.
func (g *group) resetTo(index, term uint64) {
	g.dropAll()
	g.compacted, g.prevTerm, g.prevKnown = index, term, true
}

// putEntry stores the entry at index, replacing any entry at index or
// after. An entry at or below the compaction point is ignored (it is
// committed and compacted). While replaying, an entry after a gap starts
// the log anew; Save never passes one. g.mu must be held for writing.
func (g *group) putEntry(index uint64, s slot) {
	switch last := g.lastIndex(); {
	case index <= g.compacted && g.prevKnown:
		return
	case index <= g.compacted:
		// Replay with an unknown past: an entry below what was taken for
		// the start replaces everything seen.
		g.dropAll()
		g.compacted, g.prevTerm = index-1, 0
	case index > last+1:
		g.dropAll()
		g.compacted, g.prevTerm, g.prevKnown = index-1, 0, false
	case index <= last:
		g.truncateFrom(index)
	}
	g.slots = append(g.slots, s)
	if n := len(g.spans); n > 0 && g.spans[n-1].file == s.file {
		sp := &g.spans[n-1]
		sp.lo, sp.hi = min(sp.lo, index), max(sp.hi, index)
		return
	}
	s.file.pins.Add(1)
	g.spans = append(g.spans, span{file: s.file, lo: index, hi: index})
}

// checkReadable returns the error of a group that cannot be read. g.mu
// must be held.
func (g *group) checkReadable() error {
	if g.removed {
		return fmt.Errorf("%w: group %d", ErrRemoved, g.id)
	}
	return nil
}

// InitialState returns the saved hard state (nil if none) and the
// configuration of the latest snapshot (empty if none).
func (g *group) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.checkReadable(); err != nil {
		return nil, nil, err
	}
	var hs *raftpb.HardState
	if g.hasHS {
		hs = &raftpb.HardState{Term: new(g.hs.term), Vote: new(g.hs.vote), Commit: new(g.hs.commit)}
	}
	if g.snap.cs == nil {
		return hs, raftpb.EnsureConfState(nil), nil
	}
	return hs, cloneConfState(g.snap.cs), nil
}

// Entries returns the entries [lo, hi), at most maxSize bytes of them in
// raft's measure but at least one. Cached entries are shared (they must not
// be changed); the others are read from the files. The slice is the
// caller's.
func (g *group) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	g.mu.RLock()
	if err := g.checkReadable(); err != nil {
		g.mu.RUnlock()
		return nil, err
	}
	if lo <= g.compacted {
		g.mu.RUnlock()
		return nil, raft.ErrCompacted
	}
	if last := g.lastIndex(); hi > last+1 || lo > hi || len(g.slots) == 0 {
		g.mu.RUnlock()
		return nil, fmt.Errorf("%w: entries [%d, %d) of group %d asked, it holds [%d, %d]",
			raft.ErrUnavailable, lo, hi, g.id, g.compacted+1, last)
	}
	if lo == hi {
		g.mu.RUnlock()
		return nil, nil
	}
	want := g.slots[lo-g.compacted-1 : hi-g.compacted-1]
	k, size, diskBytes, onDisk := 0, uint64(0), 0, 0
	for k < len(want) {
		s := &want[k]
		size += entrySize(lo+uint64(k), s.term, s.typ, int(s.n))
		if k > 0 && size > maxSize {
			break
		}
		if s.ent == nil {
			onDisk++
			diskBytes += recHeaderSize + int(s.n)
		}
		k++
	}
	out := make([]*raftpb.Entry, k)
	if onDisk == 0 {
		for i := range out {
			out[i] = want[i].ent
		}
		g.mu.RUnlock()
		return out, nil
	}
	reads := make([]diskRead, 0, onDisk)
	var held []*logFile // files whose reader count we took, once per run of entries in one file
	for i := range out {
		s := &want[i]
		if s.ent != nil {
			out[i] = s.ent
			continue
		}
		if len(held) == 0 || held[len(held)-1] != s.file {
			s.file.readers.Add(1) // the entry is live, so its file is not retired while we hold g.mu
			held = append(held, s.file)
		}
		reads = append(reads, diskRead{at: i, index: lo + uint64(i), s: *s})
	}
	g.mu.RUnlock()
	err := g.log.readEntries(g.id, reads, out, diskBytes)
	for _, f := range held {
		f.releaseReader()
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Term returns the term of entry i, which must lie in [FirstIndex()-1,
// LastIndex()].
func (g *group) Term(i uint64) (uint64, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.checkReadable(); err != nil {
		return 0, err
	}
	switch {
	case i < g.compacted:
		return 0, raft.ErrCompacted
	case i == g.compacted:
		return g.prevTerm, nil
	case i > g.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return g.slots[i-g.compacted-1].term, nil
}

// LastIndex returns the index of the last entry (FirstIndex()-1 when there
// is none).
func (g *group) LastIndex() (uint64, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.checkReadable(); err != nil {
		return 0, err
	}
	return g.lastIndex(), nil
}

// FirstIndex returns the index of the first entry that may be available.
func (g *group) FirstIndex() (uint64, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.checkReadable(); err != nil {
		return 0, err
	}
	return g.compacted + 1, nil
}

// Snapshot returns the latest snapshot, empty (index 0) if there is none.
// The result is the caller's.
func (g *group) Snapshot() (*raftpb.Snapshot, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := g.checkReadable(); err != nil {
		return nil, err
	}
	return g.snapshotLocked(), nil
}

func (g *group) snapshotLocked() *raftpb.Snapshot {
	if g.snap.cs == nil {
		return raftpb.EnsureSnapshot(nil)
	}
	return &raftpb.Snapshot{
		Data: append([]byte(nil), g.snap.data...),
		Metadata: &raftpb.SnapshotMetadata{Index: new(g.snap.index), Term: new(g.snap.term),
			ConfState: cloneConfState(g.snap.cs)},
	}
}

// CreateSnapshot records a snapshot at index, which must be applied, with
// the configuration cs and the state machine's data. It is visible at once
// and written with the next Save (or Close); until then a crash keeps the
// previous snapshot, which is harmless: the entries it would cover are
// still stored, since the files holding them are removed only after a
// write that carries this record.
func (g *group) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (raftpb.Snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.checkReadable(); err != nil {
		return raftpb.Snapshot{}, err
	}
	if g.snap.cs != nil && index <= g.snap.index {
		return raftpb.Snapshot{}, raft.ErrSnapOutOfDate
	}
	var term uint64
	switch {
	case index < g.compacted:
		return raftpb.Snapshot{}, raft.ErrCompacted
	case index == g.compacted:
		term = g.prevTerm
	case index > g.lastIndex():
		return raftpb.Snapshot{}, fmt.Errorf("raftlog: snapshot of group %d at %d is past its last index %d", g.id, index, g.lastIndex())
	default:
		term = g.slots[index-g.compacted-1].term
	}
	if cs == nil {
		cs = raftpb.EnsureConfState(nil)
	}
	if size := confStateSize(cs) + len(data); size > maxPayload {
		return raftpb.Snapshot{}, fmt.Errorf("raftlog: snapshot of group %d is %d B; at most %d B fit a record", g.id, size, maxPayload)
	}
	g.snap = snapState{index: index, term: term, cs: cloneConfState(cs), data: append([]byte(nil), data...)}
	g.stored.Store(true)
	g.log.queue(g.snapshotRecord(false))
	s := g.snapshotLocked()
	return raftpb.Snapshot{Data: s.Data, Metadata: s.Metadata}, nil
}

// snapshotRecord encodes the group's snapshot. g.mu must be held.
func (g *group) snapshotRecord(reset bool) record {
	r := record{kind: kindSnapshot, group: g.id, a: g.snap.index, b: g.snap.term}
	if reset {
		r.flags = flagReset
	}
	r.payload = appendConfState(make([]byte, 0, confStateSize(g.snap.cs)+len(g.snap.data)), g.snap.cs)
	r.payload = append(r.payload, g.snap.data...)
	return r
}

// Compact discards the entries up to and including index, which must be
// applied. Like CreateSnapshot it is visible at once and written with the
// next Save; the space of the files it frees is released once that write
// is durable.
func (g *group) Compact(index uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.checkReadable(); err != nil {
		return err
	}
	if index <= g.compacted {
		return raft.ErrCompacted
	}
	if index > g.lastIndex() {
		return fmt.Errorf("raftlog: compact of group %d to %d is past its last index %d", g.id, index, g.lastIndex())
	}
	term := g.slots[index-g.compacted-1].term
	// Queue the record before the files are unpinned: a Save that sees a
	// file free also takes the record that frees it.
	g.log.queue(record{kind: kindCompact, group: g.id, a: index, b: term})
	g.compactTo(index, term)
	return nil
}
