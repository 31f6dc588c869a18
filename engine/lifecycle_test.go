package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/ratelimit"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitFor waits, event by event, until cond holds: each event is a signal
// from an engine hook, after which cond is checked again.
func waitFor(t *testing.T, events <-chan struct{}, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-events:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// hookChan returns a hook that signals ch without blocking.
func hookChan(ch chan struct{}) func() {
	return func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// TestWriter_IdleExitRacesPuts hammers two shards with producers that pause
// at random across an idle timeout of 100 µs, so that writers keep
// exiting and being restarted under puts. Every put must be acknowledged
// once, with gapless, strictly increasing sequence numbers per shard, and
// read back exactly; run it with -race.
func TestWriter_IdleExitRacesPuts(t *testing.T) {
	for _, dur := range []api.Durability{api.Always, api.Interval} {
		t.Run(dur.String(), func(t *testing.T) {
			var exits atomic.Int64
			e := openTest(t, func(o *Options) {
				o.ShardIdleTimeout = 100 * time.Microsecond
				o.SyncInterval = 100 * time.Microsecond
				o.Durability = dur
			})
			e.hooks.writerExit = func() { exits.Add(1) }
			mustCreate(t, e, "s", 2)
			const producers, puts = 16, 60
			var (
				mu    sync.Mutex
				acked = map[api.SeqNum]string{}
			)
			// A round of racing producers; rounds repeat until a writer has
			// exited while idle at least once (how often one does depends
			// on the machine's timing), so that the handoff is exercised.
			round := func(n int) {
				var wg sync.WaitGroup
				for p := 0; p < producers; p++ {
					wg.Add(1)
					go func(p int) {
						defer wg.Done()
						rng := rand.New(rand.NewPCG(uint64(p), uint64(n)))
						for i := 0; i < puts; i++ {
							if rng.IntN(2) == 0 {
								// Let the writer come near or reach its idle exit.
								time.Sleep(time.Duration(rng.IntN(600)) * time.Microsecond)
							}
							d := fmt.Sprintf("r%d-p%d-%d", n, p, i)
							r, err := e.PutRecord("s", api.PutRecord{Key: []byte(d), Data: []byte(d)}, "")
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							if prev, dup := acked[r.Seq]; dup {
								t.Errorf("sequence number %v given to %s and %s", r.Seq, prev, d)
							}
							acked[r.Seq] = d
							mu.Unlock()
						}
					}(p)
				}
				wg.Wait()
			}
			rounds := 0
			for ; rounds == 0 || exits.Load() == 0; rounds++ {
				if rounds == 50 {
					t.Fatal("no writer exited while idle in 50 rounds: the test did not exercise the handoff")
				}
				round(rounds)
				if t.Failed() {
					return
				}
			}
			got := 0
			for i := 0; i < 2; i++ {
				recs := readShard(t, e, "s", i)
				for j, r := range recs {
					if r.Seq.Seq != uint64(j) {
						t.Fatalf("shard %d: record %d has sequence %d: a gap or a duplicate", i, j, r.Seq.Seq)
					}
					if acked[r.Seq] != string(r.Data) {
						t.Fatalf("shard %d: record %v reads %q, acknowledged as %q", i, r.Seq, r.Data, acked[r.Seq])
					}
				}
				got += len(recs)
			}
			if got != len(acked) || len(acked) != rounds*producers*puts {
				t.Fatalf("%d records read, %d acknowledged, %d put", got, len(acked), rounds*producers*puts)
			}
			t.Logf("%d idle writer exits", exits.Load())
		})
	}
}

// TestShard_IdleShardsHoldNothing checks that a stream of many shards, once
// used and then idle, runs no writer goroutine and holds no open log, and
// that its shards serve again afterwards with every record.
func TestShard_IdleShardsHoldNothing(t *testing.T) {
	events := make(chan struct{}, 1)
	e := openTest(t, func(o *Options) { o.ShardIdleTimeout = 5 * time.Millisecond })
	e.hooks.writerExit = hookChan(events)
	e.hooks.parked = hookChan(events)
	const shards = 64
	mustCreate(t, e, "s", shards)
	base := runtime.NumGoroutine()
	if u := e.Usage(); u.OpenLogs != 0 || u.Writers != 0 {
		t.Fatalf("a new stream holds %d open logs and %d writers", u.OpenLogs, u.Writers)
	}
	ranges := api.EvenRanges(shards)
	put1 := func(i int, d string) api.PutResult {
		r, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte(d), ExplicitHash: ranges[i][0], HasExplicitHash: true}, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := 0; i < shards; i++ {
		put1(i, fmt.Sprint("a", i))
	}
	waitFor(t, events, "writers to exit and logs to be parked", func() bool {
		u := e.Usage()
		return u.Writers == 0 && u.OpenLogs == 0
	})
	// On a cluster the process also runs the other replicas (whose writers
	// go idle on their own time) and the nodes' Raft and transport, so
	// only this engine's own count above says what it holds.
	if n := runtime.NumGoroutine(); n > base+4 && !clusterMode() {
		t.Fatalf("%d goroutines with every shard idle, %d before any was used", n, base)
	}
	// Parked shards describe without reopening, then serve again.
	si, err := e.DescribeStream("s")
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range si.Shards {
		if sh.NextSeq != 1 {
			t.Fatalf("parked shard %s describes next %d, want 1", sh.ID, sh.NextSeq)
		}
	}
	if u := e.Usage(); u.OpenLogs != 0 {
		t.Fatalf("describe reopened %d logs", u.OpenLogs)
	}
	for i := 0; i < shards; i += 7 {
		r := put1(i, fmt.Sprint("b", i))
		if r.Seq.Seq != 1 {
			t.Fatalf("shard %d: second record has sequence %d, want 1", i, r.Seq.Seq)
		}
		recs := readShard(t, e, "s", i)
		if len(recs) != 2 || string(recs[0].Data) != fmt.Sprint("a", i) || string(recs[1].Data) != fmt.Sprint("b", i) {
			t.Fatalf("shard %d after parking: %d records", i, len(recs))
		}
	}
}

// corruptShard makes a shard's log impossible to open: its first segment
// file becomes a directory (chmod would not stop a root test run).
func corruptShard(t *testing.T, e *Engine, stream string, inc uint32, shard int) {
	t.Helper()
	dir := e.shardDir(inc, shard)
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n.Name(), ".seg") {
			p := filepath.Join(dir, n.Name())
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no segment file in %s", dir)
}

func TestFaults_ShardThatCannotOpenIsIsolated(t *testing.T) {
	requireSingleNode(t, "a segment file of the single node made unopenable, then restarts")
	dir := t.TempDir()
	q := ratelimit.Unlimited
	opts := Options{Dir: dir, Quotas: &q}
	e, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	bad := mustCreate(t, e, "bad", 2)
	mustCreate(t, e, "good", 1)
	ranges := api.EvenRanges(2)
	for i := 0; i < 2; i++ {
		if _, err := e.PutRecord("bad", api.PutRecord{Key: []byte("k"), Data: []byte("v"), ExplicitHash: ranges[i][0], HasExplicitHash: true}, ""); err != nil {
			t.Fatal(err)
		}
	}
	put(t, e, "good", "k", "before")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	corruptShard(t, e, "bad", bad.Incarnation, 0)

	e, err = Open(opts)
	if err != nil {
		t.Fatalf("one broken shard kept the engine from opening: %v", err)
	}
	put(t, e, "good", "k", "after")
	if recs := readShard(t, e, "good", 0); len(recs) != 2 {
		t.Fatalf("good stream: %d records, want 2", len(recs))
	}
	// The other shard of the broken stream serves too.
	if _, err := e.PutRecord("bad", api.PutRecord{Key: []byte("k"), Data: []byte("v"), ExplicitHash: ranges[1][0], HasExplicitHash: true}, ""); err != nil {
		t.Fatalf("healthy shard of the broken stream: %v", err)
	}

	_, err = e.PutRecord("bad", api.PutRecord{Key: []byte("k"), Data: []byte("v"), ExplicitHash: ranges[0][0], HasExplicitHash: true}, "")
	if err == nil || api.CodeOf(err) != api.CodeInternal || !strings.Contains(err.Error(), api.ShardID(0)) || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("put to the broken shard: %v (code %v), want an internal failure naming the shard", err, api.CodeOf(err))
	}
	if _, err := e.GetIterator("bad", api.ShardID(0), api.IteratorSpec{Type: api.TrimHorizon}); err == nil || !strings.Contains(err.Error(), api.ShardID(0)) {
		t.Fatalf("iterator on the broken shard: %v", err)
	}
	faults := e.Faults()
	if len(faults) != 1 || faults[0].Stream != "bad" || faults[0].Shard != api.ShardID(0) || !strings.HasPrefix(faults[0].Reason, "open: ") || faults[0].Since.IsZero() {
		t.Fatalf("Faults() = %+v, want the broken shard with its reason", faults)
	}
	if _, err := e.DescribeStream("bad"); err != nil {
		t.Fatalf("describe of the stream with a broken shard: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	// After an unclean stop (no saved ranges), every shard is opened at
	// start: the broken one is reported before anyone touches it.
	if err := os.Remove(filepath.Join(dir, boundsName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	e2, err := Open(opts)
	if err != nil {
		t.Fatalf("one broken shard kept the engine from opening after an unclean stop: %v", err)
	}
	defer e2.Close()
	if f := e2.Faults(); len(f) != 1 || f[0].Stream != "bad" || f[0].Shard != api.ShardID(0) {
		t.Fatalf("Faults() right after an unclean start = %+v, want the broken shard", f)
	}
	put(t, e2, "good", "k", "after restart")
}

// faultFS fails, while armed, the opening of segment files with EMFILE and
// the growth of files with ENOSPC: the resource shortages a shard must
// survive.
type faultFS struct {
	vfs.FS
	openFails  atomic.Bool
	allocFails atomic.Bool
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if f.openFails.Load() && strings.HasSuffix(name, ".seg") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EMFILE}
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	vfs.File
	fs *faultFS
}

func (f *faultFile) Allocate(off, n int64) error {
	if f.fs.allocFails.Load() {
		return &fs.PathError{Op: "fallocate", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Allocate(off, n)
}

func TestTransientErrors_RetryableAndNoFault(t *testing.T) {
	requireSingleNode(t, "faults injected into the local file system under a put")
	ffs := &faultFS{FS: vfs.OS}
	e := openTest(t, func(o *Options) { o.FS = ffs })
	mustCreate(t, e, "s", 1)

	// Out of descriptors when the shard opens.
	ffs.openFails.Store(true)
	_, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte("v0")}, "")
	if err == nil || api.CodeOf(err) != api.CodeInternal || !strings.Contains(err.Error(), "retry") || !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("put while out of descriptors: %v, want a retryable internal failure", err)
	}
	if f := e.Faults(); len(f) != 0 {
		t.Fatalf("a transient open failure marked the shard failed: %+v", f)
	}
	ffs.openFails.Store(false)
	want := []string{put(t, e, "s", "k", "v1").Seq.String()}

	// Out of space when the segment grows.
	ffs.allocFails.Store(true)
	big := strings.Repeat("x", 200<<10) // past the first 64 KiB allocation
	_, err = e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte(big)}, "")
	if err == nil || api.CodeOf(err) != api.CodeInternal || !strings.Contains(err.Error(), "retry") || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("put while out of space: %v, want a retryable internal failure", err)
	}
	if f := e.Faults(); len(f) != 0 {
		t.Fatalf("a transient write failure marked the shard failed: %+v", f)
	}
	ffs.allocFails.Store(false)
	want = append(want, put(t, e, "s", "k", big).Seq.String(), put(t, e, "s", "k", "v3").Seq.String())

	recs := readShard(t, e, "s", 0)
	var got []string
	for _, r := range recs {
		got = append(got, r.Seq.String())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records after the failures: %v, want the acknowledged %v", got, want)
	}
}

func TestLimits_ServerWideCaps(t *testing.T) {
	e := openTest(t, func(o *Options) { o.MaxShards = 4; o.MaxStreams = 2 })
	mustCreate(t, e, "a", 3)
	_, err := e.CreateStream(api.CreateStreamInput{Name: "b", ShardCount: 2})
	if api.CodeOf(err) != api.CodeLimitExceeded || !strings.Contains(fmt.Sprint(err), "the server holds 3 shards; the limit is 4") {
		t.Fatalf("create past the shard cap: %v", err)
	}
	err = e.SplitShard("a", api.ShardID(0), api.EvenRanges(6)[1][0])
	if api.CodeOf(err) != api.CodeLimitExceeded || !strings.Contains(fmt.Sprint(err), "the server holds 3 shards; the limit is 4") {
		t.Fatalf("split past the shard cap: %v", err)
	}
	err = e.UpdateShardCount("a", 6)
	if api.CodeOf(err) != api.CodeLimitExceeded {
		t.Fatalf("rescale past the shard cap: %v", err)
	}
	mustCreate(t, e, "b", 1)
	_, err = e.CreateStream(api.CreateStreamInput{Name: "c", ShardCount: 1})
	if api.CodeOf(err) != api.CodeLimitExceeded || !strings.Contains(fmt.Sprint(err), "the server holds 2 streams; the limit is 2") {
		t.Fatalf("create past the stream cap: %v", err)
	}
}

// TestShard_ParkRacesReads reads shards over and over while the janitor
// parks them after a millisecond of idleness and makeRoom parks them to stay
// within a budget of two open logs: every read must see every record; run it
// with -race.
func TestShard_ParkRacesReads(t *testing.T) {
	var parks atomic.Int64
	e := openTest(t, func(o *Options) { o.ShardIdleTimeout = time.Millisecond })
	e.hooks.parked = func() { parks.Add(1) }
	e.logBudget = 2
	const shards, records = 4, 50
	mustCreate(t, e, "s", shards)
	ranges := api.EvenRanges(shards)
	for i := 0; i < shards; i++ {
		for j := 0; j < records; j++ {
			d := fmt.Sprint(i, "/", j)
			if _, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte(d), ExplicitHash: ranges[i][0], HasExplicitHash: true}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	for r := 0; r < 8; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for k := 0; k < 100 && !t.Failed(); k++ {
				i := (r + k) % shards
				pos, err := e.GetIterator("s", api.ShardID(i), api.IteratorSpec{Type: api.TrimHorizon})
				if err != nil {
					t.Error(err)
					return
				}
				var res ReadResult
				if err := e.Read(pos, 0, 0, ReadSubscription, &res); err != nil {
					t.Error(err)
					return
				}
				n := 0
				it := res.Iter()
				for rec, ok := it.Next(); ok; rec, ok = it.Next() {
					if string(rec.Data) != fmt.Sprint(i, "/", n) {
						t.Errorf("shard %d record %d reads %q", i, n, rec.Data)
					}
					n++
				}
				res.Release()
				if n != records {
					t.Errorf("shard %d: read %d records, want %d", i, n, records)
				}
				if k%10 == 0 {
					time.Sleep(2 * time.Millisecond) // let the janitor park
				}
			}
		}(r)
	}
	wg.Wait()
	if parks.Load() == 0 {
		t.Fatal("no shard was parked: the test did not exercise parking under reads")
	}
	t.Logf("%d parks", parks.Load())
}

// TestWriter_PutAtTheIdleExitIsServed makes a put arrive exactly when the
// writer has decided it is idle and is about to exit: the writer must see it
// and stay, so that the put is served and no second writer starts.
func TestWriter_PutAtTheIdleExitIsServed(t *testing.T) {
	e := openTest(t, func(o *Options) { o.ShardIdleTimeout = time.Millisecond })
	mustCreate(t, e, "s", 1)
	sh := (*e.snap.Load())["s"].shard(0)
	var once sync.Once
	result := make(chan error, 1)
	e.hooks.idleExit = func() {
		once.Do(func() {
			go func() {
				_, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte("second")}, "")
				result <- err
			}()
			// Hold the writer at its decision until the put has counted
			// itself in the handoff word.
			for sh.wstate.Load() < 2 {
				runtime.Gosched()
			}
		})
	}
	put(t, e, "s", "k", "first")
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if got := e.Usage().Writers; got > 1 {
		t.Fatalf("%d writers run for one shard", got)
	}
	if recs := readShard(t, e, "s", 0); len(recs) != 2 || string(recs[1].Data) != "second" {
		t.Fatalf("%d records after the put at the idle exit", len(recs))
	}
}

// TestDescribe_AfterRestartOpensNoShard checks that a restart after a clean
// Close describes every shard's range without opening a log, and that after a
// crash (no saved ranges) the ranges come from the logs themselves.
func TestDescribe_AfterRestartOpensNoShard(t *testing.T) {
	requireSingleNode(t, "a crash of the single node's in-memory file system")
	mem := vfs.NewMem()
	q := ratelimit.Unlimited
	opts := Options{Dir: "/data", FS: mem, Quotas: &q, SegmentSize: 1 << 20, Logger: quietLogger()}
	e, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	const shards = 16
	mustCreate(t, e, "s", shards)
	ranges := api.EvenRanges(shards)
	for i := 0; i < shards; i++ {
		for j := 0; j <= i; j++ {
			if _, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte("v"), ExplicitHash: ranges[i][0], HasExplicitHash: true}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(e *Engine) {
		t.Helper()
		si, err := e.DescribeStream("s")
		if err != nil {
			t.Fatal(err)
		}
		for i, sh := range si.Shards {
			if sh.FirstSeq != 0 || sh.NextSeq != uint64(i+1) {
				t.Fatalf("shard %d describes [%d, %d), want [0, %d)", i, sh.FirstSeq, sh.NextSeq, i+1)
			}
		}
	}
	e, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	check(e)
	if n := e.Usage().OpenLogs; n != 0 {
		t.Fatalf("describing after a clean restart opened %d logs", n)
	}
	// One more record in shard 0, then a crash: the saved ranges are gone
	// and must not be trusted.
	if _, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte("v"), ExplicitHash: ranges[0][0], HasExplicitHash: true}, ""); err != nil {
		t.Fatal(err)
	}
	mem.Crash()
	e, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	si, err := e.DescribeStream("s")
	if err != nil {
		t.Fatal(err)
	}
	if si.Shards[0].NextSeq != 2 || si.Shards[5].NextSeq != 6 {
		t.Fatalf("after a crash: shard 0 next %d (want 2), shard 5 next %d (want 6)", si.Shards[0].NextSeq, si.Shards[5].NextSeq)
	}
}
