//go:build darwin || openbsd

package vfs

import "golang.org/x/sys/unix"

// sysPwritev is one pwritev(2) of at most iovMax buffers.
func sysPwritev(f *osFile, bufs [][]byte, off int64) (int, error) {
	for {
		n, err := unix.Pwritev(f.fd, bufs, off)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}
