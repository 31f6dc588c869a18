package index

import (
	"errors"
	"fmt"
)

// ErrCorrupt is matched (errors.Is) by every *CorruptionError.
var ErrCorrupt = errors.New("index: corrupt index file")

// The specific causes a *CorruptionError wraps.
var (
	// ErrTruncated: the file is shorter than its header and trailer, or than
	// its entry count requires.
	ErrTruncated = errors.New("index: file truncated")
	// ErrBadMagic: the file does not start with "SLIX".
	ErrBadMagic = errors.New("index: not an index file (bad magic)")
	// ErrVersion: a format version this build cannot read.
	ErrVersion = errors.New("index: unsupported format version")
	// ErrTrailingBytes: the file is longer than its entry count says.
	ErrTrailingBytes = errors.New("index: bytes after the trailer")
	// ErrChecksum: the CRC does not match the bytes.
	ErrChecksum = errors.New("index: checksum mismatch")
	// ErrInconsistent: the checksum matches but the header, entries or
	// trailer break an invariant the writer keeps (see the package doc).
	ErrInconsistent = errors.New("index: inconsistent contents")
)

// CorruptionError says where and why an .idx file was rejected. Offset is the
// byte offset in the file of the field found bad.
type CorruptionError struct {
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("index: corrupt at offset %d: %v", e.Offset, e.Err)
}

// Unwrap returns the specific cause (ErrChecksum, ErrTruncated, ...).
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes every CorruptionError match ErrCorrupt.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

func corrupt(off int, err error, format string, args ...any) *CorruptionError {
	return &CorruptionError{Offset: int64(off), Err: fmt.Errorf("%w: "+format, append([]any{err}, args...)...)}
}
