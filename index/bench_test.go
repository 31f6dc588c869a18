package index

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

// segmentSize is a full segment: 128 MiB at the default interval gives the
// 32 Ki entries the lookup benchmarks search.
const segmentSize = 128 << 20

// fullSegment returns a full segment's index, built with capacityHint hint
// from 1 KiB frames, and the frames' count and last time.
func fullSegment(hint int) (*Index, []Entry) {
	ix := New(DefaultInterval, hint)
	t := int64(1_700_000_000_000_000_000)
	for i := 0; i*1024 < segmentSize; i++ {
		ix.MaybeAdd(uint32(i), uint32(i*1024), t+int64(i/3)*1000)
	}
	return ix, ix.Entries()
}

// queries are random keys spread over the whole segment, so that each
// lookup walks a different path (cycled through with a mask).
const nQueries = 4096

func seqQueries(entries []Entry) []uint32 {
	rng := rand.New(rand.NewPCG(1, 1))
	last := entries[len(entries)-1].RelSeq
	q := make([]uint32, nQueries)
	for i := range q {
		q[i] = rng.Uint32N(last + 100)
	}
	return q
}

func timeQueries(entries []Entry) []int64 {
	rng := rand.New(rand.NewPCG(2, 2))
	first, last := entries[0].Time, entries[len(entries)-1].Time
	q := make([]int64, nQueries)
	for i := range q {
		q[i] = first + rng.Int64N(last-first+1000)
	}
	return q
}

var sinkEntry Entry

// BenchmarkLookupSeq: one lookup per op over 32 Ki entries, for an index
// grown from nothing (hint=0, doubling chunks), one sized up front
// (hint=32Ki, one chunk), and as a baseline sort.Search over a plain slice.
func BenchmarkLookupSeq(b *testing.B) {
	for _, hint := range []int{0, 32 << 10} {
		ix, entries := fullSegment(hint)
		q := seqQueries(entries)
		b.Run(fmt.Sprintf("entries=%d/hint=%d", len(entries), hint), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				sinkEntry, _ = ix.LookupSeq(q[i&(nQueries-1)])
			}
		})
	}
	_, entries := fullSegment(0)
	q := seqQueries(entries)
	b.Run(fmt.Sprintf("entries=%d/baseline=sort.Search", len(entries)), func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := q[i&(nQueries-1)]
			j := sort.Search(len(entries), func(j int) bool { return entries[j].RelSeq > k })
			if j > 0 {
				sinkEntry = entries[j-1]
			}
		}
	})
}

// BenchmarkLookupTime is BenchmarkLookupSeq by arrival time.
func BenchmarkLookupTime(b *testing.B) {
	for _, hint := range []int{0, 32 << 10} {
		ix, entries := fullSegment(hint)
		q := timeQueries(entries)
		b.Run(fmt.Sprintf("entries=%d/hint=%d", len(entries), hint), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				sinkEntry, _ = ix.LookupTime(q[i&(nQueries-1)])
			}
		})
	}
	_, entries := fullSegment(0)
	q := timeQueries(entries)
	b.Run(fmt.Sprintf("entries=%d/baseline=sort.Search", len(entries)), func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := q[i&(nQueries-1)]
			j := sort.Search(len(entries), func(j int) bool { return entries[j].Time >= k })
			if j > 0 {
				sinkEntry = entries[j-1]
			}
		}
	})
}

// BenchmarkMaybeAdd offers one frame per op, as the writer does for every
// frame it appends; b.SetBytes is the frame size, so MB/s is the append rate
// the index keeps up with. A fresh index starts every 128 MiB (a new
// segment), so its allocation is part of the cost. The baseline applies the
// same rule to a plain slice with no atomic publication.
func BenchmarkMaybeAdd(b *testing.B) {
	for _, size := range []int{128, 1 << 10, 64 << 10} {
		for _, hint := range []int{0, 32 << 10} {
			b.Run(fmt.Sprintf("frame=%d/hint=%d", size, hint), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				ix := New(DefaultInterval, hint)
				var rel, pos uint32
				for b.Loop() {
					if pos > segmentSize-uint32(size) {
						ix, rel, pos = New(DefaultInterval, hint), 0, 0
					}
					ix.MaybeAdd(rel, pos, int64(rel))
					rel++
					pos += uint32(size)
				}
			})
		}
		b.Run(fmt.Sprintf("frame=%d/baseline=slice", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var entries []Entry
			var rel, pos uint32
			for b.Loop() {
				if pos > segmentSize-uint32(size) {
					entries, rel, pos = nil, 0, 0
				}
				if len(entries) == 0 || pos >= entries[len(entries)-1].Pos+DefaultInterval {
					entries = append(entries, Entry{rel, pos, int64(rel)})
				}
				rel++
				pos += uint32(size)
			}
		})
	}
}

// BenchmarkUnmarshal decodes a full segment's .idx file (32 Ki entries).
func BenchmarkUnmarshal(b *testing.B) {
	ix, entries := fullSegment(0)
	last := entries[len(entries)-1]
	file := ix.Marshal(nil, 0, Tail{End: segmentSize, Count: segmentSize / 1024, LastTime: last.Time})
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := Unmarshal(file); err != nil {
			b.Fatal(err)
		}
	}
}
