//go:build linux

package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// pageSize is the granularity of populate.
var pageSize = os.Getpagesize()

// populate asks the kernel to map the page-cache pages under b (part of a
// read-only file mapping) in one system call (MADV_POPULATE_READ, Linux
// 5.14+), instead of taking one page fault per 4 KiB page on first touch,
// which costs microseconds each on a virtual machine. It is only a hint:
// errors (an older kernel, pages past the end of the file) are ignored and
// the bytes then fault in as usual.
func populate(b []byte) {
	if len(b) == 0 {
		return
	}
	_ = unix.Madvise(b, unix.MADV_POPULATE_READ)
}
