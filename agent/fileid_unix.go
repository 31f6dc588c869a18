//go:build unix

package agent

import (
	"io/fs"
	"syscall"
)

// fileIdentity returns the device and inode of a file's FileInfo.
func fileIdentity(fi fs.FileInfo) (identity, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return identity{}, false
	}
	return identity{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}
