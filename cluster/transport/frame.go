package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedb/sluice/cluster"
	"github.com/sluicedb/sluice/internal/checksum"
)

// The framing (drawn in doc.go). These constants are part of the protocol:
// changing any of them is a version bump.
const (
	// frameHeaderSize is the bytes of a frame before its envelopes: the
	// length, then the masked CRC-32C of the envelopes.
	frameHeaderSize = 4 + 4
	// maxFrameLimit is the most MaxFrameSize may be: 1 GiB, well inside
	// the u32 length.
	maxFrameLimit = 1 << 30
)

// readChunk is how much of a frame's body is read at a time: the reader's
// buffer grows with the bytes that arrived, never ahead of them to the
// length a header declares.
const readChunk = 64 << 10

// marshalOpts marshals a message whose size proto.Size has just computed
// and cached, so that the size is not computed twice.
var marshalOpts = proto.MarshalOptions{UseCachedSize: true}

// batch is a run of frames being built for one peer, back to back in one
// buffer; the last frame is open (its header not yet filled in) until
// seal.
type batch struct {
	buf    []byte
	small  int      // see recycle
	starts []int    // offset in buf of each frame's header
	msgs   int      // envelopes in buf
	snaps  []uint64 // the groups of the MsgSnap envelopes in buf, in order
}

// envelopeSize is the encoded size of an envelope of group whose message
// is size bytes.
func envelopeSize(group uint64, size int) int {
	return uvarintLen(group) + uvarintLen(uint64(size)) + size
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// add appends the envelope of group and m, whose proto.Size is size (and
// is cached in m), to the open frame, or to a new frame when it would make
// the open one exceed maxFrame. On an error nothing is appended.
func (b *batch) add(group uint64, m *raftpb.Message, size, maxFrame int) error {
	envLen := envelopeSize(group, size)
	if frameHeaderSize+envLen > maxFrame {
		return fmt.Errorf("%w: the envelope of a %v of group %d is %d bytes; a frame holds at most %d (MaxFrameSize %d)",
			ErrMessageTooLarge, m.GetType(), group, envLen, maxFrame-frameHeaderSize, maxFrame)
	}
	mark, opened := len(b.buf), false
	if n := len(b.starts); n == 0 || len(b.buf)-b.starts[n-1]+envLen > maxFrame {
		b.starts = append(b.starts, len(b.buf))
		b.buf = append(b.buf, 0, 0, 0, 0, 0, 0, 0, 0)
		opened = true
	}
	envStart := len(b.buf)
	b.buf = binary.AppendUvarint(b.buf, group)
	b.buf = binary.AppendUvarint(b.buf, uint64(size))
	var err error
	b.buf, err = marshalOpts.MarshalAppend(b.buf, m)
	if err == nil && len(b.buf)-envStart != envLen {
		err = fmt.Errorf("transport: a %v of group %d marshalled to %d bytes, not the %d its size said; was it changed while being sent?",
			m.GetType(), group, len(b.buf)-envStart-(envLen-size), size)
	}
	if err != nil {
		b.buf = b.buf[:mark]
		if opened {
			b.starts = b.starts[:len(b.starts)-1]
		}
		return err
	}
	b.msgs++
	return nil
}

// seal fills in the length and CRC of every frame.
func (b *batch) seal() {
	for i, start := range b.starts {
		end := len(b.buf)
		if i+1 < len(b.starts) {
			end = b.starts[i+1]
		}
		body := b.buf[start+frameHeaderSize : end]
		binary.LittleEndian.PutUint32(b.buf[start:], uint32(len(body)))
		binary.LittleEndian.PutUint32(b.buf[start+4:], checksum.Mask(checksum.Value(body)))
	}
}

// Buffers: a batch or a reader keeps its buffer between uses up to
// keepBuf whatever it held. A larger buffer is kept while it is used (a
// stream of large appends would otherwise grow a new one for every frame)
// and let go after idleUses uses in a row of less than a quarter of it, so
// that a burst does not leave an idle peer holding megabytes.
const (
	keepBuf  = 4 << 20
	idleUses = 8
)

// recycle returns buf emptied for reuse after a use of len(buf) bytes,
// or nil where the rule above says to let it go; small counts the uses in
// a row of less than a quarter of a buffer over keepBuf.
func recycle(buf []byte, small *int) []byte {
	if cap(buf) <= keepBuf || len(buf) >= cap(buf)/4 {
		*small = 0
		return buf[:0]
	}
	if *small++; *small >= idleUses {
		*small = 0
		return nil
	}
	return buf[:0]
}

// reset empties b for reuse.
func (b *batch) reset() {
	b.buf = recycle(b.buf, &b.small)
	b.starts = b.starts[:0]
	b.snaps = b.snaps[:0]
	b.msgs = 0
}

// frameReader reads frames from a connection.
type frameReader struct {
	r     io.Reader
	max   int // the largest frame accepted, header included
	hdr   [frameHeaderSize]byte
	buf   []byte
	small int // see recycle
}

// next reads the next frame and returns its envelopes' bytes (valid until
// the next call) and its stored CRC. At the end of the stream between two
// frames it returns io.EOF; every other error is a *FrameError or the
// connection's error.
func (fr *frameReader) next() ([]byte, uint32, error) {
	if n, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		if n == 0 {
			return nil, 0, err
		}
		return nil, 0, &FrameError{Truncated: true, Detail: fmt.Sprintf("the stream ended %d bytes into a frame's %d-byte header (%v)", n, frameHeaderSize, err)}
	}
	n := int64(binary.LittleEndian.Uint32(fr.hdr[:]))
	size := frameHeaderSize + n
	if n == 0 {
		return nil, 0, &FrameError{Size: size, Detail: "the frame is empty (length 0); a frame carries at least one envelope"}
	}
	if size > int64(fr.max) {
		return nil, 0, &FrameError{Size: size, Detail: fmt.Sprintf("it exceeds the limit of %d bytes (MaxFrameSize)", fr.max)}
	}
	buf := fr.buf[:0]
	for int64(len(buf)) < n {
		k := int(min(n-int64(len(buf)), readChunk))
		buf = slices.Grow(buf, k)
		got, err := io.ReadFull(fr.r, buf[len(buf):len(buf)+k])
		buf = buf[:len(buf)+got]
		if err != nil {
			fr.buf = buf
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, 0, &FrameError{Size: size, Truncated: true, Detail: fmt.Sprintf("the stream ended after %d of its %d bytes of envelopes", len(buf), n)}
			}
			return nil, 0, fmt.Errorf("read a frame of %d bytes: %w", size, err)
		}
	}
	fr.buf = buf
	return buf, binary.LittleEndian.Uint32(fr.hdr[4:]), nil
}

// release is called when the last frame's bytes are no longer used.
func (fr *frameReader) release() { fr.buf = recycle(fr.buf, &fr.small) }

// decodeFrame checks a frame's envelopes body against its stored CRC and
// decodes them into a new batch. Every message must come from node from
// and be addressed to node to. The returned envelopes share no memory with
// body. Every error is a *FrameError.
func decodeFrame(body []byte, crc uint32, from, to uint64) ([]cluster.Envelope, error) {
	size := int64(frameHeaderSize + len(body))
	if len(body) == 0 {
		return nil, &FrameError{Size: size, Detail: "the frame is empty (length 0); a frame carries at least one envelope"}
	}
	if got := checksum.Value(body); got != checksum.Unmask(crc) {
		return nil, &FrameError{Size: size, Detail: fmt.Sprintf("its CRC-32C is %#08x but the header says %#08x; the bytes were damaged on the way", got, checksum.Unmask(crc))}
	}
	// First pass: the envelopes' bounds, so that the batch is allocated
	// once, at the size the bytes that arrived can fill.
	n := 0
	for p := body; len(p) > 0; n++ {
		_, _, rest, err := nextEnvelope(p, n)
		if err != nil {
			return nil, &FrameError{Size: size, Detail: err.Error()}
		}
		p = rest
	}
	out := make([]cluster.Envelope, n)
	p := body
	for i := range out {
		group, msg, rest, _ := nextEnvelope(p, i)
		p = rest
		e := &out[i]
		e.Group = group
		if err := proto.Unmarshal(msg, &e.Msg); err != nil {
			return nil, &FrameError{Size: size, Detail: fmt.Sprintf("envelope %d (group %d): the message does not decode: %v", i, group, err)}
		}
		if t := e.Msg.GetTo(); t != to {
			return nil, &FrameError{Size: size, Detail: fmt.Sprintf("envelope %d (group %d): a %v addressed to node %d arrived at node %d", i, group, e.Msg.GetType(), t, to)}
		}
		if f := e.Msg.GetFrom(); f != from {
			return nil, &FrameError{Size: size, Detail: fmt.Sprintf("envelope %d (group %d): a %v from node %d arrived on node %d's connection", i, group, e.Msg.GetType(), f, from)}
		}
	}
	return out, nil
}

// nextEnvelope splits the envelope at the start of p, the i-th of its
// frame, into its group and message bytes.
func nextEnvelope(p []byte, i int) (group uint64, msg, rest []byte, err error) {
	group, k := binary.Uvarint(p)
	if k <= 0 {
		return 0, nil, nil, fmt.Errorf("envelope %d: the group id is not a valid uvarint", i)
	}
	if group == 0 {
		return 0, nil, nil, fmt.Errorf("envelope %d names group 0; group ids start at 1", i)
	}
	p = p[k:]
	l, k := binary.Uvarint(p)
	if k <= 0 {
		return 0, nil, nil, fmt.Errorf("envelope %d (group %d): the message length is not a valid uvarint", i, group)
	}
	p = p[k:]
	if l > uint64(len(p)) {
		return 0, nil, nil, fmt.Errorf("envelope %d (group %d) declares a message of %d bytes; only %d bytes of the frame remain", i, group, l, len(p))
	}
	return group, p[:l], p[l:], nil
}
