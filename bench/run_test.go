package bench

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRun_StopsOnCount checks that Claim hands out exactly the run's record
// count across workers, whatever the batch, and the run then stops.
func TestRun_StopsOnCount(t *testing.T) {
	gen := func(ctx context.Context, w *Worker) error {
		for {
			n := w.Claim(7)
			if n == 0 {
				return nil
			}
			w.Record(time.Microsecond, n, n*10)
		}
	}
	rep, err := Run(context.Background(), RunOptions{Scenario: "put", Records: 1000},
		Load{Name: "put", Workers: 3, Generate: gen})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 1000 || rep.Bytes != 10_000 {
		t.Errorf("sent %d records, %d bytes; want exactly 1000 and 10000", rep.Records, rep.Bytes)
	}
	if want := int64(1000/7 + 1); rep.Requests != want {
		t.Errorf("%d requests, want %d (142 of 7 and one of 6)", rep.Requests, want)
	}
	if rep.StoppedBy != StopRecords || rep.Scenario != "put" || rep.Load != "put" {
		t.Errorf("stopped by %q, scenario %q, load %q; want records, put, put", rep.StoppedBy, rep.Scenario, rep.Load)
	}
	if rep.Duration <= 0 || rep.RecordsPerSec <= 0 {
		t.Errorf("duration %v, %v records/s; want both positive", rep.Duration, rep.RecordsPerSec)
	}
}

// blockAfter is a generator that records n samples, reports on ready, and
// then waits for the run to end.
func blockAfter(n int, ready *sync.WaitGroup) Generator {
	return func(ctx context.Context, w *Worker) error {
		for range n {
			w.Record(100*time.Microsecond, 1, 100)
		}
		ready.Done()
		<-ctx.Done()
		return ctx.Err()
	}
}

// TestRun_StopsOnCancel checks that cancelling the caller's context (what
// Ctrl-C does) stops the load and still reports everything that ran.
func TestRun_StopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ready sync.WaitGroup
	ready.Add(4)
	go func() { ready.Wait(); cancel() }()

	rep, err := Run(ctx, RunOptions{Scenario: "put"}, Load{Name: "put", Workers: 4, Generate: blockAfter(25, &ready)})
	if err != nil {
		t.Fatalf("an interrupted run returned %v; want no error", err)
	}
	if rep.StoppedBy != StopInterrupted {
		t.Errorf("stopped by %q, want interrupted", rep.StoppedBy)
	}
	if rep.Records != 100 || rep.P50 != 100 {
		t.Errorf("report has %d records at p50 %d µs; want the 100 that ran, at 100 µs", rep.Records, rep.P50)
	}
}

// TestRun_StopsOnDuration checks the time bound.
func TestRun_StopsOnDuration(t *testing.T) {
	var ready sync.WaitGroup
	ready.Add(2)
	rep, err := Run(context.Background(), RunOptions{Duration: time.Millisecond},
		Load{Name: "put", Workers: 2, Generate: blockAfter(1, &ready)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != StopDuration || rep.Records != 2 {
		t.Errorf("stopped by %q with %d records; want duration, 2", rep.StoppedBy, rep.Records)
	}
}

// TestRun_GeneratorError checks that a failing generator stops the run, its
// error is returned with the report, and the others' cancellation is not an
// error.
func TestRun_GeneratorError(t *testing.T) {
	boom := errors.New("connection refused")
	gen := func(ctx context.Context, w *Worker) error {
		w.Record(time.Millisecond, 1, 1)
		if w.ID == 2 {
			return boom
		}
		<-ctx.Done()
		return ctx.Err()
	}
	rep, err := Run(context.Background(), RunOptions{}, Load{Name: "put", Workers: 3, Generate: gen})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "put worker 2") {
		t.Fatalf("err = %v; want worker 2's error, naming it", err)
	}
	if strings.Contains(err.Error(), "canceled") {
		t.Errorf("err = %v; the other workers' cancellation is not an error", err)
	}
	if rep == nil || rep.StoppedBy != StopError || rep.Records != 3 {
		t.Errorf("report %+v; want stopped by error with 3 records", rep)
	}
}

// TestRun_SecondaryLoad checks a run of two loads: the first bounds the run,
// the second is cancelled when it ends, and both are reported.
func TestRun_SecondaryLoad(t *testing.T) {
	put := func(ctx context.Context, w *Worker) error {
		for w.Claim(10) > 0 {
			w.Record(50*time.Microsecond, 10, 1000)
		}
		return nil
	}
	get := func(ctx context.Context, w *Worker) error {
		w.Record(200*time.Microsecond, 5, 500)
		<-ctx.Done()
		// A reader's own claim is unbounded until the run stops.
		if n := w.Claim(1_000_000); n != 0 {
			return errors.New("claim after the run stopped")
		}
		return nil
	}
	rep, err := Run(context.Background(), RunOptions{Records: 500},
		Load{Name: "put", Workers: 2, Generate: put}, Load{Name: "get", Workers: 3, Generate: get})
	if err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != StopRecords || rep.Records != 500 || rep.P50 != 50 {
		t.Errorf("top level: stopped by %q, %d records, p50 %d; want records, 500 put records at 50 µs", rep.StoppedBy, rep.Records, rep.P50)
	}
	if names := rep.LoadNames(); len(names) != 2 || names[0] != "put" || names[1] != "get" {
		t.Errorf("loads %v, want [put get]", names)
	}
	if g := rep.Loads["get"]; g == nil || g.Records != 15 || g.P50 != 200 {
		t.Errorf("get load %+v; want 15 records at 200 µs", g)
	}
}

// TestRun_Stuck checks that a generator ignoring cancellation delays the
// report by the grace period only, and the report still has what it did.
func TestRun_Stuck(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var ready sync.WaitGroup
	ready.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { ready.Wait(); cancel() }()
	gen := func(ctx context.Context, w *Worker) error {
		w.Record(time.Millisecond, 3, 3)
		ready.Done()
		<-release // deaf to ctx
		return nil
	}
	rep, err := Run(ctx, RunOptions{Grace: time.Millisecond}, Load{Name: "put", Workers: 1, Generate: gen})
	if !errors.Is(err, ErrStuck) {
		t.Fatalf("err = %v, want ErrStuck", err)
	}
	if rep.Records != 3 || rep.StoppedBy != StopInterrupted {
		t.Errorf("report: %d records, stopped by %q; want 3, interrupted", rep.Records, rep.StoppedBy)
	}
}

// TestRun_Options checks that impossible runs are refused up front.
func TestRun_Options(t *testing.T) {
	gen := func(ctx context.Context, w *Worker) error { return nil }
	cases := map[string]struct {
		opts  RunOptions
		loads []Load
	}{
		"no loads":      {RunOptions{}, nil},
		"no name":       {RunOptions{}, []Load{{Workers: 1, Generate: gen}}},
		"twice a name":  {RunOptions{}, []Load{{Name: "a", Workers: 1, Generate: gen}, {Name: "a", Workers: 1, Generate: gen}}},
		"no workers":    {RunOptions{}, []Load{{Name: "a", Generate: gen}}},
		"no generator":  {RunOptions{}, []Load{{Name: "a", Workers: 1}}},
		"negative time": {RunOptions{Duration: -time.Second}, []Load{{Name: "a", Workers: 1, Generate: gen}}},
		"negative n":    {RunOptions{Records: -1}, []Load{{Name: "a", Workers: 1, Generate: gen}}},
		"negative warm": {RunOptions{Warmup: -time.Second}, []Load{{Name: "a", Workers: 1, Generate: gen}}},
		"warm and n":    {RunOptions{Warmup: time.Second, Records: 10}, []Load{{Name: "a", Workers: 1, Generate: gen}}},
	}
	for name, c := range cases {
		if rep, err := Run(context.Background(), c.opts, c.loads...); !errors.Is(err, ErrOptions) || rep != nil {
			t.Errorf("%s: report %v, err %v; want no report and ErrOptions", name, rep, err)
		}
	}
}

// writes is an io.Writer that hands every write to the test.
type writes chan string

func (w writes) Write(b []byte) (int, error) { w <- string(b); return len(b), nil }

// TestRun_Progress drives the progress line with a test ticker: each tick
// redraws one line in place with the records so far, and the end clears it.
func TestRun_Progress(t *testing.T) {
	out := make(writes, 16)
	tick := make(chan time.Time)
	var ready sync.WaitGroup
	ready.Add(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gen := blockAfter(5, &ready)

	done := make(chan *Report)
	go func() {
		rep, _ := Run(ctx, RunOptions{Progress: out, tick: tick}, Load{Name: "put", Workers: 2, Generate: gen})
		done <- rep
	}()
	ready.Wait()
	tick <- time.Now().Add(2 * time.Second)
	line := <-out
	if !strings.HasPrefix(line, "\r") || !strings.HasSuffix(line, "\x1b[K") || strings.Contains(line, "\n") {
		t.Errorf("progress line %q; want \\r, one line, erase to end of line", line)
	}
	if !strings.Contains(line, " 10 rec ") || !strings.Contains(line, "p50 100 µs") {
		t.Errorf("progress line %q; want 10 records and p50 100 µs", line)
	}
	cancel()
	rep := <-done
	if clear := <-out; clear != "\r\x1b[K" {
		t.Errorf("last write %q, want the line cleared", clear)
	}
	// What the progress line drained still counts in the report.
	if rep.Records != 10 {
		t.Errorf("report has %d records, want 10", rep.Records)
	}
}

// TestRun_Warmup drives the warm-up with a test timer: what the loads
// record before it ends is dropped, what they record after is reported, and
// the report says how long the warm-up was.
func TestRun_Warmup(t *testing.T) {
	warm, tick := make(chan time.Time), make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	phase := make(chan int, 1) // 1 once the warm-up has ended, as the test tells the workers
	var before, after sync.WaitGroup
	before.Add(2)
	after.Add(2)
	gen := func(ctx context.Context, w *Worker) error {
		for range 5 {
			w.Record(900*time.Microsecond, 1, 10) // warm-up samples, to be dropped
		}
		before.Done()
		<-phase
		phase <- 1 // pass it on to the other worker
		for range 3 {
			w.Record(100*time.Microsecond, 2, 20)
		}
		after.Done()
		<-ctx.Done()
		return nil
	}
	done := make(chan *Report, 1)
	go func() {
		rep, err := Run(ctx, RunOptions{Warmup: time.Hour, warm: warm, Progress: io.Discard, tick: tick},
			Load{Name: "put", Workers: 2, Generate: gen})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	before.Wait()
	warm <- time.Now()
	// The controller takes one message at a time: once it takes a progress
	// tick, it has finished the warm-up's reset.
	tick <- time.Now()
	phase <- 1
	after.Wait()
	cancel()
	rep := <-done
	if rep.Records != 12 || rep.Requests != 6 || rep.Max != 100 {
		t.Errorf("report: %d records in %d requests, max %d µs; want the 12 in 6 after the warm-up, at 100 µs", rep.Records, rep.Requests, rep.Max)
	}
	if rep.Warmup != time.Hour || !strings.Contains(textOf(t, rep), "after a 3600.00 s warm-up") {
		t.Errorf("warm-up %v; want it in the report", rep.Warmup)
	}
}

// TestRun_StoppedInWarmup checks that a run interrupted during its warm-up
// reports nothing measured.
func TestRun_StoppedInWarmup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ready sync.WaitGroup
	ready.Add(1)
	go func() { ready.Wait(); cancel() }()
	rep, err := Run(ctx, RunOptions{Warmup: time.Hour}, Load{Name: "put", Workers: 1, Generate: blockAfter(4, &ready)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != StopInterrupted || rep.Records != 0 || rep.LatencySamples != 0 || rep.RecordsPerSec != 0 {
		t.Errorf("report: stopped by %q, %d records, %d samples, %v records/s; want interrupted and nothing measured",
			rep.StoppedBy, rep.Records, rep.LatencySamples, rep.RecordsPerSec)
	}
}

func textOf(t *testing.T, rep *Report) string {
	t.Helper()
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
