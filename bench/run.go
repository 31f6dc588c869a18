package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Why a run stopped, as Report.StoppedBy gives it.
const (
	StopDuration    = "duration"    // RunOptions.Duration elapsed
	StopRecords     = "records"     // RunOptions.Records were all claimed and sent
	StopDone        = "done"        // the first load's generators returned by themselves
	StopInterrupted = "interrupted" // the caller's context was cancelled (Ctrl-C)
	StopError       = "error"       // a generator returned an error
)

// A Generator is the body of one load goroutine. It sends requests until
// Claim returns 0 or ctx is done, records each completed one with the
// worker's Recorder methods, and then returns nil (or ctx.Err()). Any other
// error it returns stops the whole run; failed requests that the run should
// survive are counted with RecordFailures instead.
type Generator func(ctx context.Context, w *Worker) error

// A Load is a group of identical load goroutines, reported together.
type Load struct {
	// Name names the load in reports ("put", "get"); unique within a run.
	Name string
	// Workers is the number of goroutines, each running Generate with its own
	// Worker. At least 1.
	Workers int
	// Generate is the body of each goroutine.
	Generate Generator
}

// RunOptions bound and describe a run.
type RunOptions struct {
	// Scenario names the run in its report ("put", "limits").
	Scenario string
	// Parameters are echoed in the report (record size, batch, producers...).
	Parameters map[string]any
	// Duration stops the run after this long; 0 means no time bound.
	Duration time.Duration
	// Records bounds the number of records the first load sends: Claim hands
	// out exactly this many in total, and the run stops when the first load's
	// goroutines have returned. 0 means no count bound.
	Records int64
	// Warmup runs the loads for this long before the measurement starts:
	// what they record meanwhile is dropped, and Duration and the rates
	// count from its end. It lets token buckets, caches and connections reach
	// their steady state. 0 means none; it cannot go with Records. A run that
	// stops during its warm-up reports nothing.
	Warmup time.Duration
	// Progress, when not nil, receives a one-line progress display redrawn in
	// place ("\r...") every ProgressInterval, cleared at the end. Pass what
	// ProgressOutput returns: nil unless stdout is a terminal and the output is
	// not JSON.
	Progress io.Writer
	// ProgressInterval is the redraw period of Progress; default 1 s.
	ProgressInterval time.Duration
	// Grace is how long the run waits for its goroutines after it stopped
	// before it reports without them (and returns ErrStuck); default 5 s.
	Grace time.Duration

	// tick replaces the progress ticker in tests.
	tick <-chan time.Time
	// warm replaces the warm-up timer in tests.
	warm <-chan time.Time
}

// Worker is what one load goroutine gets: its identity, its own Recorder,
// and the run's record budget.
type Worker struct {
	// Load is the name of the load the goroutine belongs to.
	Load string
	// ID numbers the goroutines of a load from 0.
	ID int
	// Recorder is this goroutine's own; only it may record into it.
	*Recorder

	run    *runState
	budget bool // whether Claim draws on the run's record budget
}

// Claim asks to send n more records (one request's worth; call it once per
// request, not per record). It returns n, or fewer at the end of a
// count-bounded run, or 0 once the run has stopped or its records are all
// claimed: the generator should then return.
func (w *Worker) Claim(n int) int {
	if n <= 0 || w.run.stopped.Load() {
		return 0
	}
	if !w.budget || w.run.limit == 0 {
		return n
	}
	left := w.run.left.Add(-int64(n))
	if left >= 0 {
		return n
	}
	if got := int64(n) + left; got > 0 {
		return int(got)
	}
	return 0
}

// runState is what the workers of a run share.
type runState struct {
	// stopped is set once when the run stops; Claim reads it.
	stopped atomic.Bool
	// limit is RunOptions.Records; left is what Claim has not handed out yet.
	limit int64
	left  atomic.Int64
}

// workerExit is a load goroutine's last message to the controller.
type workerExit struct {
	load int
	id   int
	err  error
}

// Run runs the loads until the first load is done, the duration elapses, its
// record count is sent, a generator fails, or ctx is cancelled (Ctrl-C, via
// signal.NotifyContext), and reports what ran. The report covers everything
// completed up to the moment the goroutines returned, and is returned in
// every case but invalid options: after an interruption (StoppedBy
// "interrupted", nil error), and alongside a generator's error or ErrStuck.
//
// The first load is the primary one: Records bounds it, its end ends the
// run, and its figures are the report's top-level ones. Later loads (readers
// beside producers) run until the run stops and are reported under Loads.
func Run(ctx context.Context, opts RunOptions, loads ...Load) (*Report, error) {
	if err := checkRun(&opts, loads); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	st := &runState{limit: opts.Records}
	st.left.Store(opts.Records)
	col := newCollector(loads)
	total := 0
	for _, l := range loads {
		total += l.Workers
	}
	exits := make(chan workerExit, total)

	start := time.Now()
	runStart := start // start moves to the end of the warm-up
	for li, l := range loads {
		for id := range l.Workers {
			w := &Worker{Load: l.Name, ID: id, Recorder: col.loads[li].recs[id], run: st, budget: li == 0}
			// Load goroutine: runs the generator until it returns, then reports
			// its exit (and error) to the controller; it never blocks on the
			// controller (exits has room for every goroutine).
			go func() {
				exits <- workerExit{load: li, id: id, err: l.Generate(runCtx, w)}
			}()
		}
	}

	// The duration counts from the end of the warm-up, if there is one.
	var (
		timeout, warm <-chan time.Time
		stopTimers    []*time.Timer
	)
	startClock := func() {
		if opts.Duration > 0 {
			t := time.NewTimer(opts.Duration)
			timeout = t.C
			stopTimers = append(stopTimers, t)
		}
	}
	defer func() {
		for _, t := range stopTimers {
			t.Stop()
		}
	}()
	switch {
	case opts.Warmup == 0:
		startClock()
	case opts.warm != nil:
		warm = opts.warm
	default:
		t := time.NewTimer(opts.Warmup)
		warm = t.C
		stopTimers = append(stopTimers, t)
	}
	var tick <-chan time.Time
	switch {
	case opts.Progress == nil:
	case opts.tick != nil:
		tick = opts.tick
	default:
		t := time.NewTicker(opts.ProgressInterval)
		defer t.Stop()
		tick = t.C
	}

	var (
		reason    string
		stoppedAt time.Time
		errs      []error
		running   = total
		primary   = loads[0].Workers
		last      = start
		warmedUp  = opts.Warmup == 0
	)
	stop := func(why string) {
		if reason == "" {
			reason, stoppedAt = why, time.Now()
			st.stopped.Store(true)
			cancel()
		}
	}
	exit := func(e workerExit) {
		// A goroutine may see the caller's cancellation (through its own
		// context) and return before the controller has seen it: the run was
		// interrupted, and its context error is not a failure.
		if reason == "" && ctx.Err() != nil {
			stop(StopInterrupted)
		}
		running--
		if e.load == 0 {
			primary--
		}
		if e.err != nil && !(reason != "" && isContextErr(e.err)) {
			errs = append(errs, fmt.Errorf("%s worker %d: %w", loads[e.load].Name, e.id, e.err))
			stop(StopError)
		}
		if primary == 0 {
			if opts.Records > 0 && st.left.Load() <= 0 {
				stop(StopRecords)
			} else {
				stop(StopDone)
			}
		}
	}

	// Until the run stops: watch the bounds, the caller, the goroutines and
	// the progress ticker.
	for reason == "" {
		select {
		case <-ctx.Done():
			stop(StopInterrupted)
		case <-timeout:
			stop(StopDuration)
		case <-warm:
			// Drop what the warm-up recorded; the measurement starts now.
			warm = nil
			col.reset()
			now := time.Now()
			start, last = now, now
			warmedUp = true
			startClock()
		case e := <-exits:
			exit(e)
		case now := <-tick:
			col.progress(opts.Progress, now.Sub(runStart), now.Sub(last))
			last = now
		}
	}

	// Then wait, within the grace period, for every goroutine to return. The
	// run ends when the last one returns (their final requests count), or,
	// when some are stuck, when it stopped, so that the grace period does not
	// dilute the rates.
	grace := time.NewTimer(opts.Grace)
	defer grace.Stop()
	end := time.Time{}
wait:
	for running > 0 {
		select {
		case e := <-exits:
			exit(e)
		case <-grace.C:
			errs = append(errs, fmt.Errorf("%w: %d of %d still running %v after the run stopped",
				ErrStuck, running, total, opts.Grace))
			end = stoppedAt
			break wait
		}
	}
	if end.IsZero() {
		end = time.Now()
	}
	if opts.Progress != nil {
		clearProgress(opts.Progress)
	}

	var rep *Report
	if warmedUp {
		rep = col.report(end.Sub(start))
		rep.Warmup = opts.Warmup
	} else {
		// Stopped during the warm-up: nothing was measured.
		col.reset()
		rep = col.report(0)
		start = end
	}
	rep.Scenario = opts.Scenario
	rep.Parameters = opts.Parameters
	rep.Start = start
	rep.StoppedBy = reason
	return rep, errors.Join(errs...)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// checkRun validates the options and loads and fills in defaults.
func checkRun(opts *RunOptions, loads []Load) error {
	if len(loads) == 0 {
		return fmt.Errorf("%w: a run needs at least one load", ErrOptions)
	}
	seen := make(map[string]bool, len(loads))
	for i, l := range loads {
		switch {
		case l.Name == "":
			return fmt.Errorf("%w: load %d has no name", ErrOptions, i)
		case seen[l.Name]:
			return fmt.Errorf("%w: two loads are named %q; names must be unique", ErrOptions, l.Name)
		case l.Workers < 1:
			return fmt.Errorf("%w: load %q has %d workers; it needs at least 1", ErrOptions, l.Name, l.Workers)
		case l.Generate == nil:
			return fmt.Errorf("%w: load %q has no generator", ErrOptions, l.Name)
		}
		seen[l.Name] = true
	}
	if opts.Duration < 0 {
		return fmt.Errorf("%w: duration is %v; it must be positive, or 0 for none", ErrOptions, opts.Duration)
	}
	if opts.Records < 0 {
		return fmt.Errorf("%w: records is %d; it must be positive, or 0 for none", ErrOptions, opts.Records)
	}
	if opts.Warmup < 0 {
		return fmt.Errorf("%w: warm-up is %v; it must be positive, or 0 for none", ErrOptions, opts.Warmup)
	}
	if opts.Warmup > 0 && opts.Records > 0 {
		return fmt.Errorf("%w: a warm-up of %v needs a time-bounded run; set a duration instead of %d records", ErrOptions, opts.Warmup, opts.Records)
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = time.Second
	}
	if opts.Grace <= 0 {
		opts.Grace = 5 * time.Second
	}
	return nil
}
