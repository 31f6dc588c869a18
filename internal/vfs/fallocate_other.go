//go:build !linux

package vfs

// allocate writes zeros where fallocate does not exist.
func allocate(f *osFile, off, n int64) error { return allocateByWriting(f, off, n) }
