package segment

import (
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
)

// faultOnce is a vfs.FaultFunc that fails operations matching op and a path
// suffix with err, landing landed bytes of a write, while armed.
type faultOnce struct {
	op, suffix string
	err        error
	landed     int64
	armed      atomic.Bool
	hits       atomic.Int64
}

// openFaulty opens a small-segment log on a fresh in-memory file system
// whose every operation goes through fault first.
func openFaulty(t *testing.T, fault vfs.FaultFunc) (*vfs.Mem, *Log) {
	t.Helper()
	mem := vfs.NewMem()
	mem.SetFault(fault)
	l, _ := openLog(t, testDir, smallOpts(mem))
	return mem, l
}

func (f *faultOnce) fn(op, name string, n int64) (int64, error) {
	if !f.armed.Load() || op != f.op || !strings.HasSuffix(name, f.suffix) {
		return 0, nil
	}
	f.hits.Add(1)
	return f.landed, f.err
}

// bigRecords are n records of 8 KiB: seven fill most of a 64 KiB segment of
// smallOpts, so that the eighth starts a new one.
func bigRecords(n int, t0 int64) []testRecord {
	recs := make([]testRecord, n)
	for i := range recs {
		data := make([]byte, 8<<10)
		for j := range data {
			data[j] = byte(int(t0) + i + j)
		}
		recs[i] = testRecord{t: t0 + int64(i), key: []byte("k"), data: data}
	}
	return recs
}

// writeBatch begins, fills and writes one batch, returning Write's error;
// on success it syncs and publishes.
func writeBatch(l *Log, b *Batch, recs []testRecord) error {
	l.Begin(b)
	for i := range recs {
		recs[i].seq, recs[i].t = b.Add(recs[i].t, recs[i].flags, recs[i].key, recs[i].data)
	}
	if err := l.Write(b); err != nil {
		return err
	}
	if err := l.Sync(); err != nil {
		return err
	}
	l.Publish()
	return nil
}

func TestWrite_TransientFaultsPass(t *testing.T) {
	cases := []struct {
		name  string
		fault faultOnce
		// setup brings the log to where the next batch meets the fault.
		setup func(t *testing.T, l *Log, b *Batch) []testRecord
	}{
		{
			name:  "create of the next segment (EMFILE)",
			fault: faultOnce{op: "create", suffix: segExt, err: syscall.EMFILE},
			setup: fillSegment,
		},
		{
			name:  "create of the sealed segment's index (ENOSPC)",
			fault: faultOnce{op: "create", suffix: idxExt + tmpExt, err: syscall.ENOSPC},
			setup: fillSegment,
		},
		{
			name:  "fallocate (ENOSPC)",
			fault: faultOnce{op: "fallocate", suffix: segExt, err: syscall.ENOSPC},
		},
		{
			name:  "pwritev refused whole (ENOSPC)",
			fault: faultOnce{op: "pwritev", suffix: segExt, err: syscall.ENOSPC},
		},
		{
			name:  "open of a parked segment (EMFILE)",
			fault: faultOnce{op: "open", suffix: segExt, err: syscall.EMFILE},
			setup: func(t *testing.T, l *Log, b *Batch) []testRecord {
				recs := bigRecords(1, 1)
				appendBatch(t, l, b, recs, true)
				if err := l.Park(); err != nil {
					t.Fatal(err)
				}
				return recs
			},
		},
	}
	for i := range cases {
		c := &cases[i]
		t.Run(c.name, func(t *testing.T) {
			mem, l := openFaulty(t, c.fault.fn)
			var b Batch
			var want []testRecord
			if c.setup != nil {
				want = c.setup(t, l, &b)
			}
			c.fault.armed.Store(true)
			batch := bigRecords(2, 100)
			err := writeBatch(l, &b, batch)
			if !errors.Is(err, ErrTransient) {
				t.Fatalf("Write under %s = %v, want an error matching ErrTransient", c.name, err)
			}
			if c.fault.hits.Load() == 0 {
				t.Fatal("the fault was never hit")
			}
			if err := l.Err(); err != nil {
				t.Fatalf("Err() after a transient failure = %v, want nil", err)
			}
			if _, next := l.Bounds(); next != uint64(len(want)) {
				t.Fatalf("Bounds next = %d after a failed batch, want %d", next, len(want))
			}
			// Still failing: still transient, nothing written.
			if err := writeBatch(l, &b, bigRecords(2, 100)); !errors.Is(err, ErrTransient) {
				t.Fatalf("second Write under the fault = %v, want ErrTransient", err)
			}
			c.fault.armed.Store(false)
			batch = bigRecords(2, 200)
			if err := writeBatch(l, &b, batch); err != nil {
				t.Fatalf("Write after the fault cleared: %v", err)
			}
			want = append(want, batch...)
			checkRecords(t, readAll(t, l, 0, 0), want)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, rec := openLog(t, testDir, smallOpts(mem))
			defer l.Close()
			if !rec.Clean {
				t.Fatalf("reopen after a clean Close scanned: %+v", rec)
			}
			checkRecords(t, readAll(t, l, 0, 0), want)
		})
	}
}

// fillSegment writes seven 8 KiB records so that the next one needs a new
// segment.
func fillSegment(t *testing.T, l *Log, b *Batch) []testRecord {
	recs := bigRecords(7, 1)
	appendBatch(t, l, b, recs, true)
	if n := len(l.segments()); n != 1 {
		t.Fatalf("setup made %d segments, want 1", n)
	}
	return recs
}

func TestWrite_FaultAfterBytesWentOutFences(t *testing.T) {
	cases := []struct {
		name  string
		fault faultOnce
		batch int // records of the failing batch
	}{
		{"pwritev lands part of the batch (ENOSPC)", faultOnce{op: "pwritev", suffix: segExt, err: syscall.ENOSPC, landed: 100}, 2},
		{"pwritev fails with EIO", faultOnce{op: "pwritev", suffix: segExt, err: syscall.EIO}, 2},
		{"fdatasync fails", faultOnce{op: "fdatasync", suffix: segExt, err: syscall.EIO}, 2},
		// Five records fit in the active segment, the rest need a new one:
		// frames went out before the create failed.
		{"roll in the middle of a batch", faultOnce{op: "create", suffix: segExt, err: syscall.EMFILE}, 9},
		{"fallocate with EIO", faultOnce{op: "fallocate", suffix: segExt, err: syscall.EIO}, 2},
	}
	for i := range cases {
		c := &cases[i]
		t.Run(c.name, func(t *testing.T) {
			mem, l := openFaulty(t, c.fault.fn)
			var b Batch
			acked := bigRecords(2, 1)
			appendBatch(t, l, &b, acked, true)
			c.fault.armed.Store(true)
			first := writeBatch(l, &b, bigRecords(c.batch, 100))
			if first == nil || errors.Is(first, ErrTransient) {
				t.Fatalf("Write = %v, want a fencing error", first)
			}
			c.fault.armed.Store(false) // the disk recovers; the log must not trust it
			if err := l.Err(); err != first {
				t.Fatalf("Err() = %v, want the fencing error %v", err, first)
			}
			if err := writeBatch(l, &b, bigRecords(1, 300)); err != first {
				t.Fatalf("Write after the fault = %v, want the same error %v", err, first)
			}
			// What was acknowledged before stays readable, and after a
			// reopen the log works again.
			checkRecords(t, readAll(t, l, 0, 0)[:len(acked)], acked)
			if err := l.Close(); err != first {
				t.Fatalf("Close = %v, want %v", err, first)
			}
			l, _ = openLog(t, testDir, smallOpts(mem))
			defer l.Close()
			got := readAll(t, l, 0, 0)
			checkRecords(t, got[:len(acked)], acked)
			more := bigRecords(1, 400)
			if err := writeBatch(l, &b, more); err != nil {
				t.Fatalf("Write after reopening: %v", err)
			}
		})
	}
}

func TestWrite_RecordThatCanNeverFit(t *testing.T) {
	mem := vfs.NewMem()
	opts := smallOpts(mem)
	l, _ := openLog(t, testDir, opts)
	defer l.Close()
	var b Batch
	huge := []testRecord{{t: 1, key: []byte("k"), data: make([]byte, opts.SegmentSize)}}
	err := writeBatch(l, &b, huge)
	if !errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrTransient) {
		t.Fatalf("Write of a frame larger than a segment = %v, want ErrFrameTooLarge", err)
	}
	for _, want := range []string{"65568 B frame", "65536 B segment"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if l.Err() != nil {
		t.Fatalf("Err() = %v after a refused record, want nil", l.Err())
	}
	ok := bigRecords(1, 2)
	if err := writeBatch(l, &b, ok); err != nil {
		t.Fatalf("Write after a refused record: %v", err)
	}
	checkRecords(t, readAll(t, l, 0, 0), ok)
}

func TestOptions_SegmentSizeMustHoldLargestRecord(t *testing.T) {
	if err := CheckSegmentSize(DefaultSegmentSize); err != nil {
		t.Fatalf("CheckSegmentSize(default) = %v", err)
	}
	if err := CheckSegmentSize(MaxRecordFrameSize); err != nil {
		t.Fatalf("CheckSegmentSize(MaxRecordFrameSize) = %v", err)
	}
	err := CheckSegmentSize(8 << 20)
	if err == nil || !strings.Contains(err.Error(), "at least 10485792 B") {
		t.Fatalf("CheckSegmentSize(8 MiB) = %v, want a refusal naming the minimum", err)
	}
	mem := vfs.NewMem()
	_, _, err = Open(testDir, Options{FS: mem, SegmentSize: 8 << 20, MaxRecordSize: MaxRecordSize})
	if err == nil || !strings.Contains(err.Error(), "cannot hold a 10485760 B record") {
		t.Fatalf("Open with 8 MiB segments for 10 MiB records = %v, want a refusal", err)
	}
	l, _, err := Open(testDir, Options{FS: mem, SegmentSize: MaxRecordFrameSize, MaxRecordSize: MaxRecordSize})
	if err != nil {
		t.Fatalf("Open with segments that just hold the largest record: %v", err)
	}
	defer l.Close()
	var b Batch
	rec := []testRecord{{t: 1, data: make([]byte, MaxRecordSize)}}
	if err := writeBatch(l, &b, rec); err != nil {
		t.Fatalf("Write of the largest record: %v", err)
	}
}
