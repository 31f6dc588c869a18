//go:build linux

package vfs

import (
	"syscall"
	"testing"
)

// allocatedBytes is the disk space the file holds (st_blocks × 512).
func allocatedBytes(t *testing.T, f *osFile) (int64, bool) {
	fi, err := f.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Blocks * 512, true
}
