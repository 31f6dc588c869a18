//go:build !linux

package vfs

// pageSize is the granularity of populate.
const pageSize = 4096

// populate is a no-op where MADV_POPULATE_READ does not exist: pages fault
// in on first touch.
func populate(b []byte) {}
