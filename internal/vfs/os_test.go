package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// openOSFile creates a file in a fresh temporary directory.
func openOSFile(t *testing.T) *osFile {
	t.Helper()
	f, err := OS.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f.(*osFile)
}

// randomBuffers returns n buffers of 0..maxLen random bytes and their
// concatenation.
func randomBuffers(rng *rand.Rand, n, maxLen int) ([][]byte, []byte) {
	bufs := make([][]byte, n)
	var all []byte
	for i := range bufs {
		b := make([]byte, rng.IntN(maxLen+1))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		bufs[i] = b
		all = append(all, b...)
	}
	return bufs, all
}

func readAll(t *testing.T, f File) []byte {
	t.Helper()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && size > 0 {
		t.Fatal(err)
	}
	return b
}

func TestOSWritevAt_RoundTripOverIOVMax(t *testing.T) {
	for _, n := range []int{1, 3, iovMax, iovMax + 1, 3000} {
		f := openOSFile(t)
		var calls, maxBufs int
		f.pwritev = func(f *osFile, bufs [][]byte, off int64) (int, error) {
			calls++
			maxBufs = max(maxBufs, len(bufs))
			return sysPwritev(f, bufs, off)
		}
		bufs, want := randomBuffers(rand.New(rand.NewPCG(uint64(n), 1)), n, 40)
		const off = 100
		got, err := f.WritevAt(bufs, off)
		if err != nil || got != len(want) {
			t.Fatalf("n=%d: WritevAt = %d, %v; want %d, nil", n, got, err, len(want))
		}
		data := readAll(t, f)
		if !bytes.Equal(data[off:], want) || !bytes.Equal(data[:off], make([]byte, off)) {
			t.Fatalf("n=%d: file content differs from the buffers written", n)
		}
		if maxBufs > iovMax {
			t.Fatalf("n=%d: a pwritev got %d buffers; IOV_MAX is %d", n, maxBufs, iovMax)
		}
		if wantCalls := (n + iovMax - 1) / iovMax; calls != wantCalls {
			t.Fatalf("n=%d: %d pwritev calls, want %d", n, calls, wantCalls)
		}
	}
}

// shortPwritev returns a pwritev that writes at most limit bytes per call
// through the real system call, as a kernel may under memory pressure or
// signals.
func shortPwritev(limit int) func(*osFile, [][]byte, int64) (int, error) {
	return func(f *osFile, bufs [][]byte, off int64) (int, error) {
		var cut [][]byte
		left := limit
		for _, b := range bufs {
			if left == 0 {
				break
			}
			b = b[:min(len(b), left)]
			left -= len(b)
			cut = append(cut, b)
		}
		return sysPwritev(f, cut, off)
	}
}

func TestOSWritevAt_ShortWritesAreResumed(t *testing.T) {
	for _, limit := range []int{1, 7, 64, 4095} {
		f := openOSFile(t)
		f.pwritev = shortPwritev(limit)
		bufs, want := randomBuffers(rand.New(rand.NewPCG(uint64(limit), 2)), 2100, 50)
		orig := make([][]byte, len(bufs))
		copy(orig, bufs)
		got, err := f.WritevAt(bufs, 0)
		if err != nil || got != len(want) {
			t.Fatalf("limit=%d: WritevAt = %d, %v; want %d, nil", limit, got, err, len(want))
		}
		if !bytes.Equal(readAll(t, f), want) {
			t.Fatalf("limit=%d: file content differs from the buffers written", limit)
		}
		for i := range bufs {
			if len(bufs[i]) != len(orig[i]) {
				t.Fatalf("limit=%d: WritevAt modified the caller's buffer %d", limit, i)
			}
		}
	}
}

func TestOSWritevAt_ErrorReportsBytesWritten(t *testing.T) {
	f := openOSFile(t)
	boom := errors.New("disk on fire")
	calls := 0
	f.pwritev = func(f *osFile, bufs [][]byte, off int64) (int, error) {
		calls++
		if calls == 1 {
			return shortPwritev(10)(f, bufs, off)
		}
		return 0, boom
	}
	bufs := [][]byte{bytes.Repeat([]byte{1}, 6), bytes.Repeat([]byte{2}, 6), bytes.Repeat([]byte{3}, 6)}
	n, err := f.WritevAt(bufs, 0)
	// 10 bytes by pwritev, 2 by the pwrite finishing buffer 1, then failure.
	if n != 12 || !errors.Is(err, boom) {
		t.Fatalf("WritevAt = %d, %v; want 12 and the pwritev error", n, err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != f.Name() {
		t.Fatalf("error %v does not name the file", err)
	}
}

func TestOSAllocate_GrowsSizeAndReadsZeros(t *testing.T) {
	for name, alloc := range map[string]func(f *osFile, off, n int64) error{
		"fallocate": func(f *osFile, off, n int64) error { return f.Allocate(off, n) },
		"fallback":  allocateByWriting,
	} {
		t.Run(name, func(t *testing.T) {
			f := openOSFile(t)
			if _, err := f.WriteAt([]byte("head"), 0); err != nil {
				t.Fatal(err)
			}
			const n = 1 << 20
			if err := alloc(f, 0, n); err != nil {
				t.Fatal(err)
			}
			if size, _ := f.Size(); size != n {
				t.Fatalf("size after Allocate(0, %d) = %d; mode 0 must grow the file (KEEP_SIZE would not)", n, size)
			}
			data := readAll(t, f)
			if string(data[:4]) != "head" || !bytes.Equal(data[4:], make([]byte, n-4)) {
				t.Fatal("Allocate changed existing bytes or the new space does not read as zeros")
			}
			if blocks, ok := allocatedBytes(t, f); ok && blocks < n {
				t.Fatalf("%d bytes allocated on disk after Allocate of %d", blocks, n)
			}
			// A range inside the file never shrinks it; a range past it grows it.
			if err := alloc(f, 10, 100); err != nil {
				t.Fatal(err)
			}
			if size, _ := f.Size(); size != n {
				t.Fatalf("Allocate inside the file changed its size to %d", size)
			}
			if err := alloc(f, 2*n, 8); err != nil {
				t.Fatal(err)
			}
			if size, _ := f.Size(); size != 2*n+8 {
				t.Fatalf("size after Allocate(%d, 8) = %d, want %d", 2*n, size, 2*n+8)
			}
		})
	}
}

func TestOSMap_SeesLaterWritesAndOutlivesClose(t *testing.T) {
	f := openOSFile(t)
	const length = 64 << 10
	if err := f.Allocate(0, length); err != nil {
		t.Fatal(err)
	}
	m, err := f.Map(length)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmap()
	if len(m.Bytes()) != length {
		t.Fatalf("mapping is %d bytes, want %d", len(m.Bytes()), length)
	}
	if _, err := f.WritevAt([][]byte{[]byte("hello, "), []byte("mapping")}, 5000); err != nil {
		t.Fatal(err)
	}
	if got := string(m.Bytes()[5000:5014]); got != "hello, mapping" {
		t.Fatalf("mapping shows %q after the write, want %q", got, "hello, mapping")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := string(m.Bytes()[5000:5005]); got != "hello" {
		t.Fatalf("mapping shows %q after Close, want %q", got, "hello")
	}
	if err := m.Unmap(); err != nil {
		t.Fatal(err)
	}
	if m.Bytes() != nil {
		t.Fatal("Bytes after Unmap is not nil")
	}
}

func TestOSSyncDir_ExistingAndMissing(t *testing.T) {
	dir := t.TempDir()
	f, err := OS.OpenFile(filepath.Join(dir, "a"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := OS.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := OS.SyncDir(dir); err != nil {
		t.Fatalf("SyncDir(%s) = %v", dir, err)
	}
	if err := OS.SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SyncDir of a missing directory = %v, want fs.ErrNotExist", err)
	}
}
