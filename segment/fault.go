package segment

import (
	"runtime"
	"runtime/debug"
	"unsafe"

	"github.com/sluicedb/sluice/record"
)

// Reads come from a shared mapping of the segment file. If the file is
// truncated or damaged outside the server, touching a mapped page past its
// new end raises SIGBUS, which would kill the process. The code that
// touches mapped bytes therefore runs with debug.SetPanicOnFault(true), a
// setting of the current goroutine only, and recovers the runtime.Error
// whose address lies in the segment's mapping: the read fails with a
// *CorruptionError (ErrMappingFault), the log is fenced, and every other log
// goes on. A fault anywhere else is not ours and panics on.

// faultAddr returns the faulting address of a recovered panic value, false
// if r is not a memory fault.
func faultAddr(r any) (uintptr, bool) {
	if _, ok := r.(runtime.Error); !ok {
		return 0, false
	}
	a, ok := r.(interface{ Addr() uintptr })
	if !ok {
		return 0, false
	}
	return a.Addr(), true
}

// offsetIn returns the offset of addr in data, false if it lies outside.
func offsetIn(data []byte, addr uintptr) (int64, bool) {
	if len(data) == 0 {
		return 0, false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	if addr < lo || addr-lo >= uintptr(len(data)) {
		return 0, false
	}
	return int64(addr - lo), true
}

// recovered turns r, recovered while touching the mapping m of s, into the
// error of the read and fences the log; any other panic goes on.
func (s *segment) recovered(r any, m *mapped) error {
	addr, ok := faultAddr(r)
	if !ok {
		panic(r)
	}
	off, ok := offsetIn(m.data, addr)
	if !ok {
		panic(r)
	}
	s.damaged.Store(true)
	err := &record.CorruptionError{Path: s.path, Offset: off, Err: ErrMappingFault}
	s.log.fence(err)
	return err
}

// Guard runs fn, which touches the bytes of the view (its Frames, or Frames
// decoded from them, for example while encoding a response), and turns a
// fault on them into an error: a *CorruptionError matching ErrCorrupt whose
// detail is ErrMappingFault, with the segment's path and the offset of the
// missing byte; the log is fenced as for a fault in Read. Any other panic
// of fn goes on. Code that hands the bytes to the kernel (writev) needs no
// guard: the kernel returns EFAULT instead of raising a fault.
//
// It costs a deferred call, not a per-byte or per-frame check: wrap the
// whole encoding of a response, not each record.
func (v *View) Guard(fn func()) (err error) {
	if v.seg == nil {
		fn()
		return nil
	}
	s := v.seg
	m := s.m.Load() // mapped: the view's lease keeps it so
	prev := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(prev)
		if r := recover(); r != nil {
			if m == nil {
				panic(r)
			}
			err = s.recovered(r, m)
		}
	}()
	fn()
	return nil
}

// Guard runs fn with faults on memory turned into errors: for code that
// touches the bytes of views it no longer holds as *View values. A fault on
// any address (a mapped segment whose file shrank, or a wild pointer)
// returns a *CorruptionError matching ErrCorrupt with ErrMappingFault and
// the faulting address as Offset; no log is fenced, since the segment is not
// known. Prefer View.Guard. Other panics go on.
func Guard(fn func()) (err error) {
	prev := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(prev)
		if r := recover(); r != nil {
			addr, ok := faultAddr(r)
			if !ok {
				panic(r)
			}
			err = &record.CorruptionError{Offset: int64(addr), Err: ErrMappingFault}
		}
	}()
	fn()
	return nil
}
