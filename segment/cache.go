package segment

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Cache bounds how many segments are mapped at once across the Logs that
// share it, so that memory mappings (vm.max_map_count, 65530 by default)
// follow the segments being read rather than the segments stored. A segment
// is mapped by its first read and stays mapped while it is read; when the
// cache is over its bound, the mapping of a segment no reader holds a lease
// on is dropped, chosen by the CLOCK algorithm (a segment read since the
// hand last passed gets a second chance). A leased segment is never
// unmapped: when every mapped segment is leased the cache stays over its
// bound, and the release of a lease trims it.
//
// Sealed segments hold no file descriptor at all (the mapping outlives the
// file); the active segment of each Log holds one while it is written (see
// Log.Park).
type Cache struct {
	max int

	mu   sync.Mutex // guards ring, hand and the slot of every segment in ring
	ring []*segment // the mapped segments, in no order
	hand int        // CLOCK hand: index into ring

	// over is set when a trim stopped above max because every candidate
	// was leased: the next release of a lease trims again.
	over atomic.Bool
}

// NewCache returns a cache that keeps at most maxMapped segments mapped
// (when none of them is leased); maxMapped <= 0 means DefaultOpenSegments.
func NewCache(maxMapped int) *Cache {
	if maxMapped <= 0 {
		maxMapped = DefaultOpenSegments
	}
	return &Cache{max: maxMapped}
}

// defaultCache is the Cache of every Log whose Options name none.
var defaultCache = NewCache(DefaultOpenSegments)

// Mapped returns how many segments are mapped now.
func (c *Cache) Mapped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ring)
}

// String describes the cache for logs and errors.
func (c *Cache) String() string {
	return fmt.Sprintf("segment cache (%d mapped, max %d)", c.Mapped(), c.max)
}

// add records that s was just mapped and trims the cache. s is leased by
// the caller, so it is not evicted now. A segment the log has let go of is
// not added: its teardown unmaps it.
func (c *Cache) add(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.slot >= 0 || s.refs.Load()&deadBit != 0 {
		return
	}
	s.slot = len(c.ring)
	c.ring = append(c.ring, s)
	c.trimLocked()
}

// remove takes s out of the cache (it is being torn down or unmapped by its
// log). It waits for an eviction of s in progress.
func (c *Cache) remove(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(s)
}

func (c *Cache) removeLocked(s *segment) {
	i := s.slot
	if i < 0 {
		return
	}
	last := len(c.ring) - 1
	c.ring[i] = c.ring[last]
	c.ring[i].slot = i
	c.ring[last] = nil
	c.ring = c.ring[:last]
	s.slot = -1
	if c.hand >= len(c.ring) {
		c.hand = 0
	}
}

// trim evicts unleased segments until the cache is within its bound.
func (c *Cache) trim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trimLocked()
}

// trimLocked runs the CLOCK hand over at most two turns of the ring: one to
// clear the used bits, one to find them still clear.
func (c *Cache) trimLocked() {
	for steps := 2 * len(c.ring); len(c.ring) > c.max && steps > 0; steps-- {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		s := c.ring[c.hand]
		if s.used.Load() {
			s.used.Store(false)
			c.hand++
			continue
		}
		if !c.evictLocked(s) {
			c.hand++
		}
	}
	c.over.Store(len(c.ring) > c.max)
}

// evict unmaps s now if no reader holds a lease on it, and reports whether
// s is unmapped.
func (c *Cache) evict(s *segment) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.slot < 0 {
		return s.m.Load() == nil
	}
	return c.evictLocked(s)
}

// evictLocked unmaps s, in the ring, unless it is leased or let go of. While
// evictBit is set no lease can be taken: acquire waits for c.mu.
func (c *Cache) evictLocked(s *segment) bool {
	if !s.refs.CompareAndSwap(1, 1|evictBit) {
		return false
	}
	m := s.m.Swap(nil)
	c.removeLocked(s)
	if m != nil {
		_ = m.mapping.Unmap() // nothing can be lost by a failed unmap; the address space stays used
	}
	s.refs.Add(-evictBit)
	return true
}

// wait returns once no eviction is in progress.
func (c *Cache) wait() {
	c.mu.Lock()
	c.mu.Unlock() // an empty critical section: it only waits for the evictor
}
