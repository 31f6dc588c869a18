package bench

import (
	"fmt"
	"math"
)

// Ratio returns figure ÷ reference, and false when no ratio can be stated:
// the reference is not a positive finite number, or the figure is not finite.
func Ratio(figure, reference float64) (float64, bool) {
	if !(reference > 0) || math.IsInf(reference, 0) || math.IsNaN(figure) || math.IsInf(figure, 0) {
		return 0, false
	}
	return figure / reference, true
}

// AddRatio states figure ÷ reference in the report's Ratios under name, and
// reports whether it could (see Ratio).
func (r *Report) AddRatio(name string, figure, reference float64) bool {
	v, ok := Ratio(figure, reference)
	if !ok {
		return false
	}
	if r.Ratios == nil {
		r.Ratios = make(map[string]float64)
	}
	r.Ratios[name] = v
	return true
}

// AddBaseline attaches the machine baseline to the report and states every
// load's figures as ratios to it (names of loads after the first are
// prefixed "load."):
//
//	p50_vs_fsync_p50, p99_vs_fsync_p99    request latency in 4 KiB write+fdatasync latencies
//	mb_per_sec_vs_fsync_batch             share of the 1 MiB write+fdatasync bandwidth
//	mb_per_sec_vs_tcp_stream              share of one loopback TCP connection's bandwidth
//	p50_vs_tcp_rtt_p50, p99_vs_tcp_rtt_p99 request latency in loopback round trips
//	requests_per_sec_vs_fdatasync_N_files  request rate in the disk's write+fdatasync rate
//	                                      with N concurrent files (fallocate'd, as segments
//	                                      are), for N in ConcurrentWriters
//
// A ratio whose reference is zero (not measured) is left out.
func (r *Report) AddBaseline(b *Baseline) {
	r.Baseline = b
	for i, name := range r.LoadNames() {
		s := r.LoadStats(name)
		prefix := ""
		if i > 0 {
			prefix = name + "."
		}
		r.AddRatio(prefix+"p50_vs_fsync_p50", float64(s.P50), b.Fsync4K.P50)
		r.AddRatio(prefix+"p99_vs_fsync_p99", float64(s.P99), b.Fsync4K.P99)
		r.AddRatio(prefix+"mb_per_sec_vs_fsync_batch", s.MBPerSec, b.FsyncBatch.MBPerSec)
		r.AddRatio(prefix+"mb_per_sec_vs_tcp_stream", s.MBPerSec, b.TCPStream.MBPerSec)
		r.AddRatio(prefix+"p50_vs_tcp_rtt_p50", float64(s.P50), b.TCPRoundTrip.P50)
		r.AddRatio(prefix+"p99_vs_tcp_rtt_p99", float64(s.P99), b.TCPRoundTrip.P99)
		for _, n := range ConcurrentWriters {
			if ops, ok := b.ConcurrentSyncOps(n, SpaceFallocated); ok {
				r.AddRatio(fmt.Sprintf("%srequests_per_sec_vs_fdatasync_%d_files", prefix, n), s.RequestsPerSec, ops)
			}
		}
	}
}
