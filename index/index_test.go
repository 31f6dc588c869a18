package index

import (
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
)

// frame is one frame of a synthetic segment.
type frame struct {
	relSeq uint32
	pos    uint32
	time   int64
}

// frames returns n frames of random sizes 32..maxSize (8-byte aligned) with
// arrival times that never go backwards and often repeat.
func frames(rng *rand.Rand, n, maxSize int) []frame {
	out := make([]frame, n)
	pos, t := uint32(0), int64(1_700_000_000_000_000_000)
	for i := range out {
		out[i] = frame{uint32(i), pos, t}
		pos += uint32(32 + 8*rng.IntN((maxSize-32)/8+1))
		if rng.IntN(3) > 0 {
			t += int64(rng.IntN(1000))
		}
	}
	return out
}

// modelEntries is the spacing rule written out plainly.
func modelEntries(fs []frame, interval uint32) []Entry {
	var out []Entry
	for _, f := range fs {
		if len(out) == 0 || uint64(f.pos) >= uint64(out[len(out)-1].Pos)+uint64(interval) {
			out = append(out, Entry{f.relSeq, f.pos, f.time})
		}
	}
	return out
}

func build(fs []frame, interval, hint int) *Index {
	ix := New(interval, hint)
	for _, f := range fs {
		ix.MaybeAdd(f.relSeq, f.pos, f.time)
	}
	return ix
}

func TestMaybeAdd_Spacing(t *testing.T) {
	ix := New(4096, 0)
	for i := uint32(0); i < 20; i++ {
		ix.MaybeAdd(i, i*1000, int64(i))
	}
	// Frames at 0, 1000, ... : entries at 0 and then at the first frame at or
	// past 4096 bytes after the previous entry.
	want := []Entry{{0, 0, 0}, {5, 5000, 5}, {10, 10000, 10}, {15, 15000, 15}}
	if got := ix.Entries(); !slices.Equal(got, want) {
		t.Fatalf("entries = %v, want %v", got, want)
	}
	if ix.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", ix.Len(), len(want))
	}
	ix = New(100, 0)
	ix.MaybeAdd(0, 0, 0)
	ix.MaybeAdd(1, 100, 0) // exactly one interval later: added
	if ix.Len() != 2 {
		t.Fatalf("a frame exactly one interval after the last entry was not added")
	}
	if New(0, 0).Interval() != DefaultInterval {
		t.Fatalf("interval 0 does not default to %d", DefaultInterval)
	}
}

func TestMaybeAdd_MatchesModelAcrossChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fs := frames(rng, 200_000, 2048)
	for _, hint := range []int{0, 1, 100, 32 << 10} {
		ix := build(fs, 4096, hint)
		if got, want := ix.Entries(), modelEntries(fs, 4096); !slices.Equal(got, want) {
			t.Fatalf("hint=%d: %d entries differ from the %d the spacing rule gives", hint, len(got), len(want))
		}
	}
}

func TestMaybeAdd_KeepsIndexSorted(t *testing.T) {
	ix := New(10, 0)
	ix.MaybeAdd(5, 0, 100)
	ix.MaybeAdd(5, 50, 200) // RelSeq not past the last entry's: ignored
	ix.MaybeAdd(4, 60, 200) // nor this
	ix.MaybeAdd(6, 70, 90)  // time earlier than the last entry: raised
	want := []Entry{{5, 0, 100}, {6, 70, 100}}
	if got := ix.Entries(); !slices.Equal(got, want) {
		t.Fatalf("entries = %v, want %v", got, want)
	}
}

// fixedIndex holds {10, 0, 100}, {20, 4096, 200}, {30, 8192, 200} and
// {40, 12288, 300}: a gap before the first RelSeq and a repeated time.
func fixedIndex(hint int) *Index {
	ix := New(4096, hint)
	ix.MaybeAdd(10, 0, 100)
	ix.MaybeAdd(20, 4096, 200)
	ix.MaybeAdd(30, 8192, 200)
	ix.MaybeAdd(40, 12288, 300)
	return ix
}

// lookupCase is one lookup of fixedIndex by a key of type K.
type lookupCase[K any] struct {
	name string
	key  K
	want uint32 // RelSeq of the entry returned
	ok   bool
}

// checkLookups runs each case through lookup, named what in failures.
func checkLookups[K any](t *testing.T, what string, lookup func(K) (Entry, bool), cases []lookupCase[K]) {
	t.Helper()
	for _, tc := range cases {
		e, ok := lookup(tc.key)
		if ok != tc.ok || (ok && e.RelSeq != tc.want) {
			t.Errorf("%s: %s(%v) = %v, %v; want RelSeq %d, %v", tc.name, what, tc.key, e, ok, tc.want, tc.ok)
		}
	}
}

func TestLookupSeq_Boundaries(t *testing.T) {
	checkLookups(t, "LookupSeq", fixedIndex(0).LookupSeq, []lookupCase[uint32]{
		{"before first", 9, 0, false},
		{"zero", 0, 0, false},
		{"exact first", 10, 10, true},
		{"between first and second", 15, 10, true},
		{"exact middle", 30, 30, true},
		{"just before an entry", 39, 30, true},
		{"exact last", 40, 40, true},
		{"after last", 41, 40, true},
		{"max", ^uint32(0), 40, true},
	})
	if _, ok := New(4096, 0).LookupSeq(0); ok {
		t.Error("LookupSeq on an empty index found an entry")
	}
}

func TestLookupTime_Boundaries(t *testing.T) {
	checkLookups(t, "LookupTime", fixedIndex(0).LookupTime, []lookupCase[int64]{
		{"before first", 50, 0, false},
		{"equal to first: no entry is older", 100, 0, false},
		{"just after first", 101, 10, true},
		{"equal to a repeated time: the entry before the repeats", 200, 10, true},
		{"just after the repeats: the last of them", 201, 30, true},
		{"equal to last", 300, 30, true},
		{"after last", 301, 40, true},
		{"far future", 1 << 62, 40, true},
		{"negative", -1, 0, false},
	})
	if _, ok := New(4096, 0).LookupTime(1); ok {
		t.Error("LookupTime on an empty index found an entry")
	}
}

// TestLookup_MatchesSortSearch compares both lookups with sort.Search over
// a flat copy of the entries, for keys at and around every entry, across
// chunk boundaries and with chunk layouts from different hints.
func TestLookup_MatchesSortSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fs := frames(rng, 50_000, 4096)
	for _, hint := range []int{0, 64, 1000, 1 << 15} {
		ix := build(fs, 4096, hint)
		entries := ix.Entries()
		wantSeq := func(q uint32) (Entry, bool) {
			i := sort.Search(len(entries), func(i int) bool { return entries[i].RelSeq > q })
			if i == 0 {
				return Entry{}, false
			}
			return entries[i-1], true
		}
		wantTime := func(q int64) (Entry, bool) {
			i := sort.Search(len(entries), func(i int) bool { return entries[i].Time >= q })
			if i == 0 {
				return Entry{}, false
			}
			return entries[i-1], true
		}
		for _, x := range entries {
			for _, q := range []uint32{x.RelSeq - 1, x.RelSeq, x.RelSeq + 1} {
				e, ok := ix.LookupSeq(q)
				if we, wok := wantSeq(q); e != we || ok != wok {
					t.Fatalf("hint=%d: LookupSeq(%d) = %v %v, sort.Search gives %v %v", hint, q, e, ok, we, wok)
				}
			}
			for _, q := range []int64{x.Time - 1, x.Time, x.Time + 1} {
				e, ok := ix.LookupTime(q)
				if we, wok := wantTime(q); e != we || ok != wok {
					t.Fatalf("hint=%d: LookupTime(%d) = %v %v, sort.Search gives %v %v", hint, q, e, ok, we, wok)
				}
			}
		}
		if last, ok := ix.Last(); !ok || last != entries[len(entries)-1] {
			t.Fatalf("hint=%d: Last = %v, %v; want %v", hint, last, ok, entries[len(entries)-1])
		}
	}
}

// TestLookup_ConcurrentWithMaybeAdd runs lookups while the writer adds
// entries. Entry i is (3i, 4096i, 10i), so every answer can be checked
// against the entry count seen before and after the lookup. Run with -race.
func TestLookup_ConcurrentWithMaybeAdd(t *testing.T) {
	const total = 200_000
	ix := New(4096, 0)
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 9))
			for range 100_000 {
				select {
				case <-done:
					return
				default:
				}
				before := ix.Len()
				want := rng.IntN(total) // the entry index the query targets
				e, ok := ix.LookupSeq(uint32(3*want + 1))
				et, okt := ix.LookupTime(int64(10*want + 5))
				after := ix.Len()
				// The answer is entry min(want, n-1) for an n seen in [before, after].
				lo, hi := min(want, before-1), min(want, after-1)
				check := func(what string, e Entry, ok bool) {
					if hi < 0 {
						if ok {
							errs <- what + " found an entry in an empty index"
						}
						return
					}
					i := int(e.RelSeq / 3)
					if !ok && lo >= 0 || ok && (i < lo || i > hi || e != (Entry{uint32(3 * i), uint32(4096 * i), int64(10 * i)})) {
						errs <- what + " returned an entry outside what was published"
					}
				}
				check("LookupSeq", e, ok)
				check("LookupTime", et, okt)
			}
		}(uint64(r))
	}
	for i := 0; i < total; i++ {
		ix.MaybeAdd(uint32(3*i), uint32(4096*i), int64(10*i))
	}
	close(done)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if ix.Len() != total {
		t.Fatalf("Len = %d, want %d", ix.Len(), total)
	}
}

func TestLookup_DoesNotAllocate(t *testing.T) {
	ix := build(frames(rand.New(rand.NewPCG(5, 6)), 10_000, 4096), 4096, 0)
	allocs := testing.AllocsPerRun(100, func() {
		ix.LookupSeq(5000)
		ix.LookupTime(1_700_000_000_000_100_000)
	})
	if allocs != 0 {
		t.Fatalf("lookups allocate %.1f times per call", allocs)
	}
}
