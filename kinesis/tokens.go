package kinesis

import (
	"errors"
	"fmt"

	"github.com/sluicedb/sluice/api"
)

// Limits of every request decoder (the PutRecords walk, the check before the
// reflective decoders, and what they skip): what no request of the Kinesis
// API needs, so that a hostile body costs what these allow and not what it
// declares. The member-specific limits of the model (500 records, 200 tags,
// 50 tag keys) are checked where the member is read, with AWS's
// ValidationException.
const (
	// maxDepth bounds the nesting of maps and arrays; the deepest request
	// (PutRecords: body, Records, entry) nests 3.
	maxDepth = 32
	// maxEntries bounds the entries of one map or array: twice the longest
	// list of a request (PutRecords' 500 records).
	maxEntries = 2 * api.MaxPutRecords
	// maxTextChars bounds a string, in characters: NextToken, the longest
	// string member, has at most 1,048,576.
	maxTextChars = 1 << 20
	// maxBlobBytes bounds a blob (record data, decoded): the largest record a
	// stream can be set to take.
	maxBlobBytes = api.MaxMaxRecord
)

// Bytes a character may take: in CBOR, UTF-8's 4; in JSON, 6 (\u00e9).
const (
	cborCharBytes = 4
	jsonCharBytes = 6
)

// errTooLong is wrapped by the readers' errors for a string that is
// certainly longer than the caller's limit.
var errTooLong = errors.New("string too long for any Kinesis request")

// limitError reports a body that breaks one of the limits above.
func limitError(c *cursor, format string, args ...any) error {
	return c.errorf("%s; no Kinesis request needs more", fmt.Sprintf(format, args...))
}

// tokenReader is what the PutRecords walk (putrecords_decode.go) needs from a
// body reader; jsonReader and cborReader provide it, so that the one walk
// reads both formats. Every method validates what it consumes.
type tokenReader interface {
	// readNull consumes null (CBOR: also undefined) if it is next.
	readNull() (bool, error)
	// readBool reads a boolean; null gives present=false.
	readBool() (v, present bool, err error)
	// readMap and readArray consume the start of a map (JSON object) or an
	// array.
	readMap() (container, error)
	readArray() (container, error)
	// nextKey advances to the next member of the map c and returns its
	// decoded key, unescaped into scratch when needed (newScratch is scratch
	// after that); ok is false at the end of the map, which is consumed.
	nextKey(c *container, scratch []byte) (key, newScratch []byte, ok bool, err error)
	// nextElement advances to the next element of the array c; false at the
	// end of the array, which is consumed.
	nextElement(c *container) (bool, error)
	// keyIs reports whether a key read by nextKey names the member name, by
	// the format's rule (JSON: encoding/json's case folding; CBOR: exact).
	keyIs(key []byte, name string) bool
	// readText reads a string, decoded into scratch when it is not a plain
	// slice of the body; null gives null=true. It fails with errTooLong,
	// before decoding or gathering the string, when the string certainly has
	// more than maxChars characters (JSON: 6 bytes for each; CBOR: 4).
	readText(scratch []byte, maxChars int) (s, newScratch []byte, null bool, err error)
	// readBlob reads record data into d's blob buffer (or slices it from the
	// body); the result stays valid until d decodes the next body. null gives
	// null=true.
	readBlob(d *Decoder) (data []byte, null bool, err error)
	// kind returns the kind of the next value without consuming it.
	kind() (wireKind, error)
	// skip consumes one complete value of any kind.
	skip() error
	// end checks that nothing but what the format allows follows the
	// top-level value.
	end() error
}

// container tracks a map or an array being read.
type container struct {
	first bool   // JSON: no entry has been read yet
	indef bool   // CBOR: the container ends with a break
	left  uint64 // CBOR: entries left in a definite-length container
	n     int    // entries begun, at most maxEntries
}

// count counts the entry the reader is about to read, refusing the one past
// maxEntries. kind names the container in the message.
func (c *container) count(r *cursor, kind string) error {
	c.n++
	if c.n > maxEntries {
		return limitError(r, "%s of more than %d entries", kind, maxEntries)
	}
	return nil
}

// cursor is the position and nesting depth of a reader over one body.
type cursor struct {
	buf   []byte
	pos   int
	depth int
}

// errorf returns an error that names the byte offset of the reader.
func (c *cursor) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", c.pos, fmt.Sprintf(format, args...))
}
