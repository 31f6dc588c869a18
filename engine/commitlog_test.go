package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/internal/vfs"
	"github.com/sluicedb/sluice/kms"
	"github.com/sluicedb/sluice/ratelimit"
	"github.com/sluicedb/sluice/segment"
)

func openCommitLogEngine(t *testing.T, mem *vfs.Mem, mod func(*Options)) *Engine {
	t.Helper()
	q := ratelimit.Unlimited
	opts := Options{Dir: "/data", FS: mem, Quotas: &q, SegmentSize: 256 << 10, Durability: api.Always,
		Logger: quietLogger(), ShardIdleTimeout: time.Hour, RetentionInterval: time.Hour,
		CommitLogFileSize: 128 << 10}
	if mod != nil {
		mod(&opts)
	}
	e, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type ackedRec struct {
	seq  api.SeqNum
	data string
}

// putUntilCut runs producers of 10-record PutRecords over every shard until
// at least n records are acknowledged, then cuts the power (tearing what
// was not synced) and returns what was acknowledged before the cut.
func putUntilCut(t *testing.T, e *Engine, mem *vfs.Mem, rng *rand.Rand, stream string, round, n int) []ackedRec {
	t.Helper()
	var mu sync.Mutex
	var got []ackedRec
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]api.PutRecord, 10)
			res := make([]api.PutResult, 10)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				for k := range recs {
					recs[k] = api.PutRecord{Key: []byte(fmt.Sprint(p, i, k)),
						Data: []byte(fmt.Sprintf("r%d/p%d/i%d/k%d/%s", round, p, i, k, strings.Repeat("v", (i+k)%200)))}
				}
				if _, err := e.PutRecords(stream, recs, res); err != nil {
					return
				}
				mu.Lock()
				for k := range res {
					if res[k].Err == nil {
						got = append(got, ackedRec{res[k].Seq, string(recs[k].Data)})
					}
				}
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		k := len(got)
		mu.Unlock()
		if k >= n {
			break
		}
		runtime.Gosched()
	}
	mu.Lock()
	before := append([]ackedRec(nil), got...)
	mem.CrashTorn(rng)
	mu.Unlock()
	close(stop)
	wg.Wait()
	return before
}

// checkAcked reads every shard of the stream and fails unless every
// acknowledged record is there, unchanged, and nothing else is.
func checkAcked(t *testing.T, e *Engine, stream string, shards, round int, acked []ackedRec) {
	t.Helper()
	stored := map[api.SeqNum]string{}
	for sh := range shards {
		for _, r := range readShard(t, e, stream, sh) {
			if !strings.HasPrefix(string(r.Data), "r") {
				t.Fatalf("round %d: a record read back is %.40q", round, r.Data)
			}
			stored[r.Seq] = string(r.Data)
		}
	}
	for _, a := range acked {
		if d, ok := stored[a.seq]; !ok || d != a.data {
			t.Fatalf("round %d: acknowledged record %v (%.30q) lost or changed: %v %.30q", round, a.seq, a.data, ok, d)
		}
	}
}

// TestCommitLog_PowerCutManyShards puts into 16 shards, whose segments are
// synced only lazily now that the commit log makes batches durable, and
// cuts the power at random moments: every acknowledged record is back after
// each restart, put back from the commit log where its segment lost it.
func TestCommitLog_PowerCutManyShards(t *testing.T) {
	requireSingleNode(t, "the commit log (a replica's write-ahead log is its Raft log)")
	mem := vfs.NewMem()
	rng := rand.New(rand.NewPCG(14, 64))
	const shards = 16
	e := openCommitLogEngine(t, mem, nil)
	mustCreate(t, e, "s", shards)
	var all []ackedRec
	replayed := 0
	for round := range 8 {
		all = append(all, putUntilCut(t, e, mem, rng, "s", round, 200+rng.IntN(800))...)
		e = openCommitLogEngine(t, mem, nil)
		replayed += e.CommitLogStats().Replayed.Entries
		checkAcked(t, e, "s", shards, round, all)
	}
	if replayed == 0 {
		t.Fatal("no round replayed a commit log entry: the test did not exercise the log")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if names, err := mem.ReadDir(filepath.Join("/data", commitLogDirName)); err != nil || len(names) != 0 {
		t.Fatalf("a clean Close left commit log files %v (%v)", names, err)
	}
}

// TestCommitLog_EncryptedPowerCut is the power-cut test over encrypted
// shards: a segment's key header reaches the disk through the commit log
// with the first frames sealed under it.
func TestCommitLog_EncryptedPowerCut(t *testing.T) {
	requireSingleNode(t, "the commit log (a replica's write-ahead log is its Raft log)")
	mem := vfs.NewMem()
	rng := rand.New(rand.NewPCG(15, 65))
	keys := openTestKeys(t, mem)
	e := openCommitLogEngine(t, mem, func(o *Options) { o.Keys = keys; o.SegmentSize = 32 << 10 })
	mustCreate(t, e, "s", 4)
	if err := e.SetEncryption("s", "KMS", "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	var all []ackedRec
	for round := range 30 {
		all = append(all, putUntilCut(t, e, mem, rng, "s", round, 100+rng.IntN(400))...)
		keys = openTestKeys(t, mem)
		e = openCommitLogEngine(t, mem, func(o *Options) { o.Keys = keys; o.SegmentSize = 32 << 10 })
		checkAcked(t, e, "s", 4, round, all)
	}
	e.Close()
}

// TestCommitLog_FallsBackWhenTheLogFails: with every write to the commit
// log failing, durable puts are still acknowledged, each shard syncing its
// own segment, and they survive a power cut.
func TestCommitLog_FallsBackWhenTheLogFails(t *testing.T) {
	requireSingleNode(t, "the commit log (a replica's write-ahead log is its Raft log)")
	mem := vfs.NewMem()
	rng := rand.New(rand.NewPCG(16, 66))
	e := openCommitLogEngine(t, mem, nil)
	mustCreate(t, e, "s", 4)
	clogDir := filepath.Join("/data", commitLogDirName)
	mem.SetFault(func(op, name string, n int64) (int64, error) {
		if strings.HasPrefix(name, clogDir) && (op == "pwritev" || op == "create") {
			return 0, syscall.EIO
		}
		return 0, nil
	})
	acked := putUntilCut(t, e, mem, rng, "s", 0, 300)
	mem.SetFault(nil)
	if e.CommitLogStats().Fallbacks == 0 {
		t.Fatal("no batch fell back to its own sync")
	}
	e = openCommitLogEngine(t, mem, nil)
	checkAcked(t, e, "s", 4, 0, acked)
	e.Close()
}

// TestCommitLog_ReplaySkipsDeletedStreams: entries of a stream deleted
// before the power cut are skipped at replay, and the server starts.
func TestCommitLog_ReplaySkipsDeletedStreams(t *testing.T) {
	requireSingleNode(t, "the commit log (a replica's write-ahead log is its Raft log)")
	mem := vfs.NewMem()
	e := openCommitLogEngine(t, mem, nil)
	mustCreate(t, e, "gone", 2)
	mustCreate(t, e, "kept", 1)
	for i := range 20 {
		for _, s := range []string{"gone", "kept"} {
			if _, err := e.PutRecord(s, api.PutRecord{Key: []byte(fmt.Sprint(i)), Data: []byte("r0/x")}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.DeleteStream("gone", false); err != nil {
		t.Fatal(err)
	}
	mem.Crash()
	e = openCommitLogEngine(t, mem, nil)
	defer e.Close()
	if n := len(readShard(t, e, "kept", 0)); n != 20 {
		t.Fatalf("%d records in the kept stream; want 20", n)
	}
	if _, err := e.DescribeStream("gone"); err == nil {
		t.Fatal("the deleted stream is back")
	}
}

// TestCommitLog_OffStillReplays: a server started without the commit log
// replays the files an earlier run left, and then syncs each shard itself.
func TestCommitLog_OffStillReplays(t *testing.T) {
	requireSingleNode(t, "the commit log (a replica's write-ahead log is its Raft log)")
	mem := vfs.NewMem()
	rng := rand.New(rand.NewPCG(17, 67))
	e := openCommitLogEngine(t, mem, nil)
	mustCreate(t, e, "s", 4)
	acked := putUntilCut(t, e, mem, rng, "s", 0, 300)
	off := func(o *Options) { o.NoCommitLog = true }
	e = openCommitLogEngine(t, mem, off)
	checkAcked(t, e, "s", 4, 0, acked)
	if st := e.CommitLogStats(); st.Enabled || st.Replayed.Files == 0 {
		t.Fatalf("stats %+v: want the log off and the old files replayed", st)
	}
	acked = append(acked, putUntilCut(t, e, mem, rng, "s", 1, 300)...)
	e = openCommitLogEngine(t, mem, off)
	checkAcked(t, e, "s", 4, 1, acked)
	e.Close()
}

func openTestKeys(t *testing.T, mem *vfs.Mem) *kms.Local {
	t.Helper()
	keys, err := kms.Open("/data/kms", kms.Options{FS: mem, Create: true, Passphrase: "pc", KDFIterations: 10})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestCommitLog_FullDisk fills a real tmpfs: puts fail with a retryable
// error (no shard is fenced), succeed again once space is freed, and every
// acknowledged record is there after a restart.
func TestCommitLog_FullDisk(t *testing.T) {
	requireSingleNode(t, "the commit log (a replica's write-ahead log is its Raft log)")
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=12m"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): run as root to test a full disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(root, 0); err != nil {
			t.Errorf("unmount %s: %v", root, err)
		}
	})
	filler := filepath.Join(root, "filler")
	if err := os.WriteFile(filler, make([]byte, 6<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	q := ratelimit.Unlimited
	open := func() *Engine {
		e, err := Open(Options{Dir: filepath.Join(root, "data"), Quotas: &q, SegmentSize: 1 << 20,
			Logger: quietLogger(), ShardIdleTimeout: time.Hour, RetentionInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	mustCreate(t, e, "s", 4)
	var acked []ackedRec
	recs := make([]api.PutRecord, 10)
	res := make([]api.PutResult, 10)
	put := func(i int) (failed int) {
		for k := range recs {
			recs[k] = api.PutRecord{Key: []byte(fmt.Sprint(i, k)), Data: []byte(fmt.Sprintf("r0/%d/%d/%s", i, k, strings.Repeat("f", 1000)))}
		}
		if _, err := e.PutRecords("s", recs, res); err != nil {
			t.Fatal(err)
		}
		for k := range res {
			if res[k].Err == nil {
				acked = append(acked, ackedRec{res[k].Seq, string(recs[k].Data)})
				continue
			}
			failed++
			var ae *api.Error
			if !errors.As(res[k].Err, &ae) || !strings.Contains(ae.Error(), "retry") {
				t.Fatalf("a put on a full disk failed with %v; want a retryable error", res[k].Err)
			}
		}
		return failed
	}
	i := 0
	for ; put(i) == 0; i++ {
		if i > 20000 {
			t.Fatal("the disk never filled")
		}
	}
	if f := e.Faults(); len(f) != 0 {
		t.Fatalf("a full disk fenced shards: %+v", f)
	}
	t.Logf("the disk filled after %d puts; commit log: %+v", i, e.CommitLogStats())
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 50; j++ {
		if n := put(i + 1 + j); n != 0 {
			t.Fatalf("put %d after space was freed: %d records failed", j, n)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = open()
	defer e.Close()
	checkAcked(t, e, "s", 4, 0, acked)
}

// TestCommitLog_ReplayKeepsRewrappedKeyHeaders: a segment's key header
// reaches the commit log with its first frames; a Rewrap afterwards
// rewrites it under the new master key version. A power cut before the
// log's file is trimmed must not put the old header back.
func TestCommitLog_ReplayKeepsRewrappedKeyHeaders(t *testing.T) {
	requireSingleNode(t, "the commit log (a replica's write-ahead log is its Raft log)")
	mem := vfs.NewMem()
	keys := openTestKeys(t, mem)
	e := openCommitLogEngine(t, mem, func(o *Options) { o.Keys = keys })
	mustCreate(t, e, "s", 1)
	if err := e.SetEncryption("s", "KMS", "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := e.PutRecord("s", api.PutRecord{Key: []byte("k"), Data: []byte(fmt.Sprint("r0/", i))}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := keys.RotateKey("alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.Rewrap("s"); err != nil || rep.Segments == 0 {
		t.Fatalf("Rewrap = %+v, %v", rep, err)
	}
	st, err := e.lookup("s")
	if err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(e.shardDir(st.inc, 0), segment.FileName(0))
	mem.Crash()
	keys = openTestKeys(t, mem)
	e = openCommitLogEngine(t, mem, func(o *Options) { o.Keys = keys })
	defer e.Close()
	if e.CommitLogStats().Replayed.Entries == 0 {
		t.Fatal("nothing was replayed: the test did not reach the case")
	}
	f, err := mem.OpenFile(seg, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := make([]byte, segment.KeyHeaderSize)
	if _, err := f.ReadAt(h, 0); err != nil {
		t.Fatal(err)
	}
	if gen, ok := segment.KeyHeaderGeneration(h); !ok || gen < 2 {
		t.Fatalf("key header generation %d (%v) after replay; want the rewrapped one (2)", gen, ok)
	}
	if n := len(readShard(t, e, "s", 0)); n != 10 {
		t.Fatalf("%d records; want 10", n)
	}
}

// TestCommitLog_FailedSegmentWriteFencesOnlyItsShard: with the commit log,
// when one shard's segment writes fail, only that shard is fenced (its puts
// fail, Faults names it) while the shards committing in the same groups go
// on, and after a power cut and a restart every acknowledged record is
// there and the shard serves again.
func TestCommitLog_FailedSegmentWriteFencesOnlyItsShard(t *testing.T) {
	requireSingleNode(t, "the commit log (a replica's write-ahead log is its Raft log)")
	mem := vfs.NewMem()
	e := openCommitLogEngine(t, mem, nil)
	mustCreate(t, e, "s", 4)
	bad := string(filepath.Separator) + api.ShardID(2) + string(filepath.Separator)
	mem.SetFault(func(op, name string, n int64) (int64, error) {
		if op == "pwritev" && strings.Contains(name, bad) && strings.HasSuffix(name, ".seg") {
			return 0, syscall.EIO
		}
		return 0, nil
	})
	var (
		mu     sync.Mutex
		acked  []ackedRec
		failed = map[int]int{} // shard: records refused
		wg     sync.WaitGroup
	)
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]api.PutRecord, 10)
			res := make([]api.PutResult, 10)
			for i := range 40 {
				for k := range recs {
					recs[k] = api.PutRecord{Key: []byte(fmt.Sprint(p, "-", i, "-", k)), Data: []byte(fmt.Sprintf("r0/p%d/i%d/k%d", p, i, k))}
				}
				if _, err := e.PutRecords("s", recs, res); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for k := range res {
					if res[k].Err == nil {
						acked = append(acked, ackedRec{res[k].Seq, string(recs[k].Data)})
					} else {
						sh := -1 // the error names the shard
						for i := range 4 {
							if strings.Contains(res[k].Err.Error(), api.ShardID(i)) {
								sh = i
							}
						}
						failed[sh]++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) != 1 || failed[2] == 0 {
		t.Fatalf("records refused per shard = %v, want only shard 2's", failed)
	}
	faults := e.Faults()
	if len(faults) != 1 || faults[0].Shard != api.ShardID(2) || !strings.HasPrefix(faults[0].Reason, "write:") {
		t.Fatalf("Faults() = %+v, want shard 2 fenced by its write", faults)
	}
	perShard := map[uint32]int{}
	for _, a := range acked {
		perShard[a.seq.Shard]++
	}
	for _, sh := range []uint32{0, 1, 3} {
		if perShard[sh] == 0 {
			t.Fatalf("acknowledged per shard = %v: shard %d put nothing", perShard, sh)
		}
	}
	mem.SetFault(nil)
	mem.CrashTorn(rand.New(rand.NewPCG(4, 2)))
	e = openCommitLogEngine(t, mem, nil)
	defer e.Close()
	checkAcked(t, e, "s", 4, 0, acked)
	if f := e.Faults(); len(f) != 0 {
		t.Fatalf("Faults() after a restart = %+v, want none", f)
	}
	r := put(t, e, "s", "k", "after")
	if r.Err != nil {
		t.Fatal(r.Err)
	}
}
