package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configures an Agent. Zero fields take the documented defaults.
type Options struct {
	// Config is the validated configuration (LoadConfig). Required.
	Config *Config
	// Destination receives the records. Required; the agent closes it.
	Destination Destination
	// Once reads every file to its end, sends it all, writes the
	// checkpoints and returns (for batch use and tests), instead of
	// tailing until the context ends.
	Once bool
	// PollInterval is how often the files are looked at for new lines,
	// new files and rotations; default 250 ms.
	PollInterval time.Duration
	// PartialLineTimeout is how long the end of a --once run waits for the
	// newline of a file's partial last line before sending it as it is;
	// default 1 s. While tailing, a partial line always waits.
	PartialLineTimeout time.Duration
	// ShutdownTimeout bounds the sending of what is buffered once the
	// context ends; default 10 s. What is not acknowledged by then is read
	// again at the next start.
	ShutdownTimeout time.Duration
	// BackoffBase and BackoffMax shape the wait before a refused or failed
	// put is sent again: the n-th retry waits a random duration in
	// [d/2, d) with d = min(BackoffMax, BackoffBase·2^n); defaults 100 ms
	// and 10 s.
	BackoffBase, BackoffMax time.Duration
	// RequestTimeout bounds each put request; default 30 s. A request that
	// times out is sent again (on a new connection for the binary
	// protocol); it may have been stored, so its records may be sent twice.
	RequestTimeout time.Duration
	// Progress, if set, receives a progress line every ProgressInterval
	// (default 10 s; negative: none) and a summary at the end.
	Progress         io.Writer
	ProgressInterval time.Duration
	// Log receives events (rotations, retries, lost files); default none.
	Log *slog.Logger
	// Clock is the agent's time; default the system clock.
	Clock Clock
	// Hostname is ADDMETADATA's host; default os.Hostname().
	Hostname string
}

// Agent ships the lines of log files into streams.
type Agent struct {
	opts  Options
	clock Clock
	log   *slog.Logger
	host  string
	flows []*flowState

	// foreign are checkpoints of flows no longer configured, kept as they
	// were so that a flow taken out and put back resumes where it was.
	foreign []checkpoint

	ckptWake chan struct{} // a batch was acknowledged: the checkpoint may move
	ckptMu   sync.Mutex    // serializes checkpoint writes; guards ckptLast
	ckptLast []byte        // the bytes of the last checkpoint file written
}

// New returns an agent for opts: it reads the checkpoint file and opens
// the files it names, but reads no line yet.
func New(opts Options) (*Agent, error) {
	if opts.Config == nil || opts.Destination == nil {
		return nil, errors.New("agent: Options needs a Config and a Destination")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.PartialLineTimeout <= 0 {
		opts.PartialLineTimeout = time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 100 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 10 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.ProgressInterval == 0 {
		opts.ProgressInterval = 10 * time.Second
	}
	a := &Agent{opts: opts, clock: opts.Clock, log: opts.Log, host: opts.Hostname, ckptWake: make(chan struct{}, 1)}
	if a.clock == nil {
		a.clock = SystemClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.host == "" {
		a.host, _ = os.Hostname()
	}
	if _, ok := fileIdentity(dummyInfo()); !ok {
		return nil, errors.New("agent: this system gives files no device and inode numbers, which the agent follows files by")
	}
	path := opts.Config.CheckpointFile
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("agent: the directory of checkpointFile %s: %w", path, err)
	}
	_, statErr := os.Stat(path)
	firstStart := errors.Is(statErr, fs.ErrNotExist)
	entries, err := readCheckpoints(path)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for i := range opts.Config.Flows {
		fl, err := newFlowState(a, &opts.Config.Flows[i])
		if err != nil {
			return nil, err
		}
		fl.startAtEnd = firstStart && fl.cfg.InitialPosition == EndOfFile
		fl.restore(entries)
		a.flows = append(a.flows, fl)
		keys[fl.key] = true
	}
	for _, e := range entries {
		if !keys[e.Flow] {
			a.foreign = append(a.foreign, e)
		}
	}
	return a, nil
}

// dummyInfo is the FileInfo of the working directory, to check that the
// system gives identities.
func dummyInfo() fs.FileInfo {
	fi, err := os.Stat(".")
	if err != nil {
		fi, _ = os.Stat("/")
	}
	return fi
}

// Run tails and ships until ctx ends (or, with Once, until every file is
// sent), then sends what is buffered within ShutdownTimeout, writes the
// checkpoints and closes the destination. It returns an error only when
// the checkpoints could not be written at the end.
func (a *Agent) Run(ctx context.Context) error {
	sendCtx, cancelSend := context.WithCancel(context.Background())
	defer cancelSend()
	stopCkpt := make(chan struct{})
	ckptDone := make(chan struct{})
	go a.checkpointLoop(stopCkpt, ckptDone)
	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go a.progressLoop(stopProgress, progressDone)

	var tailers, senders sync.WaitGroup
	for _, fl := range a.flows {
		tailers.Add(1)
		go func() {
			defer tailers.Done()
			if err := fl.tail(ctx, sendCtx); err != nil && !errors.Is(err, context.Canceled) {
				fl.log.Error("tailer stopped", "err", err)
			}
		}()
		senders.Add(1)
		go func() {
			defer senders.Done()
			fl.sendLoop(sendCtx)
		}()
	}
	// After ctx ends the senders get ShutdownTimeout to empty the queues.
	sendersDone := make(chan struct{})
	go func() { senders.Wait(); close(sendersDone) }()
	select {
	case <-sendersDone:
	case <-ctx.Done():
		t := a.clock.NewTimer(a.opts.ShutdownTimeout)
		select {
		case <-sendersDone:
			t.Stop()
		case <-t.C():
			a.log.Warn("shutdown timeout: records not yet acknowledged will be read again at the next start")
			cancelSend()
			<-sendersDone
		}
	}
	tailers.Wait()
	close(stopProgress)
	<-progressDone
	close(stopCkpt)
	<-ckptDone
	err := a.writeCheckpoint()
	if cerr := a.opts.Destination.Close(); cerr != nil {
		a.log.Warn("closing the destination", "err", cerr)
	}
	for _, fl := range a.flows {
		fl.closeFiles()
	}
	if a.opts.Progress != nil {
		a.printProgress(a.opts.Progress, true)
	}
	return err
}

// closeFiles closes the files the flow holds open.
func (fl *flowState) closeFiles() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for _, s := range fl.sources {
		if s.f != nil {
			s.f.Close()
			s.f = nil
		}
	}
}

// sendLoop is a flow's sender goroutine: it puts the batches its tailer
// queues, one at a time and in order, retrying what is refused until it is
// stored, then moves each file's acknowledged offset and wakes the
// checkpointer. It returns when the tailer closes the queue or ctx ends
// (the records not acknowledged then are read again at the next start).
func (fl *flowState) sendLoop(ctx context.Context) {
	var recs []Record
	var results []error
	for b := range fl.out {
		if ctx.Err() != nil {
			continue // drain the queue so that the tailer is not stuck on it
		}
		if fl.sendBatch(ctx, b, &recs, &results) {
			fl.free <- b
		}
	}
}

// sendBatch puts one batch and moves its files' acknowledged offsets; it
// returns false if ctx ended first.
func (fl *flowState) sendBatch(ctx context.Context, b *batch, recs *[]Record, results *[]error) bool {
	*recs = b.records(*recs)
	if cap(*results) < len(*recs) {
		*results = make([]error, len(*recs))
	}
	if !fl.send(ctx, *recs, (*results)[:len(*recs)]) {
		return false
	}
	// Under mu, so that a checkpoint sees every file of a batch moved or
	// none: it never holds a later generation past one it has not finished.
	fl.mu.Lock()
	for _, m := range b.marks {
		m.src.acked.Store(m.end)
	}
	fl.mu.Unlock()
	fl.a.wakeCheckpoint()
	b.reset()
	return true
}

// send puts recs until every one is stored or refused as invalid; it
// returns false if ctx ended first.
func (fl *flowState) send(ctx context.Context, recs []Record, results []error) bool {
	stream := fl.cfg.Stream
	pending := recs
	single := false // a request refused as a whole as invalid is split up to find the record
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			fl.stats.retries.Add(1)
			if !fl.a.backoff(ctx, attempt) {
				return false
			}
		}
		var err error
		n := len(pending)
		if single {
			n = 1
		}
		rctx, cancel := context.WithTimeout(ctx, fl.a.opts.RequestTimeout)
		err = fl.a.opts.Destination.PutRecords(rctx, stream, pending[:n], results[:n])
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err != nil {
			if permanent(err) && n > 1 {
				single = true
				continue
			}
			if permanent(err) {
				results[0] = err
			} else {
				if attempt == 0 || attempt%10 == 0 {
					fl.log.Warn("put failed; sending again with backoff", "stream", stream, "records", n, "attempt", attempt+1, "err", err)
				}
				continue
			}
		}
		left := pending[:0]
		throttled := 0
		for i := range n {
			switch e := results[i]; {
			case e == nil:
				fl.stats.sent.Add(1)
			case permanent(e):
				fl.stats.failed.Add(1)
				fl.log.Error("record refused as invalid; it is not stored", "stream", stream, "bytes", len(pending[i].Data), "err", e)
			default:
				if isThrottled(e) {
					throttled++
				}
				left = append(left, pending[i])
			}
		}
		// The records after the first n (split mode) keep their order
		// after the ones refused for now.
		left = append(left, pending[n:]...)
		if len(left) == 0 {
			return true
		}
		if single && len(left) == len(pending)-n {
			attempt = -1 // this request went through: no backoff before the next
		} else if throttled < len(left) && (attempt == 0 || attempt%10 == 0) {
			fl.log.Warn("records refused; sending them again with backoff", "stream", stream, "records", len(left), "attempt", attempt+1, "err", firstErr(results[:n]))
		}
		pending = left
	}
}

func isThrottled(err error) bool { return throttled(err) }

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// backoff waits before retry number attempt; false if ctx ended.
func (a *Agent) backoff(ctx context.Context, attempt int) bool {
	d := a.opts.BackoffMax
	if attempt < 30 {
		d = min(d, a.opts.BackoffBase<<(attempt-1))
	}
	d = d/2 + rand.N(d/2+1)
	t := a.clock.NewTimer(d)
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

func (a *Agent) wakeCheckpoint() {
	select {
	case a.ckptWake <- struct{}{}:
	default:
	}
}

// checkpointLoop is the checkpointer goroutine: each wake-up writes one
// checkpoint file holding every acknowledgement made until then, so that
// acknowledgements arriving during a write are covered by the next one.
func (a *Agent) checkpointLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-a.ckptWake:
			if err := a.writeCheckpoint(); err != nil {
				a.log.Error("writing the checkpoints failed; the next acknowledgement tries again", "err", err)
			}
		case <-stop:
			return
		}
	}
}

// writeCheckpoint writes the checkpoint file if it changed.
func (a *Agent) writeCheckpoint() error {
	a.ckptMu.Lock()
	defer a.ckptMu.Unlock()
	var entries []checkpoint
	for _, fl := range a.flows {
		entries = fl.snapshot(entries)
	}
	entries = append(entries, a.foreign...)
	b := encodeCheckpoints(nil, entries)
	if bytes.Equal(b, a.ckptLast) {
		return nil
	}
	if err := writeCheckpointsSync(a.opts.Config.CheckpointFile, b); err != nil {
		return err
	}
	a.ckptLast = b
	return nil
}

// progressLoop prints the progress line every ProgressInterval.
func (a *Agent) progressLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if a.opts.Progress == nil || a.opts.ProgressInterval < 0 {
		return
	}
	for {
		t := a.clock.NewTimer(a.opts.ProgressInterval)
		select {
		case <-t.C():
			a.printProgress(a.opts.Progress, false)
		case <-stop:
			t.Stop()
			return
		}
	}
}

// Stats are a flow's counters.
type Stats struct {
	Flow     string
	Lines    int64 // lines read
	Records  int64 // records made of them
	Sent     int64 // records acknowledged
	Failed   int64 // records refused as invalid (never stored)
	Unparsed int64 // records a processing option could not parse (sent raw with an error field)
	Retries  int64
	Behind   int64 // bytes of the files not yet acknowledged
	// Truncated counts records cut to the record size limit; KeyFallbacks
	// JSON_FIELD records without the field (keyed as DETERMINISTIC);
	// LostFiles files truncated with no copy found to finish them from.
	Truncated, KeyFallbacks, LostFiles int64
}

// Stats returns every flow's counters.
func (a *Agent) Stats() []Stats {
	var out []Stats
	for _, fl := range a.flows {
		behind, _ := fl.behind()
		out = append(out, Stats{Flow: fl.key, Lines: fl.stats.lines.Load(), Records: fl.stats.records.Load(),
			Sent: fl.stats.sent.Load(), Failed: fl.stats.failed.Load(), Unparsed: fl.stats.unparsed.Load(),
			Retries: fl.stats.retries.Load(), Behind: behind, Truncated: fl.stats.truncated.Load(),
			KeyFallbacks: fl.stats.keyMissing.Load(), LostFiles: fl.stats.lostFiles.Load()})
	}
	return out
}

// printProgress writes one line per flow:
//
//	agent: /var/log/app/*.log -> logs: 1200 lines read, 1180 sent, 0 failed, 3 unparsed, 0 retries, 2.0 KiB behind (/var/log/app/a.log 2.0 KiB)
func (a *Agent) printProgress(w io.Writer, final bool) {
	word := "agent"
	if final {
		word = "agent done"
	}
	for _, fl := range a.flows {
		total, files := fl.behind()
		line := fmt.Sprintf("%s: %s: %d lines read, %d records sent, %d failed, %d unparsed, %d retries, %s behind",
			word, fl.key, fl.stats.lines.Load(), fl.stats.sent.Load(), fl.stats.failed.Load(), fl.stats.unparsed.Load(), fl.stats.retries.Load(), sizeString(total))
		if len(files) > 0 {
			line += " ("
			for i, f := range files {
				if i == 3 {
					line += fmt.Sprintf(", and %d more", len(files)-3)
					break
				}
				if i > 0 {
					line += ", "
				}
				line += f.path + " " + sizeString(f.bytes)
			}
			line += ")"
		}
		fmt.Fprintln(w, line)
	}
}

func sizeString(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
