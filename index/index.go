package index

import (
	"math"
	"sync/atomic"
)

// DefaultInterval is the spacing used when New is given an interval <= 0.
const DefaultInterval = 4096 // 4096 B: Kafka's index.interval.bytes; 32 Ki entries per 128 MiB segment

const (
	// minChunk is the smallest first chunk, in entries (1 KiB).
	minChunk = 64
	// maxFirstChunk caps the first chunk a hint can ask for, in entries
	// (16 MiB); later chunks still double.
	maxFirstChunk = 1 << 20
	// maxChunks chunks of minChunk<<k entries hold more than 2^32 entries,
	// the most distinct uint32 RelSeqs.
	maxChunks = 27
)

// Entry locates one frame of a segment.
type Entry struct {
	RelSeq uint32 // the frame's sequence number minus the segment's base sequence
	Pos    uint32 // the frame's byte offset in the segment file
	Time   int64  // the frame's arrival time, Unix nanoseconds
}

// Index is the sparse index of one segment. MaybeAdd is called by one
// goroutine at a time; Len, LookupSeq, LookupTime, Last, Entries and Marshal
// may run concurrently with it and with each other, and take no lock.
//
// Entries are stored in chunks: chunk k holds first<<k entries starting at
// entry first*(2^k-1), so storage grows by doubling without ever moving an
// entry a reader might be looking at.
type Index struct {
	interval uint32 // bytes between entries; immutable
	first    int    // entries in chunk 0; immutable

	// n is the number of entries published to readers. The writer fills an
	// entry (and the chunk holding it) before storing n past it.
	n atomic.Int64
	// chunks[k] is set by the writer once, before n covers any of it.
	chunks [maxChunks][]Entry

	// Writer state, touched only by the goroutine calling MaybeAdd.
	count  int     // entries added (== n)
	cur    []Entry // the chunk being filled
	curK   int     // its index in chunks
	curLen int     // entries used in cur
	last   Entry   // the last entry added
	// nextPos and nextRel are the least Pos and RelSeq the next entry may
	// have (0 before the first entry).
	nextPos, nextRel uint64
}

// New returns an empty index adding an entry every interval bytes of frames
// (DefaultInterval if interval <= 0). capacityHint is the number of entries
// expected (a full segment holds about SegmentSize/interval): the first
// chunk of storage holds that many, at least 64 and at most 1 Mi, and is
// allocated at the first entry; later chunks double. An index that may stay
// small (an idle shard's active segment) is best given 0: it then starts at
// 64 entries (1 KiB).
func New(interval int, capacityHint int) *Index {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Index{interval: uint32(min(uint64(interval), math.MaxUint32)), first: min(max(capacityHint, minChunk), maxFirstChunk)}
}

// Interval is the spacing of entries in bytes.
func (ix *Index) Interval() int { return int(ix.interval) }

// MaybeAdd records the frame at pos with sequence relSeq and arrival time t
// if it is the first frame or starts at least Interval bytes after the last
// entry's frame. Frames must be offered in log order; a frame whose relSeq
// is not past the last entry's is ignored, and t is raised to the last
// entry's time if it is earlier, so that the index stays sorted by all three
// fields. One goroutine at a time.
func (ix *Index) MaybeAdd(relSeq uint32, pos uint32, t int64) {
	// Most frames are not indexed: keep this check small enough to inline.
	if uint64(pos) < ix.nextPos || uint64(relSeq) < ix.nextRel {
		return
	}
	ix.addFrame(relSeq, pos, t)
}

// addFrame adds the frame MaybeAdd chose, with its time clamped.
//
//go:noinline
func (ix *Index) addFrame(relSeq uint32, pos uint32, t int64) {
	if ix.count > 0 {
		t = max(t, ix.last.Time)
	}
	ix.add(Entry{RelSeq: relSeq, Pos: pos, Time: t})
}

// add appends e and publishes it.
func (ix *Index) add(e Entry) {
	if ix.curLen == len(ix.cur) {
		k := 0
		if ix.cur != nil {
			k = ix.curK + 1
		}
		c := make([]Entry, ix.first<<k)
		ix.chunks[k] = c
		ix.cur, ix.curK, ix.curLen = c, k, 0
	}
	ix.cur[ix.curLen] = e
	ix.curLen++
	ix.last = e
	ix.nextPos = uint64(e.Pos) + uint64(ix.interval)
	ix.nextRel = uint64(e.RelSeq) + 1
	ix.count++
	ix.n.Store(int64(ix.count))
}

// Len is the number of entries.
func (ix *Index) Len() int { return int(ix.n.Load()) }

// Last returns the newest entry, false if there is none.
func (ix *Index) Last() (Entry, bool) {
	n := int(ix.n.Load())
	if n == 0 {
		return Entry{}, false
	}
	return ix.at(n - 1), true
}

// at returns entry i (< a loaded n).
func (ix *Index) at(i int) Entry {
	k, start, _ := ix.top(i + 1)
	return ix.chunks[k][i-start]
}

// top returns the chunk holding entry n-1 (n > 0): its index, first entry
// and the number of entries in it below n.
func (ix *Index) top(n int) (k, start, used int) {
	size := ix.first
	for start+size < n {
		start += size
		size <<= 1
		k++
	}
	return k, start, n - start
}

// LookupSeq returns the last entry with RelSeq <= relSeq, the place to start
// scanning for that frame; false if relSeq precedes every entry.
func (ix *Index) LookupSeq(relSeq uint32) (Entry, bool) {
	n := int(ix.n.Load())
	if n == 0 {
		return Entry{}, false
	}
	// Walk down from the newest chunk to the one whose first entry qualifies:
	// chunks double, so that is the newest or the one before for most keys.
	k, _, used := ix.top(n)
	c := ix.chunks[k][:used]
	for c[0].RelSeq > relSeq {
		if k == 0 {
			return Entry{}, false
		}
		k--
		c = ix.chunks[k]
	}
	lo, hi := 1, len(c) // c[0] qualifies; find the first that does not
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c[mid].RelSeq <= relSeq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return c[lo-1], true
}

// LookupTime returns the last entry with Time < t: scanning forward from its
// frame finds the first frame that arrived at or after t. false means no
// entry is older than t, and the scan starts at the segment's first frame.
func (ix *Index) LookupTime(t int64) (Entry, bool) {
	n := int(ix.n.Load())
	if n == 0 {
		return Entry{}, false
	}
	k, _, used := ix.top(n)
	c := ix.chunks[k][:used]
	for c[0].Time >= t {
		if k == 0 {
			return Entry{}, false
		}
		k--
		c = ix.chunks[k]
	}
	lo, hi := 1, len(c)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c[mid].Time < t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return c[lo-1], true
}

// Entries returns a copy of the entries, oldest first (for tests and tools).
func (ix *Index) Entries() []Entry {
	n := int(ix.n.Load())
	out := make([]Entry, 0, n)
	for k, start, size := 0, 0, ix.first; start < n; k, start, size = k+1, start+size, size<<1 {
		out = append(out, ix.chunks[k][:min(size, n-start)]...)
	}
	return out
}
