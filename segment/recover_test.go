package segment

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// framePositions lists the offsets of the valid frames of a segment file.
func framePositions(t testing.TB, fsys vfs.FS, path string) []int64 {
	t.Helper()
	f, size := openRWSized(t, fsys, path)
	defer f.Close()
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	var pos []int64
	for off := 0; ; {
		_, n, err := record.DecodeFrame(b[off:])
		if err != nil {
			return pos
		}
		pos = append(pos, int64(off))
		off += n
	}
}

// fillMem is fillLog on a fresh in-memory file system with smallOpts.
func fillMem(t testing.TB, batches int, seed uint64) (*vfs.Mem, Options, *Log, []testRecord) {
	t.Helper()
	mem := vfs.NewMem()
	opts := smallOpts(mem)
	l, all := fillLog(t, mem, opts, batches, seed)
	return mem, opts, l, all
}

// fillLog writes batches of random records (syncing each) and returns them
// with the log left open.
func fillLog(t testing.TB, fsys vfs.FS, opts Options, batches int, seed uint64) (*Log, []testRecord) {
	t.Helper()
	l, _ := openLog(t, testDir, opts)
	rng := rand.New(rand.NewPCG(seed, 7))
	var b Batch
	var all []testRecord
	for i := 0; i < batches; i++ {
		recs := randomRecords(rng, 1+rng.IntN(8), 700, int64(1e6+i*1e3))
		appendBatch(t, l, &b, recs, true)
		all = append(all, recs...)
	}
	return l, all
}

// activeBase is the base of the last segment file.
func activeBase(t testing.TB, fsys vfs.FS) uint64 {
	t.Helper()
	segs := segFiles(t, fsys, testDir)
	base, _ := parseSegName(segs[len(segs)-1])
	return base
}

// checkAppendAfterRecovery appends to a recovered log and checks the new
// records follow want, then reopens once more (unclean) to check the result
// is stable.
func checkAppendAfterRecovery(t *testing.T, l *Log, opts Options, want []testRecord) {
	t.Helper()
	var b Batch
	more := randomRecords(rand.New(rand.NewPCG(99, 1)), 5, 300, 9e9)
	appendBatch(t, l, &b, more, true)
	if more[0].seq != uint64(len(want)) {
		t.Fatalf("first append after recovery got seq %d, want %d", more[0].seq, len(want))
	}
	want = append(append([]testRecord(nil), want...), more...)
	checkRecords(t, readAll(t, l, 0, 0), want)
	l2, rec := openLog(t, testDir, opts)
	if rec.TruncatedBytes != 0 || rec.DroppedFrames != 0 || len(rec.RemovedSegments) != 0 {
		t.Fatalf("second recovery cut more: %+v", rec)
	}
	checkRecords(t, readAll(t, l2, 0, 0), want)
	l2.Close()
}

// TestRecover_CutActiveSegment damages the active segment in the ways a
// crash or a bad disk would, reopens without a clean marker, and checks that
// the log ends exactly before the damage and accepts appends.
func TestRecover_CutActiveSegment(t *testing.T) {
	cases := []struct {
		name string
		// damage corrupts the active segment given its frame offsets and
		// returns how many of its frames survive.
		damage      func(t testing.TB, fsys vfs.FS, path string, pos []int64) int
		wantDropped int  // -1: at least one
		wantCut     bool // damaged bytes after the valid frames
	}{
		{"torn tail", func(t testing.TB, fsys vfs.FS, path string, pos []int64) int {
			last := pos[len(pos)-1]
			zeroFrom(t, fsys, path, last+record.HeaderSize+3) // the last frame lost its end
			return len(pos) - 1
		}, 1, true},
		{"torn tail with garbage", func(t testing.TB, fsys vfs.FS, path string, pos []int64) int {
			garbageAt(t, fsys, path, pos[len(pos)-1]+10)
			return len(pos) - 1
		}, -1, true},
		{"bad crc mid segment", func(t testing.TB, fsys vfs.FS, path string, pos []int64) int {
			mid := len(pos) / 2
			flipByte(t, fsys, path, pos[mid]+record.HeaderSize)
			return mid
		}, -1, true},
		{"bad length mid segment", func(t testing.TB, fsys vfs.FS, path string, pos []int64) int {
			mid := len(pos) / 3
			flipByte(t, fsys, path, pos[mid]+6)
			return mid
		}, -1, true},
		{"garbage after the end", func(t testing.TB, fsys vfs.FS, path string, pos []int64) int {
			f := openRW(t, fsys, path)
			b := make([]byte, 8)
			if _, err := f.ReadAt(b, pos[len(pos)-1]); err != nil {
				t.Fatal(err)
			}
			f.Close()
			end := pos[len(pos)-1] + int64(record.FrameLen(b))
			garbageAt(t, fsys, path, end+128)
			return len(pos)
		}, 0, true},
		{"zeroed tail at a frame boundary", func(t testing.TB, fsys vfs.FS, path string, pos []int64) int {
			k := len(pos) * 2 / 3
			zeroFrom(t, fsys, path, pos[k])
			return k
		}, 0, false},
		{"zeroed tail mid frame", func(t testing.TB, fsys vfs.FS, path string, pos []int64) int {
			k := len(pos) / 2
			zeroFrom(t, fsys, path, pos[k]+record.HeaderSize+1)
			return k
		}, 1, true},
		{"first frame bad", func(t testing.TB, fsys vfs.FS, path string, pos []int64) int {
			flipByte(t, fsys, path, 9) // sequence number
			return 0
		}, -1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem, opts, l, all := fillMem(t, 60, 5)
			_ = l // abandoned without Close: the next Open must scan
			base := activeBase(t, mem)
			path := segPath(testDir, base)
			pos := framePositions(t, mem, path)
			if len(pos) < 6 || base == 0 {
				t.Fatalf("want several segments and frames in the active one; have base %d, %d frames", base, len(pos))
			}
			keep := c.damage(t, mem, path, pos)
			want := all[:int(base)+keep]

			l, rec := openLog(t, testDir, opts)
			if rec.Clean || (rec.ScannedBytes == 0) != (keep == 0) {
				t.Fatalf("recovery %+v: want a scan", rec)
			}
			switch {
			case c.wantDropped >= 0 && rec.DroppedFrames != c.wantDropped,
				c.wantDropped < 0 && rec.DroppedFrames < 1:
				t.Fatalf("recovery %+v: dropped %d frames, want %d", rec, rec.DroppedFrames, c.wantDropped)
			}
			if (rec.TruncatedBytes > 0) != c.wantCut {
				t.Fatalf("recovery %+v: truncated bytes do not match the damage", rec)
			}
			checkRecords(t, readAll(t, l, 0, 0), want)
			// Everything past the valid frames reads as zeros now.
			if tail := fileTail(t, mem, path, l.active.end); !bytes.Equal(tail, make([]byte, len(tail))) {
				t.Fatalf("%d B after the end of the log are not zeroed", len(tail))
			}
			checkAppendAfterRecovery(t, l, opts, want)
		})
	}
}

// fileTail returns the bytes of a file from off to its end.
func fileTail(t testing.TB, fsys vfs.FS, path string, off int64) []byte {
	t.Helper()
	f := openRW(t, fsys, path)
	defer f.Close()
	size, _ := f.Size()
	if size <= off {
		return nil
	}
	b := make([]byte, size-off)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecover_MissingAndTruncatedIndex(t *testing.T) {
	mem, opts, l, all := fillMem(t, 130, 6)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, mem, testDir)
	if len(segs) < 4 {
		t.Fatalf("want at least 4 segments, have %d", len(segs))
	}
	b1, _ := parseSegName(segs[1])
	b2, _ := parseSegName(segs[2])
	if err := mem.Remove(idxPathOf(testDir, b1)); err != nil {
		t.Fatal(err)
	}
	truncateAt(t, mem, idxPathOf(testDir, b2), fileSize(t, mem, idxPathOf(testDir, b2))-5)

	l, rec := openLog(t, testDir, opts)
	if rec.RebuiltIndexes != 2 || !rec.Clean || rec.TruncatedBytes != 0 || rec.DroppedFrames != 0 {
		t.Fatalf("recovery %+v: want 2 rebuilt indexes, nothing cut, a clean active segment", rec)
	}
	checkRecords(t, readAll(t, l, 0, 0), all)
	for _, base := range []uint64{b1, b2} {
		if fileSize(t, mem, idxPathOf(testDir, base)) < 48 {
			t.Fatalf("index of %d not rewritten", base)
		}
	}
	l.Close()
	// The rebuilt indexes are trusted from now on.
	l, rec = openLog(t, testDir, opts)
	if rec.RebuiltIndexes != 0 || !rec.Clean {
		t.Fatalf("second recovery %+v", rec)
	}
	checkRecords(t, readAll(t, l, 0, 0), all)
	l.Close()
}

func TestRecover_BadFrameInSealedSegment(t *testing.T) {
	mem, opts, l, all := fillMem(t, 130, 8)
	_ = l
	segs := segFiles(t, mem, testDir)
	if len(segs) < 4 {
		t.Fatalf("want at least 4 segments, have %d", len(segs))
	}
	b1, _ := parseSegName(segs[1])
	// Without its index, segment 1 is scanned; a bad frame in it ends the log.
	if err := mem.Remove(idxPathOf(testDir, b1)); err != nil {
		t.Fatal(err)
	}
	pos := framePositions(t, mem, segPath(testDir, b1))
	flipByte(t, mem, segPath(testDir, b1), pos[3]+record.HeaderSize)

	l, rec := openLog(t, testDir, opts)
	if len(rec.RemovedSegments) != len(segs)-2 || rec.DroppedFrames < len(all)-int(b1)-3 {
		t.Fatalf("recovery %+v: want %d later segments removed and at least %d frames dropped",
			rec, len(segs)-2, len(all)-int(b1)-3)
	}
	want := all[:b1+3]
	checkRecords(t, readAll(t, l, 0, 0), want)
	if got := segFiles(t, mem, testDir); len(got) != 2 || exists(mem, idxPathOf(testDir, b1)) {
		t.Fatalf("segments %v after the cut; want 2, the last one active without an .idx", got)
	}
	checkAppendAfterRecovery(t, l, opts, want)
}

func TestRecover_MissingSegmentEndsLog(t *testing.T) {
	mem, opts, l, all := fillMem(t, 130, 9)
	l.Close()
	segs := segFiles(t, mem, testDir)
	b2, _ := parseSegName(segs[2])
	if err := mem.Remove(segPath(testDir, b2)); err != nil {
		t.Fatal(err)
	}
	l, rec := openLog(t, testDir, opts)
	if len(rec.RemovedSegments) != len(segs)-3 || rec.Clean {
		t.Fatalf("recovery %+v: want the %d segments after the gap removed", rec, len(segs)-3)
	}
	want := all[:b2]
	checkRecords(t, readAll(t, l, 0, 0), want)
	checkAppendAfterRecovery(t, l, opts, want)
}

func TestRecover_StaleMarkerForcesScan(t *testing.T) {
	mem, opts, l, all := fillMem(t, 10, 10)
	l.Close()
	// Records appended after a clean open are found by a scan, not hidden
	// by the checkpoint of the earlier Close.
	l, rec := openLog(t, testDir, opts)
	if !rec.Clean || exists(mem, testDir+"/"+markerName) {
		t.Fatalf("recovery %+v; the marker must be gone after Open", rec)
	}
	var b Batch
	more := randomRecords(rand.New(rand.NewPCG(1, 2)), 3, 10, 5e9)
	appendBatch(t, l, &b, more, true)
	mem.Crash()
	l, rec = openLog(t, testDir, opts)
	if rec.Clean {
		t.Fatalf("recovery %+v after a crash: want a scan", rec)
	}
	checkRecords(t, readAll(t, l, 0, 0), append(all, more...))
	l.Close()
}

func TestRecover_LeftoverFiles(t *testing.T) {
	mem, opts, l, all := fillMem(t, 10, 11)
	l.Close()
	for _, name := range []string{"00000000000000000007.seg.deleted", "00000000000000000000.idx.tmp", "CLEAN.tmp", "00000000000000099999.idx"} {
		f, err := mem.OpenFile(testDir+"/"+name, 0o102, 0o644) // O_RDWR|O_CREATE
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	mem.SyncDir(testDir)
	l, _ = openLog(t, testDir, opts)
	defer l.Close()
	names, _ := mem.ReadDir(testDir)
	for _, n := range names {
		if _, ok := parseSegName(n); !ok {
			t.Fatalf("leftover %s not removed (dir: %v)", n, names)
		}
	}
	checkRecords(t, readAll(t, l, 0, 0), all)
}

// TestRecover_NoStaleFrameAfterCut: frames that followed a bad one are
// zeroed by recovery, so records appended over the cut can never be
// followed by stale frames whose sequence numbers happen to line up.
func TestRecover_NoStaleFrameAfterCut(t *testing.T) {
	mem := vfs.NewMem()
	opts := smallOpts(mem)
	l, _ := openLog(t, testDir, opts)
	var b Batch
	recs := make([]testRecord, 10)
	for i := range recs {
		recs[i] = testRecord{t: int64(i), key: []byte("k"), data: []byte("old")}
	}
	appendBatch(t, l, &b, recs, true)
	path := segPath(testDir, 0)
	pos := framePositions(t, mem, path)
	flipByte(t, mem, path, pos[5]+record.HeaderSize) // frame 5 goes bad; 6..9 stay intact

	l, rec := openLog(t, testDir, opts)
	if rec.DroppedFrames != 5 {
		t.Fatalf("recovery %+v: want the bad frame and the 4 after it dropped", rec)
	}
	// A new record 5 of the same size lands exactly where the old one was.
	appendBatch(t, l, &b, []testRecord{{t: 5, key: []byte("k"), data: []byte("new")}}, true)
	mem.Crash()
	l, _ = openLog(t, testDir, opts)
	defer l.Close()
	got := readAll(t, l, 0, 0)
	if len(got) != 6 || string(got[5].data) != "new" {
		t.Fatalf("after the cut and one append, read %d records (last %q); want 6 ending in the new one",
			len(got), got[len(got)-1].data)
	}
}

// A process crash leaves written, unsynced frames in the page cache;
// recovery keeps them, so it must make them durable before it hands out a
// log that Close would then call clean without syncing anything.
func TestRecover_KeptFramesAreSyncedBeforeTheLogIsParked(t *testing.T) {
	mem := vfs.NewMem()
	l, _ := openLog(t, testDir, smallOpts(mem))
	var b Batch
	recs := bigRecords(3, 1)
	appendBatch(t, l, &b, recs, false) // written, never synced; then the process dies
	l2, rec := openLog(t, testDir, smallOpts(mem))
	if rec.Clean {
		t.Fatal("a log that was never closed opened clean")
	}
	checkRecords(t, readAll(t, l2, 0, 0), recs)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	mem.Crash() // power loss after the clean Close
	l3, _ := openLog(t, testDir, smallOpts(mem))
	defer l3.Close()
	checkRecords(t, readAll(t, l3, 0, 0), recs)
}

// TestRecover_DamagedSealedSegmentIsRefusedNotCut: a sealed segment that is
// shorter than its intact index records (truncated outside the server) or
// whose frames there fail is not a crash's tear, since an index is written
// only after its frames are synced. Open refuses with ErrSealedDamaged and
// removes nothing: the records of the later segments are still on disk.
func TestRecover_DamagedSealedSegmentIsRefusedNotCut(t *testing.T) {
	for _, damage := range []string{"truncated", "overwritten"} {
		t.Run(damage, func(t *testing.T) {
			mem, opts, l, _ := fillMem(t, 130, 8)
			l.Close()
			segs := segFiles(t, mem, testDir)
			if len(segs) < 4 {
				t.Fatalf("want at least 4 segments, have %d", len(segs))
			}
			b1, _ := parseSegName(segs[1])
			pos := framePositions(t, mem, segPath(testDir, b1))
			switch damage {
			case "truncated":
				f, err := mem.OpenFile(segPath(testDir, b1), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Truncate(int64(pos[len(pos)/2])); err != nil {
					t.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				f.Close()
			case "overwritten":
				flipByte(t, mem, segPath(testDir, b1), pos[0]+record.HeaderSize)
			}
			_, _, err := Open(testDir, opts)
			if !errors.Is(err, ErrSealedDamaged) || !errors.Is(err, record.ErrCorrupt) {
				t.Fatalf("Open of a log with a damaged sealed segment: %v; want ErrSealedDamaged", err)
			}
			if got := segFiles(t, mem, testDir); len(got) != len(segs) {
				t.Fatalf("segments %v after the refused open; want all %d kept", got, len(segs))
			}
			for _, s := range segs[2:] {
				b, _ := parseSegName(s)
				if !exists(mem, idxPathOf(testDir, b)) && s != segs[len(segs)-1] {
					t.Fatalf("the index of later segment %s was removed", s)
				}
			}
		})
	}
}
