package raftlog

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/sluicedb/sluice/cluster"
)

// BenchmarkSave writes one 1 KiB entry (and a hard state) for each of 64
// groups on the real file system: in one Save (one fdatasync), and in 64
// Saves of one group each, as a storage per group would.
func BenchmarkSave(b *testing.B) {
	const groups = 64
	for _, mode := range []string{"one-save", "separate-saves"} {
		b.Run("groups=64/entry=1KiB/"+mode, func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			// The updates are built once; each round moves their index on
			// (the store copies index and term, and keeps the data).
			us := make([]cluster.Update, groups)
			index := make([]uint64, groups)
			for g := range us {
				id := uint64(g + 1)
				us[g] = cluster.Update{Group: id, Entries: ents(id, 1, 2, 1, 1<<10),
					HardState: raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: &index[g]}}
				us[g].Entries[0].Index = &index[g]
			}
			b.SetBytes(groups << 10)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for g := range index {
					index[g] = uint64(i + 1)
				}
				if mode == "one-save" {
					if err := l.Save(us); err != nil {
						b.Fatal(err)
					}
					continue
				}
				for g := range us {
					if err := l.Save(us[g : g+1]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(l.Stats().Syncs)/float64(b.N), "fdatasyncs/op")
		})
	}
}

// BenchmarkEntries reads 64 entries of 1 KiB (raft's catch-up read) from a
// group of 4096, from the cache and from the files (the page cache, with
// every record's CRC checked).
func BenchmarkEntries(b *testing.B) {
	const n = 4096
	for _, mode := range []string{"cache", "disk"} {
		b.Run("entries=64/entry=1KiB/"+mode, func(b *testing.B) {
			opts := Options{Logger: quiet()}
			if mode == "disk" {
				opts.CacheBytes = -1
			}
			l, err := Open(b.TempDir(), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			for lo := uint64(1); lo <= n; lo += 256 {
				save(b, l, []cluster.Update{{Group: 1, Entries: ents(1, lo, lo+256, 1, 1<<10)}})
			}
			st := mustGroup(b, l, 1)
			b.SetBytes(64 << 10)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				lo := 1 + uint64(i*64)%(n-64)
				es, err := st.Entries(lo, lo+64, 1<<30)
				if err != nil || len(es) != 64 {
					b.Fatalf("Entries(%d, %d): %d entries, %v", lo, lo+64, len(es), err)
				}
			}
		})
	}
}
