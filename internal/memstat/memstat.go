// Package memstat reads the process's memory use for tests that hold the
// server to what hostile input may cost.
package memstat

import "runtime"

// LiveHeap runs a collection and returns the bytes of heap still in use
// (runtime.MemStats.HeapAlloc) after it.
func LiveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
