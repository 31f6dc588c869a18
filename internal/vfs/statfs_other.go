//go:build !unix

package vfs

import "errors"

// Capacity returns the total size in bytes of the file system holding dir.
func Capacity(dir string) (int64, error) {
	return 0, errors.New("vfs: the file system's capacity is not known on this platform")
}
