package bench

import "testing"

// TestReport_AddBaseline checks the ratios a report states against a
// baseline, and that a missing reference leaves its ratio out.
func TestReport_AddBaseline(t *testing.T) {
	r := sampleReport(t) // put: p50 500 µs, p99 990 µs, 2.5 MB/s; get: p50 300 µs
	r.AddBaseline(&Baseline{
		Fsync4K:      LatencyFigure{P50: 250, P99: 330},
		FsyncBatch:   RateFigure{MBPerSec: 500},
		TCPRoundTrip: LatencyFigure{P50: 25, P99: 0},
		ConcurrentSync: []ConcurrentSyncFigure{
			{Files: 1, Space: SpaceFallocated, OpsPerSec: 4000},
			{Files: 64, Space: SpaceFallocated, OpsPerSec: 10000},
			{Files: 64, Space: SpaceZeroed, OpsPerSec: 20000},
		},
	})
	want := map[string]float64{
		"p50_vs_fsync_p50":          2,
		"p99_vs_fsync_p99":          3,
		"mb_per_sec_vs_fsync_batch": 0.005,
		"p50_vs_tcp_rtt_p50":        20,
		"get.p50_vs_fsync_p50":      1.2,
		"get.p50_vs_tcp_rtt_p50":    12,
	}
	for k, w := range want {
		if got, ok := r.Ratios[k]; !ok || !near(got, w) {
			t.Errorf("ratio %s = %v (present %v), want %v", k, got, ok, w)
		}
	}
	put := r.LoadStats("put").RequestsPerSec
	want = map[string]float64{
		"requests_per_sec_vs_fdatasync_1_files":     put / 4000,
		"requests_per_sec_vs_fdatasync_64_files":    put / 10000,
		"get.requests_per_sec_vs_fdatasync_1_files": r.LoadStats("get").RequestsPerSec / 4000,
	}
	for k, w := range want {
		if got, ok := r.Ratios[k]; !ok || !(w > 0) || !near(got, w) {
			t.Errorf("ratio %s = %v (present %v), want %v", k, got, ok, w)
		}
	}
	for _, k := range []string{"mb_per_sec_vs_tcp_stream", "p99_vs_tcp_rtt_p99", "requests_per_sec_vs_fdatasync_8_files"} {
		if _, ok := r.Ratios[k]; ok {
			t.Errorf("ratio %s present though its reference was not measured", k)
		}
	}
	if r.Baseline == nil {
		t.Errorf("baseline not attached")
	}
	if _, ok := Ratio(1, 0); ok {
		t.Errorf("Ratio(1, 0) stated a ratio")
	}
}
