//go:build !linux

package bench

import "os"

// fdatasync makes f's data durable; without fdatasync, with fsync.
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate allocates size bytes for f by writing zeros.
func preallocate(f *os.File, size int64) error { return writeZeros(f, size) }

// filesystemType is unknown on this platform.
func filesystemType(dir string) string { return "" }
