package wire

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
)

// TLSChunkSize is the size of the chunks WriteCoalesced writes: 16 KiB, the
// largest plaintext of one TLS record.
const TLSChunkSize = 16 << 10

// tlsChunks pools the chunk buffers of WriteCoalesced: a connection holds
// one only while it writes.
var tlsChunks = sync.Pool{New: func() any { return new([TLSChunkSize]byte) }}

// WriteCoalesced writes the buffers of vec, in order, to a TLS connection in
// record-sized writes. A plain TCP connection takes vec with one writev
// (net.Buffers) and needs none of this; a *tls.Conn has no writev, and
// net.Buffers falls back to one Write, and so at least one TLS record (29
// bytes of header and tag, and a syscall), per buffer, however small. So
// small buffers are gathered into a pooled 16 KiB chunk, written when full,
// while the whole-record part of a large buffer (record frames of a read
// result, a large batch of puts) is written from where it lies.
//
// The copy into the chunk is the only one here. TLS copies every byte once
// more, unavoidably: encryption writes its ciphertext into the connection's
// own record buffer, which is what reaches the socket.
func WriteCoalesced(w io.Writer, vec [][]byte) (int64, error) {
	chunk := tlsChunks.Get().(*[TLSChunkSize]byte)
	defer tlsChunks.Put(chunk)
	var total int64
	fill := 0 // bytes in chunk
	flush := func() error {
		n, err := w.Write(chunk[:fill])
		total += int64(n)
		fill = 0
		return err
	}
	for _, b := range vec {
		for len(b) > 0 {
			if fill == 0 && len(b) >= TLSChunkSize {
				k := len(b) - len(b)%TLSChunkSize
				n, err := w.Write(b[:k])
				total += int64(n)
				if err != nil {
					return total, err
				}
				b = b[k:]
				continue
			}
			k := copy(chunk[fill:], b)
			fill += k
			b = b[k:]
			if fill == TLSChunkSize {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
	}
	if fill > 0 {
		if err := flush(); err != nil {
			return total, err
		}
	}
	return total, nil
}

// FrameWriter writes batches of frames to one connection the cheapest way
// the connection takes them: one writev (net.Buffers) on plain TCP, which
// sends record frames straight from where they lie, and record-sized
// writes (WriteCoalesced) over TLS. It is for one writer goroutine.
type FrameWriter struct {
	nc  net.Conn
	tls bool
	nb  net.Buffers
}

// NewFrameWriter returns a FrameWriter for nc.
func NewFrameWriter(nc net.Conn) *FrameWriter {
	_, isTLS := nc.(*tls.Conn)
	return &FrameWriter{nc: nc, tls: isTLS}
}

// Write writes the buffers of vec in order. It does not keep vec.
func (w *FrameWriter) Write(vec [][]byte) (int64, error) {
	if w.tls {
		return WriteCoalesced(w.nc, vec)
	}
	w.nb = vec
	n, err := w.nb.WriteTo(w.nc)
	w.nb = nil
	return n, err
}
