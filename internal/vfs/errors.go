package vfs

import "errors"

// ErrCrashed is returned by every operation on a Mem file handle that was
// opened before the last Crash or CrashTorn: after a simulated power loss the
// process that held the handle is gone, and the file must be reopened.
var ErrCrashed = errors.New("vfs: file handle was opened before a simulated crash; reopen the file")

// ErrNotWritable is returned by Mem when a handle opened O_RDONLY is written.
var ErrNotWritable = errors.New("vfs: file was opened read-only")
