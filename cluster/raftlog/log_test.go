package raftlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/internal/vfs"
)

const dir = "/data/raft"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openLog(t testing.TB, fsys vfs.FS, opts Options) *Log {
	t.Helper()
	opts.FS = fsys
	if opts.FileSize == 0 {
		opts.FileSize = 1 << 20 // Mem keeps files in memory: small ones keep the tests quick
	}
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ents returns entries [lo, hi) of term, with data telling group, index and
// term apart, of about size bytes.
func ents(group, lo, hi, term uint64, size int) []raftpb.Entry {
	out := make([]raftpb.Entry, 0, hi-lo)
	for i := lo; i < hi; i++ {
		d := fmt.Appendf(nil, "g%d-i%d-t%d-", group, i, term)
		d = append(d, bytes.Repeat([]byte{byte(i)}, max(0, size-len(d)))...)
		out = append(out, raftpb.Entry{Index: new(i), Term: new(term), Type: new(raftpb.EntryType_EntryNormal), Data: d})
	}
	return out
}

func hardState(term, vote, commit uint64) raftpb.HardState {
	return raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func save(t testing.TB, l *Log, us []cluster.Update) {
	t.Helper()
	if err := l.Save(us); err != nil {
		t.Fatal(err)
	}
}

// saveAll saves us and records them in m.
func saveAll(t testing.TB, l *Log, m models, us []cluster.Update) {
	t.Helper()
	save(t, l, us)
	for i := range us {
		m.apply(&us[i])
	}
}

// model is what a group should hold, kept by the tests beside the log.
type model struct {
	first    uint64 // first index
	prevTerm uint64
	ents     map[uint64]*raftpb.Entry // index -> entry, for [first, last]
	last     uint64
	hs       *raftpb.HardState
}

type models map[uint64]*model

func (m models) get(g uint64) *model {
	if m[g] == nil {
		m[g] = &model{first: 1, ents: map[uint64]*raftpb.Entry{}}
	}
	return m[g]
}

// apply records a saved update in the model.
func (m models) apply(u *cluster.Update) {
	if len(u.Entries) == 0 && raft.IsEmptyHardState(&u.HardState) && raft.IsEmptySnap(&u.Snapshot) {
		return
	}
	md := m.get(u.Group)
	if !raft.IsEmptySnap(&u.Snapshot) {
		idx := u.Snapshot.GetMetadata().GetIndex()
		md.first, md.prevTerm, md.last = idx+1, u.Snapshot.GetMetadata().GetTerm(), idx
		md.ents = map[uint64]*raftpb.Entry{}
	}
	for i := range u.Entries {
		e := &u.Entries[i]
		if e.GetIndex() < md.first {
			continue
		}
		for k := e.GetIndex(); k <= md.last; k++ {
			delete(md.ents, k)
		}
		md.ents[e.GetIndex()] = &raftpb.Entry{Index: e.Index, Term: e.Term, Type: e.Type, Data: e.Data}
		md.last = e.GetIndex()
	}
	if !raft.IsEmptyHardState(&u.HardState) {
		md.hs = &raftpb.HardState{Term: u.HardState.Term, Vote: u.HardState.Vote, Commit: u.HardState.Commit}
	}
}

func (m models) compact(g, index uint64) {
	md := m.get(g)
	md.prevTerm = md.ents[index].GetTerm()
	for k := md.first; k <= index; k++ {
		delete(md.ents, k)
	}
	md.first = index + 1
}

// check compares every group of l with the model.
func (m models) check(t testing.TB, l *Log) {
	t.Helper()
	if err := m.diff(l); err != nil {
		t.Fatal(err)
	}
}

// diff says how l differs from the model, nil if it does not.
func (m models) diff(l *Log) error {
	var want []uint64
	for g := range m {
		want = append(want, g)
	}
	slices.Sort(want)
	if got := l.Groups(); !slices.Equal(got, want) {
		return fmt.Errorf("Groups() = %v, want %v", got, want)
	}
	for _, g := range want {
		if err := m.diffGroup(l, g); err != nil {
			return err
		}
	}
	return nil
}

func (m models) diffGroup(l *Log, g uint64) error {
	md := m[g]
	st, err := l.Group(g)
	if err != nil {
		return err
	}
	first, _ := st.FirstIndex()
	last, _ := st.LastIndex()
	if first != md.first || last != md.last {
		return fmt.Errorf("group %d holds [%d, %d], want [%d, %d]", g, first, last, md.first, md.last)
	}
	if term, err := st.Term(first - 1); err != nil || term != md.prevTerm {
		return fmt.Errorf("group %d: Term(%d) = %d, %v; want %d", g, first-1, term, err, md.prevTerm)
	}
	hs, _, err := st.InitialState()
	if err != nil {
		return err
	}
	if (hs == nil) != (md.hs == nil) || (hs != nil && (hs.GetTerm() != md.hs.GetTerm() || hs.GetVote() != md.hs.GetVote() || hs.GetCommit() != md.hs.GetCommit())) {
		return fmt.Errorf("group %d: hard state %v, want %v", g, hs, md.hs)
	}
	if last < first {
		return nil
	}
	es, err := st.Entries(first, last+1, 1<<62)
	if err != nil {
		return fmt.Errorf("group %d: Entries(%d, %d): %v", g, first, last+1, err)
	}
	if uint64(len(es)) != last-first+1 {
		return fmt.Errorf("group %d: %d entries, want %d", g, len(es), last-first+1)
	}
	for k, e := range es {
		w := md.ents[first+uint64(k)]
		if e.GetIndex() != w.GetIndex() || e.GetTerm() != w.GetTerm() || e.GetType() != w.GetType() || !bytes.Equal(e.GetData(), w.GetData()) {
			return fmt.Errorf("group %d: entry %d is (i%d t%d %q), want (i%d t%d %q)", g, first+uint64(k),
				e.GetIndex(), e.GetTerm(), trunc(e.GetData()), w.GetIndex(), w.GetTerm(), trunc(w.GetData()))
		}
		if term, err := st.Term(e.GetIndex()); err != nil || term != w.GetTerm() {
			return fmt.Errorf("group %d: Term(%d) = %d, %v; want %d", g, e.GetIndex(), term, err, w.GetTerm())
		}
	}
	return nil
}

// clone returns a copy of m that changes apart from it.
func (m models) clone() models {
	c := models{}
	for g, md := range m {
		cp := *md
		cp.ents = maps.Clone(md.ents)
		c[g] = &cp
	}
	return c
}

func trunc(b []byte) []byte { return b[:min(len(b), 24)] }

func files(t testing.TB, fsys vfs.FS) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(names, func(n string) bool { _, ok := parseFileName(n); return !ok })
}

// TestSave_RoundTripManyGroups saves many groups' entries and hard states
// over several Saves, reopens, and reads back every one of them.
func TestSave_RoundTripManyGroups(t *testing.T) {
	mem := vfs.NewMem()
	l := openLog(t, mem, Options{FileSize: 256 << 10})
	m := models{}
	const groups = 50
	next := map[uint64]uint64{}
	for round := range 20 {
		var us []cluster.Update
		for g := uint64(1); g <= groups; g++ {
			if (int(g)+round)%3 == 0 {
				continue
			}
			lo := next[g] + 1
			n := uint64(1 + (int(g)+round)%4)
			us = append(us, cluster.Update{Group: g, Entries: ents(g, lo, lo+n, 1, 100+int(g)*10), HardState: hardState(1, g%3, lo-1)})
			next[g] = lo + n - 1
		}
		saveAll(t, l, m, us)
	}
	m.check(t, l)
	if st := l.Stats(); st.Syncs != 20 || st.Groups != groups {
		t.Fatalf("stats %+v: want 20 syncs (one per Save) and %d groups", st, groups)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, mem, Options{FileSize: 256 << 10})
	defer l.Close()
	m.check(t, l)
	if st := l.Stats(); st.DiskReads == 0 {
		t.Fatal("after a reopen the entries were not read from the files")
	}
}

// TestSave_ConflictingEntriesTruncate overwrites a suffix of a group's log
// with entries of a later term: the entries after them are gone, before and
// after a reopen.
func TestSave_ConflictingEntriesTruncate(t *testing.T) {
	mem := vfs.NewMem()
	l := openLog(t, mem, Options{})
	m := models{}
	us := []cluster.Update{
		{Group: 7, Entries: ents(7, 1, 11, 1, 50)},
		{Group: 7, Entries: ents(7, 6, 9, 2, 60)}, // replaces 6..10 with 6..8
		{Group: 7, Entries: ents(7, 9, 10, 3, 70)},
		{Group: 7, Entries: ents(7, 2, 3, 4, 10)}, // replaces 2..9 with 2
	}
	for i := range us {
		saveAll(t, l, m, us[i:i+1])
		m.check(t, l)
	}
	if last, _ := mustGroup(t, l, 7).LastIndex(); last != 2 {
		t.Fatalf("last index %d after the last conflict, want 2", last)
	}
	l.Close()
	l = openLog(t, mem, Options{})
	defer l.Close()
	m.check(t, l)
	st := mustGroup(t, l, 7)
	if _, err := st.Term(3); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("Term(3) after truncation to 2: %v, want ErrUnavailable", err)
	}
}

func mustGroup(t testing.TB, l *Log, id uint64) cluster.GroupStorage {
	t.Helper()
	st, err := l.Group(id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSnapshot_Persists checks an incoming snapshot (which replaces the
// log), a snapshot the group creates itself, and a compaction, before and
// after a reopen.
func TestSnapshot_Persists(t *testing.T) {
	mem := vfs.NewMem()
	l := openLog(t, mem, Options{})
	m := models{}
	// Group 3 receives a snapshot from its leader, then entries after it.
	cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
	saveAll(t, l, m, []cluster.Update{{Group: 3, Entries: ents(3, 1, 50, 1, 20)}})
	saveAll(t, l, m, []cluster.Update{{Group: 3, Entries: ents(3, 101, 104, 5, 30), HardState: hardState(5, 2, 101),
		Snapshot: raftpb.Snapshot{Data: []byte("descriptor of shard 3"),
			Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(100)), Term: new(uint64(5)), ConfState: cs}}}})
	// Group 4 snapshots and compacts its own log.
	saveAll(t, l, m, []cluster.Update{{Group: 4, Entries: ents(4, 1, 21, 2, 40), HardState: hardState(2, 1, 20)}})
	st4 := mustGroup(t, l, 4)
	cs4 := &raftpb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{2}, AutoLeave: new(true)}
	if _, err := st4.CreateSnapshot(15, cs4, []byte("state at 15")); err != nil {
		t.Fatal(err)
	}
	if _, err := st4.CreateSnapshot(14, cs4, nil); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("an older snapshot: %v, want ErrSnapOutOfDate", err)
	}
	if err := st4.Compact(12); err != nil {
		t.Fatal(err)
	}
	m.compact(4, 12)
	if err := st4.Compact(12); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("compacting again: %v, want ErrCompacted", err)
	}
	if _, err := st4.Entries(12, 14, 1<<30); !errors.Is(err, raft.ErrCompacted) {
		t.Fatalf("Entries below the first index: %v, want ErrCompacted", err)
	}
	check := func(l *Log) {
		t.Helper()
		m.check(t, l)
		checkSnap(t, mustGroup(t, l, 3), 100, 5, cs, "descriptor of shard 3")
		checkSnap(t, mustGroup(t, l, 4), 15, 2, cs4, "state at 15")
	}
	check(l)
	if err := l.Close(); err != nil { // writes the pending snapshot and compaction
		t.Fatal(err)
	}
	l = openLog(t, mem, Options{})
	defer l.Close()
	check(l)
}

func checkSnap(t testing.TB, st cluster.GroupStorage, index, term uint64, cs *raftpb.ConfState, data string) {
	t.Helper()
	s, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	md := s.GetMetadata()
	if md.GetIndex() != index || md.GetTerm() != term || string(s.GetData()) != data {
		t.Fatalf("snapshot at %d term %d data %q, want %d, %d, %q", md.GetIndex(), md.GetTerm(), s.GetData(), index, term, data)
	}
	if err := md.GetConfState().Equivalent(raftpb.EnsureConfState(cs)); err != nil || md.GetConfState().GetAutoLeave() != cs.GetAutoLeave() {
		t.Fatalf("snapshot conf state %v, want %v: %v", md.GetConfState(), cs, err)
	}
	_, ics, err := st.InitialState()
	if err != nil || ics.Equivalent(raftpb.EnsureConfState(cs)) != nil {
		t.Fatalf("InitialState's conf state %v, want %v (%v)", ics, cs, err)
	}
}

// fill saves rounds of entries for groups, at least one, until the log
// has at least files files.
func fill(t testing.TB, l *Log, m models, groups []uint64, next map[uint64]uint64, files int) {
	t.Helper()
	for once := true; once || l.Stats().Files < files; once = false {
		var us []cluster.Update
		for _, g := range groups {
			lo := next[g] + 1
			us = append(us, cluster.Update{Group: g, Entries: ents(g, lo, lo+2, 1, 300), HardState: hardState(1, 1, lo+1)})
			next[g] = lo + 1
		}
		saveAll(t, l, m, us)
	}
}

// TestCompact_RemovesFiles compacts every group past the entries of the
// older files: the next Save removes them, and after a power cut and a
// reopen every group still has its hard state, snapshot and remaining
// entries, group 5 included, which wrote its last records into the oldest
// files (they were written again before the files went).
func TestCompact_RemovesFiles(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FileSize: 8 << 10}
	l := openLog(t, mem, opts)
	m := models{}
	next := map[uint64]uint64{}
	groups := []uint64{1, 2, 3, 4, 5}
	fill(t, l, m, groups, next, 2)
	// Group 5 snapshots early, its record goes into the first files, and
	// it writes nothing more.
	if _, err := mustGroup(t, l, 5).CreateSnapshot(next[5], &raftpb.ConfState{Voters: []uint64{1, 2, 3}}, []byte("g5")); err != nil {
		t.Fatal(err)
	}
	fill(t, l, m, groups[:4], next, 0)
	first := files(t, mem)
	fill(t, l, m, groups[:4], next, 6)
	before := files(t, mem)
	for _, g := range groups {
		if err := mustGroup(t, l, g).Compact(next[g]); err != nil {
			t.Fatal(err)
		}
		m.compact(g, next[g])
	}
	fill(t, l, m, groups[:4], next, 0) // the compactions ride in this Save, and it retires the files
	fill(t, l, m, groups[:4], next, 0)
	after := files(t, mem)
	if len(after) >= len(before) || slices.Contains(after, first[0]) || slices.Contains(after, first[len(first)-1]) {
		t.Fatalf("files before compaction %v, after %v: the old ones should be gone", before, after)
	}
	if st := l.Stats(); st.Retired == 0 || st.Files != len(after) {
		t.Fatalf("stats %+v, %d files on disk", st, len(after))
	}
	m.check(t, l)
	mem.Crash() // only what was synced counts
	l = openLog(t, mem, opts)
	defer l.Close()
	m.check(t, l)
	checkSnap(t, mustGroup(t, l, 5), next[5], 1, &raftpb.ConfState{Voters: []uint64{1, 2, 3}}, "g5")
}

// TestCompact_TruncatedEntriesDoNotPin: entries a group wrote into an old
// file and later replaced (a new leader truncated them) do not keep that
// file once the group compacts past what replaced them.
func TestCompact_TruncatedEntriesDoNotPin(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FileSize: 8 << 10}
	l := openLog(t, mem, opts)
	defer l.Close()
	m := models{}
	saveAll(t, l, m, []cluster.Update{{Group: 1, Entries: ents(1, 1, 21, 1, 100)}})
	oldest := files(t, mem)[0]
	next := map[uint64]uint64{}
	fill(t, l, m, []uint64{2}, next, 3)
	saveAll(t, l, m, []cluster.Update{{Group: 1, Entries: ents(1, 5, 7, 2, 100)}}) // replaces 5..20 with 5..6
	next[1] = 6
	for _, g := range []uint64{1, 2} {
		if err := mustGroup(t, l, g).Compact(next[g]); err != nil {
			t.Fatal(err)
		}
		m.compact(g, next[g])
	}
	fill(t, l, m, []uint64{2}, next, 0)
	fill(t, l, m, []uint64{2}, next, 0)
	if slices.Contains(files(t, mem), oldest) {
		t.Fatalf("the oldest file stayed for entries 7..20 of group 1, which a later term replaced")
	}
	m.check(t, l)
}

// TestCompact_LaggingGroupKeepsFile: a group that has not compacted keeps
// the oldest file (and so every later one), and its entries stay readable
// from it, across a reopen; once it compacts, the files go.
func TestCompact_LaggingGroupKeepsFile(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FileSize: 8 << 10, CacheBytes: -1}
	l := openLog(t, mem, opts)
	m := models{}
	next := map[uint64]uint64{}
	saveAll(t, l, m, []cluster.Update{{Group: 9, Entries: ents(9, 1, 4, 1, 200), HardState: hardState(1, 1, 3)}})
	oldest := files(t, mem)[0]
	groups := []uint64{1, 2, 3}
	fill(t, l, m, groups, next, 5)
	for _, g := range groups {
		if err := mustGroup(t, l, g).Compact(next[g]); err != nil {
			t.Fatal(err)
		}
		m.compact(g, next[g])
	}
	fill(t, l, m, groups, next, 0)
	if !slices.Contains(files(t, mem), oldest) {
		t.Fatalf("the file holding group 9's uncompacted entries was removed")
	}
	l.Close()
	l = openLog(t, mem, opts)
	m.check(t, l)
	if err := mustGroup(t, l, 9).Compact(3); err != nil {
		t.Fatal(err)
	}
	m.compact(9, 3)
	fill(t, l, m, groups, next, 0)
	if slices.Contains(files(t, mem), oldest) {
		t.Fatalf("the oldest file stayed after every group compacted past it")
	}
	l.Close()
	l = openLog(t, mem, opts)
	defer l.Close()
	m.check(t, l)
}

// TestCache_EvictionReadsFromDisk reads the same ranges, with the same
// size limits, from a log whose cache holds everything, one whose cache
// holds almost nothing, and raft's MemoryStorage: all three answer the same.
func TestCache_EvictionReadsFromDisk(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	memA, memB := vfs.NewMem(), vfs.NewMem()
	big := openLog(t, memA, Options{})
	defer big.Close()
	small := openLog(t, memB, Options{CacheBytes: 4 << 10})
	defer small.Close()
	ms := raft.NewMemoryStorage()
	last := uint64(0)
	for range 60 {
		n := uint64(1 + rng.IntN(5))
		lo := last + 1
		if last > 3 && rng.IntN(5) == 0 {
			lo = last - uint64(rng.IntN(3)) // a conflict
		}
		es := ents(1, lo, lo+n, uint64(1+rng.IntN(3)), rng.IntN(700))
		if rng.IntN(4) == 0 {
			es[0].Data = nil // as a new leader's empty entry
		}
		us := []cluster.Update{{Group: 1, Entries: es}}
		save(t, big, us)
		save(t, small, us)
		ptrs := make([]*raftpb.Entry, len(es))
		for i := range es {
			ptrs[i] = &es[i]
		}
		if err := ms.Append(ptrs); err != nil {
			t.Fatal(err)
		}
		last = lo + n - 1
	}
	if small.Stats().CacheBytes > 4<<10 {
		t.Fatalf("cache holds %d B, over its 4 KiB bound", small.Stats().CacheBytes)
	}
	a, b := mustGroup(t, big, 1), mustGroup(t, small, 1)
	for range 300 {
		lo := 1 + uint64(rng.IntN(int(last)))
		hi := lo + 1 + uint64(rng.IntN(int(last-lo+1)))
		maxSize := uint64(rng.IntN(4000))
		want, err := ms.Entries(lo, hi, maxSize)
		if err != nil {
			t.Fatal(err)
		}
		for name, st := range map[string]cluster.GroupStorage{"cached": a, "evicted": b} {
			got, err := st.Entries(lo, hi, maxSize)
			if err != nil {
				t.Fatalf("%s: Entries(%d, %d, %d): %v", name, lo, hi, maxSize, err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: Entries(%d, %d, %d) gave %d entries, MemoryStorage %d", name, lo, hi, maxSize, len(got), len(want))
			}
			for k := range got {
				if got[k].GetIndex() != want[k].GetIndex() || got[k].GetTerm() != want[k].GetTerm() || !bytes.Equal(got[k].GetData(), want[k].GetData()) {
					t.Fatalf("%s: entry %d differs from MemoryStorage's", name, want[k].GetIndex())
				}
			}
		}
	}
	if big.Stats().DiskReads != 0 || small.Stats().DiskReads == 0 {
		t.Fatalf("disk reads: %d with a large cache (want 0), %d with a small one (want some)", big.Stats().DiskReads, small.Stats().DiskReads)
	}
}

// TestEntries_ConcurrentReadsDuringSaves reads every group from several
// goroutines while Saves append, truncate and compact: run with -race, and
// every read sees entries of the right index and a term from its group.
func TestEntries_ConcurrentReadsDuringSaves(t *testing.T) {
	mem := vfs.NewMem()
	l := openLog(t, mem, Options{FileSize: 16 << 10, CacheBytes: 8 << 10})
	defer l.Close()
	const groups = 4
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				g := uint64(1 + (r+i)%groups)
				st, _ := l.Group(g)
				first, _ := st.FirstIndex()
				last, _ := st.LastIndex()
				if last < first {
					continue
				}
				es, err := st.Entries(first, last+1, 2000)
				if errors.Is(err, raft.ErrCompacted) || errors.Is(err, raft.ErrUnavailable) {
					continue // compacted or truncated meanwhile
				}
				if err != nil {
					errs <- err
					return
				}
				for k, e := range es {
					if e.GetIndex() != first+uint64(k) || !bytes.HasPrefix(e.GetData(), fmt.Appendf(nil, "g%d-i%d-t%d-", g, e.GetIndex(), e.GetTerm())) {
						errs <- fmt.Errorf("group %d read entry %d as %q", g, first+uint64(k), trunc(e.GetData()))
						return
					}
				}
			}
		}()
	}
	next := map[uint64]uint64{}
	for round := range 200 {
		var us []cluster.Update
		for g := uint64(1); g <= groups; g++ {
			lo := next[g] + 1
			if round%7 == 3 && lo > 3 {
				lo -= 2
			}
			us = append(us, cluster.Update{Group: g, Entries: ents(g, lo, lo+3, uint64(round+1), 200)})
			next[g] = lo + 2
		}
		save(t, l, us)
		if round%10 == 9 {
			for g := uint64(1); g <= groups; g++ {
				if err := mustGroup(t, l, g).Compact(next[g] - 5); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestRemoveGroup forgets a group durably; other groups are untouched.
func TestRemoveGroup(t *testing.T) {
	mem := vfs.NewMem()
	l := openLog(t, mem, Options{})
	m := models{}
	for g := uint64(1); g <= 3; g++ {
		saveAll(t, l, m, []cluster.Update{{Group: g, Entries: ents(g, 1, 5, 1, 10), HardState: hardState(1, 1, 4)}})
	}
	old := mustGroup(t, l, 2)
	if err := l.RemoveGroup(2); err != nil {
		t.Fatal(err)
	}
	delete(m, 2)
	if _, err := old.LastIndex(); !errors.Is(err, ErrRemoved) {
		t.Fatalf("a removed group's storage answered %v, want ErrRemoved", err)
	}
	m.check(t, l)
	l.Close()
	l = openLog(t, mem, Options{})
	defer l.Close()
	m.check(t, l)
	if last, _ := mustGroup(t, l, 2).LastIndex(); last != 0 {
		t.Fatalf("a removed group came back with entries up to %d", last)
	}
}

// TestSave_RejectsBadUpdates: a gap, entries out of order and a group
// named twice fail the whole Save, and nothing of it is stored.
func TestSave_RejectsBadUpdates(t *testing.T) {
	mem := vfs.NewMem()
	l := openLog(t, mem, Options{})
	defer l.Close()
	save(t, l, []cluster.Update{{Group: 1, Entries: ents(1, 1, 4, 1, 10)}})
	bad := map[string][]cluster.Update{
		"gap":       {{Group: 2, Entries: ents(2, 1, 2, 1, 10)}, {Group: 1, Entries: ents(1, 6, 7, 1, 10)}},
		"unordered": {{Group: 1, Entries: append(ents(1, 4, 5, 1, 10), ents(1, 6, 7, 1, 10)...)}},
		"twice":     {{Group: 1, Entries: ents(1, 4, 5, 1, 10)}, {Group: 1, Entries: ents(1, 5, 6, 1, 10)}},
		"group 0":   {{Group: 0, Entries: ents(0, 1, 2, 1, 10)}},
	}
	for name, us := range bad {
		if err := l.Save(us); err == nil {
			t.Fatalf("%s: Save accepted it", name)
		}
	}
	if last, _ := mustGroup(t, l, 1).LastIndex(); last != 3 {
		t.Fatalf("group 1 ends at %d after refused Saves, want 3", last)
	}
	if got := l.Groups(); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("Groups() = %v after refused Saves, want [1]", got)
	}
}

// TestOpen_Locked: a second Open of the same directory fails.
func TestOpen_Locked(t *testing.T) {
	d := t.TempDir()
	l, err := Open(d, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Open(d, Options{Logger: quiet()}); !errors.Is(err, vfs.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if _, err := Open(filepath.Join(d, "x"), Options{Logger: quiet(), FileSize: 10}); err == nil {
		t.Fatal("a 10 B file size was accepted")
	}
}

// TestSave_EmptyCostsNoSync: a Save with nothing to make durable (groups
// whose Ready held only messages) writes nothing; one that carries a
// pending compaction writes it.
func TestSave_EmptyCostsNoSync(t *testing.T) {
	mem := vfs.NewMem()
	l := openLog(t, mem, Options{})
	m := models{}
	saveAll(t, l, m, []cluster.Update{{Group: 1, Entries: ents(1, 1, 5, 1, 10)}})
	syncs := l.Stats().Syncs
	save(t, l, []cluster.Update{{Group: 1}, {Group: 2}})
	save(t, l, nil)
	if got := l.Stats().Syncs; got != syncs {
		t.Fatalf("%d fdatasyncs for Saves with nothing in them", got-syncs)
	}
	if err := mustGroup(t, l, 1).Compact(3); err != nil {
		t.Fatal(err)
	}
	m.compact(1, 3)
	save(t, l, []cluster.Update{{Group: 1}})
	if got := l.Stats().Syncs; got != syncs+1 {
		t.Fatalf("%d fdatasyncs for a Save carrying a compaction, want 1", got-syncs)
	}
	mem.Crash() // no Close: the compaction must be durable already
	l = openLog(t, mem, Options{})
	defer l.Close()
	m.check(t, l)
}
