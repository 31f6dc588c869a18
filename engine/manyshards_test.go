//go:build linux

package engine

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicedb/sluice/api"
	"github.com/sluicedb/sluice/ratelimit"
)

// The many-shards tests run a child process (this test binary again) with
// RLIMIT_NOFILE lowered to childFileLimit, so that a data directory of more
// shards than descriptors must open and serve.
const (
	childFileLimit  = 1024
	manyShardsPer   = 1000 // shards per stream
	manyShardsEnv   = "SLUICE_MANYSHARDS_DIR"
	manyShardsTouch = "SLUICE_MANYSHARDS_TOUCH" // "all": read more shards in the child than may stay open
)

// makeManyShards creates, in dir, streams m0, m1, ... of manyShardsPer
// shards each, total shards in all, with one record in the first filled
// shards of m0 and in the shards the child serves (see servedShards) of every
// stream; the others stay empty.
func makeManyShards(t *testing.T, dir string, total, filled int) {
	t.Helper()
	q := ratelimit.Unlimited
	e, err := Open(Options{Dir: dir, Quotas: &q, Durability: api.None, MaxShards: total, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for s := 0; s*manyShardsPer < total; s++ {
		n := min(manyShardsPer, total-s*manyShardsPer)
		name := fmt.Sprint("m", s)
		if _, err := e.CreateStream(api.CreateStreamInput{Name: name, ShardCount: n}); err != nil {
			t.Fatal(err)
		}
		ranges := api.EvenRanges(n)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += 4 {
					if !(s == 0 && i < filled) && !slices.Contains(servedShards(n), i) {
						continue
					}
					d := fmt.Sprintf("%s/%d", name, i)
					if _, err := e.PutRecord(name, api.PutRecord{Key: []byte(d), Data: []byte(d), ExplicitHash: ranges[i][0], HasExplicitHash: true}, ""); err != nil {
						errs <- err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
}

// servedShards are the shards of a stream of n shards that the child puts to
// and reads back.
func servedShards(n int) []int { return []int{0, n / 3, n - 1} }

// TestManyShardsChild is the child of the many-shards tests: it lowers its
// descriptor limit, opens the data directory, puts to and reads back from
// shards spread over every stream (and, with SLUICE_MANYSHARDS_TOUCH set to
// "all", more shards than its descriptor budget keeps open), waits for the shards to go idle and prints what it measured
// as "key value" lines.
func TestManyShardsChild(t *testing.T) {
	dir := os.Getenv(manyShardsEnv)
	if dir == "" {
		t.Skip("run by TestManyShards_LowFileLimit")
	}
	fail := func(format string, args ...any) {
		fmt.Printf("error "+format+"\n", args...)
		os.Exit(2)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: childFileLimit, Max: childFileLimit}); err != nil {
		fail("setrlimit: %v", err)
	}
	events := make(chan struct{}, 1)
	q := ratelimit.Unlimited
	start := time.Now()
	e, err := Open(Options{Dir: dir, Quotas: &q, ShardIdleTimeout: 200 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		fail("open: %v", err)
	}
	fmt.Println("open_ms", time.Since(start).Milliseconds())
	fmt.Println("maxrss_open_kib", maxRSS())
	e.hooks.writerExit = hookChan(events)
	e.hooks.parked = hookChan(events)
	u := e.Usage()
	fmt.Println("shards", u.Shards)
	fmt.Println("goroutines_open", runtime.NumGoroutine())

	check := func(name string, i int, want []string) {
		pos, err := e.GetIterator(name, api.ShardID(i), api.IteratorSpec{Type: api.TrimHorizon})
		if err != nil {
			fail("iterator %s/%d: %v", name, i, err)
		}
		var res ReadResult
		if err := e.Read(pos, 100, 0, ReadSubscription, &res); err != nil {
			fail("read %s/%d: %v", name, i, err)
		}
		var got []string
		it := res.Iter()
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			got = append(got, string(r.Data))
		}
		res.Release()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			fail("%s/%d holds %v, want %v", name, i, got, want)
		}
	}
	streams := e.ListStreams()
	served := 0
	for _, name := range streams {
		si, err := e.DescribeStream(name)
		if err != nil {
			fail("describe %s: %v", name, err)
		}
		n := len(si.Shards)
		ranges := api.EvenRanges(n)
		for _, i := range servedShards(n) {
			d := fmt.Sprintf("%s/%d", name, i)
			r, err := e.PutRecord(name, api.PutRecord{Key: []byte("x"), Data: []byte("new " + d), ExplicitHash: ranges[i][0], HasExplicitHash: true}, "")
			if err != nil {
				fail("put %s: %v", d, err)
			}
			if r.ShardID != api.ShardID(i) {
				fail("put %s went to %s", d, r.ShardID)
			}
			check(name, i, []string{d, "new " + d})
			served++
		}
	}
	fmt.Println("served", served)
	fmt.Println("maxrss_served_kib", maxRSS())
	fmt.Println("goroutines_busy", runtime.NumGoroutine())
	if os.Getenv(manyShardsTouch) == "all" {
		// Read more shards one after another than the descriptor budget
		// lets stay open: idle ones must be parked to make room.
		budget := e.Usage().LogBudget
		fmt.Println("log_budget", budget)
		t0 := time.Now()
		touched := 0
		for _, name := range streams {
			si, _ := e.DescribeStream(name)
			for i := 0; i < len(si.Shards) && touched < budget+budget/16; i++ {
				pos, err := e.GetIterator(name, api.ShardID(i), api.IteratorSpec{Type: api.TrimHorizon})
				if err != nil {
					fail("iterator %s/%d: %v", name, i, err)
				}
				var res ReadResult
				if err := e.Read(pos, 100, 0, ReadSubscription, &res); err != nil || res.Records < 1 {
					fail("read %s/%d: %d records, %v", name, i, res.Records, err)
				}
				res.Release()
				touched++
			}
		}
		fmt.Println("touched", touched)
		fmt.Println("touch_ms", time.Since(t0).Milliseconds())
	}
	deadline := time.After(time.Minute)
	for u := e.Usage(); u.Writers != 0 || u.OpenLogs != 0; u = e.Usage() {
		select {
		case <-events:
		case <-deadline:
			fail("shards did not go idle: %+v", u)
		}
	}
	fmt.Println("goroutines_idle", runtime.NumGoroutine())
	if err := e.Close(); err != nil {
		fail("close: %v", err)
	}
	fmt.Println("maxrss_kib", maxRSS())
	fmt.Println("ok 1")
}

// maxRSS is the process's peak resident set in KiB: VmHWM of
// /proc/self/status, which belongs to this image (getrusage's ru_maxrss
// would carry the parent's peak across the vfork and exec that started us).
func maxRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// runManyShardsChild runs the child on dir and returns its "key value" lines.
func runManyShardsChild(t *testing.T, dir string, touchAll bool) map[string]int64 {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestManyShardsChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), manyShardsEnv+"="+dir)
	if touchAll {
		cmd.Env = append(cmd.Env, manyShardsTouch+"=all")
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error ") {
			t.Error("child: " + line)
			continue
		}
		f := strings.Fields(line)
		if len(f) == 2 {
			if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if out["ok"] != 1 {
		t.Fatalf("child did not finish: %v", out)
	}
	return out
}

// TestManyShards_LowFileLimit opens a data directory of more shards than the
// child's descriptor limit (2,100 shards under RLIMIT_NOFILE 1024), serves a
// put and a read on shards of every stream, then reads more shards than it
// may keep open, and
// checks that the goroutines return to where they were at open once the
// shards are idle.
func TestManyShards_LowFileLimit(t *testing.T) {
	requireSingleNode(t, "a child process serving one data directory under a low descriptor limit")
	if testing.Short() {
		t.Skip("spawns a process and creates 2,100 shards")
	}
	dir := t.TempDir()
	const total = 2100
	t0 := time.Now()
	makeManyShards(t, dir, total, manyShardsPer)
	t.Logf("built %d shards in %v", total, time.Since(t0))
	out := runManyShardsChild(t, dir, true)
	t.Logf("child: %v", out)
	if out["shards"] != total {
		t.Fatalf("child opened %d shards, want %d", out["shards"], total)
	}
	if out["served"] < 6 {
		t.Fatalf("child served %d shards", out["served"])
	}
	if out["touched"] <= out["log_budget"] {
		t.Fatalf("child read %d shards, not past its budget of %d open logs", out["touched"], out["log_budget"])
	}
	if open, idle := out["goroutines_open"], out["goroutines_idle"]; idle > open+5 {
		t.Fatalf("%d goroutines once the shards are idle, %d after open: they do not scale down", idle, open)
	}
}

// TestManyShards_TenThousand starts 10,000 mostly idle shards under
// RLIMIT_NOFILE 1024, serves a put and a read on three shards of each of its
// ten streams, and reports the child's start time and peak RSS. It takes
// about 15 s (most of it building the data directory); -short and the race
// detector skip it:
//
//	go test -count=1 -run '^TestManyShards_TenThousand$' -v ./engine
func TestManyShards_TenThousand(t *testing.T) {
	requireSingleNode(t, "a child process serving one data directory under a low descriptor limit")
	if testing.Short() || raceEnabled {
		t.Skip("spawns a process and creates 10,000 shards")
	}
	dir := t.TempDir()
	const total = 10000
	t0 := time.Now()
	makeManyShards(t, dir, total, 0)
	t.Logf("built %d shards in %v", total, time.Since(t0))
	out := runManyShardsChild(t, dir, false)
	t.Logf("child: open %d ms, maxrss after open %d KiB, after serving %d KiB, at exit %d KiB, goroutines open/busy/idle %d/%d/%d, served %d",
		out["open_ms"], out["maxrss_open_kib"], out["maxrss_served_kib"], out["maxrss_kib"], out["goroutines_open"], out["goroutines_busy"], out["goroutines_idle"], out["served"])
	if out["shards"] != total {
		t.Fatalf("child opened %d shards, want %d", out["shards"], total)
	}
	if open, idle := out["goroutines_open"], out["goroutines_idle"]; idle > open+5 {
		t.Fatalf("%d goroutines once the shards are idle, %d after open", idle, open)
	}
}

// TestManyShards_TenThousandUncleanStart is TestManyShards_TenThousand after
// an unclean stop (the data directory's bounds.json removed, as a crash
// leaves it): the child recovers all 10,000 shards at start under
// RLIMIT_NOFILE 1024 and must then serve as before. It takes longer (every
// shard's log is opened and closed at start), so it runs only with
// SLUICE_TEST_10K=1:
//
//	SLUICE_TEST_10K=1 go test -count=1 -run '^TestManyShards_TenThousandUncleanStart$' -v ./engine
func TestManyShards_TenThousandUncleanStart(t *testing.T) {
	requireSingleNode(t, "a child process serving one data directory under a low descriptor limit")
	if os.Getenv("SLUICE_TEST_10K") == "" {
		t.Skip("set SLUICE_TEST_10K=1 to run")
	}
	dir := t.TempDir()
	const total = 10000
	makeManyShards(t, dir, total, 0)
	if err := os.Remove(filepath.Join(dir, boundsName)); err != nil {
		t.Fatal(err)
	}
	out := runManyShardsChild(t, dir, false)
	t.Logf("child: open %d ms (recovering every shard), maxrss after open %d KiB, at exit %d KiB, goroutines open/busy/idle %d/%d/%d, served %d",
		out["open_ms"], out["maxrss_open_kib"], out["maxrss_kib"], out["goroutines_open"], out["goroutines_busy"], out["goroutines_idle"], out["served"])
	if out["shards"] != total {
		t.Fatalf("child opened %d shards, want %d", out["shards"], total)
	}
}
