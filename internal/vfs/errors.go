package vfs

import "errors"

// ErrCrashed is returned by every operation on a Mem file handle that was
// opened before the last Crash or CrashTorn: after a simulated power loss the
// process that held the handle is gone, and the file must be reopened.
var ErrCrashed = errors.New("vfs: file handle was opened before a simulated crash; reopen the file")

// ErrNotWritable is returned by Mem when a handle opened O_RDONLY is written.
var ErrNotWritable = errors.New("vfs: file was opened read-only")

// ErrLocked is matched by the error of FS.Lock when the directory is already
// locked, by another process or by an earlier Lock of this one.
var ErrLocked = errors.New("vfs: directory locked")

// ErrTooLarge is returned by ReadFile for a file larger than its limit.
var ErrTooLarge = errors.New("vfs: file larger than expected")
