package segment

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/record"
)

var errPowerLoss = errors.New("simulated power loss")

// crashFS is a Mem that loses power (Mem.CrashTorn) at a chosen mutating
// operation: that operation fails (having torn-landed, or not happened at
// all) and so does every later one, as for a process that died. Reads pass
// through until the crash.
type crashFS struct {
	mem *vfs.Mem
	rng *rand.Rand

	mu      sync.Mutex // guards left and crashed
	left    int        // mutating operations before the crash; < 0: never
	crashed bool
}

// step accounts one mutating operation: op runs unless the power fails
// before it, and the power may fail right after it.
func (c *crashFS) step(op func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return errPowerLoss
	}
	if c.left != 0 {
		if c.left > 0 {
			c.left--
		}
		return op()
	}
	c.crashed = true
	if c.rng.IntN(2) == 0 {
		_ = op() // it happened, but the caller never learns so
	}
	c.mem.CrashTorn(c.rng)
	return errPowerLoss
}

func (c *crashFS) dead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return errPowerLoss
	}
	return nil
}

func (c *crashFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	var f vfs.File
	open := func() (err error) { f, err = c.mem.OpenFile(name, flag, perm); return err }
	var err error
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		err = c.step(open)
	} else if err = c.dead(); err == nil {
		err = open()
	}
	if err != nil {
		return nil, err
	}
	return &crashFile{File: f, c: c}, nil
}

func (c *crashFS) Rename(o, n string) error {
	return c.step(func() error { return c.mem.Rename(o, n) })
}
func (c *crashFS) Remove(n string) error { return c.step(func() error { return c.mem.Remove(n) }) }
func (c *crashFS) RemoveAll(n string) error {
	return c.step(func() error { return c.mem.RemoveAll(n) })
}
func (c *crashFS) SyncDir(d string) error { return c.step(func() error { return c.mem.SyncDir(d) }) }
func (c *crashFS) MkdirAll(n string, p fs.FileMode) error {
	return c.step(func() error { return c.mem.MkdirAll(n, p) })
}

func (c *crashFS) Lock(d string) (io.Closer, error) { return c.mem.Lock(d) }

func (c *crashFS) ReadDir(n string) ([]string, error) {
	if err := c.dead(); err != nil {
		return nil, err
	}
	return c.mem.ReadDir(n)
}

func (c *crashFS) Stat(n string) (fs.FileInfo, error) {
	if err := c.dead(); err != nil {
		return nil, err
	}
	return c.mem.Stat(n)
}

type crashFile struct {
	vfs.File
	c *crashFS
}

func (f *crashFile) WriteAt(b []byte, off int64) (n int, err error) {
	err = f.c.step(func() (err error) { n, err = f.File.WriteAt(b, off); return err })
	return n, err
}

func (f *crashFile) WritevAt(bufs [][]byte, off int64) (n int, err error) {
	err = f.c.step(func() (err error) { n, err = f.File.WritevAt(bufs, off); return err })
	return n, err
}

func (f *crashFile) Sync() error { return f.c.step(f.File.Sync) }
func (f *crashFile) Allocate(off, n int64) error {
	return f.c.step(func() error { return f.File.Allocate(off, n) })
}
func (f *crashFile) Truncate(size int64) error {
	return f.c.step(func() error { return f.File.Truncate(size) })
}

// crashHistory is what the test knows of a log across crashes.
type crashHistory struct {
	written []testRecord // by sequence number: everything ever handed to Write (the latest at each seq)
	acked   int          // records [0, acked) were acknowledged: Write and Sync succeeded
	// lossBefore: records with an arrival time before it may have been
	// removed by Expire (a crash can interrupt one half-way).
	lossBefore int64
}

// check verifies a recovered log against the history and rebases the
// history on what was recovered: every recovered record is durable now.
func (h *crashHistory) check(t *testing.T, l *Log, iter int) {
	t.Helper()
	first, next := l.Bounds()
	got := readAll(t, l, 0, 0)
	if uint64(len(got)) != next-first {
		t.Fatalf("iter %d: read %d records in bounds [%d, %d)", iter, len(got), first, next)
	}
	// Nothing that was not written, nothing torn: each record is the one
	// written at its sequence number.
	for _, r := range got {
		if r.seq >= uint64(len(h.written)) || !sameRecord(r, h.written[r.seq]) {
			t.Fatalf("iter %d: recovered %v that was never written at that sequence number", iter, r)
		}
	}
	// Every acknowledged record survives (unless Expire was entitled to
	// remove it).
	if next < uint64(h.acked) {
		t.Fatalf("iter %d: log ends at %d, but records up to %d were acknowledged", iter, next, h.acked)
	}
	for seq := uint64(0); seq < min(first, uint64(h.acked)); seq++ {
		if h.written[seq].t >= h.lossBefore {
			t.Fatalf("iter %d: acknowledged record %d (time %d) lost; Expire only removed times before %d",
				iter, seq, h.written[seq].t, h.lossBefore)
		}
	}
	h.written = h.written[:next]
	h.acked = int(next)
}

// TestRecover_CrashLoop runs a writer (with rolls, syncs, expiry and clean
// closes) over a file system that loses power at a random operation, tearing
// unsynced writes, then recovers: every record acknowledged after Sync must
// survive, nothing else and nothing torn may be returned, and the recovered
// log must accept appends. Each iteration crashes a log several times.
func TestRecover_CrashLoop(t *testing.T) {
	iters := 200
	if testing.Short() {
		iters = 60
	}
	crashLoop(t, iters, nil)
}

// TestRecover_CrashLoopSealed is the crash loop on a log whose batches are
// mostly sealed (encrypted), with rolls to new key headers, crashes torn
// anywhere (inside key headers too) and resumed keys after clean closes.
func TestRecover_CrashLoopSealed(t *testing.T) {
	iters := 120
	if testing.Short() {
		iters = 40
	}
	crashLoop(t, iters, newTestSealer())
}

func crashLoop(t *testing.T, iters int, sealer *testSealer) {
	for iter := 0; iter < iters; iter++ {
		rng := rand.New(rand.NewPCG(uint64(iter), 0xc0ffee))
		cfs := &crashFS{mem: vfs.NewMem(), rng: rng, left: -1}
		opts := Options{FS: cfs, SegmentSize: 4 << 10, IndexInterval: 256, InitialAllocation: 512, MaxAllocationStep: 2 << 10}
		if sealer != nil {
			opts.Sealer = sealer
		}
		var h crashHistory
		clock := int64(1000)
		for cycle := 0; cycle < 3; cycle++ {
			cfs.mu.Lock()
			cfs.left, cfs.crashed = rng.IntN(120), false
			cfs.mu.Unlock()
			runUntilCrash(t, rng, opts, &h, &clock)

			// Power is back: recover on the raw file system.
			l, _, err := Open(testDir, Options{FS: cfs.mem, SegmentSize: opts.SegmentSize, IndexInterval: opts.IndexInterval,
				InitialAllocation: opts.InitialAllocation, MaxAllocationStep: opts.MaxAllocationStep, Sealer: opts.Sealer})
			if err != nil {
				t.Fatalf("iter %d cycle %d: recovery failed: %v", iter, cycle, err)
			}
			h.check(t, l, iter)
			// The recovered log accepts appends, durably.
			var b Batch
			recs := randomRecords(rng, 1+rng.IntN(4), 200, clock)
			clock += 10_000
			if sealer != nil {
				for i := range recs {
					recs[i].flags = record.FlagEncrypted
				}
				if err := appendSealed(t, l, &b, recs, true); err != nil {
					t.Fatalf("iter %d: sealed append after recovery: %v", iter, err)
				}
			} else {
				appendBatch(t, l, &b, recs, true)
			}
			for _, r := range recs {
				h.written = append(h.written, r)
			}
			h.acked = len(h.written)
			cfs.mem.Crash()
		}
	}
}

// runUntilCrash opens the log on the crashing file system and writes until
// the power fails (or closes it and crashes).
func runUntilCrash(t *testing.T, rng *rand.Rand, opts Options, h *crashHistory, clock *int64) {
	cfs := opts.FS.(*crashFS)
	l, _, err := Open(testDir, opts)
	if err != nil {
		if errors.Is(err, errPowerLoss) {
			return // the crash came during recovery itself
		}
		t.Fatalf("Open: %v", err)
	}
	var b Batch
	for {
		switch op := rng.IntN(20); {
		case op == 0:
			// Expire the older half of the records by time.
			before := *clock - int64(rng.IntN(40_000))
			h.lossBefore = max(h.lossBefore, before)
			if _, err := l.Expire(before); err != nil {
				return
			}
		case op == 1:
			if err := l.Close(); err != nil {
				return
			}
			cfs.mem.CrashTorn(rng) // a crash after a clean close loses nothing
			return
		default:
			l.Begin(&b)
			n := 1 + rng.IntN(6)
			recs := randomRecords(rng, n, 600, *clock)
			*clock += 10_000
			sealed := opts.Sealer != nil && rng.IntN(5) > 0
			for i := range recs {
				if sealed {
					recs[i].flags = record.FlagEncrypted
					recs[i].seq, recs[i].t = b.AddSealed(recs[i].t, recs[i].key, recs[i].data)
				} else {
					recs[i].seq, recs[i].t = b.Add(recs[i].t, 0, recs[i].key, recs[i].data)
				}
			}
			h.written = append(h.written[:recs[0].seq], recs...)
			if err := l.Write(&b); err != nil {
				return
			}
			if rng.IntN(3) > 0 {
				if err := l.Sync(); err != nil {
					return
				}
				h.acked = len(h.written)
			}
			l.Publish()
		}
	}
}
