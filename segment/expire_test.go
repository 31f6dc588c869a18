package segment

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
)

// fillTimed writes n records with arrival times 1000, 2000, ... in batches
// of 10 and returns them.
func fillTimed(t testing.TB, l *Log, n int) []testRecord {
	t.Helper()
	var b Batch
	recs := make([]testRecord, n)
	for i := range recs {
		recs[i] = testRecord{t: int64(i+1) * 1000, key: []byte("key"), data: bytes.Repeat([]byte{byte(i)}, 300)}
	}
	for i := 0; i < n; i += 10 {
		appendBatch(t, l, &b, recs[i:min(i+10, n)], true)
	}
	return recs
}

func TestLog_LeaseKeepsRemovedSegment(t *testing.T) {
	for _, fc := range fsCases {
		t.Run(fc.name, func(t *testing.T) {
			fsys, dir := fc.new(t)
			opts := smallOpts(fsys)
			l, _ := openLog(t, dir, opts)
			defer l.Close()
			recs := fillTimed(t, l, 600)
			segs := segFiles(t, fsys, dir)
			if len(segs) < 3 {
				t.Fatalf("want at least 3 segments, have %d", len(segs))
			}
			var v View
			if err := l.Read(0, 20, 0, &v); err != nil || v.Count != 20 {
				t.Fatalf("Read: %d frames, %v", v.Count, err)
			}
			held := bytes.Clone(v.Frames)

			// Expire the first segment while the view holds it.
			b1, _ := parseSegName(segs[1])
			n, err := l.Expire(recs[b1-1].t + 1)
			if err != nil || n != 1 {
				t.Fatalf("Expire = %d, %v; want 1 segment removed", n, err)
			}
			deleted := segPath(dir, 0) + deletedExt
			if exists(fsys, segPath(dir, 0)) || !exists(fsys, deleted) || exists(fsys, idxPathOf(dir, 0)) {
				t.Fatal("the expired segment was not renamed .deleted while leased")
			}
			// The lease keeps the bytes readable and intact.
			if !bytes.Equal(v.Frames, held) {
				t.Fatal("leased frames changed after the segment was removed")
			}
			it := v.Iter()
			for i := 0; i < 20; i++ {
				f, ok := it.Next()
				if !ok || !sameRecord(testRecord{seq: f.Seq, t: f.Time, key: f.Key, data: f.Data}, recs[i]) {
					t.Fatalf("leased frame %d unreadable after removal: %v", i, it.Err())
				}
			}
			// New reads never see it.
			var v2 View
			if err := l.Read(0, 1, 0, &v2); err != nil || v2.First != b1 {
				t.Fatalf("Read(0) after Expire starts at %d (%v), want %d", v2.First, err, b1)
			}
			v2.Release()
			if first, _ := l.Bounds(); first != b1 {
				t.Fatalf("first = %d, want %d", first, b1)
			}
			v.Release()
			if exists(fsys, deleted) {
				t.Fatal("the removed segment outlived its last lease")
			}
		})
	}
}

func TestLog_Expire(t *testing.T) {
	mem := vfs.NewMem()
	opts := smallOpts(mem)
	l, _ := openLog(t, testDir, opts)
	recs := fillTimed(t, l, 600)
	segs := segFiles(t, mem, testDir)
	_, next := l.Bounds()

	// Nothing is older than the first record.
	if n, err := l.Expire(recs[0].t); n != 0 || err != nil {
		t.Fatalf("Expire(first time) = %d, %v", n, err)
	}
	// A cut in the middle of a segment removes only whole older segments.
	b2, _ := parseSegName(segs[2])
	n, err := l.Expire(recs[b2+1].t)
	if err != nil || n != 2 {
		t.Fatalf("Expire = %d, %v; want the 2 segments before %d", n, err, b2)
	}
	if first, nx := l.Bounds(); first != b2 || nx != next {
		t.Fatalf("Bounds = %d, %d; want %d, %d", first, nx, b2, next)
	}
	got := readAll(t, l, 0, 0)
	checkRecords(t, got, recs[b2:])
	if s := l.SeekTime(0); s != b2 {
		t.Fatalf("SeekTime(0) = %d, want the oldest retained %d", s, b2)
	}

	// Expiring everything seals the active segment and keeps the position.
	if _, err := l.Expire(recs[len(recs)-1].t + 1); err != nil {
		t.Fatal(err)
	}
	if first, nx := l.Bounds(); first != next || nx != next {
		t.Fatalf("after expiring everything Bounds = %d, %d; want %d, %d", first, nx, next, next)
	}
	var v View
	if err := l.Read(0, 10, 0, &v); err != nil || v.Count != 0 || v.First != next {
		t.Fatalf("Read(0) of an expired log: %d frames from %d, %v", v.Count, v.First, err)
	}
	if s := segFiles(t, mem, testDir); len(s) != 1 || s[0] != segName(next) {
		t.Fatalf("segments %v; want only an empty %s", s, segName(next))
	}
	// An empty active segment is not expired again.
	if n, _ := l.Expire(1 << 62); n != 0 {
		t.Fatalf("Expire removed the empty active segment")
	}
	var b Batch
	more := []testRecord{{t: 1, key: []byte("k"), data: []byte("after")}}
	appendBatch(t, l, &b, more, true)
	if more[0].seq != next || more[0].t != recs[len(recs)-1].t {
		t.Fatalf("append after expiry got seq %d time %d; want %d and the clamped %d",
			more[0].seq, more[0].t, next, recs[len(recs)-1].t)
	}
	// The position survives a reopen, clean or not.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		l, _ = openLog(t, testDir, opts)
		checkRecords(t, readAll(t, l, 0, 0), more)
		mem.Crash()
	}
}

// TestLog_ConcurrentReaders runs readers, a SeekTime caller and retention
// (from the writer and from another goroutine) against the writer: every record read is the one written at its sequence
// number, views are contiguous, and nothing expired is read after Expire
// returned.
func TestLog_ConcurrentReaders(t *testing.T) {
	mem := vfs.NewMem()
	opts := smallOpts(mem)
	l, _ := openLog(t, testDir, opts)
	defer l.Close()
	const total = 4000
	// Record contents are a function of the sequence number.
	content := func(seq uint64) []byte { return bytes.Repeat([]byte{byte(seq), byte(seq >> 8)}, 10+int(seq%50)) }

	done := make(chan struct{})
	errs := make(chan error, 8)
	var expiredBelow [1]uint64 // written by the writer goroutine only, before closing done
	// loop runs step until done closes or step fails, then sends the failure
	// (nil when done closed) to errs.
	loop := func(step func() error) {
		for {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			if err := step(); err != nil {
				errs <- err
				return
			}
		}
	}
	reader := func(seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var v View
		defer v.Release()
		seq := uint64(0)
		loop(func() error {
			if err := l.Read(seq, 1+rng.IntN(50), rng.IntN(8000), &v); err != nil {
				return err
			}
			if v.Count == 0 {
				if first, _ := l.Bounds(); seq < first {
					seq = first
				}
				return nil
			}
			it := v.Iter()
			for i := uint64(0); ; i++ {
				f, ok := it.Next()
				if !ok {
					if it.Err() != nil {
						return it.Err()
					}
					if i != uint64(v.Count) {
						return fmt.Errorf("view of %d records iterated %d", v.Count, i)
					}
					break
				}
				if f.Seq != v.First+i || !bytes.Equal(f.Data, content(f.Seq)) || f.Time != int64(f.Seq) {
					return fmt.Errorf("reader read seq %d (time %d) with wrong content at view offset %d", f.Seq, f.Time, i)
				}
			}
			seq = v.Next
			if rng.IntN(10) == 0 {
				seq = uint64(rng.IntN(total))
			}
			return nil
		})
	}
	for i := range 3 {
		go reader(uint64(i))
	}
	go loop(func() error {
		// Arrival time == sequence number here, so SeekTime(x) is x,
		// unless x has expired meanwhile: then it is the oldest
		// retained record at that moment.
		if q := l.LastTime(); q > 300 {
			for _, x := range []int64{q, q - 300} {
				s := l.SeekTime(x)
				if first, _ := l.Bounds(); s != uint64(x) && (s < uint64(x) || s > first) {
					t.Errorf("SeekTime(%d) = %d; want %d, or the oldest retained (now %d) if it expired", x, s, x, first)
				}
			}
		}
		return nil
	})

	// Retention from its own goroutine, racing the writer's rolls.
	go loop(func() error {
		_, err := l.Expire(l.LastTime() - 700)
		return err
	})

	var b Batch
	for seq := uint64(0); seq < total; {
		l.Begin(&b)
		for range 1 + int(seq%17) {
			b.Add(int64(seq), 0, []byte("key"), content(seq))
			seq++
		}
		if err := l.Write(&b); err != nil {
			t.Fatal(err)
		}
		l.Publish()
		if seq%500 < 17 {
			if _, err := l.Expire(int64(seq) - 1000); err != nil {
				t.Fatal(err)
			}
			first, _ := l.Bounds()
			expiredBelow[0] = first
			var v View
			if err := l.Read(0, 1, 0, &v); err != nil || v.First != first {
				t.Fatalf("Read(0) right after Expire starts at %d, want %d", v.First, first)
			}
			v.Release()
		}
	}
	close(done)
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if expiredBelow[0] == 0 {
		t.Fatal("retention never removed a segment")
	}
}
