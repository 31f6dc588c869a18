package kinesis

import "fmt"

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
	// slice of the body; null gives null=true.
	readText(scratch []byte) (s, newScratch []byte, null bool, err error)
	// readBlob reads record data into d's blob buffer (or slices it from the
	// body); the result stays valid until d decodes the next body. null gives
	// null=true.
	readBlob(d *Decoder) (data []byte, null bool, err error)
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
