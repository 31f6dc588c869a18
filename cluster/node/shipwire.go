package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"unicode/utf8"

	"github.com/sluicedb/sluice/engine"
	"github.com/sluicedb/sluice/internal/checksum"
	"github.com/sluicedb/sluice/record"
)

// The shipping protocol runs on a transport stream connection (package
// cluster/transport, DialStream): the node that needs records dials a node
// that holds them and asks; the holder answers with chunks of the shard's
// stored frames, at most `window` of them unacknowledged, and an end.
// Every message is framed as below; all integers are little-endian. These
// constants are part of the protocol: changing one is a new magic in the
// transport's stream hello.
//
//	+-------------+--------------+----------+-------------------------+
//	| length u32  | CRC-32C u32  | kind u8  | body                    |
//	| kind + body | masked, of   |          | length - 1 bytes        |
//	|             | kind + body  |          |                         |
//	+-------------+--------------+----------+-------------------------+
//
//	'Q' request  (asker -> holder): group u64 | from u64 | to u64 | window u32 | chunk u32
//	'C' chunk    (holder -> asker): first u64 | key blob length u16 | key blob | frames
//	'A' ack      (asker -> holder): chunks u32
//	'E' end      (holder -> asker): next u64
//	'X' refusal  (holder -> asker): why, UTF-8
//
// A request asks for the frames of the records [from, to) of the shard of
// group, in chunks of at most chunk bytes of frames (one frame may be
// larger), with at most window chunks sent and not yet acknowledged. A
// chunk carries frames exactly as one segment file stores them, each with
// its own CRC, which the asker checks (engine.CheckShipChunk) besides the
// message's CRC, and the wrapped data key of that segment if it has one.
// The asker acknowledges chunks once it has checked and staged them; the
// holder sends an end once the last chunk is out, or a refusal (and
// nothing more) when it cannot serve the request. A message that fails
// its CRC or its layout ends the connection.
const (
	shipHeaderLen = 4 + 4
	shipRequest   = 'Q'
	shipChunk     = 'C'
	shipAck       = 'A'
	shipEnd       = 'E'
	shipRefusal   = 'X'

	shipRequestLen = 1 + 8 + 8 + 8 + 4 + 4
	shipChunkHead  = 1 + 8 + 2
	shipAckLen     = 1 + 4
	shipEndLen     = 1 + 8

	// maxShipBlob bounds a chunk's key blob: a key header slot holds at
	// most 236 B (segment/doc.go); 1 KiB leaves room.
	maxShipBlob = 1 << 10
	// maxShipChunk bounds the chunk size a request may ask for: 4 MiB.
	maxShipChunk = 4 << 20
	// minShipChunk is the least: 4 KiB.
	minShipChunk = 4 << 10
	// maxShipWindow bounds the chunks in flight a request may allow.
	maxShipWindow = 64
	// maxShipRefusal bounds a refusal's text.
	maxShipRefusal = 4 << 10
	// maxShipMsg bounds a message (kind and body): a chunk of the largest
	// size asked for, or of one frame of the largest size, with its head
	// and key blob.
	maxShipMsg = shipChunkHead + maxShipBlob + max(maxShipChunk, record.HeaderSize+record.MaxKeyLen+record.MaxDataLen+record.Alignment)
)

// shipReadStep is how much of a message's body is read at a time: the
// buffer grows with the bytes that arrived, never ahead of them to the
// length a header declares.
const shipReadStep = 64 << 10

// errShipProtocol is matched by every error of a message that breaks the
// shipping protocol.
var errShipProtocol = errors.New("node: segment shipping protocol violated")

// shipMsg is one decoded message; which fields are set depends on Kind.
type shipMsg struct {
	Kind byte
	// request
	Group, From, To uint64
	Window, Chunk   uint32
	// chunk; its KeyBlob and Frames alias the bytes read
	C engine.ShipChunk
	// ack
	Acks uint32
	// end
	Next uint64
	// refusal
	Why string
}

// appendShipMsg appends the framed encoding of m to dst; a chunk's frames
// are not appended (see writeShipChunk) unless withFrames.
func appendShipMsg(dst []byte, m *shipMsg, withFrames bool) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, shipHeaderLen)...)
	dst = append(dst, m.Kind)
	switch m.Kind {
	case shipRequest:
		dst = binary.LittleEndian.AppendUint64(dst, m.Group)
		dst = binary.LittleEndian.AppendUint64(dst, m.From)
		dst = binary.LittleEndian.AppendUint64(dst, m.To)
		dst = binary.LittleEndian.AppendUint32(dst, m.Window)
		dst = binary.LittleEndian.AppendUint32(dst, m.Chunk)
	case shipChunk:
		dst = binary.LittleEndian.AppendUint64(dst, m.C.First)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(m.C.KeyBlob)))
		dst = append(dst, m.C.KeyBlob...)
		if withFrames {
			dst = append(dst, m.C.Frames...)
		}
	case shipAck:
		dst = binary.LittleEndian.AppendUint32(dst, m.Acks)
	case shipEnd:
		dst = binary.LittleEndian.AppendUint64(dst, m.Next)
	case shipRefusal:
		why := m.Why
		if len(why) > maxShipRefusal {
			why = why[:maxShipRefusal]
		}
		dst = append(dst, why...)
	}
	body := dst[start+shipHeaderLen:]
	n := len(body)
	crc := checksum.Value(body)
	if m.Kind == shipChunk && !withFrames {
		n += len(m.C.Frames)
		crc = checksum.Update(crc, m.C.Frames)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(n))
	binary.LittleEndian.PutUint32(dst[start+4:], checksum.Mask(crc))
	return dst
}

// writeShipMsg writes m to w. A chunk's frames go out from where they lie
// (a segment's mapping), not copied into the buffer.
func writeShipMsg(w net.Conn, buf []byte, m *shipMsg) ([]byte, error) {
	buf = appendShipMsg(buf[:0], m, false)
	if m.Kind != shipChunk || len(m.C.Frames) == 0 {
		_, err := w.Write(buf)
		return buf, err
	}
	bufs := net.Buffers{buf, m.C.Frames}
	_, err := bufs.WriteTo(w)
	return buf, err
}

// shipReader reads messages from a connection.
type shipReader struct {
	r   io.Reader
	hdr [shipHeaderLen]byte
	buf []byte
}

// next reads the next message and decodes it; a chunk's bytes alias the
// reader's buffer and are valid until the next call. At the end of the
// stream between two messages it returns io.EOF.
func (sr *shipReader) next() (shipMsg, error) {
	if n, err := io.ReadFull(sr.r, sr.hdr[:]); err != nil {
		if n == 0 {
			return shipMsg{}, err
		}
		return shipMsg{}, fmt.Errorf("%w: the stream ended %d bytes into a message header: %w", errShipProtocol, n, err)
	}
	n := int64(binary.LittleEndian.Uint32(sr.hdr[:]))
	if n == 0 || n > maxShipMsg {
		return shipMsg{}, fmt.Errorf("%w: a message of %d bytes; a message is 1 to %d bytes", errShipProtocol, n, maxShipMsg)
	}
	buf := sr.buf[:0]
	for int64(len(buf)) < n {
		k := int(min(n-int64(len(buf)), shipReadStep))
		buf = slices.Grow(buf, k)
		got, err := io.ReadFull(sr.r, buf[len(buf):len(buf)+k])
		buf = buf[:len(buf)+got]
		if err != nil {
			sr.buf = buf
			return shipMsg{}, fmt.Errorf("%w: the stream ended after %d of a message's %d bytes: %w", errShipProtocol, len(buf), n, err)
		}
	}
	sr.buf = buf
	return decodeShipMsg(buf, binary.LittleEndian.Uint32(sr.hdr[4:]))
}

// decodeShipMsg checks a message's kind and body b against its stored
// CRC and decodes it. A chunk's KeyBlob and Frames alias b.
func decodeShipMsg(b []byte, crc uint32) (shipMsg, error) {
	if len(b) == 0 {
		return shipMsg{}, fmt.Errorf("%w: an empty message; every message has a kind", errShipProtocol)
	}
	if got := checksum.Value(b); got != checksum.Unmask(crc) {
		return shipMsg{}, fmt.Errorf("%w: a message's CRC-32C is %#08x but its header says %#08x; the bytes were damaged on the way", errShipProtocol, got, checksum.Unmask(crc))
	}
	m := shipMsg{Kind: b[0]}
	size := func(want int) error {
		if len(b) != want {
			return fmt.Errorf("%w: a %q message of %d bytes; it is %d", errShipProtocol, m.Kind, len(b), want)
		}
		return nil
	}
	switch m.Kind {
	case shipRequest:
		if err := size(shipRequestLen); err != nil {
			return shipMsg{}, err
		}
		m.Group = binary.LittleEndian.Uint64(b[1:])
		m.From = binary.LittleEndian.Uint64(b[9:])
		m.To = binary.LittleEndian.Uint64(b[17:])
		m.Window = binary.LittleEndian.Uint32(b[25:])
		m.Chunk = binary.LittleEndian.Uint32(b[29:])
		switch {
		case m.Group == 0:
			return shipMsg{}, fmt.Errorf("%w: a request for group 0; group ids start at 1", errShipProtocol)
		case m.From >= m.To:
			return shipMsg{}, fmt.Errorf("%w: a request for the records [%d, %d), which is empty", errShipProtocol, m.From, m.To)
		case m.Window == 0 || m.Window > maxShipWindow:
			return shipMsg{}, fmt.Errorf("%w: a request with a window of %d chunks; it is 1 to %d", errShipProtocol, m.Window, maxShipWindow)
		case m.Chunk < minShipChunk || m.Chunk > maxShipChunk:
			return shipMsg{}, fmt.Errorf("%w: a request for chunks of %d bytes; they are %d to %d", errShipProtocol, m.Chunk, minShipChunk, maxShipChunk)
		}
	case shipChunk:
		if len(b) < shipChunkHead {
			return shipMsg{}, fmt.Errorf("%w: a chunk of %d bytes, shorter than its %d-byte head", errShipProtocol, len(b), shipChunkHead)
		}
		m.C.First = binary.LittleEndian.Uint64(b[1:])
		bl := int(binary.LittleEndian.Uint16(b[9:]))
		if bl > maxShipBlob || shipChunkHead+bl > len(b) {
			return shipMsg{}, fmt.Errorf("%w: a chunk's key blob of %d bytes; it is at most %d and within the chunk's %d", errShipProtocol, bl, maxShipBlob, len(b)-shipChunkHead)
		}
		if bl > 0 {
			m.C.KeyBlob = b[shipChunkHead : shipChunkHead+bl : shipChunkHead+bl]
		}
		m.C.Frames = b[shipChunkHead+bl:]
		if len(m.C.Frames) == 0 {
			return shipMsg{}, fmt.Errorf("%w: a chunk from %d with no frame", errShipProtocol, m.C.First)
		}
	case shipAck:
		if err := size(shipAckLen); err != nil {
			return shipMsg{}, err
		}
		m.Acks = binary.LittleEndian.Uint32(b[1:])
		if m.Acks == 0 {
			return shipMsg{}, fmt.Errorf("%w: an acknowledgement of no chunk", errShipProtocol)
		}
	case shipEnd:
		if err := size(shipEndLen); err != nil {
			return shipMsg{}, err
		}
		m.Next = binary.LittleEndian.Uint64(b[1:])
	case shipRefusal:
		if len(b)-1 > maxShipRefusal || !utf8.Valid(b[1:]) {
			return shipMsg{}, fmt.Errorf("%w: a refusal that is not UTF-8 text of at most %d bytes", errShipProtocol, maxShipRefusal)
		}
		m.Why = string(b[1:])
	default:
		return shipMsg{}, fmt.Errorf("%w: a message of unknown kind %#x", errShipProtocol, m.Kind)
	}
	return m, nil
}
