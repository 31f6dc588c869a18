package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// implementations builds each FS with a fresh, existing directory in it, so
// that the same cases run against the real and the in-memory file system.
var implementations = map[string]func(t *testing.T) (FS, string){
	"OS": func(t *testing.T) (FS, string) { return OS, t.TempDir() },
	"Mem": func(t *testing.T) (FS, string) {
		m := NewMem()
		if err := m.MkdirAll("/data/shard", 0o755); err != nil {
			t.Fatal(err)
		}
		return m, "/data/shard"
	},
}

func forEachFS(t *testing.T, test func(t *testing.T, fsys FS, dir string)) {
	for name, mk := range implementations {
		t.Run(name, func(t *testing.T) {
			fsys, dir := mk(t)
			test(t, fsys, dir)
		})
	}
}

func create(t *testing.T, fsys FS, name string, content string) File {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func contentOf(t *testing.T, fsys FS, name string) string {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return string(readAll(t, f))
}

func TestFS_OpenFlags(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		name := filepath.Join(dir, "a")
		if _, err := fsys.OpenFile(name, os.O_RDWR, 0); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("open of a missing file without O_CREATE = %v, want fs.ErrNotExist", err)
		}
		create(t, fsys, name, "0123456789")
		if _, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("O_EXCL open of an existing file = %v, want fs.ErrExist", err)
		}
		f, err := fsys.OpenFile(name, os.O_RDWR|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if size, _ := f.Size(); size != 0 {
			t.Fatalf("size after O_TRUNC = %d, want 0", size)
		}
		if f.Name() != name {
			t.Fatalf("Name() = %q, want %q", f.Name(), name)
		}
	})
}

func TestFS_ReadAtPastEnd(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		f := create(t, fsys, filepath.Join(dir, "a"), "abcdef")
		b := make([]byte, 4)
		if n, err := f.ReadAt(b, 4); n != 2 || err != io.EOF || string(b[:2]) != "ef" {
			t.Fatalf("ReadAt across the end = %d %q, %v; want 2 \"ef\", io.EOF", n, b[:n], err)
		}
		if n, err := f.ReadAt(b, 6); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
		}
	})
}

func TestFS_WritevAtAndTruncate(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		f := create(t, fsys, filepath.Join(dir, "a"), "")
		n, err := f.WritevAt([][]byte{[]byte("ab"), nil, []byte("cde")}, 3)
		if n != 5 || err != nil {
			t.Fatalf("WritevAt = %d, %v; want 5, nil", n, err)
		}
		if got := readAll(t, f); !bytes.Equal(got, []byte("\x00\x00\x00abcde")) {
			t.Fatalf("content %q, want 3 zeros then abcde", got)
		}
		if err := f.Truncate(4); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(6); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, f); !bytes.Equal(got, []byte("\x00\x00\x00a\x00\x00")) {
			t.Fatalf("after shrink and regrow: %q, want the cut bytes to read as zeros", got)
		}
	})
}

func TestFS_AllocateAndMap(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		f := create(t, fsys, filepath.Join(dir, "seg"), "x")
		const length = 1 << 16
		m, err := f.Map(length)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Unmap()
		if err := f.Allocate(0, 8192); err != nil {
			t.Fatal(err)
		}
		if size, _ := f.Size(); size != 8192 {
			t.Fatalf("size after Allocate = %d, want 8192", size)
		}
		if _, err := f.WriteAt([]byte("later"), 4096); err != nil {
			t.Fatal(err)
		}
		b := m.Bytes()
		if len(b) != length || b[0] != 'x' || string(b[4096:4101]) != "later" || !bytes.Equal(b[1:4096], make([]byte, 4095)) {
			t.Fatal("mapping does not show the file's bytes, zeros and the later write")
		}
	})
}

func TestFS_DirectoryOperations(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		create(t, fsys, filepath.Join(dir, "b"), "bee")
		create(t, fsys, filepath.Join(dir, "a"), "ay")
		if err := fsys.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
			t.Fatal(err)
		}
		names, err := fsys.ReadDir(dir)
		if err != nil || len(names) != 3 || names[0] != "a" || names[1] != "b" || names[2] != "sub" {
			t.Fatalf("ReadDir = %v, %v; want [a b sub]", names, err)
		}
		if err := fsys.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
			t.Fatal(err)
		}
		if got := contentOf(t, fsys, filepath.Join(dir, "b")); got != "ay" {
			t.Fatalf("b after renaming a over it = %q, want %q", got, "ay")
		}
		if _, err := fsys.Stat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat of the renamed-away name = %v, want fs.ErrNotExist", err)
		}
		fi, err := fsys.Stat(filepath.Join(dir, "b"))
		if err != nil || fi.Size() != 2 || fi.IsDir() {
			t.Fatalf("Stat(b) = %v, %v; want a 2-byte file", fi, err)
		}
		if fi, err := fsys.Stat(filepath.Join(dir, "sub")); err != nil || !fi.IsDir() {
			t.Fatalf("Stat(sub) = %v, %v; want a directory", fi, err)
		}
		if err := fsys.Remove(filepath.Join(dir, "sub")); err == nil {
			t.Fatal("Remove of a non-empty directory succeeded")
		}
		if err := fsys.RemoveAll(filepath.Join(dir, "sub")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.RemoveAll(filepath.Join(dir, "never-existed")); err != nil {
			t.Fatalf("RemoveAll of a missing path = %v, want nil", err)
		}
		if err := fsys.Remove(filepath.Join(dir, "b")); err != nil {
			t.Fatal(err)
		}
		if names, _ := fsys.ReadDir(dir); len(names) != 0 {
			t.Fatalf("ReadDir after removing everything = %v", names)
		}
		if err := fsys.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFS_RemovedFileStaysReadableWhileOpen(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		name := filepath.Join(dir, "seg.deleted")
		f := create(t, fsys, name, "still here")
		m, err := f.Map(10)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Unmap()
		if err := fsys.Remove(name); err != nil {
			t.Fatal(err)
		}
		if got := string(readAll(t, f)); got != "still here" || string(m.Bytes()) != "still here" {
			t.Fatalf("removed file reads %q through its handle and %q through its mapping", got, m.Bytes())
		}
	})
}

func TestFS_LockIsExclusiveUntilClosed(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		l, err := fsys.Lock(dir)
		if err != nil {
			t.Fatal(err)
		}
		if l2, err := fsys.Lock(dir); !errors.Is(err, ErrLocked) {
			if l2 != nil {
				l2.Close()
			}
			t.Fatalf("second Lock of a locked directory = %v, want ErrLocked", err)
		} else if !strings.Contains(err.Error(), "in use by another process") {
			t.Fatalf("second Lock error %q does not say the directory is in use", err)
		}
		// Another directory is independent.
		other := filepath.Join(dir, "other")
		if err := fsys.MkdirAll(other, 0o700); err != nil {
			t.Fatal(err)
		}
		lo, err := fsys.Lock(other)
		if err != nil {
			t.Fatalf("Lock of another directory while the first is held: %v", err)
		}
		lo.Close()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l3, err := fsys.Lock(dir)
		if err != nil {
			t.Fatalf("Lock after the holder closed it: %v", err)
		}
		l3.Close()
		if _, err := fsys.Lock(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Lock of a missing directory = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestFS_PopulateLeavesBytesIntact(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		content := strings.Repeat("0123456789abcdef", 1024) // 16 KiB: several pages
		f := create(t, fsys, filepath.Join(dir, "p"), content)
		m, err := f.Map(64 << 10)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Unmap()
		m.Populate(100, len(content)) // not page aligned: rounded down inside
		m.Populate(len(content), 0)   // an empty range is ignored
		if got := string(m.Bytes()[:len(content)]); got != content {
			t.Fatal("mapped bytes differ from the file after Populate")
		}
	})
}

func TestMkdirAllSync_NewDirectoriesAreDurable(t *testing.T) {
	m := NewMem()
	if err := MkdirAllSync(m, "/data/streams/s/shard"); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	fi, err := m.Stat("/data/streams/s/shard")
	if err != nil || !fi.IsDir() {
		t.Fatalf("directory made by MkdirAllSync is gone after a crash: %v", err)
	}
	if err := MkdirAllSync(m, "/data/streams/s/shard"); err != nil {
		t.Fatalf("MkdirAllSync of an existing directory: %v", err)
	}
}
