package soak

import (
	"fmt"
	"strings"
)

// The terms of the memory bound on the server's peak resident set.
const (
	// perConnBytes is what one open connection may cost the server: its
	// reader's and writer's goroutine stacks, a 16 KiB (binary protocol)
	// or 4+4 KiB (HTTP) buffer, a 64 KiB body chunk being filled, and the
	// connection's state. 256 KiB is about twice what they add up to.
	perConnBytes = 256 << 10
	// slowResponseBytes is the most one slow HTTP reader makes the server
	// hold: a GetRecords answer of 10 MiB of data, base64-encoded in JSON.
	// (The binary protocol writes record frames from the mapped segments,
	// which the data term covers.)
	slowResponseBytes = 10 << 20 * 4 / 3
	// runtimeBytes covers what does not scale with the load: the Go
	// runtime's own structures, the metrics registry, the engine's indexes
	// and caches of a few shards.
	runtimeBytes = 64 << 20
	// readerReach is how far into a shard the hostile readers can make the
	// server map pages: they all start at the shard's start, a binary
	// subscription runs at most its 64 MiB credit ahead of a reader that
	// has stopped, and the reads and GetRecords stop at 10 MiB.
	readerReach = 64 << 20
	// raceFactor: the race detector keeps shadow memory for every word
	// of the heap and stacks; the Go documentation puts its memory cost
	// at 5 to 10 times.
	raceFactor = 8
)

// memoryBound returns the most the server's peak resident set may reach
// under the load of a soak with cfg that stored dataBytes, starting from a
// peak of start, and how the bound is made up. (Reading everything back
// afterwards maps all the data; the bound is not for that.)
//
//   - Mapped data: reads (and the binary protocol's writes of record
//     frames from the mapping) make segment pages resident. During the
//     load only the hostile readers read, from each shard's start and at
//     most readerReach into it, and each shard's active segment may be
//     mapped for them; so the stored data, but no more than that much per
//     shard.
//   - Twice the in-flight budget: the server holds at most the budget in
//     request bytes at once, and the garbage collector (GOGC=100) lets
//     as much again in dead buffers accumulate before it runs.
//   - Twice a slow HTTP answer per hostile worker, for the same reason.
//   - Every connection that can be open at once: each hostile worker's
//     flood, the producers, and a few more.
//   - The runtime's fixed part.
//
// Under the race detector the terms that are heap are multiplied by
// raceFactor.
func memoryBound(start, dataBytes int64, cfg Config) (int64, string) {
	conns := int64(cfg.HostileWorkers*floodSize + cfg.WireProducers + cfg.HTTPProducers + 8)
	heap := []struct {
		name string
		n    int64
	}{
		{"2 x in-flight budget", 2 * cfg.InFlightTotal},
		{fmt.Sprintf("2 x %d slow answers", cfg.HostileWorkers), 2 * int64(cfg.HostileWorkers) * slowResponseBytes},
		{fmt.Sprintf("%d connections", conns), conns * perConnBytes},
		{"runtime", runtimeBytes},
	}
	mapped := min(dataBytes, int64(cfg.Shards)*(readerReach+segmentSize))
	terms := []string{"start " + MiB(start), fmt.Sprintf("mapped data %s (of %s stored)", MiB(mapped), MiB(dataBytes))}
	var h int64
	for _, t := range heap {
		h += t.n
		terms = append(terms, t.name+" "+MiB(t.n))
	}
	s := strings.Join(terms, " + ")
	if cfg.Race {
		h *= raceFactor
		s = fmt.Sprintf("%s + %d x (%s)", strings.Join(terms[:2], " + "), raceFactor, strings.Join(terms[2:], " + "))
	}
	return start + mapped + h, s
}
