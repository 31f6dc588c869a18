//go:build unix

package vfs

import "golang.org/x/sys/unix"

// Capacity returns the total size in bytes of the file system holding dir.
func Capacity(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Blocks) * int64(st.Bsize), nil
}
