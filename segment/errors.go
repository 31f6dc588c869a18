package segment

import (
	"errors"
)

var (
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

	// ErrSealedDamaged is the detail of the *CorruptionError Open returns
	// for a sealed segment whose file does not hold what its intact index
	// records (truncated or overwritten outside the server). Open refuses
	// rather than cut the log there, which would remove every later
	// segment; nothing is changed on disk.
	ErrSealedDamaged = errors.New("sealed segment does not hold the frames its index records: the file was truncated or damaged outside the server; restore it, or move the shard's later segments aside to give up its records from there on")

	// ErrKeyHeaderDamaged is the detail of the *CorruptionError Open
	// returns for a sealed segment whose key header (its wrapped data key)
	// has no intact slot: its frames cannot be decrypted, and Open refuses
	// rather than guess. Restore the file from a replica or backup.
	ErrKeyHeaderDamaged = errors.New("the segment's key header is damaged: its sealed frames cannot be opened; restore the file")

	// ErrClosed is returned by every write-side call after Close or Destroy.
	ErrClosed = errors.New("segment: log closed")

	// ErrBatchOutOfOrder is returned by Write for a batch that does not start
	// at the log's next sequence number (it was not begun with Begin on this
	// log, or another batch was written since). Nothing is written.
	ErrBatchOutOfOrder = errors.New("segment: batch does not start at the log's next sequence number")
)

// errSequence is the detail of a CorruptionError for a frame out of order.
var errSequence = errors.New("sequence number out of order")

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
