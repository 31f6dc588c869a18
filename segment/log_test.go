package segment

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

// fsCases runs a test against the real file system and the in-memory one.
var fsCases = []struct {
	name string
	new  func(t *testing.T) (vfs.FS, string)
}{
	{"mem", func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), testDir }},
	{"os", func(t *testing.T) (vfs.FS, string) { return vfs.OS, filepath.Join(t.TempDir(), "shard") }},
}

func TestLog_RoundTrip(t *testing.T) {
	for _, fc := range fsCases {
		t.Run(fc.name, func(t *testing.T) {
			fsys, dir := fc.new(t)
			opts := smallOpts(fsys)
			opts.SegmentSize = 2 << 20 // a 1 MiB record fits; a few rolls
			l, rec := openLog(t, dir, opts)
			if rec.Clean || rec.ScannedBytes != 0 || len(segFiles(t, fsys, dir)) != 1 {
				t.Fatalf("new log: recovery %+v, segments %v", rec, segFiles(t, fsys, dir))
			}
			rng := rand.New(rand.NewPCG(3, 4))
			key256 := []byte(strings.Repeat("\U0001F600", 256)) // 256 characters, 1 KiB
			var want []testRecord
			var b Batch
			for batch := 0; batch < 60; batch++ {
				recs := randomRecords(rng, 1+rng.IntN(40), 3000, int64(1e9+batch*1e6))
				switch batch % 10 {
				case 3:
					recs[0].data = nil
					recs[0].flags = record.FlagEncrypted
				case 5:
					recs[len(recs)-1].data = randBytes(rng, 1<<20)
				case 7:
					recs[0].key = key256
				}
				if batch == 20 {
					recs[0].t = 5 // earlier than the log's last: clamped
				}
				appendBatch(t, l, &b, recs, batch%2 == 0)
				want = append(want, recs...)
			}
			for i := 1; i < len(want); i++ {
				if want[i].seq != want[i-1].seq+1 || want[i].t < want[i-1].t {
					t.Fatalf("record %d assigned seq %d time %d after seq %d time %d",
						i, want[i].seq, want[i].t, want[i-1].seq, want[i-1].t)
				}
			}
			if n := len(segFiles(t, fsys, dir)); n < 3 {
				t.Fatalf("%d segment files after %d records; want several rolls", n, len(want))
			}
			first, next := l.Bounds()
			if first != 0 || next != uint64(len(want)) || l.LastTime() != want[len(want)-1].t {
				t.Fatalf("Bounds = %d, %d, LastTime %d; want 0, %d, %d", first, next, l.LastTime(), len(want), want[len(want)-1].t)
			}
			for _, lim := range []struct{ recs, bytes int }{{0, 0}, {1, 0}, {7, 0}, {0, 10000}, {3, 1}} {
				checkRecords(t, readAll(t, l, lim.recs, lim.bytes), want)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			l, rec = openLog(t, dir, opts)
			if !rec.Clean || rec.ScannedBytes != 0 || rec.TruncatedBytes != 0 || rec.RebuiltIndexes != 0 {
				t.Fatalf("reopen after Close: recovery %+v, want clean without a scan", rec)
			}
			checkRecords(t, readAll(t, l, 0, 0), want)
			// Appends continue after a clean reopen.
			more := randomRecords(rng, 10, 100, 2e9)
			appendBatch(t, l, &b, more, true)
			want = append(want, more...)
			checkRecords(t, readAll(t, l, 0, 64<<10), want)

			// Reopen without Close (the marker is gone): a scan finds the same.
			l2, rec := openLog(t, dir, opts)
			if rec.Clean || rec.ScannedBytes == 0 || rec.TruncatedBytes != 0 || rec.DroppedFrames != 0 {
				t.Fatalf("reopen without Close: recovery %+v, want a scan that cuts nothing", rec)
			}
			checkRecords(t, readAll(t, l2, 0, 0), want)
			l.Close()
			l2.Close()
		})
	}
}

func TestLog_ReadLimits(t *testing.T) {
	l, _ := openLog(t, testDir, smallOpts(vfs.NewMem()))
	defer l.Close()
	var b Batch
	recs := make([]testRecord, 10)
	for i := range recs {
		recs[i] = testRecord{t: int64(i), key: []byte("k"), data: make([]byte, 100)}
	}
	appendBatch(t, l, &b, recs, false)
	frame := record.FrameSize(1, 100)

	var v View
	defer v.Release()
	cases := []struct {
		name                 string
		seq                  uint64
		maxRecords, maxBytes int
		wantFirst, wantCount int
	}{
		{"all", 0, 0, 0, 0, 10},
		{"max records", 2, 3, 0, 2, 3},
		{"max bytes", 0, 0, 3*frame + 1, 0, 3},
		{"one frame over max bytes", 4, 0, 1, 4, 1},
		{"at next", 10, 5, 0, 10, 0},
		{"past next", 99, 5, 0, 99, 0},
	}
	for _, c := range cases {
		if err := l.Read(c.seq, c.maxRecords, c.maxBytes, &v); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if v.First != uint64(c.wantFirst) || v.Count != c.wantCount || v.Next != v.First+uint64(v.Count) ||
			len(v.Frames) != c.wantCount*frame {
			t.Fatalf("%s: view first %d count %d next %d (%d B), want first %d count %d",
				c.name, v.First, v.Count, v.Next, len(v.Frames), c.wantFirst, c.wantCount)
		}
		if c.wantCount > 0 && v.LastTime != int64(c.wantFirst+c.wantCount-1) {
			t.Fatalf("%s: LastTime %d", c.name, v.LastTime)
		}
	}
}

func TestLog_UnpublishedInvisible(t *testing.T) {
	l, _ := openLog(t, testDir, smallOpts(vfs.NewMem()))
	defer l.Close()
	var b Batch
	l.Begin(&b)
	b.Add(1, 0, []byte("k"), []byte("v"))
	if err := l.Write(&b); err != nil {
		t.Fatal(err)
	}
	var v View
	if _, next := l.Bounds(); next != 0 {
		t.Fatalf("next = %d before Publish, want 0", next)
	}
	if err := l.Read(0, 10, 0, &v); err != nil || v.Count != 0 {
		t.Fatalf("Read before Publish: %d frames, %v", v.Count, err)
	}
	if l.SeekTime(0) != 0 || l.LastTime() != 0 {
		t.Fatalf("SeekTime/LastTime see an unpublished record")
	}
	l.Publish()
	if err := l.Read(0, 10, 0, &v); err != nil || v.Count != 1 {
		t.Fatalf("Read after Publish: %d frames, %v", v.Count, err)
	}
	v.Release()
}

func TestLog_SeekTime(t *testing.T) {
	l, _ := openLog(t, testDir, smallOpts(vfs.NewMem()))
	defer l.Close()
	var b Batch
	// Times 100, 110, ... with repeats, across many segments and index entries.
	var recs []testRecord
	for i := 0; i < 3000; i++ {
		recs = append(recs, testRecord{t: 100 + int64(i/2)*10, key: []byte("key"), data: make([]byte, 60)})
	}
	for i := 0; i < len(recs); i += 100 {
		appendBatch(t, l, &b, recs[i:i+100], false)
	}
	if len(segFiles(t, l.opts.FS, testDir)) < 3 {
		t.Fatal("want several segments")
	}
	// Brute force: the first record with time >= q.
	for _, q := range []int64{-5, 0, 100, 101, 105, 110, 111, 5000, 7000, 7080, 7090, 7091, 1 << 40} {
		want := uint64(len(recs))
		for _, r := range recs {
			if r.t >= q {
				want = r.seq
				break
			}
		}
		if got := l.SeekTime(q); got != want {
			t.Errorf("SeekTime(%d) = %d, want %d", q, got, want)
		}
	}
}

func TestBatch_Validation(t *testing.T) {
	l, _ := openLog(t, testDir, smallOpts(vfs.NewMem()))
	defer l.Close()
	var b Batch
	cases := []struct {
		name      string
		key, data []byte
		flags     uint16
	}{
		{"key too long", make([]byte, record.MaxKeyLen+1), nil, 0},
		{"unknown flags", []byte("k"), nil, 1 << 7},
		{"frame larger than a segment", []byte("k"), make([]byte, 64<<10), 0},
	}
	for _, c := range cases {
		l.Begin(&b)
		b.Add(1, 0, []byte("ok"), []byte("ok"))
		b.Add(1, c.flags, c.key, c.data)
		if err := l.Write(&b); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("%s: Write = %v, want ErrFrameTooLarge", c.name, err)
		}
	}
	// Nothing was written and the log still works.
	appendBatch(t, l, &b, []testRecord{{t: 2, key: []byte("k"), data: []byte("v")}}, true)
	if _, next := l.Bounds(); next != 1 {
		t.Fatalf("next = %d, want 1", next)
	}
	// A batch begun before another write is out of order.
	var stale Batch
	l.Begin(&stale)
	stale.Add(3, 0, nil, nil)
	appendBatch(t, l, &b, []testRecord{{t: 3}}, false)
	if err := l.Write(&stale); !errors.Is(err, ErrBatchOutOfOrder) {
		t.Fatalf("stale batch: Write = %v, want ErrBatchOutOfOrder", err)
	}
}

func TestBatch_NoAllocWhenWarm(t *testing.T) {
	l, _ := openLog(t, testDir, Options{FS: vfs.NewMem(), SegmentSize: 8 << 20})
	defer l.Close()
	var b Batch
	key, data := []byte("partition"), make([]byte, 1000)
	run := func() {
		if err := writeCopies(l, &b, 50, 1, key, data); err != nil {
			t.Fatal(err)
		}
		l.Publish()
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Fatalf("a warm batch of 50 records allocates %.1f times per Begin/Add/Write/Publish", n)
	}
}

func TestLog_ClosedErrors(t *testing.T) {
	l, _ := openLog(t, testDir, smallOpts(vfs.NewMem()))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var b Batch
	l.Begin(&b)
	b.Add(1, 0, nil, nil)
	var v View
	for name, err := range map[string]error{
		"Write": l.Write(&b), "Sync": l.Sync(), "Close": l.Close(), "Read": l.Read(0, 1, 0, &v),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if _, err := l.Expire(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Expire after Close = %v, want ErrClosed", err)
	}
}

func TestLog_Allocation(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FS: mem, SegmentSize: 1 << 20, InitialAllocation: 8 << 10, MaxAllocationStep: 64 << 10}
	l, _ := openLog(t, testDir, opts)
	defer l.Close()
	path := segPath(testDir, 0)
	if got := fileSize(t, mem, path); got != 8<<10 {
		t.Fatalf("an idle segment takes %d B, want the initial allocation %d B", got, 8<<10)
	}
	var b Batch
	var sizes []int64
	for range 200 {
		appendBatch(t, l, &b, []testRecord{{key: []byte("k"), data: make([]byte, 4000)}}, false)
		if s := fileSize(t, mem, path); len(sizes) == 0 || sizes[len(sizes)-1] != s {
			sizes = append(sizes, s)
		}
		if len(segFiles(t, mem, testDir)) > 1 {
			break
		}
	}
	want := []int64{8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 192 << 10, 256 << 10}
	if len(sizes) < len(want) {
		t.Fatalf("file sizes %v, want growth %v...", sizes, want)
	}
	for i, w := range want {
		if sizes[i] != w {
			t.Fatalf("file sizes %v, want growth %v...", sizes, want)
		}
	}
	if last := sizes[len(sizes)-1]; last > opts.SegmentSize {
		t.Fatalf("segment grew to %d B, past the segment size %d B", last, opts.SegmentSize)
	}
}

func TestLog_Destroy(t *testing.T) {
	mem := vfs.NewMem()
	l, _ := openLog(t, testDir, smallOpts(mem))
	var b Batch
	for range 20 {
		appendBatch(t, l, &b, randomRecords(rand.New(rand.NewPCG(1, 1)), 10, 1000, 1), false)
	}
	var v View
	if err := l.Read(0, 5, 0, &v); err != nil || v.Count != 5 {
		t.Fatal(err)
	}
	held := bytes.Clone(v.Frames)
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Frames, held) {
		t.Fatal("a leased view changed after Destroy")
	}
	if names, _ := mem.ReadDir(testDir); len(names) != 1 {
		t.Fatalf("after Destroy with a lease, %v remain; want only the leased segment", names)
	}
	v.Release()
	if exists(mem, testDir) {
		t.Fatal("the log directory is still there after the last lease was released")
	}
}

// TestLog_ReadMatchesWalk compares Read, which jumps with the index on long
// reads, with a frame-by-frame walk for many starts and limits.
func TestLog_ReadMatchesWalk(t *testing.T) {
	l, _ := openLog(t, testDir, smallOpts(vfs.NewMem()))
	defer l.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	var b Batch
	for range 40 {
		appendBatch(t, l, &b, randomRecords(rng, 1+rng.IntN(30), 400, 1), false)
	}
	all := readAll(t, l, 1, 0) // one frame at a time: no jumps
	sizes := make([]int, len(all))
	for i, r := range all {
		sizes[i] = record.FrameSize(len(r.key), len(r.data))
	}
	segEnd := func(seq uint64) uint64 { // one past the last seq of seq's segment
		segs := l.segments()
		for i := len(segs) - 1; i >= 0; i-- {
			if segs[i].base <= seq {
				return segs[i].base + uint64(segs[i].count)
			}
		}
		return 0
	}
	var v View
	defer v.Release()
	for range 3000 {
		seq := uint64(rng.IntN(len(all)))
		maxRecords := rng.IntN(300) - 20
		maxBytes := rng.IntN(40000) - 1000
		// The walk: frames while within both limits, at least one.
		n, bytes := 0, 0
		for s := seq; s < segEnd(seq); s++ {
			if maxRecords > 0 && n == maxRecords {
				break
			}
			if n > 0 && maxBytes > 0 && bytes+sizes[s] > maxBytes {
				break
			}
			n++
			bytes += sizes[s]
		}
		if err := l.Read(seq, maxRecords, maxBytes, &v); err != nil {
			t.Fatal(err)
		}
		if v.Count != n || len(v.Frames) != bytes || v.First != seq || v.LastTime != all[int(seq)+n-1].t {
			t.Fatalf("Read(%d, %d, %d) = %d frames, %d B, last time %d; the walk gives %d frames, %d B, %d",
				seq, maxRecords, maxBytes, v.Count, len(v.Frames), v.LastTime, n, bytes, all[int(seq)+n-1].t)
		}
	}
}

func TestLog_BatchSpansSegments(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FS: mem, SegmentSize: minSegmentSize, IndexInterval: 256, InitialAllocation: 1024}
	l, _ := openLog(t, testDir, opts)
	var b Batch
	recs := randomRecords(rand.New(rand.NewPCG(7, 7)), 40, 1000, 1)
	for i := range recs {
		recs[i].data = recs[i].data[:min(len(recs[i].data), 900)]
	}
	appendBatch(t, l, &b, recs, true)
	segs := segFiles(t, mem, testDir)
	if len(segs) < 5 {
		t.Fatalf("a %d B batch in %d B segments made %d segments", b.Size(), opts.SegmentSize, len(segs))
	}
	for _, name := range segs {
		if sz := fileSize(t, mem, testDir+"/"+name); sz > opts.SegmentSize {
			t.Fatalf("%s is %d B, past the segment size", name, sz)
		}
	}
	checkRecords(t, readAll(t, l, 0, 0), recs)
	mem.Crash() // everything was synced: sealed segments at their seal, the last by Sync
	l, rec := openLog(t, testDir, opts)
	defer l.Close()
	if rec.TruncatedBytes != 0 || len(rec.RemovedSegments) != 0 {
		t.Fatalf("recovery after a synced multi-segment batch cut something: %+v", rec)
	}
	checkRecords(t, readAll(t, l, 0, 0), recs)
}
