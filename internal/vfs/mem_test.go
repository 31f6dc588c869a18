package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// newMemDir returns a Mem with a durable directory /d.
func newMemWithDir(t *testing.T) *Mem {
	t.Helper()
	m := NewMem()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustWrite(t *testing.T, f File, s string, off int64) {
	t.Helper()
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		t.Fatal(err)
	}
}

// createDurable creates name (a file of /d) holding s and syncs both the
// file and /d, so that it survives Crash.
func createDurable(t *testing.T, m *Mem, name, s string) File {
	t.Helper()
	f := create(t, m, name, s)
	mustSync(t, f)
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	return f
}

func mustSync(t *testing.T, f File) {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func exists(m *Mem, name string) bool {
	_, err := m.Stat(name)
	return err == nil
}

func TestMemCrash_KeepsSyncedBytesOnly(t *testing.T) {
	m := newMemWithDir(t)
	f := create(t, m, "/d/seg", "")
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "synced|", 0)
	mustSync(t, f)
	mustWrite(t, f, "lost", 7)
	mustWrite(t, f, "S", 0) // an unsynced overwrite is lost too
	m.Crash()
	if got := contentOf(t, m, "/d/seg"); got != "synced|" {
		t.Fatalf("after Crash the file holds %q, want only the synced %q", got, "synced|")
	}
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write through a handle from before the crash = %v, want ErrCrashed", err)
	}
	if err := f.Sync(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("sync through a handle from before the crash = %v, want ErrCrashed", err)
	}
}

func TestMemCrash_UnsyncedTruncateReverts(t *testing.T) {
	m := newMemWithDir(t)
	f := createDurable(t, m, "/d/seg", "0123456789")
	if err := f.Truncate(3); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got := contentOf(t, m, "/d/seg"); got != "0123456789" {
		t.Fatalf("after Crash = %q, want the unsynced truncation undone", got)
	}
}

func TestMemCrash_CreatedFileNeedsDirSync(t *testing.T) {
	m := newMemWithDir(t)
	f := create(t, m, "/d/new", "data")
	mustSync(t, f) // the bytes are synced, the directory entry is not
	m.Crash()
	if exists(m, "/d/new") {
		t.Fatal("a file whose directory was never synced survived Crash")
	}

	f = createDurable(t, m, "/d/new", "data")
	m.Crash()
	if got := contentOf(t, m, "/d/new"); got != "data" {
		t.Fatalf("after SyncDir and Crash the file holds %q, want %q", got, "data")
	}
}

func TestMemCrash_NewDirectoryNeedsParentSync(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/a"); err != nil { // b is durable in a, but a is not in /
		t.Fatal(err)
	}
	m.Crash()
	if exists(m, "/a") {
		t.Fatal("a directory whose parent was never synced survived Crash")
	}
	if err := m.MkdirAll("/a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/a"); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if !exists(m, "/a/b") {
		t.Fatal("/a/b lost although / and /a were synced")
	}
}

func TestMemCrash_RenameRevertsWithoutDirSync(t *testing.T) {
	m := newMemWithDir(t)
	old := create(t, m, "/d/marker", "old")
	mustSync(t, old)
	tmp := create(t, m, "/d/marker.tmp", "new")
	mustSync(t, tmp)
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	if err := m.Rename("/d/marker.tmp", "/d/marker"); err != nil {
		t.Fatal(err)
	}
	if got := contentOf(t, m, "/d/marker"); got != "new" {
		t.Fatalf("before the crash marker = %q, want %q", got, "new")
	}
	m.Crash()
	if got := contentOf(t, m, "/d/marker"); got != "old" {
		t.Fatalf("after Crash marker = %q, want the pre-rename %q", got, "old")
	}
	if got := contentOf(t, m, "/d/marker.tmp"); got != "new" {
		t.Fatalf("after Crash marker.tmp = %q, want it back with %q", got, "new")
	}

	if err := m.Rename("/d/marker.tmp", "/d/marker"); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got := contentOf(t, m, "/d/marker"); got != "new" || exists(m, "/d/marker.tmp") {
		t.Fatalf("after a synced rename and Crash marker = %q and marker.tmp exists = %v", got, exists(m, "/d/marker.tmp"))
	}
}

func TestMemCrash_RemoveRevertsWithoutDirSync(t *testing.T) {
	m := newMemWithDir(t)
	createDurable(t, m, "/d/seg", "kept")
	if err := m.Remove("/d/seg"); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got := contentOf(t, m, "/d/seg"); got != "kept" {
		t.Fatalf("after an unsynced Remove and Crash = %q, want %q", got, "kept")
	}
}

func TestMemCrash_OldMappingKeepsOldBytes(t *testing.T) {
	m := newMemWithDir(t)
	f := createDurable(t, m, "/d/seg", "synced")
	mustWrite(t, f, "+tail", 6)
	mp, err := f.Map(64)
	if err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got := string(mp.Bytes()[:11]); got != "synced+tail" {
		t.Fatalf("a mapping from before the crash shows %q, want its old bytes", got)
	}
	g, err := m.OpenFile("/d/seg", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, g, "X", 0)
	if mp.Bytes()[0] != 's' {
		t.Fatal("a write after the crash changed a mapping from before it")
	}
}

// TestMemCrashTorn_KeepsPrefixOfUnsyncedTail checks, for many seeds, that a
// torn crash leaves the synced bytes intact followed by a prefix of what was
// written since the last sync, of which only the last 512 bytes may be
// garbage, and that every outcome (nothing, some, all, garbage) occurs.
func TestMemCrashTorn_KeepsPrefixOfUnsyncedTail(t *testing.T) {
	pattern := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	cases := []struct {
		name   string
		synced []byte // file content at the last Sync
		// write performs the unsynced writes; final is the content they leave.
		write func(t *testing.T, f File)
		final []byte
		// tailFrom is where the unsynced tail starts.
		tailFrom int
		// wholeOnly: the history has no tail to tear (a shrink), so only the
		// outcomes "none" and "all" exist.
		wholeOnly bool
	}{
		{
			name:   "append",
			synced: pattern(1000, 1),
			write:  func(t *testing.T, f File) { mustWrite(t, f, string(pattern(3000, 2)), 1000) },
			final:  append(pattern(1000, 1), pattern(3000, 2)...), tailFrom: 1000,
		},
		{
			name:   "append into synced preallocation",
			synced: append(pattern(1000, 1), make([]byte, 7192)...),
			write:  func(t *testing.T, f File) { mustWrite(t, f, string(pattern(2000, 3)), 1000) },
			final:  append(append(pattern(1000, 1), pattern(2000, 3)...), make([]byte, 5192)...), tailFrom: 1000,
		},
		{
			name:   "several appends",
			synced: nil,
			write: func(t *testing.T, f File) {
				if _, err := f.WritevAt([][]byte{pattern(100, 4), pattern(900, 5)}, 0); err != nil {
					t.Fatal(err)
				}
				mustWrite(t, f, string(pattern(500, 6)), 1000)
			},
			final: append(append(pattern(100, 4), pattern(900, 5)...), pattern(500, 6)...), tailFrom: 0,
		},
		{
			name:   "shrink",
			synced: pattern(2000, 8),
			write: func(t *testing.T, f File) {
				if err := f.Truncate(500); err != nil {
					t.Fatal(err)
				}
			},
			final: pattern(500, 8), tailFrom: 500, wholeOnly: true,
		},
		{
			name:   "nothing unsynced",
			synced: pattern(777, 7),
			write:  func(t *testing.T, f File) {},
			final:  pattern(777, 7), tailFrom: 777,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var none, some, all, garbage bool
			outcomes := map[string]bool{}
			for seed := uint64(0); seed < 64; seed++ {
				got := tornOutcome(t, tc.synced, tc.write, seed)
				if again := tornOutcome(t, tc.synced, tc.write, seed); !bytes.Equal(got, again) {
					t.Fatalf("seed %d: two torn crashes of the same history differ", seed)
				}
				outcomes[string(got)] = true
				if bytes.Equal(got, tc.final) {
					all = true
					continue
				}
				// The synced bytes before the tail are intact.
				if len(got) < tc.tailFrom || !bytes.Equal(got[:tc.tailFrom], tc.synced[:tc.tailFrom]) {
					t.Fatalf("seed %d: synced bytes before the unsynced tail were changed", seed)
				}
				if len(got) < len(tc.synced) {
					t.Fatalf("seed %d: file shrank to %d below its synced %d bytes", seed, len(got), len(tc.synced))
				}
				// From tailFrom the file must match what was written up to some
				// point a, and what was synced from some point b on; between
				// them (a torn sector) at most 512 bytes may be garbage.
				a := tc.tailFrom
				for a < len(got) && a < len(tc.final) && got[a] == tc.final[a] {
					a++
				}
				b := len(got)
				for b > tc.tailFrom && b <= len(tc.synced) && got[b-1] == tc.synced[b-1] {
					b--
				}
				if b-a > 512 {
					t.Fatalf("seed %d: bytes %d..%d match neither the writes nor the synced file; garbage is limited to 512", seed, a, b)
				}
				if b > a {
					garbage = true
				}
				if bytes.Equal(got, tc.synced) {
					none = true
				} else {
					some = true
				}
			}
			if bytes.Equal(tc.synced, tc.final) {
				if len(outcomes) != 1 || !outcomes[string(tc.synced)] {
					t.Fatalf("with nothing unsynced, torn crashes left %d different outcomes", len(outcomes))
				}
				return
			}
			if tc.wholeOnly {
				if !none || !all || some || garbage {
					t.Fatalf("a shrink tore: none=%v all=%v some=%v garbage=%v; want only none and all", none, all, some, garbage)
				}
				return
			}
			if !none || !some || !all || !garbage {
				t.Fatalf("64 seeds never produced every outcome: none=%v some=%v all=%v garbage=%v", none, some, all, garbage)
			}
		})
	}
}

// tornOutcome replays a history on a fresh Mem, tears it with seed and
// returns what the file holds afterwards.
func tornOutcome(t *testing.T, synced []byte, write func(*testing.T, File), seed uint64) []byte {
	t.Helper()
	m := newMemWithDir(t)
	f := createDurable(t, m, "/d/seg", string(synced))
	write(t, f)
	m.CrashTorn(rand.New(rand.NewPCG(seed, 0x5eed)))
	return []byte(contentOf(t, m, "/d/seg"))
}

// TestMemMap_ReadersBelowWatermarkWhileWriterAppends is the segment read
// path: readers read the mapping below an atomically published watermark,
// with no lock, while the writer writes above it. Run with -race.
func TestMemMap_ReadersBelowWatermarkWhileWriterAppends(t *testing.T) {
	m := newMemWithDir(t)
	f := create(t, m, "/d/seg", "")
	const size = 1 << 20
	mp, err := f.Map(size)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Unmap()
	expect := func(i int) byte { return byte(i*31 + i>>8) }

	var watermark atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := mp.Bytes()
			checked := 0
			for checked < size {
				w := int(watermark.Load())
				if w == checked {
					runtime.Gosched() // nothing new: let the writer run on a busy machine
				}
				for i := checked; i < w; i++ {
					if b[i] != expect(i) {
						errs <- errors.New("a reader saw a byte below the watermark that differs from what was written")
						return
					}
				}
				checked = w
			}
		}()
	}
	chunk := make([]byte, 4096+24)
	for off := 0; off < size; {
		n := min(len(chunk)-off%24, size-off)
		for i := 0; i < n; i++ {
			chunk[i] = expect(off + i)
		}
		if err := f.Allocate(int64(off), int64(n)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WritevAt([][]byte{chunk[:n/2], chunk[n/2 : n]}, int64(off)); err != nil {
			t.Fatal(err)
		}
		off += n
		watermark.Store(int64(off))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestMemMap_MappingFollowsWritesAfterGrowth checks a mapping shorter than
// the file keeps seeing writes inside it after the file grew past it.
func TestMemMap_MappingFollowsWritesAfterGrowth(t *testing.T) {
	m := newMemWithDir(t)
	f := create(t, m, "/d/seg", "")
	mp, err := f.Map(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Unmap()
	mustWrite(t, f, "far", 1<<20)
	mustWrite(t, f, "near", 100)
	if got := string(mp.Bytes()[100:104]); got != "near" {
		t.Fatalf("mapping shows %q after the file grew past it, want %q", got, "near")
	}
	if err := f.Truncate(50); err != nil {
		t.Fatal(err)
	}
	if mp.Bytes()[100] != 0 {
		t.Fatal("mapping still shows bytes cut by Truncate")
	}
}

func TestMem_ErrorsMatchOS(t *testing.T) {
	m := newMemWithDir(t)
	ro := create(t, m, "/d/f", "x")
	ro.Close()
	if _, err := ro.WriteAt([]byte("y"), 0); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("write after Close = %v, want fs.ErrClosed", err)
	}
	r, err := m.OpenFile("/d/f", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("y"), 0); !errors.Is(err, ErrNotWritable) {
		t.Fatalf("write through an O_RDONLY handle = %v, want ErrNotWritable", err)
	}
	if _, err := m.OpenFile("/missing/f", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("create in a missing directory = %v, want fs.ErrNotExist", err)
	}
	if err := m.SyncDir("/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SyncDir of a missing directory = %v, want fs.ErrNotExist", err)
	}
	if err := m.Rename("/d", "/d/sub"); err == nil {
		t.Fatal("renaming a directory into itself succeeded")
	}
}

func TestMemLock_CrashReleasesLock(t *testing.T) {
	m := newMemWithDir(t)
	old, err := m.Lock("/d")
	if err != nil {
		t.Fatal(err)
	}
	m.Crash()
	l, err := m.Lock("/d")
	if err != nil {
		t.Fatalf("Lock after a crash of the holder: %v", err)
	}
	old.Close() // the dead holder's Close must not release the new lock
	if _, err := m.Lock("/d"); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock while held after a stale Close = %v, want ErrLocked", err)
	}
	l.Close()
}

func TestMemFault_FailsOperationsAndLandsPartialWrites(t *testing.T) {
	m := newMemWithDir(t)
	enospc := syscall.ENOSPC
	m.SetFault(func(op, name string, n int64) (int64, error) {
		switch op {
		case "create", "fallocate", "fdatasync":
			return 0, enospc
		case "pwritev":
			return 3, enospc
		}
		return 0, nil
	})
	if _, err := m.OpenFile("/d/new", os.O_RDWR|os.O_CREATE, 0o600); !errors.Is(err, enospc) {
		t.Fatalf("create under a fault = %v, want ENOSPC", err)
	}
	if exists(m, "/d/new") {
		t.Fatal("a failed create left a file")
	}
	m.SetFault(nil)
	f, err := m.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m.SetFault(func(op, name string, n int64) (int64, error) {
		switch op {
		case "fallocate", "fdatasync":
			return 0, enospc
		case "pwritev":
			return 3, enospc
		}
		return 0, nil
	})
	if err := f.Allocate(0, 4096); !errors.Is(err, enospc) {
		t.Fatalf("fallocate under a fault = %v, want ENOSPC", err)
	}
	if size, _ := f.Size(); size != 0 {
		t.Fatalf("a failed fallocate changed the size to %d", size)
	}
	n, err := f.WritevAt([][]byte{[]byte("ab"), []byte("cdef")}, 0)
	if n != 3 || !errors.Is(err, enospc) {
		t.Fatalf("pwritev under a fault = %d, %v; want 3 bytes landed and ENOSPC", n, err)
	}
	if err := f.Sync(); !errors.Is(err, enospc) {
		t.Fatalf("fdatasync under a fault = %v, want the injected error", err)
	}
	m.SetFault(nil)
	if got := string(readAll(t, f)); got != "abc" {
		t.Fatalf("file holds %q after a partial write, want %q", got, "abc")
	}
	if files, maps := m.Handles(); files != 1 || maps != 0 {
		t.Fatalf("Handles() = %d files, %d mappings; want 1, 0", files, maps)
	}
}
