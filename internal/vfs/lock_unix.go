//go:build unix

package vfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockFileName is the file in a locked directory that carries the flock.
const lockFileName = "LOCK"

// Lock takes flock(LOCK_EX|LOCK_NB) on DIR/LOCK, created 0600 if missing.
// flock locks belong to the open file description, so a second Lock from
// this process conflicts as one from another process does; the kernel drops
// the lock when the process dies, so a crashed server never leaves it held.
func (osFS) Lock(dir string) (io.Closer, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := openPrivate(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, fmt.Errorf("directory %s is in use by another process: %s is locked (%w)", dir, path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: flock %s: %w", dir, path, err)
	}
	return f, nil // closing the file releases the lock
}
