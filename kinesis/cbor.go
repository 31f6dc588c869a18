package kinesis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/sluicedb/sluice/internal/jsonenc"
)

// CBOR (RFC 8949) constants used by the hand-written hot-path codec. They are
// part of the format and must not change.
const (
	cborMajorUint   byte = 0 << 5
	cborMajorNegInt byte = 1 << 5
	cborMajorBytes  byte = 2 << 5
	cborMajorText   byte = 3 << 5
	cborMajorArray  byte = 4 << 5
	cborMajorMap    byte = 5 << 5
	cborMajorTag    byte = 6 << 5
	cborMajorSimple byte = 7 << 5

	cborMajorMask byte = 0xe0
	cborInfoMask  byte = 0x1f

	cborInfoUint8  byte = 24 // argument in the next 1 byte
	cborInfoUint16 byte = 25 // next 2 bytes; also half-precision float for major 7
	cborInfoUint32 byte = 26 // next 4 bytes; also single-precision float
	cborInfoUint64 byte = 27 // next 8 bytes; also double-precision float
	cborInfoIndef  byte = 31 // indefinite length (majors 2-5) or break (major 7)

	cborFalse     byte = cborMajorSimple | 20
	cborTrue      byte = cborMajorSimple | 21
	cborNull      byte = cborMajorSimple | 22
	cborUndefined byte = cborMajorSimple | 23
	cborBreak     byte = cborMajorSimple | cborInfoIndef

	cborIndefMap   byte = cborMajorMap | cborInfoIndef
	cborIndefArray byte = cborMajorArray | cborInfoIndef

	// cborTagEpoch is tag 1; the Java SDK puts it before epoch milliseconds.
	cborTagEpoch uint64 = 1
)

// cborReader reads CBOR data items from buf. Every method validates what it
// reads; errors say what was wrong and at which byte offset.
type cborReader struct {
	cursor
}

var errCBORTruncated = errors.New("CBOR data ends in the middle of an item")

// peek returns the next initial byte without consuming it.
func (r *cborReader) peek() (byte, error) {
	if r.pos >= len(r.buf) {
		return 0, errCBORTruncated
	}
	return r.buf[r.pos], nil
}

// head consumes an initial byte and its argument. For indefinite-length
// strings, arrays and maps it returns indef=true. It rejects the reserved
// additional-information values 28-30 and indefinite lengths where RFC 8949
// forbids them.
func (r *cborReader) head() (major, info byte, arg uint64, indef bool, err error) {
	if r.pos >= len(r.buf) {
		return 0, 0, 0, false, errCBORTruncated
	}
	ib := r.buf[r.pos]
	major, info = ib&cborMajorMask, ib&cborInfoMask
	switch {
	case info < cborInfoUint8:
		r.pos++
		return major, info, uint64(info), false, nil
	case info <= cborInfoUint64:
		n := 1 << (info - cborInfoUint8)
		if len(r.buf)-r.pos-1 < n {
			return 0, 0, 0, false, errCBORTruncated
		}
		p := r.buf[r.pos+1 : r.pos+1+n]
		switch n {
		case 1:
			arg = uint64(p[0])
		case 2:
			arg = uint64(binary.BigEndian.Uint16(p))
		case 4:
			arg = uint64(binary.BigEndian.Uint32(p))
		default:
			arg = binary.BigEndian.Uint64(p)
		}
		r.pos += 1 + n
		return major, info, arg, false, nil
	case info == cborInfoIndef:
		switch major {
		case cborMajorBytes, cborMajorText, cborMajorArray, cborMajorMap:
			r.pos++
			return major, info, 0, true, nil
		case cborMajorSimple:
			return 0, 0, 0, false, r.errorf("unexpected CBOR break outside an indefinite-length item")
		}
		return 0, 0, 0, false, r.errorf("CBOR major type %d cannot have an indefinite length", major>>5)
	default:
		return 0, 0, 0, false, r.errorf("reserved CBOR additional information %d", info)
	}
}

// atBreak consumes a break byte if it is next.
func (r *cborReader) atBreak() (bool, error) {
	b, err := r.peek()
	if err != nil {
		return false, err
	}
	if b == cborBreak {
		r.pos++
		return true, nil
	}
	return false, nil
}

// next reports whether the container has another entry. At the end it
// consumes the break of an indefinite-length container and leaves it.
func (r *cborReader) next(c *container) (bool, error) {
	if c.indef {
		brk, err := r.atBreak()
		if brk || err != nil {
			r.depth--
			return false, err
		}
	} else {
		if c.left == 0 {
			r.depth--
			return false, nil
		}
		c.left--
	}
	return true, c.count(&r.cursor, "a CBOR container")
}

// enter checks the nesting limit and the element count of a container.
func (r *cborReader) enter(arg uint64, pairs bool) error {
	r.depth++
	if r.depth > maxDepth {
		return limitError(&r.cursor, "CBOR nesting deeper than %d levels", maxDepth)
	}
	// Each element needs at least one byte (each pair two): reject impossible
	// lengths at once. Nothing is sized by a declared length: next counts the
	// entries as they come and stops at maxEntries.
	left := uint64(len(r.buf) - r.pos)
	if pairs {
		left /= 2
	}
	if arg > left {
		return errCBORTruncated
	}
	return nil
}

// readMap consumes the head of a map.
func (r *cborReader) readMap() (container, error) { return r.open(cborMajorMap) }

// readArray consumes the head of an array.
func (r *cborReader) readArray() (container, error) { return r.open(cborMajorArray) }

// open consumes the head of a map or an array.
func (r *cborReader) open(want byte) (container, error) {
	start := r.pos
	major, _, arg, indef, err := r.head()
	if err != nil {
		return container{}, err
	}
	if major != want {
		r.pos = start // point at the offending item in messages
		return container{}, r.errorf("expected a CBOR %s, got %s", cborTypeName(want), cborTypeName(major))
	}
	if err := r.enter(arg, want == cborMajorMap); err != nil {
		return container{}, err
	}
	return container{indef: indef, left: arg}, nil
}

// nextKey advances to the next entry of a map and reads its key, which must
// be a text string (see tokenReader).
func (r *cborReader) nextKey(c *container, scratch []byte) (key, newScratch []byte, ok bool, err error) {
	if ok, err = r.next(c); !ok || err != nil {
		return nil, scratch, false, err
	}
	key, scratch, err = r.readString(true, scratch[:0], maxTextChars*cborCharBytes)
	if err != nil {
		return nil, scratch, false, fmt.Errorf("map key: %w", err)
	}
	return key, scratch, true, nil
}

// nextElement advances to the next element of an array.
func (r *cborReader) nextElement(c *container) (bool, error) { return r.next(c) }

// keyIs matches a member name exactly, as AWS does.
func (r *cborReader) keyIs(key []byte, name string) bool { return string(key) == name }

// readText reads a text string (see readString), null or undefined.
func (r *cborReader) readText(scratch []byte, maxChars int) (s, newScratch []byte, null bool, err error) {
	if null, err := r.readNull(); null || err != nil {
		return nil, scratch, null, err
	}
	s, scratch, err = r.readString(true, scratch[:0], maxChars*cborCharBytes)
	return s, scratch, false, err
}

// readBlob reads a byte string, null or undefined: a definite-length string
// is sliced from the body; the chunks of an indefinite-length one are
// gathered in d's blob buffer.
func (r *cborReader) readBlob(d *Decoder) (data []byte, null bool, err error) {
	if null, err := r.readNull(); null || err != nil {
		return nil, null, err
	}
	data, blobs, err := r.readString(false, d.blobs, maxBlobBytes)
	switch {
	case errors.Is(err, errTooLong):
		return nil, false, fmt.Errorf("is longer than the largest record: %w", err)
	case err != nil:
		return nil, false, fmt.Errorf("must be a byte string: %w", err)
	}
	// If the chunks outgrew the buffer, append moved it; earlier records keep
	// pointing into the old one, which stays valid.
	d.blobs = blobs
	return data, false, nil
}

// end checks that the top-level item ends the body.
func (r *cborReader) end() error {
	if r.pos != len(r.buf) {
		return fmt.Errorf("%d bytes of extraneous data after the CBOR map", len(r.buf)-r.pos)
	}
	return nil
}

// readString reads a text (text=true) or byte string. A definite-length string
// is returned as a slice of r.buf (no copy); the chunks of an
// indefinite-length string are appended to scratch, whose new value is
// returned as the string. Text must be valid UTF-8. A string of more than max
// bytes fails with errTooLong before anything of it is gathered.
func (r *cborReader) readString(text bool, scratch []byte, max int) (s, newScratch []byte, err error) {
	want := cborMajorBytes
	if text {
		want = cborMajorText
	}
	start := r.pos
	major, _, arg, indef, err := r.head()
	if err != nil {
		return nil, scratch, err
	}
	if major != want {
		r.pos = start
		return nil, scratch, r.errorf("expected a CBOR %s, got %s", cborTypeName(want), cborTypeName(major))
	}
	if !indef {
		if arg > uint64(max) {
			r.pos = start
			return nil, scratch, r.tooLong(want, max)
		}
		s, err = r.take(arg)
		if err != nil {
			return nil, scratch, err
		}
		if text && !utf8.Valid(s) {
			return nil, scratch, r.errorf("CBOR text string is not valid UTF-8")
		}
		return s, scratch, nil
	}
	from := len(scratch)
	for {
		brk, err := r.atBreak()
		if err != nil {
			return nil, scratch, err
		}
		if brk {
			break
		}
		cmajor, _, carg, cindef, err := r.head()
		if err != nil {
			return nil, scratch, err
		}
		if cmajor != want || cindef {
			return nil, scratch, r.errorf("chunk of an indefinite-length CBOR %s is a %s", cborTypeName(want), cborTypeName(cmajor))
		}
		if carg > uint64(max-(len(scratch)-from)) {
			return nil, scratch, r.tooLong(want, max)
		}
		chunk, err := r.take(carg)
		if err != nil {
			return nil, scratch, err
		}
		if text && !utf8.Valid(chunk) {
			return nil, scratch, r.errorf("CBOR text string chunk is not valid UTF-8")
		}
		scratch = append(scratch, chunk...)
	}
	return scratch[from:len(scratch):len(scratch)], scratch, nil
}

// tooLong is the error of a string of more than max bytes.
func (r *cborReader) tooLong(major byte, max int) error {
	return fmt.Errorf("%w: a CBOR %s of more than %d bytes at byte %d", errTooLong, cborTypeName(major), max, r.pos)
}

// take consumes n bytes.
func (r *cborReader) take(n uint64) ([]byte, error) {
	if n > uint64(len(r.buf)-r.pos) {
		return nil, errCBORTruncated
	}
	s := r.buf[r.pos : r.pos+int(n) : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}

// readNull consumes null or undefined if it is next.
func (r *cborReader) readNull() (bool, error) {
	b, err := r.peek()
	if err != nil {
		return false, err
	}
	if b == cborNull || b == cborUndefined {
		r.pos++
		return true, nil
	}
	return false, nil
}

// readBool reads true or false (null and undefined give present=false).
func (r *cborReader) readBool() (v, present bool, err error) {
	b, err := r.peek()
	if err != nil {
		return false, false, err
	}
	switch b {
	case cborTrue:
		r.pos++
		return true, true, nil
	case cborFalse:
		r.pos++
		return false, true, nil
	case cborNull, cborUndefined:
		r.pos++
		return false, false, nil
	}
	return false, false, r.errorf("expected a CBOR boolean, got %s", cborTypeName(b&cborMajorMask))
}

// readTimestamp reads epoch milliseconds: an integer or a float, optionally
// under tag 1. null and undefined give present=false.
func (r *cborReader) readTimestamp() (ms int64, present bool, err error) {
	if null, err := r.readNull(); null || err != nil {
		return 0, false, err
	}
	b, err := r.peek()
	if err != nil {
		return 0, false, err
	}
	if b&cborMajorMask == cborMajorTag {
		_, _, tag, _, err := r.head()
		if err != nil {
			return 0, false, err
		}
		if tag != cborTagEpoch {
			return 0, false, r.errorf("timestamp has CBOR tag %d; only tag 1 (epoch) is accepted", tag)
		}
		if b, err = r.peek(); err != nil {
			return 0, false, err
		}
	}
	start := r.pos
	major, info, arg, _, err := r.head()
	if err != nil {
		return 0, false, err
	}
	switch major {
	case cborMajorUint:
		if arg > math.MaxInt64 {
			return 0, false, errTimestampRange
		}
		return int64(arg), true, nil
	case cborMajorNegInt:
		if arg > math.MaxInt64 {
			return 0, false, errTimestampRange
		}
		return -1 - int64(arg), true, nil
	case cborMajorSimple:
		var f float64
		switch info {
		case cborInfoUint16:
			f = halfToFloat64(uint16(arg))
		case cborInfoUint32:
			f = float64(math.Float32frombits(uint32(arg)))
		case cborInfoUint64:
			f = math.Float64frombits(arg)
		default:
			r.pos = start
			return 0, false, r.errorf("expected epoch milliseconds, got CBOR simple value %d", arg)
		}
		ms, err := floatMillis(f)
		return ms, err == nil, err
	}
	r.pos = start
	return 0, false, r.errorf("expected epoch milliseconds, got %s", cborTypeName(major))
}

// skip consumes one complete data item, validating it. Tags are rejected
// but for tag 1 before a number: the Kinesis API puts a tag only before a
// timestamp.
func (r *cborReader) skip() error {
	start := r.pos
	major, info, arg, indef, err := r.head()
	if err != nil {
		return err
	}
	switch major {
	case cborMajorUint, cborMajorNegInt:
		return nil
	case cborMajorBytes, cborMajorText:
		r.pos = start
		if major == cborMajorText {
			_, _, err = r.readString(true, nil, maxTextChars*cborCharBytes)
		} else {
			_, _, err = r.readString(false, nil, maxBlobBytes)
		}
		return err
	case cborMajorArray, cborMajorMap:
		if err := r.enter(arg, major == cborMajorMap); err != nil {
			return err
		}
		c := container{indef: indef, left: arg}
		for {
			more, err := r.next(&c)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			if err := r.skip(); err != nil {
				return err
			}
			if major == cborMajorMap {
				if err := r.skip(); err != nil {
					return err
				}
			}
		}
		return nil
	case cborMajorTag:
		if arg == cborTagEpoch { // a timestamp, as the Java SDK writes one
			r.pos = start
			_, _, err := r.readTimestamp()
			return err
		}
		r.pos = start
		return r.errorf("unexpected CBOR tag %d", arg)
	default: // simple values and floats
		if info == cborInfoUint8 && arg < 32 {
			r.pos = start
			return r.errorf("invalid two-byte CBOR simple value %d", arg)
		}
		return nil
	}
}

// cborTypeName names a major type for error messages.
func cborTypeName(major byte) string {
	switch major {
	case cborMajorUint:
		return "unsigned integer"
	case cborMajorNegInt:
		return "negative integer"
	case cborMajorBytes:
		return "byte string"
	case cborMajorText:
		return "text string"
	case cborMajorArray:
		return "array"
	case cborMajorMap:
		return "map"
	case cborMajorTag:
		return "tag"
	default:
		return "simple value or float"
	}
}

// halfToFloat64 converts an IEEE 754 half-precision value.
func halfToFloat64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(mant, -24)
	case 0x1f:
		if mant == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * math.Ldexp(mant+1024, exp-25)
}

// appendCBORText appends s as a definite-length CBOR text string.
func appendCBORText(dst []byte, s string) []byte {
	dst = appendCBORHead(dst, cborMajorText, uint64(len(s)))
	return append(dst, s...)
}

// appendCBORValidText appends s as a definite-length CBOR text string,
// replacing invalid UTF-8 with U+FFFD (CBOR text must be valid UTF-8; keys
// written through other front doors need not be).
func appendCBORValidText[S ~string | ~[]byte](dst []byte, s S) []byte {
	n, valid := 0, true
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			n++
			continue
		}
		r, size := jsonenc.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			valid = false
			n += utf8.RuneLen(utf8.RuneError)
		} else {
			n += size
		}
		i += size
	}
	dst = appendCBORHead(dst, cborMajorText, uint64(n))
	if valid {
		return append(dst, s...)
	}
	for i := 0; i < len(s); {
		r, size := jsonenc.DecodeRune(s[i:])
		dst = utf8.AppendRune(dst, r)
		i += size
	}
	return dst
}

// appendCBORBytes appends b as a definite-length CBOR byte string.
func appendCBORBytes(dst []byte, b []byte) []byte {
	dst = appendCBORHead(dst, cborMajorBytes, uint64(len(b)))
	return append(dst, b...)
}

// appendCBORBool appends true or false.
func appendCBORBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, cborTrue)
	}
	return append(dst, cborFalse)
}
