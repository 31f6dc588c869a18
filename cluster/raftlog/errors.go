package raftlog

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("raftlog: closed")

// ErrRemoved is returned by the storage of a group after RemoveGroup.
var ErrRemoved = errors.New("raftlog: the group was removed")

// ErrCorrupt is matched by the error of Open when a file holds damage that
// is not a torn tail, and by the error of a read whose bytes on disk do not
// check.
var ErrCorrupt = errors.New("raftlog: corrupt")

// CorruptionError says where a file of the log is damaged.
type CorruptionError struct {
	Path   string
	Offset int64
	Err    error // what is wrong there
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("raftlog: %s at offset %d: %v", e.Path, e.Offset, e.Err)
}

// Is makes a CorruptionError match ErrCorrupt.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

func (e *CorruptionError) Unwrap() error { return e.Err }
