package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// OS is the real file system: pwritev, fdatasync, fallocate mode 0 and a
// read-only shared mmap (see File for each operation's system call).
var OS FS = osFS{}

// iovMax is the most buffers one pwritev accepts (IOV_MAX on Linux and the
// BSDs); WritevAt splits longer lists into groups of this size.
const iovMax = 1024

type osFS struct{}

// OpenFile opens name; with O_CREATE the file gets perm&FileMode whatever
// the umask (see FileMode).
func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := openPrivate(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return newOSFile(f, name), nil
}

// openPrivate is os.OpenFile that, with O_CREATE, sets the mode of the file
// to perm&FileMode with fchmod, so that the umask can neither widen nor
// narrow it. A file that already existed with other bits gets them too,
// unless it belongs to another user (then it is left as it is).
func openPrivate(name string, flag int, perm fs.FileMode) (*os.File, error) {
	perm &= FileMode
	f, err := os.OpenFile(name, flag, perm)
	if err != nil || flag&os.O_CREATE == 0 {
		return f, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().Perm() != perm {
		if err = f.Chmod(perm); errors.Is(err, fs.ErrPermission) {
			err = nil // not ours to change: we did not create it
		}
	}
	if err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	return f, nil
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) RemoveAll(name string) error { return os.RemoveAll(name) }

// MkdirAll creates name and its missing parents, each with perm&DirMode
// whatever the umask; directories that exist are left as they are.
func (osFS) MkdirAll(name string, perm fs.FileMode) error {
	perm &= DirMode
	name = filepath.Clean(name)
	if fi, err := os.Stat(name); err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if parent := filepath.Dir(name); parent != name {
		if err := (osFS{}).MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(name, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Stat(name); serr == nil && fi.IsDir() {
				return nil // made meanwhile by someone else
			}
		}
		return err
	}
	return os.Chmod(name, perm)
}

func (osFS) ReadDir(name string) ([]string, error) {
	entries, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names) // os.ReadDir sorts already; the interface promises it
	return names, nil
}

func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return d.Close()
}

// osFile is a File over an *os.File. The raw system calls live in the
// build-tagged files (pwritev_*.go, sync_*.go, fallocate_*.go).
type osFile struct {
	f    *os.File
	fd   int    // f.Fd(), cached: valid while f is open
	name string // the path OpenFile was given
	// pwritev is the vectored write system call; tests replace it to force
	// short writes.
	pwritev func(f *osFile, bufs [][]byte, off int64) (int, error)
}

func newOSFile(f *os.File, name string) *osFile {
	return &osFile{f: f, fd: int(f.Fd()), name: name, pwritev: sysPwritev}
}

func (f *osFile) WriteAt(b []byte, off int64) (int, error) { return f.f.WriteAt(b, off) }

func (f *osFile) ReadAt(b []byte, off int64) (int, error) { return f.f.ReadAt(b, off) }

// WritevAt writes bufs back to back at off with pwritev, at most iovMax
// buffers per call, and keeps writing after a short write until every byte
// is written or an error occurs.
func (f *osFile) WritevAt(bufs [][]byte, off int64) (int, error) {
	total := 0
	for len(bufs) > 0 {
		group := bufs[:min(len(bufs), iovMax)]
		bufs = bufs[len(group):]
		n, err := f.writeGroup(group, off)
		total += n
		off += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// writeGroup writes at most iovMax buffers. After a short write it finishes
// the buffer the kernel stopped in with pwrite and resumes pwritev at the
// next whole buffer, so that the caller's slice is never modified.
func (f *osFile) writeGroup(group [][]byte, off int64) (int, error) {
	written := 0
	for len(group) > 0 {
		want := 0
		for _, b := range group {
			want += len(b)
		}
		if want == 0 {
			return written, nil
		}
		n, err := f.pwritev(f, group, off)
		if n < 0 {
			n = 0
		}
		written += n
		off += int64(n)
		if err != nil {
			return written, &fs.PathError{Op: "pwritev", Path: f.name, Err: err}
		}
		if n == want {
			return written, nil
		}
		if n == 0 {
			return written, &fs.PathError{Op: "pwritev", Path: f.name, Err: io.ErrShortWrite}
		}
		// Skip the buffers written in full, then finish the partial one.
		for n >= len(group[0]) {
			n -= len(group[0])
			group = group[1:]
		}
		rest := group[0][n:]
		group = group[1:]
		m, err := f.f.WriteAt(rest, off)
		written += m
		off += int64(m)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func (f *osFile) Sync() error {
	if err := fdatasync(f); err != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.name, Err: err}
	}
	return nil
}

// Allocate grows the file to at least off+n bytes with fallocate mode 0 (the
// size changes; never KEEP_SIZE). Where fallocate is unsupported it writes
// zeros over the extension instead, which allocates the blocks too.
func (f *osFile) Allocate(off, n int64) error {
	if off < 0 || n < 0 {
		return &fs.PathError{Op: "fallocate", Path: f.name, Err: fmt.Errorf("negative range off=%d n=%d", off, n)}
	}
	if n == 0 {
		return nil
	}
	return allocate(f, off, n)
}

// zeros is read-only: the source of the fallback allocation's writes.
var zeros [64 << 10]byte

// allocateByWriting extends the file to off+n by writing zeros from its
// current end; bytes already in the file are never rewritten.
func allocateByWriting(f *osFile, off, n int64) error {
	size, err := f.Size()
	if err != nil {
		return err
	}
	for end := off + n; size < end; {
		chunk := zeros[:min(int64(len(zeros)), end-size)]
		w, err := f.f.WriteAt(chunk, size)
		size += int64(w)
		if err != nil {
			return err
		}
	}
	return nil
}

func (f *osFile) Truncate(size int64) error { return f.f.Truncate(size) }

func (f *osFile) Size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f *osFile) Name() string { return f.name }

func (f *osFile) Close() error { return f.f.Close() }
