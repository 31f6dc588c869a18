package wire

import (
	"sync/atomic"

	"github.com/valyala/bytebufferpool"
)

// Buffer pools for frames and bodies. Headers and small bodies (tens of
// bytes to kilobytes) use a bytebufferpool.Pool. The bodies of read
// results, events and large requests (up to megabytes) use a free list of
// their own: bytebufferpool calibrates a pool to the sizes put into it and
// drops outliers, and its sync.Pool is emptied by every garbage
// collection, which a multi-megabyte allocation per read soon triggers, so
// in either it would reallocate a large body on every read.
var smallBufs bytebufferpool.Pool

// largeBuf is the capacity from which a buffer belongs to the large free
// list: 64 KiB, above every header and control body.
const largeBuf = 64 << 10

// The large free list keeps at most largeKept buffers holding at most
// largeKeptBytes in all (a 10 MiB read body fits six times over); buffers
// beyond are left to the garbage collector.
const (
	largeKept      = 16
	largeKeptBytes = 64 << 20
)

var (
	largeFree      = make(chan *bytebufferpool.ByteBuffer, largeKept)
	largeFreeBytes atomic.Int64
)

// GetBuf returns an empty pooled buffer meant to hold about n bytes (0 if
// unknown). From half the large threshold up it looks in the large free
// list first: a buffer grown to hold such a body often ends up at or above
// the threshold, and PutBuf files it there.
func GetBuf(n int) *bytebufferpool.ByteBuffer {
	if n >= largeBuf/2 {
		select {
		case bb := <-largeFree:
			largeFreeBytes.Add(-int64(cap(bb.B)))
			bb.B = bb.B[:0]
			return bb
		default:
		}
	}
	return smallBufs.Get()
}

// PutBuf returns bb to the pool of its size; bb must not be used after.
func PutBuf(bb *bytebufferpool.ByteBuffer) {
	c := cap(bb.B)
	if c < largeBuf {
		smallBufs.Put(bb)
		return
	}
	if largeFreeBytes.Add(int64(c)) > largeKeptBytes {
		largeFreeBytes.Add(-int64(c))
		return
	}
	select {
	case largeFree <- bb:
	default:
		largeFreeBytes.Add(-int64(c))
	}
}
