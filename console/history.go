package console

import (
	"sync"
	"time"

	"github.com/sluicedb/sluice/engine"
)

// The series the charts draw, per shard and sample: rates per second over
// the interval before the sample, and the iterator age at the sample.
const (
	seriesInBytes = iota
	seriesInRecords
	seriesOutBytes
	seriesOutRecords
	seriesWriteThrottled // records refused per second
	seriesReadThrottled  // reads refused per second
	seriesIteratorAge    // milliseconds
	nSeries
)

// seriesNames are the series' names in the API.
var seriesNames = [nSeries]string{"inBytes", "inRecords", "outBytes", "outRecords", "writeThrottled", "readThrottled", "iteratorAgeMs"}

type shardKey struct{ stream, shard string }

// shardHist is one shard's history: rings aligned with history.times.
type shardHist struct {
	last   engine.ShardMetrics // the counters at the previous sample
	gen    uint64              // the sample that last saw the shard
	series [nSeries][]float32
}

// history keeps the last n samples of every shard's counters, the engine's
// atomics read by the sampler every SampleEvery, so that a chart opened now
// starts with the last minutes.
type history struct {
	n int

	mu     sync.Mutex // guards everything below
	gen    uint64     // samples taken; the newest is at ring slot (gen-1)%n
	times  []int64    // Unix milliseconds of each sample, a ring
	prev   time.Time  // the previous sample's time
	shards map[shardKey]*shardHist
}

func newHistory(n int) *history {
	return &history{n: n, times: make([]int64, n), shards: make(map[shardKey]*shardHist)}
}

// sample reads every shard's counters at now and records the rates since
// the previous sample. Shards no longer in the engine are dropped; a
// counter that went backwards (a stream deleted and created again under the
// same name) counts from zero.
func (h *history) sample(eng *engine.Engine, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	secs := now.Sub(h.prev).Seconds()
	first := h.gen == 0
	if secs <= 0 {
		secs = 1
	}
	slot := int(h.gen % uint64(h.n))
	h.gen++
	h.times[slot] = now.UnixMilli()
	h.prev = now
	eng.Metrics(func(m engine.ShardMetrics) {
		k := shardKey{m.Stream, m.Shard}
		sh := h.shards[k]
		if sh == nil {
			sh = &shardHist{}
			for i := range sh.series {
				sh.series[i] = make([]float32, h.n)
			}
			h.shards[k] = sh
			if !first {
				// A shard born since the last sample: everything it
				// counted is from this interval.
				sh.last = engine.ShardMetrics{}
			} else {
				sh.last = m
			}
		}
		rate := func(cur, prev uint64) float32 {
			if cur < prev {
				prev = 0
			}
			return float32(float64(cur-prev) / secs)
		}
		s := &sh.series
		s[seriesInBytes][slot] = rate(m.IncomingBytes, sh.last.IncomingBytes)
		s[seriesInRecords][slot] = rate(m.IncomingRecords, sh.last.IncomingRecords)
		s[seriesOutBytes][slot] = rate(m.OutgoingBytes, sh.last.OutgoingBytes)
		s[seriesOutRecords][slot] = rate(m.OutgoingRecords, sh.last.OutgoingRecords)
		s[seriesWriteThrottled][slot] = rate(m.WriteThrottled, sh.last.WriteThrottled)
		s[seriesReadThrottled][slot] = rate(m.ReadThrottled, sh.last.ReadThrottled)
		s[seriesIteratorAge][slot] = float32(m.IteratorAgeMillis)
		sh.last = m
		sh.gen = h.gen
	})
	for k, sh := range h.shards {
		if sh.gen != h.gen {
			delete(h.shards, k)
		}
	}
}

// count is the number of samples held.
func (h *history) countLocked() int { return int(min(h.gen, uint64(h.n))) }

// slots returns the ring slots of the held samples, oldest first.
func (h *history) slotsLocked() []int {
	n := h.countLocked()
	out := make([]int, n)
	for i := range n {
		out[i] = int((h.gen - uint64(n) + uint64(i)) % uint64(h.n))
	}
	return out
}

// shardRates is a shard's latest rates and its traffic over the whole
// history (for its share of the stream's traffic).
type shardRates struct {
	latest [nSeries]float32
	// totalBytes is the bytes in and out over the history window.
	totalBytes float64
}

// rates returns the latest rates of every shard of the named streams (nil:
// all), keyed by stream and shard.
func (h *history) rates(stream string) map[shardKey]*shardRates {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[shardKey]*shardRates)
	if h.gen == 0 {
		return out
	}
	last := int((h.gen - 1) % uint64(h.n))
	slots := h.slotsLocked()
	for k, sh := range h.shards {
		if stream != "" && k.stream != stream {
			continue
		}
		r := &shardRates{}
		for i := range nSeries {
			r.latest[i] = sh.series[i][last]
		}
		if stream != "" {
			for _, s := range slots {
				r.totalBytes += float64(sh.series[seriesInBytes][s]) + float64(sh.series[seriesOutBytes][s])
			}
		}
		out[k] = r
	}
	return out
}

// streamSeries is the body of GET .../metrics: the sample times and each
// shard's series over them.
type streamSeries struct {
	// Times are the samples' Unix milliseconds, oldest first.
	Times []int64 `json:"times"`
	// Shards maps a shard id to its series by name (inBytes, inRecords,
	// outBytes, outRecords: per second; writeThrottled, readThrottled:
	// refusals per second; iteratorAgeMs: milliseconds).
	Shards map[string]map[string][]float32 `json:"shards"`
	// IntervalSeconds is the time between samples.
	IntervalSeconds float64 `json:"intervalSeconds"`
}

// series returns the history of a stream's shards (all of them, or only
// shard when it is not "").
func (h *history) series(stream, shard string) streamSeries {
	h.mu.Lock()
	defer h.mu.Unlock()
	slots := h.slotsLocked()
	out := streamSeries{Times: make([]int64, len(slots)), Shards: make(map[string]map[string][]float32)}
	for i, s := range slots {
		out.Times[i] = h.times[s]
	}
	for k, sh := range h.shards {
		if k.stream != stream || (shard != "" && k.shard != shard) {
			continue
		}
		m := make(map[string][]float32, nSeries)
		for j := range nSeries {
			v := make([]float32, len(slots))
			for i, s := range slots {
				v[i] = sh.series[j][s]
			}
			m[seriesNames[j]] = v
		}
		out.Shards[k.shard] = m
	}
	return out
}
