package record

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/sluicedb/sluice/internal/checksum"
)

// The frame format (drawn in doc.go). These constants are part of the on-disk
// format: changing any of them is a format version bump.
const (
	// HeaderSize is the bytes of a frame before its key: CRC, length,
	// sequence number, arrival time, flags, key length.
	HeaderSize = 4 + 4 + 8 + 8 + 2 + 2

	// Alignment is the alignment of every frame's start; frames are padded
	// with zeros to a multiple of it.
	Alignment = 8

	// FlagEncrypted marks a frame whose data is encrypted.
	FlagEncrypted uint16 = 1 << 0
	// FlagCompressed marks a frame whose data is compressed (reserved: not
	// written yet).
	FlagCompressed uint16 = 1 << 1

	// MaxKeyLen bounds the key length a frame may carry: 4096 B, well above
	// the 256-character partition key limit, and what decode accepts.
	MaxKeyLen = 4096
	// MaxDataLen bounds the data a frame may carry: 16 MiB, above the largest
	// per-stream record limit (10 MiB), and what decode accepts.
	MaxDataLen = 16 << 20

	LengthOffset = 4
	SeqOffset    = LengthOffset + 4
	TimeOffset   = SeqOffset + 8
	FlagsOffset  = TimeOffset + 8
	KeyLenOffset = FlagsOffset + 2

	// MinLength is the smallest value of the length field: a frame with an
	// empty key and empty data.
	MinLength = HeaderSize - SeqOffset
	// MaxLength is the largest value of the length field decode accepts.
	MaxLength = MinLength + MaxKeyLen + MaxDataLen

	KnownFlags = FlagEncrypted | FlagCompressed
)

// Frame is one decoded record. Key and Data alias the bytes it was decoded
// from and live as long as those (for a View: until Release).
type Frame struct {
	Seq   uint64
	Time  int64 // arrival time, Unix nanoseconds
	Flags uint16
	Key   []byte
	Data  []byte
}

// FrameSize is the bytes a frame with a key of keyLen bytes and data of
// dataLen bytes takes in a segment, padding included.
func FrameSize(keyLen, dataLen int) int {
	return (HeaderSize + keyLen + dataLen + Alignment - 1) &^ (Alignment - 1)
}

// PutFrame encodes a frame into dst, which must hold at least
// FrameSize(len(key), len(data)) bytes, and returns the bytes written. It does
// not allocate. It panics if key is longer than MaxKeyLen or data longer than
// MaxDataLen (callers validate records first, see Batch.Add).
func PutFrame(dst []byte, seq uint64, t int64, flags uint16, key, data []byte) int {
	if len(key) > MaxKeyLen || len(data) > MaxDataLen {
		panic(fmt.Sprintf("segment: PutFrame of a %d B key and %d B data; the limits are %d B and %d B",
			len(key), len(data), MaxKeyLen, MaxDataLen))
	}
	n := HeaderSize + len(key) + len(data)
	size := (n + Alignment - 1) &^ (Alignment - 1)
	f := dst[:size:size]
	binary.LittleEndian.PutUint32(f[LengthOffset:], uint32(n-SeqOffset))
	binary.LittleEndian.PutUint64(f[SeqOffset:], seq)
	binary.LittleEndian.PutUint64(f[TimeOffset:], uint64(t))
	binary.LittleEndian.PutUint16(f[FlagsOffset:], flags)
	binary.LittleEndian.PutUint16(f[KeyLenOffset:], uint16(len(key)))
	copy(f[HeaderSize:], key)
	copy(f[HeaderSize+len(key):], data)
	clear(f[n:])
	binary.LittleEndian.PutUint32(f, checksum.Mask(checksum.Value(f[LengthOffset:])))
	return size
}

// AppendFrame appends the frame of a record to dst and returns the extended
// slice.
func AppendFrame(dst []byte, seq uint64, t int64, flags uint16, key, data []byte) []byte {
	n, size := len(dst), FrameSize(len(key), len(data))
	dst = slices.Grow(dst, size)[:n+size]
	PutFrame(dst[n:], seq, t, flags, key, data)
	return dst
}

// DecodeFrame decodes the frame at the start of b and returns it with the
// bytes it takes (padding included). At a zero length word, or if b is empty
// or shorter than a length word and all zero, it returns ErrEndOfData. A frame
// that fails its bounds (length, key length, MaxKeyLen, MaxDataLen), does not
// fit in b, has unknown flag bits, non-zero padding or a bad CRC yields a
// *CorruptionError (errors.Is ErrCorrupt) with Offset 0. The returned Key and
// Data alias b. DecodeFrame does not allocate unless it fails.
func DecodeFrame(b []byte) (Frame, int, error) {
	if len(b) < SeqOffset {
		for _, c := range b {
			if c != 0 {
				return Frame{}, 0, &CorruptionError{Err: errTruncated}
			}
		}
		return Frame{}, 0, ErrEndOfData
	}
	length := binary.LittleEndian.Uint32(b[LengthOffset:])
	if length == 0 {
		return Frame{}, 0, ErrEndOfData
	}
	if length < MinLength || length > MaxLength {
		return Frame{}, 0, &CorruptionError{Err: fmt.Errorf("length %d out of bounds [%d, %d]", length, MinLength, MaxLength)}
	}
	n := SeqOffset + int(length)
	size := (n + Alignment - 1) &^ (Alignment - 1)
	if size > len(b) {
		return Frame{}, 0, &CorruptionError{Err: fmt.Errorf("%w: %d B frame, %d B left", errTruncated, size, len(b))}
	}
	f := b[:size:size]
	if checksum.Mask(checksum.Value(f[LengthOffset:])) != binary.LittleEndian.Uint32(f) {
		return Frame{}, 0, &CorruptionError{Err: errChecksum}
	}
	flags := binary.LittleEndian.Uint16(f[FlagsOffset:])
	if flags&^KnownFlags != 0 {
		return Frame{}, 0, &CorruptionError{Err: fmt.Errorf("%w %#x", errUnknownFlg, flags&^KnownFlags)}
	}
	keyLen := int(binary.LittleEndian.Uint16(f[KeyLenOffset:]))
	dataLen := n - HeaderSize - keyLen
	if keyLen > MaxKeyLen || dataLen < 0 || dataLen > MaxDataLen {
		return Frame{}, 0, &CorruptionError{Err: fmt.Errorf("key length %d, data length %d out of bounds", keyLen, dataLen)}
	}
	for _, c := range f[n:] {
		if c != 0 {
			return Frame{}, 0, &CorruptionError{Err: errPadding}
		}
	}
	keyEnd := HeaderSize + keyLen
	return Frame{
		Seq:   binary.LittleEndian.Uint64(f[SeqOffset:]),
		Time:  int64(binary.LittleEndian.Uint64(f[TimeOffset:])),
		Flags: flags,
		Key:   f[HeaderSize:keyEnd:keyEnd],
		Data:  f[keyEnd:n:n],
	}, size, nil
}

// FrameLen returns the padded size of the frame at the start of b judged by
// its length field alone (no CRC check), or 0 if the length word is zero or
// out of bounds. It is what readers use to step over frames that were
// verified when written or recovered.
func FrameLen(b []byte) int {
	if len(b) < SeqOffset {
		return 0
	}
	length := binary.LittleEndian.Uint32(b[LengthOffset:])
	if length < MinLength || length > MaxLength {
		return 0
	}
	return (SeqOffset + int(length) + Alignment - 1) &^ (Alignment - 1)
}

// FrameSeq and frameTime read the header fields of the frame at the start of
// b, which must hold at least HeaderSize bytes.
func FrameSeq(b []byte) uint64 { return binary.LittleEndian.Uint64(b[SeqOffset:]) }
func FrameTime(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b[TimeOffset:])) }

// FrameFlags reads the flags of the frame at the start of b (at least
// HeaderSize bytes).
func FrameFlags(b []byte) uint16 { return binary.LittleEndian.Uint16(b[FlagsOffset:]) }

// FrameIter walks the frames of a View (or any run of frames), verifying each
// one's CRC. The zero value is an empty iterator.
type FrameIter struct {
	b   []byte
	off int
	err error
}

// NewFrameIter returns an iterator over the frames packed in b (a View's
// frames, a read result's).
func NewFrameIter(b []byte) FrameIter { return FrameIter{b: b} }

// Next returns the next frame, or false at the end of the frames or at the
// first frame that fails to decode (then Err says why). It does not allocate
// unless a frame is corrupt. The frame's Key and Data alias the iterated
// bytes.
func (it *FrameIter) Next() (Frame, bool) {
	if it.err != nil || it.off >= len(it.b) {
		return Frame{}, false
	}
	f, n, err := DecodeFrame(it.b[it.off:])
	if err != nil {
		if err != ErrEndOfData {
			if ce, ok := err.(*CorruptionError); ok {
				ce.Offset = int64(it.off)
			}
			it.err = err
		}
		it.off = len(it.b)
		return Frame{}, false
	}
	it.off += n
	return f, true
}

// Err is the corruption that stopped the iteration, or nil.
func (it *FrameIter) Err() error { return it.err }

// Offset is the byte offset of the next frame in the iterated bytes.
func (it *FrameIter) Offset() int { return it.off }
