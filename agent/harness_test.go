package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// memDest is a Destination that keeps what it stores. refuse, if set,
// decides per record (by its data) whether to refuse it this time.
type memDest struct {
	mu      sync.Mutex
	streams map[string][]Record // guarded by mu
	calls   int                 // guarded by mu
	refuse  func(call int, data []byte) error
	block   chan struct{} // if set, each put waits for a value from it
	put     chan int      // if set, receives the number of records stored by each call
}

func newMemDest() *memDest { return &memDest{streams: map[string][]Record{}} }

func (d *memDest) PutRecords(ctx context.Context, stream string, recs []Record, results []error) error {
	if d.block != nil {
		select {
		case <-d.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.mu.Lock()
	d.calls++
	call := d.calls
	stored := 0
	for i, r := range recs {
		results[i] = nil
		if d.refuse != nil {
			if err := d.refuse(call, r.Data); err != nil {
				results[i] = err
				continue
			}
		}
		d.streams[stream] = append(d.streams[stream], Record{Key: append([]byte(nil), r.Key...), Data: append([]byte(nil), r.Data...)})
		stored++
	}
	d.mu.Unlock()
	if d.put != nil {
		d.put <- stored
	}
	return nil
}

func (d *memDest) Close() error { return nil }

// lines returns the data of the records in stream, as strings.
func (d *memDest) lines(stream string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, r := range d.streams[stream] {
		out = append(out, string(r.Data))
	}
	return out
}

func (d *memDest) records(stream string) []Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Record(nil), d.streams[stream]...)
}

// fakeClock is a Clock the test moves forward.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time    // guarded by mu
	timers []*fakeTimer // guarded by mu
	added  chan struct{}
}

type fakeTimer struct {
	c  chan time.Time
	at time.Time
	cl *fakeClock
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), added: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d), cl: c}
	if d <= 0 {
		t.c <- c.now
	} else {
		c.timers = append(c.timers, t)
	}
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
	return t
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.c <- c.now
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

// waitTimer waits until a timer is created.
func (c *fakeClock) waitTimer(t *testing.T) {
	t.Helper()
	select {
	case <-c.added:
	case <-time.After(10 * time.Second):
		t.Fatal("no timer was started within 10s")
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.cl.mu.Lock()
	defer t.cl.mu.Unlock()
	for i, o := range t.cl.timers {
		if o == t {
			t.cl.timers = append(t.cl.timers[:i], t.cl.timers[i+1:]...)
			return true
		}
	}
	return false
}

// harness runs one flow's tailer pass by pass, sending each pass's
// batches synchronously, so that a test decides exactly when the agent
// looks at the files.
type harness struct {
	t       *testing.T
	dir     string
	cfg     *Config
	dest    *memDest
	clock   *fakeClock
	a       *Agent
	recs    []Record
	results []error
}

// newHarness returns a harness over a fresh directory; flow adjusts the
// flow (its FilePattern is dir/*.log unless flow sets another).
func newHarness(t *testing.T, flow func(f *Flow)) *harness {
	t.Helper()
	dir := t.TempDir()
	f := Flow{FilePattern: filepath.Join(dir, "*.log"), Stream: "logs"}
	if flow != nil {
		flow(&f)
	}
	cfg := &Config{CheckpointFile: filepath.Join(dir, "checkpoints"), Flows: []Flow{f}}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, cfg: cfg, dest: newMemDest(), clock: newFakeClock()}
	h.restart()
	return h
}

// restart starts a new agent over the same files and checkpoints, as a
// process started again after a crash would.
func (h *harness) restart() {
	h.t.Helper()
	if h.a != nil {
		for _, fl := range h.a.flows {
			fl.closeFiles()
		}
	}
	a, err := New(Options{Config: h.cfg, Destination: h.dest, Clock: h.clock, Hostname: "host1", BackoffBase: time.Microsecond, BackoffMax: time.Microsecond})
	if err != nil {
		h.t.Fatal(err)
	}
	h.a = a
	h.t.Cleanup(func() {
		for _, fl := range a.flows {
			fl.closeFiles()
		}
	})
}

// step runs one poll, sends what it read, and writes the checkpoints.
func (h *harness) step(final bool) {
	h.t.Helper()
	h.stepUnsent(final)
	fl := h.a.flows[0]
	for {
		select {
		case b := <-fl.out:
			if !fl.sendBatch(context.Background(), b, &h.recs, &h.results) {
				h.t.Fatal("sendBatch gave up")
			}
			fl.free <- b
			continue
		default:
		}
		break
	}
	if err := h.a.writeCheckpoint(); err != nil {
		h.t.Fatal(err)
	}
}

// stepUnsent runs one poll and queues its batches without sending them.
func (h *harness) stepUnsent(final bool) {
	h.t.Helper()
	fl := h.a.flows[0]
	if err := fl.poll(context.Background(), final); err != nil {
		h.t.Fatal(err)
	}
	if err := fl.handoff(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// path returns a file of the harness's directory.
func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

// appendLines appends "name n\n" for n in [from, to).
func (h *harness) appendLines(name string, from, to int) {
	h.t.Helper()
	f, err := os.OpenFile(h.path(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for n := from; n < to; n++ {
		fmt.Fprintf(&b, "%s %d\n", name, n)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) appendRaw(name, s string) {
	h.t.Helper()
	f, err := os.OpenFile(h.path(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		h.t.Fatal(err)
	}
}

// wantLines checks the stream holds exactly want, in order.
func (h *harness) wantLines(want ...string) {
	h.t.Helper()
	got := h.dest.lines("logs")
	if strings.Join(got, "") != strings.Join(want, "") || len(got) != len(want) {
		h.t.Fatalf("the stream holds %d records:\n%q\nwant %d:\n%q", len(got), got, len(want), want)
	}
}

// numbered returns the lines "name n\n" for n in [from, to).
func numbered(name string, from, to int) []string {
	var out []string
	for n := from; n < to; n++ {
		out = append(out, fmt.Sprintf("%s %d\n", name, n))
	}
	return out
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
