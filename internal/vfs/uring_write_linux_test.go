//go:build linux

package vfs

import (
	"fmt"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring opcodes and flags of a group write (include/uapi/linux/io_uring.h).
const (
	uringOpWritev = 2
	uringSQELink  = 1 << 2 // IOSQE_IO_LINK: the next entry starts once this one succeeds
)

// prepRaw fills the next submission slot. Only the benchmark below uses
// writes through the ring.
func (r *uring) prepRaw(op uint8, flags uint8, fd int, addr uintptr, n uint32, off int64, opFlags uint32, ud uint64) {
	tail := *r.sqTail
	idx := tail & r.sqMask
	sqe := r.sqes[idx*uringSQESize : (idx+1)*uringSQESize]
	clear(sqe)
	sqe[0] = op
	sqe[1] = flags
	*(*int32)(unsafe.Pointer(&sqe[4])) = int32(fd)
	*(*uint64)(unsafe.Pointer(&sqe[8])) = uint64(off)
	*(*uint64)(unsafe.Pointer(&sqe[16])) = uint64(addr)
	*(*uint32)(unsafe.Pointer(&sqe[24])) = n
	*(*uint32)(unsafe.Pointer(&sqe[28])) = opFlags
	*(*uint64)(unsafe.Pointer(&sqe[32])) = ud
	r.sqArray[idx] = idx
	atomic.StoreUint32(r.sqTail, tail+1)
}

// BenchmarkGroupWrite measures one commit-log group as the shards of a node
// would make it: each of N segment files gets its batch (1,300 B, ten
// records) and the log file gets all of them and an fdatasync. "pwritev"
// is what the writers and the leader do today, one system call each (here
// from one goroutine); "uring" is one io_uring submission: the log's write
// linked to its fdatasync first, then the N segment writes, waiting for
// all. It tells whether handing a group's segment writes to the leader's
// ring could save anything over the writers' own pwritev.
func BenchmarkGroupWrite(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		for _, mode := range []string{"pwritev", "uring"} {
			b.Run(fmt.Sprintf("files=%d/%s", n, mode), func(b *testing.B) {
				segs := openTestFiles(b, n)
				log := openTestFiles(b, 1)[0]
				const batch = 1300
				data := make([]byte, batch*n)
				for _, f := range segs {
					if err := f.Allocate(0, int64(b.N)*batch); err != nil {
						b.Fatal(err)
					}
				}
				if err := log.Allocate(0, int64(b.N)*int64(len(data))); err != nil {
					b.Fatal(err)
				}
				var r *uring
				if mode == "uring" {
					var err error
					if r, err = newURing(128); err != nil {
						b.Skip("io_uring unavailable:", err)
					}
					defer r.close()
				}
				iovs := make([]unix.Iovec, n+1)
				for i := range n {
					iovs[i].Base = &data[i*batch]
					iovs[i].SetLen(batch)
				}
				iovs[n].Base = &data[0]
				iovs[n].SetLen(len(data))
				b.SetBytes(int64(2 * len(data)))
				b.ResetTimer()
				for i := range b.N {
					segOff := int64(i) * batch
					logOff := int64(i) * int64(len(data))
					if r == nil {
						for k, f := range segs {
							if _, err := f.WriteAt(data[k*batch:(k+1)*batch], segOff); err != nil {
								b.Fatal(err)
							}
						}
						if _, err := log.WritevAt([][]byte{data}, logOff); err != nil {
							b.Fatal(err)
						}
						if err := log.Sync(); err != nil {
							b.Fatal(err)
						}
						continue
					}
					lf := log.(*osFile)
					r.prepRaw(uringOpWritev, uringSQELink, lf.fd, uintptr(unsafe.Pointer(&iovs[n])), 1, logOff, 0, 0)
					r.prepRaw(uringOpFsync, 0, lf.fd, 0, 0, 0, uringFsyncData, 0)
					for k, f := range segs {
						r.prepRaw(uringOpWritev, 0, f.(*osFile).fd, uintptr(unsafe.Pointer(&iovs[k])), 1, segOff, 0, 0)
					}
					want := n + 2
					for got := 0; got < want; {
						if err := r.enter(want - got); err != nil {
							b.Fatal(err)
						}
						r.reap(func(_ uint64, err error) {
							got++
							if err != nil {
								b.Fatal(err)
							}
						})
					}
				}
			})
		}
	}
}
