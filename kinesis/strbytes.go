package kinesis

import "unsafe"

// bytesOf returns the bytes of s without copying them, for handing decoded
// partition keys to the engine, which reads a record's key only during the
// put call and never modifies it. The result must not be modified.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
