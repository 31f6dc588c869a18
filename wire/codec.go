package wire

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sluicedb/sluice/api"
)

// The primitive types of message bodies (see doc.go and docs/protocol.md).
// Integers are little-endian; a hash key is 16 bytes big-endian (the bytes of
// an MD5 digest); strings and byte strings carry their length first.

func AppendU8(b []byte, v uint8) []byte   { return append(b, v) }
func AppendU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func AppendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
func appendI64(b []byte, v int64) []byte  { return binary.LittleEndian.AppendUint64(b, uint64(v)) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendStr appends a str: u16 length, then the bytes. Callers check that s
// fits (maxStr); a longer s is cut at maxStr bytes rather than corrupting the
// framing.
func AppendStr(b []byte, s string) []byte {
	if len(s) > MaxStr {
		s = s[:MaxStr]
	}
	b = AppendU16(b, uint16(len(s)))
	return append(b, s...)
}

// appendBytes16 appends a u16-length byte string (partition keys).
func appendBytes16(b []byte, v []byte) []byte {
	if len(v) > MaxStr {
		v = v[:MaxStr]
	}
	b = AppendU16(b, uint16(len(v)))
	return append(b, v...)
}

// appendBytes32 appends a u32-length byte string (record data).
func appendBytes32(b []byte, v []byte) []byte {
	b = AppendU32(b, uint32(len(v)))
	return append(b, v...)
}

// AppendTime appends a time as i64 Unix nanoseconds; the zero time is 0.
func AppendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return appendI64(b, 0)
	}
	return appendI64(b, t.UnixNano())
}

// MaxStr is the longest str or bytes16 the format can carry.
const MaxStr = 1<<16 - 1

// Decoder reads the primitive types from a message body. The first failure
// is kept in err and every later read returns a zero value, so a message
// Decoder reads all its fields and checks err once at the end. Reads never
// allocate except str, which returns a new string.
type Decoder struct {
	b   []byte
	off int
	err error
}

func NewDecoder(b []byte) Decoder { return Decoder{b: b} }

// fail records the first error: field names the value being read.
func (d *Decoder) fail(field string, need int) {
	if d.err == nil {
		d.err = &DecodeError{Field: field, Offset: d.off, Need: need, Left: len(d.b) - d.off}
	}
}

// invalid records a value that decoded but is out of range.
func (d *Decoder) invalid(field, format string, args ...any) {
	if d.err == nil {
		d.err = &DecodeError{Field: field, Offset: d.off, Detail: fmt.Sprintf(format, args...)}
	}
}

// take returns the next n bytes, or nil after recording an error.
func (d *Decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(field, n)
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

func (d *Decoder) u8(field string) uint8 {
	v := d.take(field, 1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *Decoder) u16(field string) uint16 {
	v := d.take(field, 2)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(v)
}

func (d *Decoder) U32(field string) uint32 {
	v := d.take(field, 4)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(v)
}

func (d *Decoder) U64(field string) uint64 {
	v := d.take(field, 8)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(v)
}

func (d *Decoder) i64(field string) int64 { return int64(d.U64(field)) }

func (d *Decoder) boolean(field string) bool {
	switch d.u8(field) {
	case 0:
		return false
	case 1:
		return true
	default:
		d.off--
		d.invalid(field, "a bool must be 0 or 1")
		return false
	}
}

// StrBytes reads a str and returns its bytes aliasing the body. It checks
// that they are valid UTF-8.
func (d *Decoder) StrBytes(field string) []byte {
	n := int(d.u16(field))
	v := d.take(field, n)
	if v != nil && !utf8.Valid(v) {
		d.off -= n
		d.invalid(field, "not valid UTF-8")
		return nil
	}
	return v
}

// str reads a str as a new string.
func (d *Decoder) str(field string) string { return string(d.StrBytes(field)) }

// bytes16 reads a u16-length byte string aliasing the body.
func (d *Decoder) bytes16(field string) []byte {
	n := int(d.u16(field))
	return d.take(field, n)
}

// bytes32 reads a u32-length byte string aliasing the body.
func (d *Decoder) bytes32(field string) []byte {
	n := d.U32(field)
	if uint64(n) > uint64(len(d.b)-d.off) {
		d.fail(field, int(min(n, 1<<31-1)))
		return nil
	}
	return d.take(field, int(n))
}

// time reads an i64 of Unix nanoseconds; 0 is the zero time.
func (d *Decoder) time(field string) time.Time {
	ns := d.i64(field)
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// count reads a u16 or u32 element count and checks that the rest of the
// body could hold that many elements of at least minSize bytes each, so that
// no decoder allocates for a count the bytes cannot back.
func (d *Decoder) count(field string, wide bool, minSize int) int {
	var n int
	if wide {
		n = int(d.U32(field))
	} else {
		n = int(d.u16(field))
	}
	if d.err != nil {
		return 0
	}
	if minSize > 0 && n > (len(d.b)-d.off)/minSize {
		d.invalid(field, "%d elements of at least %d bytes do not fit in the %d bytes left", n, minSize, len(d.b)-d.off)
		return 0
	}
	return n
}

// Finish reports the first error, or an error if bytes are left over.
func (d *Decoder) Finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.err = &DecodeError{Field: "end of body", Offset: d.off, Detail: fmt.Sprintf("%d unexpected bytes after the last field", len(d.b)-d.off)}
	}
	return d.err
}

// shardIDs caches the id strings of the first shard indexes, so that
// decoding put results does not format one per record.
var shardIDs [1024]atomic.Pointer[string]

func shardIDString(i uint32) string {
	if int(i) >= len(shardIDs) {
		return api.ShardID(int(i))
	}
	if p := shardIDs[i].Load(); p != nil {
		return *p
	}
	s := api.ShardID(int(i))
	shardIDs[i].Store(&s)
	return s
}
