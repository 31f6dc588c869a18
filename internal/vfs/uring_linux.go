//go:build linux

package vfs

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring ABI (include/uapi/linux/io_uring.h), the little of it the
// Flusher uses: fdatasync requests in one submission, their completions.
const (
	uringOffSQRing          = 0
	uringOffCQRing          = 0x8000000
	uringOffSQEs            = 0x10000000
	uringOpFsync            = 3
	uringFsyncData          = 1 // IORING_FSYNC_DATASYNC
	uringEnterWait          = 1 // IORING_ENTER_GETEVENTS
	uringSQESize            = 64
	uringCQESize            = 16
	uringRegisterMaxWorkers = 19 // IORING_REGISTER_IOWQ_MAX_WORKERS
)

type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  uringSQOffsets
	cqOff                                                                  uringCQOffsets
}

// uring is an io_uring instance used by one goroutine at a time (the
// Flusher's submitter).
type uring struct {
	fd             int
	sqMem, cqMem   []byte
	sqes           []byte
	sqHead, sqTail *uint32
	sqMask         uint32
	sqArray        []uint32
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []byte
	entries        uint32
}

// newURing sets up a ring of entries submission slots, or fails where the
// kernel has no io_uring or refuses it (seccomp, io_uring_disabled).
func newURing(entries uint32) (*uring, error) {
	var p uringParams
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &uring{fd: int(fd), entries: p.sqEntries}
	fail := func(err error) (*uring, error) {
		_ = r.close()
		return nil, err
	}
	var err error
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	if r.sqMem, err = unix.Mmap(r.fd, uringOffSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail(fmt.Errorf("io_uring mmap: %w", err))
	}
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*uringCQESize
	if r.cqMem, err = unix.Mmap(r.fd, uringOffCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail(fmt.Errorf("io_uring mmap: %w", err))
	}
	if r.sqes, err = unix.Mmap(r.fd, uringOffSQEs, int(p.sqEntries)*uringSQESize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fail(fmt.Errorf("io_uring mmap: %w", err))
	}
	if p.cqEntries < p.sqEntries {
		return fail(errors.New("io_uring: completion ring smaller than the submission ring"))
	}
	r.sqHead = (*uint32)(unsafe.Pointer(&r.sqMem[p.sqOff.head]))
	r.sqTail = (*uint32)(unsafe.Pointer(&r.sqMem[p.sqOff.tail]))
	r.sqMask = *(*uint32)(unsafe.Pointer(&r.sqMem[p.sqOff.ringMask]))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Pointer(&r.sqMem[p.sqOff.array])), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Pointer(&r.cqMem[p.cqOff.head]))
	r.cqTail = (*uint32)(unsafe.Pointer(&r.cqMem[p.cqOff.tail]))
	r.cqMask = *(*uint32)(unsafe.Pointer(&r.cqMem[p.cqOff.ringMask]))
	r.cqes = r.cqMem[p.cqOff.cqes:]
	// io-wq runs fdatasyncs of regular files as bounded work, by default
	// at most 4 per CPU at once: a few cores would flush a few files at a
	// time. Let every slot's flush run at once (kernels before 5.15 refuse
	// and keep their default).
	maxWorkers := [2]uint32{p.sqEntries, 0}
	_, _, _ = unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), uringRegisterMaxWorkers, uintptr(unsafe.Pointer(&maxWorkers)), 2, 0, 0)
	return r, nil
}

// prep fills the next submission slot with an fdatasync of fd tagged
// with ud; the ring must have room (at most entries in flight).
func (r *uring) prep(fd int, ud uint64) {
	tail := *r.sqTail // only this goroutine moves the tail
	idx := tail & r.sqMask
	sqe := r.sqes[idx*uringSQESize : (idx+1)*uringSQESize]
	clear(sqe)
	sqe[0] = uringOpFsync
	*(*int32)(unsafe.Pointer(&sqe[4])) = int32(fd)
	*(*uint32)(unsafe.Pointer(&sqe[28])) = uringFsyncData
	*(*uint64)(unsafe.Pointer(&sqe[32])) = ud
	r.sqArray[idx] = idx
	atomic.StoreUint32(r.sqTail, tail+1)
}

// enter submits what prep queued and waits until at least minComplete
// completions are in. Interrupted or short of resources, it returns nil:
// the caller reaps what is in and enters again with what is unsubmitted.
func (r *uring) enter(minComplete int) error {
	toSubmit := atomic.LoadUint32(r.sqTail) - atomic.LoadUint32(r.sqHead)
	flags := uintptr(0)
	if minComplete > 0 {
		flags = uringEnterWait
	}
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), flags, 0, 0)
	switch errno {
	case 0, unix.EINTR, unix.EAGAIN, unix.EBUSY:
		return nil
	}
	return fmt.Errorf("io_uring_enter: %w", errno)
}

// reap hands each completion that is in to fn, with its tag and its
// result: 0, or an errno.
func (r *uring) reap(fn func(ud uint64, err error)) {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		idx := head & r.cqMask
		cqe := r.cqes[idx*uringCQESize : (idx+1)*uringCQESize]
		ud := *(*uint64)(unsafe.Pointer(&cqe[0]))
		res := *(*int32)(unsafe.Pointer(&cqe[8]))
		var err error
		if res < 0 {
			err = unix.Errno(-res)
		}
		fn(ud, err)
	}
	atomic.StoreUint32(r.cqHead, head)
}

func fdatasyncFD(fd int) error {
	for {
		err := unix.Fdatasync(fd)
		if err != unix.EINTR {
			return err
		}
	}
}

func (r *uring) close() error {
	for _, m := range [][]byte{r.sqes, r.cqMem, r.sqMem} {
		if m != nil {
			_ = unix.Munmap(m)
		}
	}
	return unix.Close(r.fd)
}
