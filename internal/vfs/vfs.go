// Package vfs is the file seam of sluice's storage: every byte that segment,
// index and the engine's catalog put on disk goes through an FS. OS is the
// real one (pwritev, fdatasync, fallocate, read-only mmap); Mem is an
// in-memory one for crash tests that keeps only what was synced and can tear
// the last unsynced write, the way pebble's crashable MemFS does.
package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Modes of what storage creates. Records and metadata are private to the
// server's user: every implementation creates files with at most FileMode
// and directories with at most DirMode (perm is masked with them), whatever
// the process's umask.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

// MkdirAllSync creates dir and its missing parents (DirMode) and makes the
// new entries durable: it syncs the parent of every directory it created,
// from the top down, so that a crash right after it returns keeps dir.
func MkdirAllSync(fsys FS, dir string) error {
	dir = filepath.Clean(dir)
	var missing []string // dir first, then its missing parents
	for d := dir; ; {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(filepath.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
}

// FS is the set of file-system operations storage needs.
type FS interface {
	// OpenFile opens name with os.OpenFile flags (O_RDWR, O_CREATE, O_EXCL,
	// O_TRUNC, O_RDONLY are supported by every implementation). A file it
	// creates gets perm&FileMode.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Rename renames oldname to newname, replacing newname if it exists.
	// It is atomic but not durable until SyncDir of the directory.
	Rename(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes a path and everything below it.
	RemoveAll(name string) error
	// MkdirAll creates a directory and its parents, each new one with
	// perm&DirMode. See MkdirAllSync for a durable creation.
	MkdirAll(name string, perm fs.FileMode) error
	// ReadDir lists the names in a directory, sorted.
	ReadDir(name string) ([]string, error)
	// Stat reports whether name exists and its size.
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the creations, renames and removals of entries in dir
	// durable (fsync of the directory).
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the directory dir, which must exist,
	// so that two servers never work in the same data directory. The lock
	// is held until the returned Closer is closed (or the process ends). A
	// second Lock of dir fails with an error matching ErrLocked until then,
	// whether it comes from another process or from this one.
	Lock(dir string) (io.Closer, error)
}

// File is an open file. Offsets are explicit: there is no file position.
type File interface {
	// WriteAt writes b at off (pwrite).
	WriteAt(b []byte, off int64) (int, error)
	// WritevAt writes the buffers back to back starting at off with one
	// vectored write (pwritev). It returns the bytes written.
	WritevAt(bufs [][]byte, off int64) (int, error)
	// ReadAt reads len(b) bytes at off (pread); io.EOF past the end.
	ReadAt(b []byte, off int64) (int, error)
	// Sync makes the data written so far durable (fdatasync).
	Sync() error
	// Allocate makes the file at least off+n bytes long with the new space
	// allocated and reading as zeros (fallocate mode 0; never KEEP_SIZE).
	Allocate(off, n int64) error
	// Truncate sets the file's size.
	Truncate(size int64) error
	// Size is the file's current size.
	Size() (int64, error)
	// Map maps the first length bytes of the file read-only and shared, so
	// that later writes become visible through it. length may exceed the
	// file's size; bytes past the end must not be touched.
	Map(length int) (Mapping, error)
	// Name is the path the file was opened with.
	Name() string
	Close() error
}

// Mapping is a read-only memory mapping of a file.
type Mapping interface {
	// Bytes is the mapped memory. It is valid until Unmap.
	Bytes() []byte
	// Populate asks for the pages under Bytes()[lo:hi] to be made present
	// in one go, so that a reader about to touch them sequentially does not
	// take a page fault per page. It is only a hint: it may do nothing, and
	// it never fails. lo and hi must lie within the file's size.
	Populate(lo, hi int)
	Unmap() error
}

// ReadFile reads the whole file at path, which must hold at most limit
// bytes (a larger one fails with ErrTooLarge before anything is read, so a
// damaged or foreign file costs no memory).
func ReadFile(fsys FS, path string, limit int64) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, fmt.Errorf("%w: %s is %d B; at most %d B expected", ErrTooLarge, path, size, limit)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && n == len(b)) {
		return nil, err
	}
	return b, nil
}
