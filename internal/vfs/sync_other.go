//go:build !linux

package vfs

// fdatasync falls back to a full fsync where fdatasync is missing.
func fdatasync(f *osFile) error { return f.f.Sync() }
