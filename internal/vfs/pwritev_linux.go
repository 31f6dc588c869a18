//go:build linux

package vfs

import (
	"math/bits"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// iovecs recycles the iovec arrays of pwritev, which unix.Pwritev would
// allocate on every call with more than a few buffers (the commit log
// writes hundreds in one).
var iovecs = sync.Pool{New: func() any { s := make([]unix.Iovec, 0, iovMax); return &s }}

// sysPwritev is one pwritev(2) of at most iovMax buffers.
func sysPwritev(f *osFile, bufs [][]byte, off int64) (int, error) {
	p := iovecs.Get().(*[]unix.Iovec)
	iov := (*p)[:0]
	for _, b := range bufs {
		v := unix.Iovec{}
		if len(b) > 0 {
			v.Base = &b[0]
			v.SetLen(len(b))
		}
		iov = append(iov, v)
	}
	var n uintptr
	var errno unix.Errno
	for {
		var ptr unsafe.Pointer
		if len(iov) > 0 {
			ptr = unsafe.Pointer(&iov[0])
		}
		n, _, errno = unix.Syscall6(unix.SYS_PWRITEV, uintptr(f.fd), uintptr(ptr), uintptr(len(iov)),
			uintptr(off), uintptr(uint64(off)>>(bits.UintSize-1)>>1), 0)
		if errno != unix.EINTR {
			break
		}
	}
	runtime.KeepAlive(bufs)
	clear(iov)
	*p = iov[:0]
	iovecs.Put(p)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
