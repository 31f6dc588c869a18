//go:build linux

package vfs

import "golang.org/x/sys/unix"

// fdatasync flushes the file's data and the metadata needed to read it back
// (its size), but not its timestamps.
func fdatasync(f *osFile) error {
	for {
		err := unix.Fdatasync(f.fd)
		if err == unix.EINTR {
			continue
		}
		return err
	}
}
