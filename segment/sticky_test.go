package segment

import (
	"errors"
	"io/fs"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
)

// syncFailFS is a Mem whose file Syncs fail with EIO once failing is set,
// counting every Sync attempted.
type syncFailFS struct {
	*vfs.Mem
	failing atomic.Bool
	syncs   atomic.Int64
}

func (s *syncFailFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := s.Mem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &syncFailFile{File: f, fs: s}, nil
}

type syncFailFile struct {
	vfs.File
	fs *syncFailFS
}

func (f *syncFailFile) Sync() error {
	f.fs.syncs.Add(1)
	if f.fs.failing.Load() {
		return syscall.EIO
	}
	return f.File.Sync()
}

func TestLog_StickySyncError(t *testing.T) {
	fsys := &syncFailFS{Mem: vfs.NewMem()}
	l, _ := openLog(t, testDir, smallOpts(fsys))
	var b Batch
	appendBatch(t, l, &b, []testRecord{{t: 1, key: []byte("k")}}, true)

	fsys.failing.Store(true)
	l.Begin(&b)
	b.Add(2, 0, []byte("k"), []byte("v"))
	if err := l.Write(&b); err != nil {
		t.Fatal(err)
	}
	first := l.Sync()
	if !errors.Is(first, syscall.EIO) {
		t.Fatalf("Sync = %v, want EIO", first)
	}
	// The disk recovers, but the log never retries the fsync: the state of
	// the page cache after a failed fsync is unknown.
	fsys.failing.Store(false)
	n := fsys.syncs.Load()
	l.Begin(&b)
	b.Add(3, 0, []byte("k"), []byte("v"))
	for name, err := range map[string]error{"Write": l.Write(&b), "Sync": l.Sync()} {
		if err != first {
			t.Errorf("%s after a failed Sync = %v, want the same error %v", name, err, first)
		}
	}
	if got := fsys.syncs.Load(); got != n {
		t.Fatalf("%d more fsyncs after the failure", got-n)
	}
	// Close reports it too and writes no clean marker.
	if err := l.Close(); err != first {
		t.Fatalf("Close = %v, want %v", err, first)
	}
	if exists(fsys.Mem, testDir+"/"+markerName) {
		t.Fatal("a clean marker was written after a sync failure")
	}
}
