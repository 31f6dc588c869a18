//go:build linux

package vfs

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// allocate calls fallocate(fd, 0, off, n): mode 0 allocates the blocks and
// moves the file size to off+n if that is larger. File systems without
// fallocate get the zero-writing fallback.
func allocate(f *osFile, off, n int64) error {
	for {
		err := unix.Fallocate(f.fd, 0, off, n)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP, unix.ENOSYS:
			return allocateByWriting(f, off, n)
		default:
			return &fs.PathError{Op: "fallocate", Path: f.name, Err: err}
		}
	}
}
