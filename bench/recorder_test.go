package bench

import (
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// TestRecorder_MergeWorkers records 1..1000 µs spread over four workers'
// recorders and checks the merged percentiles exactly (values below 2048 µs
// are exact at 3 significant digits).
func TestRecorder_MergeWorkers(t *testing.T) {
	recs := []*Recorder{NewRecorder(), NewRecorder(), NewRecorder(), NewRecorder()}
	for v := 1; v <= 1000; v++ {
		recs[v%len(recs)].Record(time.Duration(v)*time.Microsecond, 2, 100)
	}
	recs[1].RecordFailures(3, 5)

	s := Collect(time.Second, recs...)
	want := map[string][2]int64{
		"p50": {s.P50, 500}, "p90": {s.P90, 900}, "p99": {s.P99, 990},
		"p99.9": {s.P999, 999}, "max": {s.Max, 1000},
	}
	for name, got := range want {
		if got[0] != got[1] {
			t.Errorf("%s = %d µs, want %d", name, got[0], got[1])
		}
	}
	if s.Requests != 1000 || s.Records != 2000 || s.Bytes != 100_000 || s.Errors != 3 || s.Throttled != 5 {
		t.Errorf("counts = %+v; want 1000 requests, 2000 records, 100000 bytes, 3 errors, 5 throttled", s)
	}
	if s.LatencySamples != 1000 {
		t.Errorf("latency samples = %d, want 1000", s.LatencySamples)
	}

	// Collecting again finds nothing new: a drain moves, it does not copy.
	if again := Collect(time.Second, recs...); again.Requests != 0 || again.LatencySamples != 0 {
		t.Errorf("second collect found %d requests, %d samples; want none", again.Requests, again.LatencySamples)
	}
}

// TestRecorder_CollectWhileRecording collects repeatedly while workers record
// and checks that no sample is lost or counted twice.
func TestRecorder_CollectWhileRecording(t *testing.T) {
	const workers, perWorker = 4, 20_000
	recs := make([]*Recorder, workers)
	for i := range recs {
		recs[i] = NewRecorder()
	}
	var wg sync.WaitGroup
	for i, r := range recs {
		wg.Go(func() {
			for j := range perWorker {
				r.Record(time.Duration(1+(i*perWorker+j)%3000)*time.Microsecond, 1, 10)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	total := NewHistogram()
	var counts Counts
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		for _, r := range recs {
			r.drainInto(total, &counts)
		}
	}
	if counts.Requests != workers*perWorker || total.TotalCount() != workers*perWorker {
		t.Fatalf("collected %d requests, %d samples; want %d of each", counts.Requests, total.TotalCount(), workers*perWorker)
	}
	if counts.Bytes != 10*workers*perWorker {
		t.Errorf("collected %d bytes, want %d", counts.Bytes, 10*workers*perWorker)
	}
	if got := total.Max(); !total.ValuesAreEquivalent(got, 3000) {
		t.Errorf("max = %d µs, want 3000", got)
	}
}

// TestRecorder_CorrectedArithmetic checks HdrHistogram's coordinated-omission
// correction: a 10 ms response at an expected 1 ms interval stands for ten
// samples, 10, 9, ... 1 ms; a response within the interval stands for itself.
func TestRecorder_CorrectedArithmetic(t *testing.T) {
	r := NewRecorder()
	r.RecordCorrected(10*time.Millisecond, time.Millisecond, 1, 1)
	r.RecordCorrected(500*time.Microsecond, time.Millisecond, 1, 1)
	s := Collect(time.Second, r)

	if s.Requests != 2 {
		t.Errorf("requests = %d, want 2: corrections add samples, not requests", s.Requests)
	}
	if s.LatencySamples != 11 {
		t.Fatalf("samples = %d, want 11 (10 ms, 9 ms ... 1 ms, and 0.5 ms)", s.LatencySamples)
	}
	h := s.Histogram()
	for v := int64(1000); v <= 10_000; v += 1000 {
		if n := countAt(h, v); n != 1 {
			t.Errorf("count at %d µs = %d, want 1", v, n)
		}
	}
	if n := countAt(h, 500); n != 1 {
		t.Errorf("count at 500 µs = %d, want 1", n)
	}
}

// TestRecorder_LatencyUnits checks rounding up to whole microseconds and the
// clamp at MaxLatency.
func TestRecorder_LatencyUnits(t *testing.T) {
	cases := []struct {
		in   time.Duration
		want int64
	}{
		{-time.Second, 0},
		{0, 0},
		{1, 1},
		{999, 1},
		{1000, 1},
		{1001, 2},
		{MaxLatency, highestMicros},
		{time.Hour, highestMicros},
	}
	for _, c := range cases {
		if got := micros(c.in); got != c.want {
			t.Errorf("micros(%v) = %d, want %d", c.in, got, c.want)
		}
	}
	r := NewRecorder()
	r.Record(time.Hour, 1, 1)
	s := Collect(time.Second, r)
	if s.LatencySamples != 1 || !s.Histogram().ValuesAreEquivalent(s.Max, highestMicros) {
		t.Errorf("an hour-long request: %d samples, max %d µs; want 1 sample saturated at %d", s.LatencySamples, s.Max, highestMicros)
	}
}

// countAt returns the count of values equivalent to v.
func countAt(h *hdrhistogram.Histogram, v int64) int64 {
	for _, b := range h.Distribution() {
		if b.From <= v && v <= b.To {
			return b.Count
		}
	}
	return 0
}

// BenchmarkRecorder measures the cost of recording one sample, against a
// bare histogram as the floor: the phaser's two atomic adds are the
// difference. kind=parallel records from every P into its own recorder.
func BenchmarkRecorder(b *testing.B) {
	b.Run("kind=histogram", func(b *testing.B) {
		h := NewHistogram()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = h.RecordValue(micros(time.Duration(100+i&1023) * time.Microsecond))
		}
	})
	b.Run("kind=record", func(b *testing.B) {
		r := NewRecorder()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r.Record(time.Duration(100+i&1023)*time.Microsecond, 1, 1024)
		}
	})
	b.Run("kind=corrected", func(b *testing.B) {
		r := NewRecorder()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			// Mostly within the interval, every 64th a stall of 4 intervals.
			lat := time.Duration(100+i&511) * time.Microsecond
			if i&63 == 0 {
				lat = 4 * time.Millisecond
			}
			r.RecordCorrected(lat, time.Millisecond, 1, 1024)
		}
	})
	b.Run("kind=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := NewRecorder()
			for i := 0; pb.Next(); i++ {
				r.Record(time.Duration(100+i&1023)*time.Microsecond, 1, 1024)
			}
		})
	})
	b.Run("kind=record_while_collecting", func(b *testing.B) {
		// One collector drains the recorder in a loop, far more often than a
		// progress line would, while the benchmark goroutine records.
		r := NewRecorder()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			h := NewHistogram()
			var c Counts
			for {
				select {
				case <-stop:
					return
				default:
				}
				r.drainInto(h, &c)
				h.Reset()
			}
		}()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r.Record(time.Duration(100+i&1023)*time.Microsecond, 1, 1024)
		}
		b.StopTimer()
		close(stop)
		<-done
	})
}

// BenchmarkCollect measures a collector's drain of one recorder (flip,
// merge out, reset), the per-worker cost of each progress line, with 100
// samples recorded before each drain (their cost, ~1 µs, is included). The
// merge walks all ~17 Ki counters and the reset clears them, so the cost
// hardly depends on what was recorded.
func BenchmarkCollect(b *testing.B) {
	r := NewRecorder()
	h := NewHistogram()
	var c Counts
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for range 100 {
			r.Record(time.Duration(50+i%20_000)*time.Microsecond, 1, 100)
			i += 7
		}
		r.drainInto(h, &c)
	}
}

// TestRecorder_RecordEach checks that a request delivering records with
// their own latencies adds a sample per record but counts once.
func TestRecorder_RecordEach(t *testing.T) {
	r := NewRecorder()
	lat := []time.Duration{100 * time.Microsecond, 200 * time.Microsecond, 300 * time.Microsecond, 400 * time.Microsecond}
	r.RecordEach(lat, 4, 4000)
	r.RecordEach(nil, 0, 0) // an empty event still counts as a request
	s := Collect(time.Second, r)
	if s.Requests != 2 || s.Records != 4 || s.Bytes != 4000 {
		t.Errorf("counts: %d requests, %d records, %d bytes; want 2, 4, 4000", s.Requests, s.Records, s.Bytes)
	}
	if s.LatencySamples != 4 || s.P50 != 200 || s.Max != 400 {
		t.Errorf("latencies: %d samples, p50 %d µs, max %d µs; want 4, 200, 400", s.LatencySamples, s.P50, s.Max)
	}
}
