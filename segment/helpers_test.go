package segment

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// record is a test record and what the log assigned it.
type testRecord struct {
	seq   uint64
	t     int64
	flags uint16
	key   []byte
	data  []byte
}

func (r testRecord) String() string {
	return fmt.Sprintf("{seq %d t %d flags %d key %d B data %d B}", r.seq, r.t, r.flags, len(r.key), len(r.data))
}

func sameRecord(a, b testRecord) bool {
	return a.seq == b.seq && a.t == b.t && a.flags == b.flags && bytes.Equal(a.key, b.key) && bytes.Equal(a.data, b.data)
}

// testDir is the log directory tests use on a Mem.
const testDir = "/shard"

// smallOpts are options with segments small enough that tests roll often.
func smallOpts(fsys vfs.FS) Options {
	return Options{FS: fsys, SegmentSize: 64 << 10, IndexInterval: 512, InitialAllocation: 4 << 10, MaxAllocationStep: 16 << 10}
}

func openLog(t testing.TB, dir string, opts Options) (*Log, Recovery) {
	t.Helper()
	l, rec, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l, rec
}

// appendBatch writes recs as one batch, syncs if sync, publishes, and fills
// in the sequence numbers and arrival times the log assigned.
func appendBatch(t testing.TB, l *Log, b *Batch, recs []testRecord, sync bool) {
	t.Helper()
	l.Begin(b)
	for i := range recs {
		recs[i].seq, recs[i].t = b.Add(recs[i].t, recs[i].flags, recs[i].key, recs[i].data)
	}
	if err := l.Write(b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if sync {
		if err := l.Sync(); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	l.Publish()
}

// readAll reads every retained record in order with reads of at most
// maxRecords records and maxBytes bytes, checking that views are
// contiguous.
func readAll(t testing.TB, l *Log, maxRecords, maxBytes int) []testRecord {
	t.Helper()
	first, next := l.Bounds()
	var out []testRecord
	var v View
	defer v.Release()
	for seq := first; seq < next; {
		if err := l.Read(seq, maxRecords, maxBytes, &v); err != nil {
			t.Fatalf("Read(%d): %v", seq, err)
		}
		if v.Count == 0 || v.First != seq {
			t.Fatalf("Read(%d) below next %d gave %d frames from %d", seq, next, v.Count, v.First)
		}
		it := v.Iter()
		opened := openSealedView(t, l, &v)
		if opened != nil {
			it = record.NewFrameIter(opened)
		}
		n := 0
		for {
			f, ok := it.Next()
			if !ok {
				break
			}
			if f.Seq != seq+uint64(n) {
				t.Fatalf("frame %d of a view from %d has seq %d", n, seq, f.Seq)
			}
			out = append(out, testRecord{seq: f.Seq, t: f.Time, flags: f.Flags, key: bytes.Clone(f.Key), data: bytes.Clone(f.Data)})
			n++
		}
		if it.Err() != nil || n != v.Count || v.Next != seq+uint64(n) {
			t.Fatalf("view from %d: iterated %d of %d frames (next %d), err %v", seq, n, v.Count, v.Next, it.Err())
		}
		seq = v.Next
	}
	return out
}

func checkRecords(t testing.TB, got, want []testRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

// randomRecords makes n records with random keys (1..256 bytes) and data
// (0..maxData bytes) at increasing times.
func randomRecords(rng *rand.Rand, n, maxData int, t0 int64) []testRecord {
	recs := make([]testRecord, n)
	for i := range recs {
		recs[i] = testRecord{
			t:    t0 + int64(i)*1000,
			key:  randBytes(rng, 1+rng.IntN(256)),
			data: randBytes(rng, rng.IntN(maxData+1)),
		}
	}
	return recs
}

// segFiles lists the segment files of a directory on fsys.
func segFiles(t testing.TB, fsys vfs.FS, dir string) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, n := range names {
		if _, ok := parseSegName(n); ok {
			segs = append(segs, n)
		}
	}
	return segs
}

// corruptFunc damages a file at an offset, etcd style.
type corruptFunc func(t testing.TB, fsys vfs.FS, path string, offset int64)

// flipByte xors one byte.
func flipByte(t testing.TB, fsys vfs.FS, path string, offset int64) {
	t.Helper()
	b := make([]byte, 1)
	f := openRW(t, fsys, path)
	defer f.Close()
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	writeSynced(t, f, b, offset)
}

// zeroFrom zeroes the file from offset to its end.
func zeroFrom(t testing.TB, fsys vfs.FS, path string, offset int64) {
	t.Helper()
	f, size := openRWSized(t, fsys, path)
	defer f.Close()
	if size > offset {
		writeSynced(t, f, make([]byte, size-offset), offset)
	}
}

// truncateAt cuts the file at offset.
func truncateAt(t testing.TB, fsys vfs.FS, path string, offset int64) {
	t.Helper()
	f := openRW(t, fsys, path)
	defer f.Close()
	if err := f.Truncate(offset); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// garbageAt writes 100 random non-zero bytes at offset.
func garbageAt(t testing.TB, fsys vfs.FS, path string, offset int64) {
	t.Helper()
	f := openRW(t, fsys, path)
	defer f.Close()
	g := make([]byte, 100)
	for i := range g {
		g[i] = byte(1 + i*7%250)
	}
	writeSynced(t, f, g, offset)
}

func openRW(t testing.TB, fsys vfs.FS, path string) vfs.File {
	t.Helper()
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// writeCopies writes a batch of n records with the same arrival time, key
// and data. It takes no testing.TB so that benchmarks can time it.
func writeCopies(l *Log, b *Batch, n int, arrival int64, key, data []byte) error {
	l.Begin(b)
	for range n {
		b.Add(arrival, 0, key, data)
	}
	return l.Write(b)
}

// openRWSized is openRW that also returns the file's size.
func openRWSized(t testing.TB, fsys vfs.FS, path string) (vfs.File, int64) {
	t.Helper()
	f := openRW(t, fsys, path)
	size, err := f.Size()
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f, size
}

func writeSynced(t testing.TB, f vfs.File, b []byte, off int64) {
	t.Helper()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, fsys vfs.FS, path string) int64 {
	t.Helper()
	fi, err := fsys.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func exists(fsys vfs.FS, path string) bool {
	_, err := fsys.Stat(path)
	return err == nil
}

func segPath(dir string, base uint64) string   { return filepath.Join(dir, segName(base)) }
func idxPathOf(dir string, base uint64) string { return filepath.Join(dir, idxName(base)) }

// randBytes returns n random bytes.
func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
