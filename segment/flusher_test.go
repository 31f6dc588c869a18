package segment

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
)

// TestLog_Flusher writes many logs on the real file system at once, each
// syncing through one shared Flusher, and checks that every log reads back
// what it was given, before and after a reopen that trusts nothing (no
// clean Close).
func TestLog_Flusher(t *testing.T) {
	fl := vfs.NewFlusher()
	defer fl.Close()
	root := t.TempDir()
	const logs = 16
	want := make([][]testRecord, logs)
	var wg sync.WaitGroup
	errs := make(chan error, logs)
	for i := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := fmt.Sprintf("%s/l%d", root, i)
			opts := smallOpts(vfs.OS)
			opts.Flusher = fl
			l, _, err := Open(dir, opts)
			if err != nil {
				errs <- err
				return
			}
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var b Batch
			for round := range 30 {
				recs := randomRecords(rng, 1+rng.IntN(8), 300, int64(round+1)*1e6)
				l.Begin(&b)
				for j := range recs {
					recs[j].seq, recs[j].t = b.Add(recs[j].t, recs[j].flags, recs[j].key, recs[j].data)
				}
				if err := l.Write(&b); err != nil {
					errs <- err
					return
				}
				if err := l.Sync(); err != nil {
					errs <- err
					return
				}
				l.Publish()
				want[i] = append(want[i], recs...)
			}
			// Abandon the log without Close, as a crash would.
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range logs {
		l, rec := openLog(t, fmt.Sprintf("%s/l%d", root, i), smallOpts(vfs.OS))
		if rec.TruncatedBytes != 0 || rec.DroppedFrames != 0 {
			t.Errorf("log %d: recovery cut synced frames: %+v", i, rec)
		}
		checkRecords(t, readAll(t, l, 50, 1<<20), want[i])
		l.Close()
	}
}
