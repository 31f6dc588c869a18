package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// openTestFiles creates n files in a temp directory through the OS file
// system.
func openTestFiles(t testing.TB, n int) []File {
	t.Helper()
	dir := t.TempDir()
	files := make([]File, n)
	for i := range files {
		f, err := OS.OpenFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		files[i] = f
	}
	return files
}

// TestFlusher_ManyFiles syncs many files from many goroutines at once, each
// after a write, and checks every one succeeds and its bytes are there.
func TestFlusher_ManyFiles(t *testing.T) {
	fl := NewFlusher()
	defer fl.Close()
	if runtime.GOOS == "linux" && !fl.Batched() {
		t.Log("io_uring unavailable here: Sync is direct")
	}
	files := openTestFiles(t, 64)
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 20 {
				if _, err := f.WriteAt([]byte(fmt.Sprintf("file %d round %d\n", i, round)), int64(round)*32); err != nil {
					errs[i] = err
					return
				}
				if err := fl.Sync(f); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if fl.Batched() && fl.ringed.Load() == 0 {
		t.Errorf("64 writers syncing at once, and no file went through the ring")
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		want := fmt.Sprintf("file %d round 19\n", i)
		b := make([]byte, len(want))
		if _, err := files[i].ReadAt(b, 19*32); err != nil || string(b) != want {
			t.Fatalf("file %d holds %q (%v)", i, b, err)
		}
	}
}

// TestFlusher_OneFileFails checks that a file whose flush fails gets its
// own error, naming it, while the files flushed with it succeed.
func TestFlusher_OneFileFails(t *testing.T) {
	fl := NewFlusher()
	defer fl.Close()
	files := openTestFiles(t, 9)
	bad := files[4].(*osFile)
	// Close the descriptor under the File: its flush fails with EBADF.
	if err := bad.f.Close(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	for i, f := range files {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fl.Sync(f) }()
	}
	wg.Wait()
	for i, err := range errs {
		if i == 4 {
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != bad.name || pe.Op != "fdatasync" || !errors.Is(err, syscall.EBADF) {
				t.Errorf("bad file: %v; want an fdatasync PathError naming %s, wrapping EBADF", err, bad.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("file %d: %v", i, err)
		}
	}
}

// TestFlusher_MemAndClosed checks that an in-memory file is synced
// directly, and that a closed Flusher still syncs.
func TestFlusher_MemAndClosed(t *testing.T) {
	fl := NewFlusher()
	m := NewMem()
	f, err := m.OpenFile("/x", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("durable"), 0); err != nil {
		t.Fatal(err)
	}
	if err := fl.Sync(f); err != nil {
		t.Fatal(err)
	}
	m.Crash() // drops what was not synced
	g, err := m.OpenFile("/x", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 7)
	if _, err := g.ReadAt(b, 0); err != nil || string(b) != "durable" {
		t.Fatalf("after a crash the synced file holds %q (%v)", b, err)
	}
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	real := openTestFiles(t, 1)[0]
	if err := fl.Sync(real); err != nil {
		t.Errorf("Sync after Close: %v", err)
	}
}

// BenchmarkFlusher compares 64 writers each writing 1 KiB and syncing its
// own file directly with the same through one Flusher.
func BenchmarkFlusher(b *testing.B) {
	for _, batched := range []bool{false, true} {
		b.Run(fmt.Sprintf("flusher=%v", batched), func(b *testing.B) {
			fl := NewFlusher()
			defer fl.Close()
			files := openTestFiles(b, 64)
			buf := make([]byte, 1024)
			var next sync.Mutex
			i := 0
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				f := files[i%len(files)]
				i++
				next.Unlock()
				off := int64(0)
				for pb.Next() {
					if _, err := f.WriteAt(buf, off); err != nil {
						b.Error(err)
						return
					}
					off += 1024
					var err error
					if batched {
						err = fl.Sync(f)
					} else {
						err = f.Sync()
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
