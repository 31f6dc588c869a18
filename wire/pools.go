package wire

import "github.com/valyala/bytebufferpool"

// Buffer pools for frames and bodies. bytebufferpool calibrates a pool to
// the sizes put into it and drops outliers, so the bodies of read results
// and events (megabytes) keep a pool of their own, apart from headers and
// small bodies (tens of bytes to kilobytes); in one shared pool the large
// ones would be dropped and reallocated on every read.
var smallBufs, largeBufs bytebufferpool.Pool

// largeBuf is the capacity from which a buffer belongs to the large pool:
// 64 KiB, above every header and control body, below a typical read.
const largeBuf = 64 << 10

// getBuf returns an empty pooled buffer meant to hold about n bytes (0 if
// unknown).
func getBuf(n int) *bytebufferpool.ByteBuffer {
	if n >= largeBuf {
		return largeBufs.Get()
	}
	return smallBufs.Get()
}

// putBuf returns bb to the pool of its size; bb must not be used after.
func putBuf(bb *bytebufferpool.ByteBuffer) {
	if cap(bb.B) >= largeBuf {
		largeBufs.Put(bb)
	} else {
		smallBufs.Put(bb)
	}
}
