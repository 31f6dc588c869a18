//go:build linux

package vfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// allocatedBytes is the disk space the file holds (st_blocks × 512).
func allocatedBytes(t *testing.T, f *osFile) (int64, bool) {
	fi, err := f.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Blocks * 512, true
}

// TestWritevAt_ManyBuffersAllocateNothing: the commit log writes hundreds
// of buffers in one pwritev; the iovec array must not cost an allocation
// per call.
func TestWritevAt_ManyBuffersAllocateNothing(t *testing.T) {
	f, err := OS.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bufs := make([][]byte, 300)
	for i := range bufs {
		bufs[i] = []byte{byte(i), byte(i >> 8)}
	}
	if n, err := f.WritevAt(bufs, 0); err != nil || n != 600 {
		t.Fatalf("WritevAt = %d, %v", n, err)
	}
	got := make([]byte, 600)
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	for i := range bufs {
		if got[2*i] != byte(i) || got[2*i+1] != byte(i>>8) {
			t.Fatalf("buffer %d landed as %v", i, got[2*i:2*i+2])
		}
	}
	if a := testing.AllocsPerRun(100, func() { f.WritevAt(bufs, 4096) }); a != 0 {
		t.Fatalf("WritevAt of 300 buffers allocates %.1f times per call", a)
	}
}
