package record

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is matched (errors.Is) by every *CorruptionError: a frame or
	// file that fails its bounds, its CRC or its sequence continuity.
	ErrCorrupt = errors.New("record: corrupt frame")

	// ErrEndOfData is returned by DecodeFrame at a zero length word: the end
	// of the frames in a segment. It is not an error of the data.
	ErrEndOfData = errors.New("record: end of data")
)

// Details carried by CorruptionError.Err.
var (
	errChecksum   = errors.New("checksum mismatch")
	errTruncated  = errors.New("truncated frame")
	errPadding    = errors.New("non-zero padding")
	errUnknownFlg = errors.New("unknown flag bits")
)

// CorruptionError says where a frame or file failed to decode. It matches
// ErrCorrupt with errors.Is and unwraps to the detail.
type CorruptionError struct {
	// Path is the file, or empty for a frame decoded from memory.
	Path string
	// Offset is the byte offset of the bad frame in the file (or in the
	// buffer given to DecodeFrame).
	Offset int64
	// Err says what was wrong.
	Err error
}

func (e *CorruptionError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("record: corrupt frame at offset %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("record: corrupt frame in %s at offset %d: %v", e.Path, e.Offset, e.Err)
}

// Unwrap returns the detail.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is reports whether target is ErrCorrupt.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }
