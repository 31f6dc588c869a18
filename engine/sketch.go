package engine

import (
	"math/bits"
	"sync/atomic"

	"github.com/sluicedb/sluice/api"
)

// sketchBuckets is how many slices of a shard's hash key range the traffic
// sketch counts separately: 64 gives a split point within 1/64 of the range
// after one window, and each split child gets 64 buckets of its own, so the
// resolution sharpens where the traffic is.
const sketchBuckets = 64

// sketch is a shard's running record of the writes offered to it by hash key
// position: bytes and records per bucket of its range, and a guess at its
// heaviest single key. The put path adds to it with atomics only (no lock,
// no allocation); the autoscaler drains it (swap to zero) once per tick and
// keeps the history itself, which is how the counts decay.
//
// Bucket b covers the hash keys start + [b<<shift, (b+1)<<shift - 1]; shift
// is chosen so that the whole range fits in sketchBuckets buckets (the last
// ones may lie past the range's end and stay empty).
type sketch struct {
	start api.HashKey // immutable: the shard's first hash key
	shift uint        // immutable

	bytes [sketchBuckets]atomic.Uint64
	recs  [sketchBuckets]atomic.Uint64

	// The heavy-hitter guess: a majority vote (Boyer-Moore) run without a
	// lock. A key that carries more than half of the shard's records keeps
	// the vote and its count; the races of the vote only cost accuracy for
	// keys below half, which the autoscaler does not act on. candLo is the
	// key's low 64 bits (its fingerprint), candHi its high bits.
	candLo, candHi atomic.Uint64
	votes          atomic.Int64
	candRecs       atomic.Uint64 // records of the candidate since the last drain
}

func newSketch(start, end api.HashKey) *sketch {
	span := end.Sub(start)
	l := bitLen128(span)
	s := &sketch{start: start}
	if l > 6 {
		s.shift = uint(l - 6)
	}
	return s
}

func bitLen128(h api.HashKey) int {
	if h.Hi != 0 {
		return 64 + bits.Len64(h.Hi)
	}
	return bits.Len64(h.Lo)
}

// bucket is the bucket of hash key h (which must lie in the shard's range).
func (s *sketch) bucket(h api.HashKey) int {
	off := h.Sub(s.start)
	var b uint64
	switch {
	case s.shift >= 64:
		b = off.Hi >> (s.shift - 64)
	case s.shift == 0:
		b = off.Lo
	default:
		b = off.Lo>>s.shift | off.Hi<<(64-s.shift)
	}
	return int(b & (sketchBuckets - 1))
}

// bucketStart is the first hash key of bucket b.
func (s *sketch) bucketStart(b int) api.HashKey {
	k, _ := s.start.Add(shl128(uint64(b), s.shift))
	return k
}

func shl128(v uint64, n uint) api.HashKey {
	switch {
	case n == 0:
		return api.HashKey{Lo: v}
	case n >= 64:
		return api.HashKey{Hi: v << (n - 64)}
	default:
		return api.HashKey{Hi: v >> (64 - n), Lo: v << n}
	}
}

// add records one write of n bytes (key plus data) at hash key h. It is on
// the put path: atomics only.
func (s *sketch) add(h api.HashKey, n int) {
	b := s.bucket(h)
	s.bytes[b].Add(uint64(n))
	s.recs[b].Add(1)
	if s.candLo.Load() == h.Lo {
		s.votes.Add(1)
		s.candRecs.Add(1)
		return
	}
	if s.votes.Add(-1) < 0 {
		// The guess lost its majority: h takes over. Concurrent takeovers
		// may leave a pair of halves of two keys, which no record matches
		// and which loses the vote at once.
		s.candLo.Store(h.Lo)
		s.candHi.Store(h.Hi)
		s.votes.Store(1)
		s.candRecs.Store(1)
	}
}

// sketchTick is what a shard's sketch held since the previous drain.
type sketchTick struct {
	bytes, recs [sketchBuckets]uint64
	cand        api.HashKey
	candRecs    uint64
}

// drain moves the counts into t and zeroes them. Writes that race with it
// land in this tick or the next, never in neither.
func (s *sketch) drain(t *sketchTick) {
	for b := range s.bytes {
		t.bytes[b] = s.bytes[b].Swap(0)
		t.recs[b] = s.recs[b].Swap(0)
	}
	t.cand = api.HashKey{Hi: s.candHi.Load(), Lo: s.candLo.Load()}
	t.candRecs = s.candRecs.Swap(0)
}
