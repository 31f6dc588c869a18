package bench

import (
	"io"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// collector gathers the recorders of a run, load by load. Only the run's
// controller goroutine uses it; the recorders synchronise themselves.
type collector struct {
	loads []*loadTotals
}

// loadTotals accumulates one load: everything drained so far (total) and
// what the latest drain brought (interval, for the progress line).
type loadTotals struct {
	name           string
	recs           []*Recorder
	total          *hdrhistogram.Histogram
	totalCounts    Counts
	interval       *hdrhistogram.Histogram
	intervalCounts Counts
	line           []byte // the progress line buffer, reused
}

func newCollector(loads []Load) *collector {
	c := &collector{loads: make([]*loadTotals, len(loads))}
	for i, l := range loads {
		lt := &loadTotals{name: l.Name, total: NewHistogram(), interval: NewHistogram()}
		lt.recs = make([]*Recorder, l.Workers)
		for j := range lt.recs {
			lt.recs[j] = NewRecorder()
		}
		c.loads[i] = lt
	}
	return c
}

// drain moves what every recorder holds into the interval accumulators and
// folds them into the totals; the interval ones stay filled until reset.
func (c *collector) drain() {
	for _, l := range c.loads {
		l.interval.Reset()
		l.intervalCounts = Counts{}
		for _, r := range l.recs {
			r.drainInto(l.interval, &l.intervalCounts)
		}
		l.total.Merge(l.interval)
		l.totalCounts.Add(l.intervalCounts)
	}
}

// reset drains the recorders and drops everything recorded so far.
func (c *collector) reset() {
	c.drain()
	for _, l := range c.loads {
		l.total.Reset()
		l.totalCounts = Counts{}
	}
}

// progress drains the recorders and draws the progress line: the run's
// elapsed time, each load's total records and its rates and latencies over
// the last interval.
func (c *collector) progress(w io.Writer, elapsed, interval time.Duration) {
	c.drain()
	entries := make([]progressEntry, len(c.loads))
	for i, l := range c.loads {
		entries[i] = progressEntry{
			name:    l.name,
			records: l.totalCounts.Records,
			recent:  NewStats(l.intervalCounts, l.interval, interval),
		}
	}
	if len(entries) == 1 {
		entries[0].name = ""
	}
	drawProgress(w, elapsed, entries)
}

// report drains the recorders a last time and builds the report of a run
// that lasted elapsed.
func (c *collector) report(elapsed time.Duration) *Report {
	c.drain()
	rep := &Report{Duration: elapsed, Load: c.loads[0].name}
	for i, l := range c.loads {
		s := NewStats(l.totalCounts, l.total, elapsed)
		if i == 0 {
			rep.Stats = *s
		}
		if len(c.loads) > 1 {
			if rep.Loads == nil {
				rep.Loads = make(map[string]*Stats, len(c.loads))
				rep.loadOrder = make([]string, 0, len(c.loads))
			}
			rep.Loads[l.name] = s
			rep.loadOrder = append(rep.loadOrder, l.name)
		}
	}
	return rep
}
