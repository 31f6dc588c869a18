package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedb/sluice/api"
)

// runOnce runs the harness's agent with Once through Run, as
// `sluice agent --once` does.
func (h *harness) runOnce() {
	h.t.Helper()
	h.a.opts.Once = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.a.Run(ctx) }()
	// The drain may wait for a partial line's newline on the fake clock.
	for {
		select {
		case err := <-done:
			if err != nil {
				h.t.Fatal(err)
			}
			return
		case <-h.clock.added:
			h.clock.Advance(h.a.opts.PartialLineTimeout)
		case <-ctx.Done():
			h.t.Fatal("Run with Once did not return within 30s")
		}
	}
}

func TestRun_OnceShipsEveryFileAndCheckpoints(t *testing.T) {
	h := newHarness(t, nil)
	h.appendLines("a.log", 0, 1200) // more than two batches of 500
	h.appendLines("b.log", 0, 10)
	h.appendRaw("b.log", "no newline")
	h.runOnce()
	got := h.dest.lines("logs")
	var a, b []string
	for _, l := range got {
		if strings.HasPrefix(l, "a.log") {
			a = append(a, l)
		} else {
			b = append(b, l)
		}
	}
	if strings.Join(a, "") != strings.Join(numbered("a.log", 0, 1200), "") {
		t.Fatalf("a.log: %d records, not its lines in order", len(a))
	}
	if strings.Join(b, "") != strings.Join(append(numbered("b.log", 0, 10), "no newline"), "") {
		t.Fatalf("b.log: %q", b)
	}
	st := h.a.Stats()[0]
	if st.Sent != 1211 || st.Lines != 1211 || st.Behind != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A second run finds everything checkpointed and sends nothing.
	h.restart()
	h.runOnce()
	if n := len(h.dest.lines("logs")); n != 1211 {
		t.Fatalf("a second --once run sent %d records more", n-1211)
	}
}

// TestRun_BufferAge: a batch that does not fill waits maxBufferAgeMillis
// on the agent's clock, then is sent.
func TestRun_BufferAge(t *testing.T) {
	h := newHarness(t, func(f *Flow) { f.MaxBufferAgeMillis = 1000 })
	h.dest.put = make(chan int, 10)
	h.a.opts.PollInterval = 250 * time.Millisecond
	h.appendLines("a.log", 0, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.a.Run(ctx) }()
	for range 3 { // 0, 250 and 500 ms: polled, not sent
		h.clock.waitTimer(t)
		h.clock.Advance(250 * time.Millisecond)
	}
	h.clock.waitTimer(t) // at 750 ms the tailer waits again
	if n := len(h.dest.lines("logs")); n != 0 {
		t.Fatalf("%d records were sent 750 ms into a 1000 ms buffer age", n)
	}
	h.clock.Advance(250 * time.Millisecond)
	select {
	case n := <-h.dest.put:
		if n != 3 {
			t.Fatalf("the aged batch held %d records; want 3", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the batch was not sent when it reached its age")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.wantLines(numbered("a.log", 0, 3)...)
}

// TestRun_Backpressure: while the destination does not answer, the tailer
// stops reading once its bounded queue is full, and goes on when the
// destination does.
func TestRun_Backpressure(t *testing.T) {
	h := newHarness(t, func(f *Flow) { f.MaxBufferSizeRecords = 10 })
	h.dest.block = make(chan struct{})
	fl := h.a.flows[0]
	// One batch in the sender, queueBatches queued and one full being
	// handed off: the most records the flow holds while the sender is stuck.
	limit := int64((queueBatches + 2) * 10)
	full := make(chan int64, 1000)
	fl.onFull = func() { full <- fl.stats.records.Load() }
	h.appendLines("a.log", 0, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	h.a.opts.Once = true
	go func() { done <- h.a.Run(ctx) }()
	// Wait until the tailer stops on a full queue with the sender stuck in
	// its first put.
	for stuck := false; !stuck; {
		select {
		case n := <-full:
			if n > limit {
				t.Fatalf("the tailer had read %d records when it found the queue full; the bound is %d", n, limit)
			}
			stuck = n == limit
		case <-time.After(10 * time.Second):
			t.Fatal("the tailer never waited on a full queue")
		}
	}
	if n := fl.stats.records.Load(); n != limit {
		t.Fatalf("%d records read while the destination is stuck; want the bound %d", n, limit)
	}
	close(h.dest.block) // the destination answers again
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for len(full) > 0 {
		if n := <-full; n > 1000 {
			t.Fatal(n)
		}
	}
	h.wantLines(numbered("a.log", 0, 1000)...)
}

// TestRun_ThrottledRecordsAreRetried: records refused as throttled are
// sent again with backoff until stored; none is lost.
func TestRun_ThrottledRecordsAreRetried(t *testing.T) {
	h := newHarness(t, nil)
	var refused atomic.Int64
	h.dest.refuse = func(call int, data []byte) error {
		if call <= 3 && strings.HasSuffix(strings.TrimSpace(string(data)), "7") {
			refused.Add(1)
			return &PutError{Code: api.CodeThroughputExceeded.String(), Message: "Rate exceeded for shard shardId-000000000000"}
		}
		return nil
	}
	h.appendLines("a.log", 0, 100)
	h.runOnce()
	got := h.dest.lines("logs")
	seen := map[string]bool{}
	for _, l := range got {
		seen[l] = true
	}
	if len(got) != 100 || len(seen) != 100 || refused.Load() == 0 {
		t.Fatalf("%d records stored (%d distinct) after %d refusals; want all 100 once", len(got), len(seen), refused.Load())
	}
	if st := h.a.Stats()[0]; st.Retries == 0 || st.Sent != 100 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRun_InvalidRecordIsCountedNotRetriedForever: a record the
// destination refuses as invalid is counted as failed and the file goes
// on, so one bad record does not stop a flow.
func TestRun_InvalidRecordIsCountedNotRetriedForever(t *testing.T) {
	h := newHarness(t, nil)
	h.dest.refuse = func(_ int, data []byte) error {
		if string(data) == "a.log 5\n" {
			return &PutError{Code: api.CodeInvalidArgument.String(), Message: "bad"}
		}
		return nil
	}
	h.appendLines("a.log", 0, 10)
	h.runOnce()
	want := append(numbered("a.log", 0, 5), numbered("a.log", 6, 10)...)
	h.wantLines(want...)
	if st := h.a.Stats()[0]; st.Failed != 1 || st.Sent != 9 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRun_PartitionKeys(t *testing.T) {
	for _, tc := range []struct {
		option, field string
		check         func(t *testing.T, recs []Record)
	}{
		{KeyRandom, "", func(t *testing.T, recs []Record) {
			keys := map[string]bool{}
			for _, r := range recs {
				keys[string(r.Key)] = true
			}
			if len(keys) < 3 {
				t.Fatalf("RANDOM gave %d distinct keys to 4 records", len(keys))
			}
		}},
		{KeyDeterministic, "", func(t *testing.T, recs []Record) {
			if string(recs[0].Key) != string(recs[3].Key) || string(recs[0].Key) == string(recs[1].Key) {
				t.Fatalf("DETERMINISTIC keys %q: equal records must share a key, others not", keysOf(recs))
			}
		}},
		{KeyJSONField, "user.id", func(t *testing.T, recs []Record) {
			got := keysOf(recs)
			if got[0] != "alice" || got[1] != "42" || got[0] != got[3] {
				t.Fatalf("JSON_FIELD keys %q", got)
			}
			if len(got[2]) != 16 { // no such field: DETERMINISTIC's hash
				t.Fatalf("a record without the field got key %q", got[2])
			}
		}},
	} {
		t.Run(tc.option, func(t *testing.T) {
			h := newHarness(t, func(f *Flow) { f.PartitionKeyOption, f.PartitionKeyField = tc.option, tc.field })
			h.appendRaw("a.log", `{"user":{"id":"alice"}}`+"\n"+`{"user":{"id":42}}`+"\n"+`{"other":1}`+"\n"+`{"user":{"id":"alice"}}`+"\n")
			h.step(false)
			recs := h.dest.records("logs")
			if len(recs) != 4 {
				t.Fatalf("%d records", len(recs))
			}
			tc.check(t, recs)
			if st := h.a.Stats()[0]; (st.KeyFallbacks == 1) != (tc.option == KeyJSONField) {
				t.Fatalf("%d key fallbacks", st.KeyFallbacks)
			}
		})
	}
}

func keysOf(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Key))
	}
	return out
}

func TestRun_ProgressLine(t *testing.T) {
	h := newHarness(t, nil)
	var b strings.Builder
	h.a.opts.Progress = &b
	h.appendLines("a.log", 0, 3)
	h.runOnce()
	want := fmt.Sprintf("agent done: %s -> logs: 3 lines read, 3 records sent, 0 failed, 0 unparsed, 0 retries, 0 B behind\n", filepath.Join(h.dir, "*.log"))
	if b.String() != want {
		t.Fatalf("progress:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestPutError_Classes(t *testing.T) {
	for _, tc := range []struct {
		err       error
		permanent bool
	}{
		{&PutError{Code: "ProvisionedThroughputExceededException"}, false},
		{&PutError{Code: "ResourceNotFoundException"}, false},
		{&PutError{Code: "AccessDeniedException"}, false},
		{&PutError{Code: "InvalidArgumentException"}, true},
		{&PutError{Code: "ValidationException"}, true},
		{errors.New("connection reset"), false},
	} {
		if got := permanent(tc.err); got != tc.permanent {
			t.Errorf("permanent(%v) = %v", tc.err, got)
		}
	}
	var m map[string]any
	if json.Unmarshal([]byte(`{}`), &m) != nil {
		t.Fatal()
	}
}

// TestRun_FlowsShareTheCheckpointFile: two flows keep their files'
// checkpoints in one file; a flow taken out of the configuration keeps its
// entries, so that putting it back resumes where it was.
func TestRun_FlowsShareTheCheckpointFile(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "checkpoints")
	flowA := Flow{FilePattern: filepath.Join(dir, "a", "*.log"), Stream: "sa"}
	flowB := Flow{FilePattern: filepath.Join(dir, "b", "*.log"), Stream: "sb"}
	dest := newMemDest()
	run := func(flows ...Flow) {
		t.Helper()
		cfg := &Config{CheckpointFile: ckpt, Flows: flows}
		if err := cfg.validate(); err != nil {
			t.Fatal(err)
		}
		a, err := New(Options{Config: cfg, Destination: dest, Once: true, PartialLineTimeout: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	w := &harness{t: t, dir: dir}
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.appendLines("a/x.log", 0, 3)
	w.appendLines("b/y.log", 0, 2)
	run(flowA, flowB)
	w.appendLines("a/x.log", 3, 4)
	run(flowB) // flow A left out: its checkpoint stays
	run(flowA, flowB)
	if got, want := dest.lines("sa"), numbered("a/x.log", 0, 4); strings.Join(got, "") != strings.Join(want, "") {
		t.Fatalf("stream sa holds %q; want %q", got, want)
	}
	if got, want := dest.lines("sb"), numbered("b/y.log", 0, 2); strings.Join(got, "") != strings.Join(want, "") {
		t.Fatalf("stream sb holds %q; want %q", got, want)
	}
}
