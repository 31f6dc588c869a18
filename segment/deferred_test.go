package segment

import (
	"errors"
	"syscall"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
)

// writeDeferred begins a batch of recs and writes it with WriteDeferred.
func writeDeferred(t *testing.T, l *Log, b *Batch, recs []testRecord) {
	t.Helper()
	l.Begin(b)
	for i := range recs {
		recs[i].seq, recs[i].t = b.Add(recs[i].t, recs[i].flags, recs[i].key, recs[i].data)
	}
	if err := l.WriteDeferred(b); err != nil {
		t.Fatalf("WriteDeferred: %v", err)
	}
}

// TestWriteDeferred_WrittenOnceByWhoeverComesFirst: the frames WriteDeferred
// leaves are listed by Written, absent from the file until written, and
// written by WritePending or, if a Sync comes first (a commit log's trimmer
// flushing the shard), by that Sync, so that what it makes durable includes
// them. Either way the records survive a power cut.
func TestWriteDeferred_WrittenOnceByWhoeverComesFirst(t *testing.T) {
	for _, first := range []string{"WritePending", "Sync", "Park", "Close"} {
		t.Run(first, func(t *testing.T) {
			mem := vfs.NewMem()
			l, _ := openLog(t, testDir, smallOpts(mem))
			var b Batch
			recs := []testRecord{{t: 1, key: []byte("a"), data: []byte("one")}, {t: 2, key: []byte("b"), data: []byte("two")}}
			writeDeferred(t, l, &b, recs)
			w := l.Written()
			if len(w) != 1 || w[0].Offset != 0 || len(w[0].Data) == 0 {
				t.Fatalf("Written() = %+v, want the batch's frames at 0", w)
			}
			f := openRW(t, mem, segPath(testDir, 0))
			probe := make([]byte, len(w[0].Data))
			if n, _ := f.ReadAt(probe, 0); n == len(probe) && string(probe) == string(w[0].Data) {
				t.Fatal("the deferred frames were in the file before anything wrote them")
			}
			var err error
			switch first {
			case "WritePending":
				if err = l.WritePending(); err == nil {
					err = l.Sync()
				}
			case "Sync":
				err = l.Sync()
			case "Park":
				err = l.Park()
			case "Close":
				err = l.Close()
			}
			if err != nil {
				t.Fatalf("%s: %v", first, err)
			}
			if n, _ := f.ReadAt(probe, 0); n != len(probe) || string(probe) != string(w[0].Data) {
				t.Fatalf("after %s the file holds %q, want the batch's frames", first, probe[:n])
			}
			f.Close()
			if first != "Close" {
				if err := l.WritePending(); err != nil {
					t.Fatalf("WritePending after %s: %v", first, err)
				}
				l.Publish()
			}
			mem.Crash()
			l2, _ := openLog(t, testDir, smallOpts(mem))
			defer l2.Close()
			checkRecords(t, readAll(t, l2, 100, 1<<20), recs)
		})
	}
}

// TestWriteDeferred_FailedWriteFences: a deferred write that fails fences
// the log, even a refusal for want of space that wrote nothing (a
// transient error for Write): the batch's bytes may be in a commit log
// already, so it cannot be retried in place. Later writes return the same
// error and the records are never published.
func TestWriteDeferred_FailedWriteFences(t *testing.T) {
	mem := vfs.NewMem()
	l, _ := openLog(t, testDir, smallOpts(mem))
	var b Batch
	appendBatch(t, l, &b, []testRecord{{t: 1, key: []byte("k"), data: []byte("kept")}}, true)
	writeDeferred(t, l, &b, []testRecord{{t: 2, key: []byte("k"), data: []byte("refused")}})
	mem.SetFault(func(op, name string, n int64) (int64, error) {
		if op == "pwritev" {
			return 0, syscall.ENOSPC
		}
		return 0, nil
	})
	err := l.WritePending()
	mem.SetFault(nil)
	if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrTransient) {
		t.Fatalf("WritePending = %v, want ENOSPC, not transient", err)
	}
	if l.Err() != err {
		t.Fatalf("Err() = %v, want the write's error %v", l.Err(), err)
	}
	l.Begin(&b)
	b.Add(3, 0, []byte("k"), []byte("later"))
	if werr := l.Write(&b); werr != err {
		t.Fatalf("Write after a failed deferred write = %v, want %v", werr, err)
	}
	if _, next := l.Bounds(); next != 1 {
		t.Fatalf("next published = %d, want 1: the failed batch is not published", next)
	}
	checkRecords(t, readAll(t, l, 100, 1<<20), []testRecord{{seq: 0, t: 1, key: []byte("k"), data: []byte("kept")}})
}
