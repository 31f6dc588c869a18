package segment

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
)

// handleCounter counts the open files and mappings under a directory.
type handleCounter func(t *testing.T) (files, mappings int)

// fsUnderTest gives a file system, a root directory on it and a counter of
// the handles held under that root: Mem counts them itself; on Linux the
// real one is counted from /proc/self/fd and /proc/self/maps.
var fsUnderTest = map[string]func(t *testing.T) (vfs.FS, string, handleCounter){
	"Mem": func(t *testing.T) (vfs.FS, string, handleCounter) {
		mem := vfs.NewMem()
		return mem, "/data", func(t *testing.T) (int, int) { return mem.Handles() }
	},
	"OS": func(t *testing.T) (vfs.FS, string, handleCounter) {
		if runtime.GOOS != "linux" {
			t.Skip("counts handles through /proc")
		}
		root := t.TempDir()
		return vfs.OS, root, func(t *testing.T) (int, int) { return procHandles(t, root) }
	},
}

// procHandles counts this process's descriptors and mappings of files under
// root.
func procHandles(t *testing.T, root string) (files, mappings int) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, root+"/") {
			files++
		}
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if i := strings.Index(sc.Text(), root+"/"); i >= 0 {
			mappings++
		}
	}
	return files, mappings
}

func TestCache_BoundsMappingsAndFilesAcrossLogs(t *testing.T) {
	for name, mk := range fsUnderTest {
		t.Run(name, func(t *testing.T) {
			fsys, root, handles := mk(t)
			const maxMapped, logs = 4, 6
			cache := NewCache(maxMapped)
			opts := smallOpts(fsys)
			opts.Cache = cache
			dirs := make([]string, logs)
			want := make([][]testRecord, logs)
			var b Batch
			for i := range dirs {
				dirs[i] = filepath.Join(root, fmt.Sprintf("shard%d", i))
				l, _ := openLog(t, dirs[i], opts)
				want[i] = bigRecords(40, int64(1000*i)) // 6 segments
				for j := 0; j < len(want[i]); j += 4 {
					appendBatch(t, l, &b, want[i][j:min(j+4, len(want[i]))], true)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if f, m := handles(t); f != 0 || m != 0 {
				t.Fatalf("%d files and %d mappings held after Close", f, m)
			}

			// Open holds nothing: no segment is opened or mapped.
			ls := make([]*Log, logs)
			for i := range ls {
				ls[i], _ = openLog(t, dirs[i], opts)
				defer ls[i].Close()
			}
			if f, m := handles(t); f != 0 || m != 0 {
				t.Fatalf("Open of %d logs holds %d files and %d mappings, want none", logs, f, m)
			}

			// Leases held across the pressure of reading everything else.
			held := make([]View, 2)
			for i := range held {
				if err := ls[i].Read(0, 0, 0, &held[i]); err != nil {
					t.Fatal(err)
				}
			}
			var v View
			for i, l := range ls {
				var got []testRecord
				for seq := uint64(0); seq < uint64(len(want[i])); seq = v.Next {
					if err := l.Read(seq, 0, 0, &v); err != nil {
						t.Fatal(err)
					}
					got = append(got, viewRecordsT(t, &v)...)
					files, maps := handles(t)
					if files != 0 {
						t.Fatalf("reading sealed segments holds %d files, want none", files)
					}
					if limit := maxMapped + len(held) + 1; maps > limit {
						t.Fatalf("%d mappings while reading, want at most %d (the cap plus the leased)", maps, limit)
					}
					if cm := cache.Mapped(); cm != maps {
						t.Fatalf("the cache counts %d mappings, the system %d", cm, maps)
					}
				}
				checkRecords(t, got, want[i])
			}
			v.Release()
			for i := range held {
				// Still mapped and intact after every other segment came and went.
				checkRecords(t, viewRecordsT(t, &held[i]), want[i][:held[i].Count])
				held[i].Release()
			}
			if _, maps := handles(t); maps > maxMapped {
				t.Fatalf("%d mappings once every lease is released, want at most %d", maps, maxMapped)
			}

			// A write opens the active segment's file; Park lets it go.
			appendBatch(t, ls[0], &b, bigRecords(1, 1e6), true)
			if f, _ := handles(t); f != 1 {
				t.Fatalf("%d files held after a write, want 1", f)
			}
			if err := ls[0].Park(); err != nil {
				t.Fatal(err)
			}
			if f, _ := handles(t); f != 0 {
				t.Fatalf("%d files held after Park, want none", f)
			}
		})
	}
}

func viewRecordsT(t *testing.T, v *View) []testRecord {
	t.Helper()
	var out []testRecord
	it := v.Iter()
	for f, ok := it.Next(); ok; f, ok = it.Next() {
		out = append(out, testRecord{seq: f.Seq, t: f.Time, flags: f.Flags, key: bytes.Clone(f.Key), data: bytes.Clone(f.Data)})
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	return out
}

func TestCache_ExpiredLeasedSegmentOutlivesEviction(t *testing.T) {
	mem := vfs.NewMem()
	opts := smallOpts(mem)
	opts.Cache = NewCache(1)
	l, _ := openLog(t, testDir, opts)
	defer l.Close()
	var b Batch
	recs := bigRecords(30, 1)
	for i := 0; i < len(recs); i += 3 {
		appendBatch(t, l, &b, recs[i:min(i+3, len(recs))], true)
	}
	var v0 View
	if err := l.Read(0, 0, 0, &v0); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Expire(recs[7].t); n != 1 || err != nil {
		t.Fatalf("Expire = %d, %v; want the first segment removed", n, err)
	}
	deleted := segPath(testDir, 0) + deletedExt
	if !exists(mem, deleted) {
		t.Fatal("the expired segment was not renamed")
	}
	// Pressure: every other segment is mapped and evicted in turn.
	checkRecords(t, readAll(t, l, 0, 0), recs[7:])
	checkRecords(t, viewRecordsT(t, &v0), recs[:7])
	v0.Release()
	if exists(mem, deleted) {
		t.Fatal("the expired segment's file outlived its last lease")
	}
	if _, maps := mem.Handles(); maps > 1 {
		t.Fatalf("%d mappings after every lease is released, want at most 1", maps)
	}
}

// TestCache_ConcurrentReadersWriterAndExpire runs readers of several logs
// sharing a cache of two mappings against their writers and retention, so
// that mappings are dropped and made again under the readers' leases (run
// with -race).
func TestCache_ConcurrentReadersWriterAndExpire(t *testing.T) {
	mem := vfs.NewMem()
	cache := NewCache(2)
	const logs, batches = 3, 60
	ls := make([]*Log, logs)
	for i := range ls {
		opts := smallOpts(mem)
		opts.Cache = cache
		ls[i], _ = openLog(t, fmt.Sprintf("/shard%d", i), opts)
		defer ls[i].Close()
	}
	var writers, readers sync.WaitGroup
	errs := make(chan error, 16)
	done := make(chan struct{})
	for _, l := range ls {
		writers.Add(1)
		go func() { // writer and retention of one log
			defer writers.Done()
			var b Batch
			for k := 0; k < batches; k++ {
				if err := writeBatch(l, &b, bigRecords(3, int64(10*k))); err != nil {
					errs <- err
					return
				}
				if k%20 == 19 {
					if _, err := l.Expire(int64(10*k - 100)); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func() { // reader: checks every frame it sees carries its sequence number and data
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			var v View
			defer v.Release()
			for {
				select {
				case <-done:
					return
				default:
				}
				l := ls[rng.IntN(logs)]
				first, next := l.Bounds()
				if next == first {
					continue
				}
				seq := first + rng.Uint64N(next-first)
				if err := l.Read(seq, 0, 0, &v); err != nil {
					errs <- err
					return
				}
				it := v.Iter()
				want := v.First
				for f, ok := it.Next(); ok; f, ok = it.Next() {
					if f.Seq != want || len(f.Data) != 8<<10 || f.Data[0] != byte(int(f.Time)) {
						errs <- fmt.Errorf("frame %d of a view from %d: seq %d, %d B, first byte %d at time %d", want-v.First, v.First, f.Seq, len(f.Data), f.Data[0], f.Time)
						return
					}
					want++
				}
				if it.Err() != nil {
					errs <- it.Err()
					return
				}
			}
		}()
	}
	writers.Wait()
	close(done) // the readers stop once the writers are done
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := cache.Mapped(); n > 2 {
		t.Fatalf("%d segments mapped once every reader is gone, want at most 2", n)
	}
}

func TestLog_RetentionLeavesParkedLogParked(t *testing.T) {
	mem := vfs.NewMem()
	l, _ := openLog(t, testDir, smallOpts(mem))
	defer l.Close()
	var b Batch
	recs := bigRecords(3, 1)
	appendBatch(t, l, &b, recs, true)
	if err := l.Park(); err != nil {
		t.Fatal(err)
	}
	// Every record is old: the active segment is sealed and replaced.
	if n, err := l.Expire(1 << 40); n != 1 || err != nil {
		t.Fatalf("Expire = %d, %v; want the one segment removed", n, err)
	}
	if files, maps := mem.Handles(); files != 0 || maps != 0 {
		t.Fatalf("after retention of a parked log: %d files, %d mappings; want none", files, maps)
	}
	more := bigRecords(1, 1<<41)
	appendBatch(t, l, &b, more, true)
	more[0].seq = 3
	checkRecords(t, readAll(t, l, 0, 0), more)
}

func TestOpen_HoldsFewFilesWhateverTheLogLength(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			mem := vfs.NewMem()
			l, _ := openLog(t, testDir, smallOpts(mem))
			var b Batch
			recs := bigRecords(70, 1) // 10 segments
			for i := 0; i < len(recs); i += 5 {
				appendBatch(t, l, &b, recs[i:i+5], true)
			}
			if clean { // else the log is abandoned, as by a process that died
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			var most atomic.Int64
			mem.SetFault(func(op, name string, n int64) (int64, error) {
				if files, _ := mem.Handles(); int64(files) > most.Load() {
					most.Store(int64(files))
				}
				return 0, nil
			})
			base, _ := mem.Handles()
			l2, _ := openLog(t, testDir, smallOpts(mem))
			defer l2.Close()
			if got := most.Load() - int64(base); got > 2 {
				t.Fatalf("Open of a 10-segment log held %d files at once, want at most 2 besides the one being opened", got)
			}
			checkRecords(t, readAll(t, l2, 0, 0), recs)
		})
	}
}
