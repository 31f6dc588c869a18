package raftlog

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/internal/vfs"
)

// workload makes random Saves for a few groups: appends, conflicting
// suffixes, hard states, snapshots from a leader, and compactions that
// ride in the next Save.
type workload struct {
	rng  *rand.Rand
	next map[uint64]uint64 // group -> last index
	term map[uint64]uint64
}

func newWorkload(seed uint64) *workload {
	return &workload{rng: rand.New(rand.NewPCG(seed, seed*7+1)), next: map[uint64]uint64{}, term: map[uint64]uint64{}}
}

// resync takes the groups' last indexes from l, after a crash lost what
// the workload wrote last.
func (w *workload) resync(t testing.TB, l *Log) {
	for g := range w.next {
		w.next[g], _ = mustGroup(t, l, g).LastIndex()
	}
}

// compaction is a Compact made before a Save: its record rides in it.
type compaction struct{ group, index uint64 }

// updates returns the next Save's updates, after compacting some groups.
// The caller applies both to m once the Save returns.
func (w *workload) updates(t testing.TB, l *Log, m models) ([]cluster.Update, []compaction) {
	t.Helper()
	var us []cluster.Update
	var cs []compaction
	for g := uint64(1); g <= 6; g++ {
		if w.rng.IntN(3) == 0 {
			continue
		}
		if w.term[g] == 0 {
			w.term[g] = 1
		}
		if md := m[g]; md != nil && w.rng.IntN(6) == 0 && w.next[g] >= md.first+3 {
			c := w.next[g] - 3
			if err := mustGroup(t, l, g).Compact(c); err != nil {
				t.Fatal(err)
			}
			cs = append(cs, compaction{g, c})
		}
		us = append(us, cluster.Update{Group: g})
		u := &us[len(us)-1]
		lo := w.next[g] + 1
		snap := false
		switch r := w.rng.IntN(20); {
		case r == 0 && w.next[g] > 0: // a snapshot from the leader
			w.term[g]++
			idx := w.next[g] + 1 + uint64(w.rng.IntN(5))
			u.Snapshot = raftpb.Snapshot{Data: fmt.Appendf(nil, "snap-%d-%d", g, idx),
				Metadata: &raftpb.SnapshotMetadata{Index: new(idx), Term: new(w.term[g]), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
			lo, snap = idx+1, true
		case r < 4 && w.next[g] > 3 && (m[g] == nil || w.next[g]-2 > m[g].first): // a new leader overwrites a suffix
			w.term[g]++
			lo = w.next[g] - uint64(w.rng.IntN(3))
		}
		if n := uint64(w.rng.IntN(4)); n > 0 {
			u.Entries = ents(g, lo, lo+n, w.term[g], w.rng.IntN(900))
			w.next[g] = lo + n - 1
		} else if snap {
			w.next[g] = lo - 1
		}
		if w.rng.IntN(2) == 0 {
			u.HardState = hardState(w.term[g], g%3, w.next[g])
		}
	}
	return us, cs
}

// saveWork saves a workload's round and records it in m.
func saveWork(t testing.TB, l *Log, m models, us []cluster.Update, cs []compaction) {
	t.Helper()
	save(t, l, us)
	m.applyWork(us, cs)
}

func (m models) applyWork(us []cluster.Update, cs []compaction) {
	for _, c := range cs {
		m.compact(c.group, c.index)
	}
	for i := range us {
		m.apply(&us[i])
	}
}

// TestRecover_PowerCut runs random Saves and cuts the power at random
// moments: between Saves, or during one (its fdatasync fails and the
// crash keeps a random, possibly garbled, prefix of what it wrote). After
// reopening, every Save that returned is there in full, and the Save that
// was cut is there in full or not at all.
func TestRecover_PowerCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	opts := Options{FileSize: 16 << 10, CacheBytes: 16 << 10} // small: files rotate and retire, reads go to disk
	var retired, failed, landed int
	defer func() {
		t.Logf("%d files retired; %d Saves cut by the crash, %d of them landed whole", retired, failed, landed)
		if retired == 0 || failed == 0 || landed == failed {
			t.Errorf("the rounds did not retire files, or cut no Save, or every cut Save landed: the test proves little")
		}
	}()
	for round := range 60 {
		mem := vfs.NewMem()
		w := newWorkload(uint64(round))
		m := models{}
		var syncs atomic.Int64
		failAt := int64(-1)
		if rng.IntN(3) > 0 {
			failAt = int64(1 + rng.IntN(120))
		}
		mem.SetFault(func(op, name string, n int64) (int64, error) {
			if op == "fdatasync" && syncs.Add(1) == failAt {
				return 0, syscall.EIO
			}
			return n, nil
		})
		l := openLog(t, mem, opts)
		saves := 1 + rng.IntN(120)
		var cut models // the state if the failed Save landed whole
		for range saves {
			us, cs := w.updates(t, l, m)
			if err := l.Save(us); err != nil {
				failed++
				cut = m.clone()
				cut.applyWork(us, cs)
				if err := l.Save(nil); err == nil {
					t.Fatalf("round %d: a Save after a failed fdatasync succeeded; the failure must stick", round)
				}
				break
			}
			m.applyWork(us, cs)
			if err := m.diff(l); err != nil {
				t.Fatalf("round %d, before the crash: %v", round, err)
			}
		}
		mem.SetFault(nil)
		retired += int(l.Stats().Retired)
		if rng.IntN(2) == 0 {
			mem.CrashTorn(rng)
		} else {
			mem.Crash()
		}
		l = openLog(t, mem, opts)
		err := m.diff(l)
		if err != nil && cut != nil {
			if cerr := cut.diff(l); cerr == nil {
				err = nil
			} else {
				err = fmt.Errorf("%v; nor is it the state with the cut Save whole: %v", err, cerr)
			}
		}
		if err != nil {
			t.Fatalf("round %d (%d saves, sync %d failed): after the crash: %v", round, saves, failAt, err)
		}
		// The log goes on after the crash, and a second reopen agrees.
		if cut != nil && cut.diff(l) == nil {
			m = cut
			landed++
		}
		w.resync(t, l)
		us, cs := w.updates(t, l, m)
		saveWork(t, l, m, us, cs)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, mem, opts)
		m.check(t, l)
		l.Close()
	}
}

// batchEnd is where a Save's batch ends: the file and the offset after it.
type batchEnd struct {
	num uint64
	end int64
}

// TestRecover_TornTailOnDisk writes Saves to real files, then damages the
// last file from a random offset on (cut, zeroed or garbled), as a power
// cut can: Open keeps exactly the Saves whose batch ends before the damage,
// and the log goes on from there. Copies of the directory taken between
// Saves open to the state of their moment.
func TestRecover_TornTailOnDisk(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	src := t.TempDir()
	opts := Options{FileSize: 4 << 20, Logger: quiet()}
	l, err := Open(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorkload(99)
	m := models{}
	states := []models{m.clone()} // states[k]: after k Saves
	var ends []batchEnd
	type copied struct {
		dir   string
		state models
	}
	var copies []copied
	for range 60 {
		us, cs := w.updates(t, l, m)
		saveWork(t, l, m, us, cs)
		states = append(states, m.clone())
		l.wmu.Lock()
		ends = append(ends, batchEnd{l.head.num, l.pos})
		l.wmu.Unlock()
		if rng.IntN(10) == 0 {
			d := t.TempDir()
			copyDir(t, src, d)
			copies = append(copies, copied{d, m.clone()})
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range copies {
		l, err := Open(c.dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.state.diff(l); err != nil {
			t.Fatalf("a copy taken between Saves: %v", err)
		}
		l.Close()
	}
	lastNum := ends[len(ends)-1].num
	for trial := range 40 {
		d := t.TempDir()
		copyDir(t, src, d)
		path := filepath.Join(d, fileName(lastNum))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		end := ends[len(ends)-1].end
		off := int64(fileHeaderSize) + rng.Int64N(end-fileHeaderSize)
		mode := []string{"cut", "zero", "garble"}[trial%3]
		switch mode {
		case "cut":
			b = b[:off]
		case "zero":
			clear(b[off:])
		case "garble":
			for i := off; i < min(off+1+rng.Int64N(64), int64(len(b))); i++ {
				b[i] ^= byte(1 + rng.IntN(255))
			}
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		k := 0 // Saves whose batch lies wholly before off (or in an earlier file)
		for k < len(ends) && (ends[k].num < lastNum || ends[k].end <= off) {
			k++
		}
		l, err := Open(d, opts)
		if err != nil {
			t.Fatalf("trial %d (%s at %d): %v", trial, mode, off, err)
		}
		if err := states[k].diff(l); err != nil {
			t.Fatalf("trial %d (%s at %d, %d whole Saves before it): %v", trial, mode, off, k, err)
		}
		// It goes on: a Save after the cut, then a clean reopen.
		m := states[k].clone()
		saveAll(t, l, m, []cluster.Update{{Group: 42, Entries: ents(42, 1, 3, 1, 10)}})
		l.Close()
		if l, err = Open(d, opts); err != nil {
			t.Fatalf("trial %d: reopen after a Save that followed the cut: %v", trial, err)
		}
		if err := m.diff(l); err != nil {
			t.Fatalf("trial %d: second reopen: %v", trial, err)
		}
		l.Close()
	}
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	names, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range names {
		if _, ok := parseFileName(e.Name()); !ok {
			continue
		}
		in, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

// TestRecover_CorruptionInOlderFile: a damaged record in a file that is
// not the last is acknowledged data that is lost; Open refuses to go on
// and names the file and where its whole batches end.
func TestRecover_CorruptionInOlderFile(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FileSize: 8 << 10}
	l := openLog(t, mem, opts)
	m := models{}
	fill(t, l, m, []uint64{1, 2}, map[uint64]uint64{}, 3)
	l.Close()
	names := files(t, mem)
	path := filepath.Join(dir, names[0])
	f, err := mem.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	const at = 3000
	var b [1]byte
	f.ReadAt(b[:], at)
	b[0] ^= 0x10
	f.WriteAt(b[:], at)
	f.Sync()
	f.Close()
	_, err = Open(dir, Options{FS: mem, FileSize: opts.FileSize, Logger: quiet()})
	var ce *CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of a log with a damaged older file: %v, want a CorruptionError", err)
	}
	if ce.Path != path || ce.Offset > at || ce.Offset < fileHeaderSize {
		t.Fatalf("the error names %s at %d; the damage is in %s at %d", ce.Path, ce.Offset, path, at)
	}
}

// TestSave_FullDiskInjected: the file system refuses to allocate a new
// file (ENOSPC), then a write lands only in part. Each Save fails with
// nothing of it stored, the log goes on once space is back, and a reopen
// finds every Save that returned.
func TestSave_FullDiskInjected(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FileSize: 8 << 10}
	l := openLog(t, mem, opts)
	m := models{}
	next := map[uint64]uint64{}
	var full atomic.Value // the operation that fails, "" for none
	full.Store("")
	mem.SetFault(func(op, name string, n int64) (int64, error) {
		if op == full.Load().(string) {
			return n / 2, syscall.ENOSPC
		}
		return n, nil
	})
	for _, op := range []string{"fallocate", "pwritev"} {
		fill(t, l, m, []uint64{1, 2, 3}, next, 0)
		full.Store(op)
		var err error
		for i := 0; err == nil; i++ { // until a Save needs a new file, or writes at all
			if i > 100 {
				t.Fatalf("%s: never failed", op)
			}
			us := []cluster.Update{{Group: 1, Entries: ents(1, next[1]+1, next[1]+3, 1, 500), HardState: hardState(1, 1, next[1]+2)}}
			if err = l.Save(us); err == nil {
				next[1] += 2
				m.apply(&us[0])
			}
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s: Save on a full disk: %v, want ENOSPC", op, err)
		}
		m.check(t, l)
		full.Store("")
		fill(t, l, m, []uint64{1, 2, 3}, next, 0)
		m.check(t, l)
	}
	l.Close()
	mem.Crash()
	l = openLog(t, mem, opts)
	defer l.Close()
	m.check(t, l)
}

// TestSave_FullTmpfs fills a real tmpfs: Saves fail with ENOSPC once a new
// file cannot be allocated, what was stored stays readable, and Saves
// succeed again once space is freed; a reopen finds every Save that
// returned. It needs root to mount the tmpfs, and skips otherwise.
func TestSave_FullTmpfs(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): run as root to test a full disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(root, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", root, err)
		}
	})
	filler := filepath.Join(root, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(root, "raft")
	opts := Options{FileSize: 128 << 10, Logger: quiet()}
	l, err := Open(d, opts)
	if err != nil {
		t.Fatal(err)
	}
	m := models{}
	next := map[uint64]uint64{}
	save := func() error {
		var us []cluster.Update
		for g := uint64(1); g <= 4; g++ {
			us = append(us, cluster.Update{Group: g, Entries: ents(g, next[g]+1, next[g]+3, 1, 4000), HardState: hardState(1, 1, next[g]+2)})
		}
		if err := l.Save(us); err != nil {
			return err
		}
		for i := range us {
			m.apply(&us[i])
			next[us[i].Group] += 2
		}
		return nil
	}
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("the tmpfs never filled")
		}
		if err = save(); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Save on a full tmpfs: %v, want ENOSPC", err)
	}
	if err := save(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second Save on a full tmpfs: %v, want ENOSPC", err)
	}
	m.check(t, l)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := save(); err != nil {
			t.Fatalf("Save after space was freed: %v", err)
		}
	}
	l.Close()
	if l, err = Open(d, opts); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m.check(t, l)
}

// TestEntries_DamagedRecordOnDisk: an entry whose bytes on disk changed
// after it was written is refused with a CorruptionError, never returned.
func TestEntries_DamagedRecordOnDisk(t *testing.T) {
	mem := vfs.NewMem()
	l := openLog(t, mem, Options{CacheBytes: -1})
	defer l.Close()
	save(t, l, []cluster.Update{{Group: 1, Entries: ents(1, 1, 9, 1, 300)}})
	st := mustGroup(t, l, 1)
	if _, err := st.Entries(1, 9, 1<<20); err != nil {
		t.Fatal(err)
	}
	g := l.lookup(1)
	g.mu.RLock()
	s := g.slots[4] // entry 5
	g.mu.RUnlock()
	f, err := mem.OpenFile(s.file.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	at := s.off + recHeaderSize + 100
	f.ReadAt(b[:], at)
	b[0] ^= 1
	f.WriteAt(b[:], at)
	f.Close()
	_, err = st.Entries(1, 9, 1<<20)
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Offset != s.off {
		t.Fatalf("reading a damaged entry: %v, want a CorruptionError at %d", err, s.off)
	}
	if es, err := st.Entries(1, 5, 1<<20); err != nil || len(es) != 4 {
		t.Fatalf("the entries before the damaged one: %d, %v", len(es), err)
	}
}
