package bench

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Counts are the event counters that go with a latency histogram.
type Counts struct {
	// Requests is the number of completed requests with a latency sample.
	Requests int64
	// Records is the number of records those requests carried successfully.
	Records int64
	// Bytes is the number of bytes those records carried: for puts, data plus
	// partition key, which is what Kinesis counts against a shard's quota.
	Bytes int64
	// Errors counts failures other than throttling, in the unit the load
	// generator reports them (records for puts, requests for reads).
	Errors int64
	// Throttled counts rejections for quota (ProvisionedThroughputExceeded), in
	// the same unit as Errors.
	Throttled int64
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Requests += o.Requests
	c.Records += o.Records
	c.Bytes += o.Bytes
	c.Errors += o.Errors
	c.Throttled += o.Throttled
}

// Recorder collects the latencies and counts of ONE load goroutine. Only that
// goroutine may call its Record methods; any goroutine may collect from it
// (Collect, or a Run's progress line) at any time, while it records.
//
// Recording takes no lock. The recorder keeps two phases, each a histogram
// plus counters; the worker writes the active one and a collector flips the
// active index, waits for the at most one Record call that may still be
// writing the old phase, and then owns the old phase alone: it merges it out
// and resets it. This is a single-writer form of HdrHistogram's
// WriterReaderPhaser. The worker pays two uncontended atomic adds per sample
// (on its own cache line) and never waits; a collector waits at most for one
// Record call, and never for the worker to come back from a slow request, so
// a progress line is exact to the sample and the final report can be taken
// even from a worker that is stuck in a request.
type Recorder struct {
	_ [64]byte // keeps seq off the cache line of whatever was allocated before
	// seq is odd while the worker is inside a Record call and even otherwise;
	// only the worker writes it.
	seq atomic.Uint64
	// active is the phase (0 or 1) the worker records into; only a collector,
	// holding mu, writes it.
	active atomic.Uint32

	// mu serialises collectors: it guards the flip of active and the phase a
	// flip retires while that phase is merged out and reset. The worker never
	// takes it.
	mu sync.Mutex

	phases [2]phase
	_      [64]byte
}

// phase is one half of a Recorder: owned by the worker while active, by the
// collector holding Recorder.mu while retired.
type phase struct {
	hist   *hdrhistogram.Histogram
	counts Counts
}

// NewRecorder returns an empty recorder for one load goroutine.
func NewRecorder() *Recorder {
	r := &Recorder{}
	r.phases[0].hist = NewHistogram()
	r.phases[1].hist = NewHistogram()
	return r
}

// Record records one completed request: its latency, and the records and
// bytes it carried successfully. A latency is kept in whole microseconds,
// rounded up, and saturates at MaxLatency.
//
// A closed-loop generator, and an open-loop one that measures latency from
// the intended send time of a Schedule (Schedule.Next), records with Record.
func (r *Recorder) Record(latency time.Duration, records, bytes int) {
	r.seq.Add(1)
	p := &r.phases[r.active.Load()]
	// The value is clamped to the histogram's range, so this cannot fail.
	_ = p.hist.RecordValue(micros(latency))
	p.counts.Requests++
	p.counts.Records += int64(records)
	p.counts.Bytes += int64(bytes)
	r.seq.Add(1)
}

// RecordCorrected records one completed request of a loop paced at one
// request per expectedInterval whose latency was measured from the actual
// send, with HdrHistogram's coordinated-omission correction: a latency of
// more than one interval also records the latencies the requests that could
// not be sent meanwhile would have seen (latency−interval, latency−2×interval,
// ... down to one interval). Only the request itself adds to the counts.
//
// Pair it with Schedule.NextOnTime, which skips the slots a slow request made
// the loop miss; with Schedule.Next, which sends them late instead, measure
// from the intended time and use Record, or the stall is counted twice.
func (r *Recorder) RecordCorrected(latency, expectedInterval time.Duration, records, bytes int) {
	r.seq.Add(1)
	p := &r.phases[r.active.Load()]
	interval := micros(expectedInterval)
	if interval == 0 {
		interval = 1 // an interval below 1 µs is one histogram unit
	}
	// The value is clamped and every corrected value is smaller, so this
	// cannot fail.
	_ = p.hist.RecordCorrectedValue(micros(latency), interval)
	p.counts.Requests++
	p.counts.Records += int64(records)
	p.counts.Bytes += int64(bytes)
	r.seq.Add(1)
}

// RecordEach records one completed request that delivered records with
// latencies of their own (a read or a subscription event, each record timed
// from when it was put): every latency is one histogram sample, while the
// request counts once, with the records and bytes it carried. An empty
// latencies records the request without a sample.
func (r *Recorder) RecordEach(latencies []time.Duration, records, bytes int) {
	r.seq.Add(1)
	p := &r.phases[r.active.Load()]
	for _, l := range latencies {
		// The value is clamped to the histogram's range, so this cannot fail.
		_ = p.hist.RecordValue(micros(l))
	}
	p.counts.Requests++
	p.counts.Records += int64(records)
	p.counts.Bytes += int64(bytes)
	r.seq.Add(1)
}

// RecordFailures counts failures that have no latency sample: errors, and
// rejections for quota (throttled), in the unit the generator chooses for its
// load (records for puts, requests for reads).
func (r *Recorder) RecordFailures(errors, throttled int) {
	r.seq.Add(1)
	p := &r.phases[r.active.Load()]
	p.counts.Errors += int64(errors)
	p.counts.Throttled += int64(throttled)
	r.seq.Add(1)
}

// drainInto moves everything recorded since the previous drain into hist and
// counts: it flips the phases, waits until the worker is out of the retired
// one, merges it out and resets it. It returns the number of histogram values
// dropped by the merge (zero when hist has this package's geometry).
func (r *Recorder) drainInto(hist *hdrhistogram.Histogram, counts *Counts) (dropped int64) {
	r.mu.Lock()
	defer r.mu.Unlock()

	old := r.active.Load()
	r.active.Store(old ^ 1)
	// A Record call that began before the flip may still be writing the old
	// phase; one that begins after it sees the new index. If the worker is
	// inside a call now, wait for seq to move on: the call then has ended.
	// Record calls are short and never block, so this wait is too.
	if s := r.seq.Load(); s&1 == 1 {
		for r.seq.Load() == s {
			runtime.Gosched()
		}
	}

	p := &r.phases[old]
	counts.Add(p.counts)
	p.counts = Counts{}
	// Merging walks every counter (~17 Ki) and resetting clears them: skip
	// both for an idle phase.
	if p.hist.TotalCount() > 0 {
		dropped = hist.Merge(p.hist)
		p.hist.Reset()
	}
	return dropped
}
