package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
)

const dir = "/data/commitlog"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// owner is a fake segment log: it counts its flushes and can be told to
// fail them.
type owner struct {
	flushes atomic.Int64
	fail    atomic.Bool
}

func (o *owner) Flush() error {
	o.flushes.Add(1)
	if o.fail.Load() {
		return errors.New("flush refused")
	}
	return nil
}

// applied records what a replay applied, in order.
type applied struct {
	entries []Entry
	synced  bool
}

func (a *applied) Apply(e Entry) error {
	e.Data = bytes.Clone(e.Data)
	a.entries = append(a.entries, e)
	return nil
}

func (a *applied) Sync() error { a.synced = true; return nil }

func open(t *testing.T, fsys vfs.FS, size int64) (*Log, *applied, ReplayStats) {
	t.Helper()
	a := &applied{}
	l, st, err := Open(Options{FS: fsys, Dir: dir, FileSize: size, Logger: quiet()}, a)
	if err != nil {
		t.Fatal(err)
	}
	return l, a, st
}

func listFiles(t *testing.T, fsys vfs.FS) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// entryKey identifies a committed write for the checks.
func entryKey(e Entry) string {
	return fmt.Sprintf("%d/%d/%d@%d:%s", e.Target.Stream, e.Target.Shard, e.Target.Segment, e.Offset, e.Data)
}

// TestCommit_PowerCutKeepsEveryCommittedEntry commits from several writers
// at once and cuts the power at random moments, tearing what was not
// synced: every entry whose Commit returned nil is replayed, byte for byte
// and in its writer's order, and nothing that was not written is invented.
func TestCommit_PowerCutKeepsEveryCommittedEntry(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		mem := vfs.NewMem()
		l, _, _ := open(t, mem, 4<<10) // small files: groups rotate through several
		const writers = 6
		var mu sync.Mutex
		committed := map[string]bool{}
		var order [writers][]string
		var wg sync.WaitGroup
		cut := make(chan struct{})
		var n atomic.Int64
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := &owner{}
				o.fail.Store(true) // its bytes are nowhere else: the log keeps every file
				b := NewBatch()
				for i := 0; ; i++ {
					select {
					case <-cut:
						return
					default:
					}
					b.Reset(o)
					var keys []string
					for k := range 1 + i%3 {
						data := []byte(fmt.Sprintf("w%d-i%d-k%d-%s", w, i, k, strings.Repeat("x", (i*7+k)%300)))
						e := Entry{Target: Target{Stream: uint32(w), Shard: uint32(k), Segment: uint64(i / 10)}, Offset: int64(i), Data: data}
						b.Add(e.Target, e.Offset, e.Data)
						keys = append(keys, entryKey(e))
					}
					if err := l.Commit(b); err != nil {
						return // the power is out
					}
					mu.Lock()
					for _, k := range keys {
						committed[k] = true
					}
					order[w] = append(order[w], keys...)
					mu.Unlock()
					n.Add(1)
				}
			}()
		}
		for n.Load() < int64(50+rng.IntN(300)) {
			runtime.Gosched()
		}
		mu.Lock()
		want := map[string]bool{}
		for k := range committed {
			want[k] = true
		}
		mem.CrashTorn(rng)
		mu.Unlock()
		close(cut)
		wg.Wait()

		_, a, st := open(t, mem, 4<<10)
		if !a.synced && len(a.entries) > 0 {
			t.Fatalf("round %d: replay applied entries without syncing them", round)
		}
		got := map[string]bool{}
		pos := [writers]int{}
		for _, e := range a.entries {
			k := entryKey(e)
			got[k] = true
			w := e.Target.Stream
			// Replayed entries of a writer come in its commit order.
			for pos[w] < len(order[w]) && order[w][pos[w]] != k {
				pos[w]++
			}
			if pos[w] == len(order[w]) && want[k] {
				t.Fatalf("round %d: entry %.40q replayed out of its writer's order", round, k)
			}
		}
		for k := range want {
			if !got[k] {
				t.Fatalf("round %d: committed entry %.60q was not replayed (replay: %+v)", round, k, st)
			}
		}
		if left := listFiles(t, mem); len(left) != 0 {
			t.Fatalf("round %d: files left after replay: %v", round, left)
		}
	}
}

// TestCommit_GroupsWaitingWriters holds the first group's fdatasync until
// seven more writers are waiting (with one group in flight at a time), and
// checks that they are all made durable by one more group: one pwritev and
// one fdatasync for seven batches.
func TestCommit_GroupsWaitingWriters(t *testing.T) {
	mem := vfs.NewMem()
	l, _, err := Open(Options{FS: mem, Dir: dir, Logger: quiet(), MaxInFlight: 1}, &applied{})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var syncs atomic.Int64
	mem.SetFault(func(op, name string, n int64) (int64, error) {
		if op == "fdatasync" && strings.HasPrefix(name, dir) && syncs.Add(1) == 1 {
			<-release
		}
		return 0, nil
	})
	o := &owner{}
	first := NewBatch()
	first.Reset(o)
	first.Add(Target{Shard: 99}, 0, []byte("first"))
	firstDone := make(chan error, 1)
	go func() { firstDone <- l.Commit(first) }()
	for syncs.Load() == 0 {
		runtime.Gosched()
	}
	var wg sync.WaitGroup
	for i := range 7 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := NewBatch()
			b.Reset(o)
			b.Add(Target{Shard: uint32(i)}, int64(i), []byte(fmt.Sprint("batch ", i)))
			if err := l.Commit(b); err != nil {
				t.Error(err)
			}
		}()
	}
	for {
		l.mu.Lock()
		n := len(l.pending)
		l.mu.Unlock()
		if n == 7 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	st := l.Stats()
	if st.Groups != 2 || st.Batches != 8 {
		t.Fatalf("stats %+v: want 8 batches in 2 groups", st)
	}
	if got := syncs.Load(); got != 2 {
		t.Fatalf("%d fdatasyncs of the log; want 2", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRotate_TrimsFilesOnceOwnersFlush fills several small files, and checks
// that a sealed file goes once its owners flush, that a file whose owner
// cannot flush is kept (Close says so) and replayed by the next Open, and
// that a clean Close leaves no file behind.
func TestRotate_TrimsFilesOnceOwnersFlush(t *testing.T) {
	mem := vfs.NewMem()
	l, _, _ := open(t, mem, 1<<10)
	good, bad := &owner{}, &owner{}
	bad.fail.Store(true)
	b := NewBatch()
	data := bytes.Repeat([]byte("d"), 200)
	commit := func(o *owner, i int) {
		b.Reset(o)
		b.Add(Target{Stream: 1, Segment: uint64(i)}, int64(i), data)
		if err := l.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	commit(bad, 0) // the bad owner is in the first file only
	for i := 1; i < 20; i++ {
		commit(good, i)
	}
	err := l.Close()
	if err == nil || !strings.Contains(err.Error(), "1 file(s) kept") {
		t.Fatalf("Close = %v; want the bad owner's file kept", err)
	}
	if good.flushes.Load() == 0 {
		t.Fatal("the good owner was never flushed")
	}
	if left := listFiles(t, mem); len(left) != 1 || left[0] != fileName(0) {
		t.Fatalf("files left: %v; want only the first", left)
	}
	l2, a, st := open(t, mem, 1<<10)
	if st.Files != 1 || len(a.entries) == 0 || a.entries[0].Target.Segment != 0 || !bytes.Equal(a.entries[0].Data, data) {
		t.Fatalf("replay %+v, %d entries; want the kept file's entries, the bad owner's first", st, len(a.entries))
	}
	// Numbers go on past the replayed file.
	b.Reset(good)
	b.Add(Target{}, 0, data)
	if err := l2.Commit(b); err != nil {
		t.Fatal(err)
	}
	if left := listFiles(t, mem); len(left) != 1 || left[0] != fileName(1) {
		t.Fatalf("files after the first commit of the new run: %v; want %s", left, fileName(1))
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if left := listFiles(t, mem); len(left) != 0 {
		t.Fatalf("a clean Close left %v", left)
	}
}

// TestCommit_FailuresRefuseAndRecover fails the log's write, then its sync,
// then the creation of its next file: each refuses the commits of its group
// (their callers sync themselves), the log moves on to a new file, and after
// RetryAfter it takes commits again. What was committed before and after
// replays; what was refused does not.
func TestCommit_FailuresRefuseAndRecover(t *testing.T) {
	mem := vfs.NewMem()
	a := &applied{}
	l, _, err := Open(Options{FS: mem, Dir: dir, FileSize: 1 << 20, Logger: quiet(), RetryAfter: 1}, a)
	if err != nil {
		t.Fatal(err)
	}
	o := &owner{}
	o.fail.Store(true) // its bytes are nowhere else: the log keeps every file
	b := NewBatch()
	commit := func(s string) error {
		b.Reset(o)
		b.Add(Target{Shard: 1}, 0, []byte(s))
		return l.Commit(b)
	}
	failOps := func(ops ...string) {
		mem.SetFault(func(o, name string, n int64) (int64, error) {
			for _, op := range ops {
				if o == op && strings.HasPrefix(name, dir) {
					return n / 2, syscall.EIO
				}
			}
			return 0, nil
		})
	}
	if err := commit("ok 1"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"pwritev", "fdatasync", "create"} {
		if op == "create" {
			// A new file is needed only once the current one is full or
			// broken: break it, then refuse its successor.
			failOps("pwritev", "create")
			if err := commit("refused by pwritev"); err == nil {
				t.Fatal("a commit whose pwritev failed returned nil")
			}
		} else {
			failOps(op)
		}
		if err := commit("refused by " + op); err == nil {
			t.Fatalf("a commit whose %s failed returned nil", op)
		}
		mem.SetFault(nil)
		if err := commit("ok after " + op); err != nil {
			t.Fatalf("after %s failed: %v", op, err)
		}
	}
	if st := l.Stats(); st.Refused != 4 || st.Batches != 4 {
		t.Fatalf("stats %+v", st)
	}
	// Cut the power without a Close: the files are replayed.
	mem.Crash()
	a2 := &applied{}
	if _, _, err := Open(Options{FS: mem, Dir: dir, Logger: quiet()}, a2); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range a2.entries {
		got = append(got, string(e.Data))
	}
	want := []string{"ok 1", "ok after pwritev", "ok after fdatasync", "ok after create"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replayed %q; want %q", got, want)
	}
}

// TestOpen_RefusesADamagedFileHeader: a file whose header does not check may
// hold acknowledged records, so Open stops and names it; a file of zeros (a
// creation whose header never reached the disk) is dropped quietly.
func TestOpen_RefusesADamagedFileHeader(t *testing.T) {
	mem := vfs.NewMem()
	if err := vfs.MkdirAllSync(mem, dir); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		f, err := mem.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(b, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	write(fileName(3), make([]byte, 4096))
	if _, st, err := Open(Options{FS: mem, Dir: dir, Logger: quiet()}, &applied{}); err != nil || st.Files != 1 {
		t.Fatalf("a zero file: Open = %+v, %v", st, err)
	}
	bad := make([]byte, 4096)
	putFileHeader(bad, 7)
	bad[3] ^= 0xff
	write(fileName(7), bad)
	_, _, err := Open(Options{FS: mem, Dir: dir, Logger: quiet()}, &applied{})
	if err == nil || !strings.Contains(err.Error(), fileName(7)) || !strings.Contains(err.Error(), "bad magic") {
		t.Fatalf("Open over a damaged header = %v", err)
	}
	// A header naming another file is damage too (a file copied or renamed
	// by hand).
	putFileHeader(bad, 8)
	write(fileName(7), bad)
	if _, _, err := Open(Options{FS: mem, Dir: dir, Logger: quiet()}, &applied{}); err == nil || !strings.Contains(err.Error(), "says it is file 8") {
		t.Fatalf("Open over a misnamed file = %v", err)
	}
}

// TestScan_StopsAtATornEntry: a replay applies the entries before a torn or
// damaged one and reports the file as cut.
func TestScan_StopsAtATornEntry(t *testing.T) {
	mem := vfs.NewMem()
	l, _, _ := open(t, mem, 1<<20)
	o := &owner{}
	b := NewBatch()
	for i := range 3 {
		b.Reset(o)
		b.Add(Target{Shard: uint32(i)}, 0, []byte(fmt.Sprint("entry ", i)))
		if err := l.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	// Flip a byte of the third entry's data on disk.
	f, err := mem.OpenFile(filepath.Join(dir, fileName(0)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	third := int64(fileHeaderSize + 2*(entryHeaderSize+len("entry 0")) + entryHeaderSize)
	if _, err := f.WriteAt([]byte{'E'}, third); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	f.Close()
	mem.Crash()
	_, a, st := open(t, mem, 1<<20)
	if len(a.entries) != 2 || len(st.Cut) != 1 {
		t.Fatalf("replayed %d entries, cut %v; want 2 and the file reported", len(a.entries), st.Cut)
	}
}

// TestExpect_LeaderWaitsForAnnouncedBatches: a batch announced with Expect
// joins the group being formed instead of waiting a whole fdatasync for
// the next one; a withdrawn announcement releases the leader.
func TestExpect_LeaderWaitsForAnnouncedBatches(t *testing.T) {
	for _, withdraw := range []bool{false, true} {
		mem := vfs.NewMem()
		l, _, _ := open(t, mem, 1<<20)
		o := &owner{}
		a, b := NewBatch(), NewBatch()
		a.Reset(o)
		a.Add(Target{Shard: 1}, 0, []byte("a"))
		b.Reset(o)
		b.Add(Target{Shard: 2}, 0, []byte("b"))
		l.Expect(b)
		done := make(chan error, 1)
		go func() { done <- l.Commit(a) }()
		for {
			l.mu.Lock()
			leading := l.writing
			l.mu.Unlock()
			if leading {
				break
			}
			runtime.Gosched()
		}
		select {
		case err := <-done:
			t.Fatalf("withdraw=%v: the leader committed (%v) with an announced batch on its way", withdraw, err)
		default:
		}
		if withdraw {
			l.Withdraw(b)
		} else if err := l.Commit(b); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := Stats{Groups: 1, Batches: 2, Bytes: 2 * (entryHeaderSize + 1)}
		if withdraw {
			want = Stats{Groups: 1, Batches: 1, Bytes: entryHeaderSize + 1}
		}
		if st := l.Stats(); st != want {
			t.Fatalf("withdraw=%v: stats %+v; want %+v", withdraw, st, want)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommit_OverlappingSyncsCompleteInOrder: while the first group's
// fdatasync is held, a second group is written and synced without waiting
// for it, but is acknowledged only after it; when the first fails, the
// second fails too (a replay would stop at the first's torn entries and
// never reach the second's), and the log goes on in a new file.
func TestCommit_OverlappingSyncsCompleteInOrder(t *testing.T) {
	mem := vfs.NewMem()
	release := make(chan struct{})
	var syncs atomic.Int64
	fsys := &syncHookFS{Mem: mem, onSync: func() error {
		if syncs.Add(1) == 1 {
			<-release
			return syscall.EIO
		}
		return nil
	}}
	l, _, err := Open(Options{FS: fsys, Dir: dir, Logger: quiet(), MaxInFlight: 2}, &applied{})
	if err != nil {
		t.Fatal(err)
	}
	o := &owner{}
	o.fail.Store(true) // keep every file, to see which the log wrote
	commit := func(s string, done chan<- error) {
		b := NewBatch()
		b.Reset(o)
		b.Add(Target{}, 0, []byte(s))
		done <- l.Commit(b)
	}
	first, second := make(chan error, 1), make(chan error, 1)
	go commit("first", first)
	for syncs.Load() < 1 {
		runtime.Gosched()
	}
	go commit("second", second)
	// The second group's fdatasync runs while the first's is held.
	for syncs.Load() < 2 {
		runtime.Gosched()
	}
	close(release)
	if err := <-first; err == nil {
		t.Fatal("the first commit succeeded through a failed fdatasync")
	}
	if err := <-second; !errors.Is(err, errEarlierFailed) {
		t.Fatalf("the second commit = %v; want it failed behind the first", err)
	}
	third := make(chan error, 1)
	commit("third", third)
	if err := <-third; err != nil {
		t.Fatal(err)
	}
	if left := listFiles(t, mem); len(left) == 0 || left[len(left)-1] != fileName(1) {
		t.Fatalf("files %v: want the log gone on to a new file", left)
	}
}

// syncHookFS is a Mem whose files call onSync before each fdatasync,
// outside the Mem's locks, so that a test can hold one sync while others
// go on.
type syncHookFS struct {
	*vfs.Mem
	onSync func() error
}

func (f *syncHookFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	file, err := f.Mem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &syncHookFile{File: file, onSync: f.onSync}, nil
}

type syncHookFile struct {
	vfs.File
	onSync func() error
}

func (f *syncHookFile) Sync() error {
	if err := f.onSync(); err != nil {
		return err
	}
	return f.File.Sync()
}
