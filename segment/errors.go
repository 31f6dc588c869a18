package segment

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is matched (errors.Is) by every *CorruptionError: a frame or
	// file that fails its bounds, its CRC or its sequence continuity.
	ErrCorrupt = errors.New("segment: corrupt frame")

	// ErrEndOfData is returned by DecodeFrame at a zero length word: the end
	// of the frames in a segment. It is not an error of the data.
	ErrEndOfData = errors.New("segment: end of data")

	// ErrFrameTooLarge is returned by Write for a batch holding a frame that
	// is larger than Options.SegmentSize, or a key longer than MaxKeyLen, data
	// longer than MaxDataLen, or flags outside FlagEncrypted|FlagCompressed.
	// Nothing of the batch is written and the log stays usable. It is the
	// caller's mistake (an invalid argument), never worth retrying as is.
	ErrFrameTooLarge = errors.New("segment: frame too large")

	// ErrTransient is matched (errors.Is) by every *TransientError: a Write
	// (or Expire) that failed before any byte of its batch reached the file,
	// for a reason that may pass (too many open files, a full disk when
	// allocating space). Nothing was written; the log stays usable and the
	// next Write retries what failed.
	ErrTransient = errors.New("segment: transient failure")

	// ErrMappingFault is the detail of the *CorruptionError a read returns
	// when the mapped bytes of a segment are gone: its file was truncated or
	// damaged behind the log's back. The log is fenced (Err) and the process
	// goes on serving every other log.
	ErrMappingFault = errors.New("mapped bytes are past the end of the file: the segment file was truncated or damaged outside the server")

	// ErrClosed is returned by every write-side call after Close or Destroy.
	ErrClosed = errors.New("segment: log closed")

	// ErrBatchOutOfOrder is returned by Write for a batch that does not start
	// at the log's next sequence number (it was not begun with Begin on this
	// log, or another batch was written since). Nothing is written.
	ErrBatchOutOfOrder = errors.New("segment: batch does not start at the log's next sequence number")
)

// Details carried by CorruptionError.Err.
var (
	errChecksum   = errors.New("checksum mismatch")
	errTruncated  = errors.New("truncated frame")
	errPadding    = errors.New("non-zero padding")
	errSequence   = errors.New("sequence number out of order")
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
		return fmt.Sprintf("segment: corrupt frame at offset %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("segment: corrupt frame in %s at offset %d: %v", e.Path, e.Offset, e.Err)
}

// Unwrap returns the detail.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is reports whether target is ErrCorrupt.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// TransientError is a Write or Expire failure that left nothing of the batch
// in the log: the log is not fenced and the next call retries. It matches
// ErrTransient with errors.Is and unwraps to the cause.
type TransientError struct {
	Err error
}

func (e *TransientError) Error() string {
	return e.Err.Error() + " (nothing of the batch was written; the log accepts the next one)"
}

// Unwrap returns the cause.
func (e *TransientError) Unwrap() error { return e.Err }

// Is reports whether target is ErrTransient.
func (e *TransientError) Is(target error) bool { return target == ErrTransient }
