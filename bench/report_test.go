package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNewStats_Rates checks the rate arithmetic: per second of the run, MB
// of 10^6 bytes.
func TestNewStats_Rates(t *testing.T) {
	s := NewStats(Counts{Requests: 50, Records: 5000, Bytes: 5_000_000, Errors: 1, Throttled: 2}, nil, 2*time.Second)
	if s.RecordsPerSec != 2500 || s.RequestsPerSec != 25 || s.MBPerSec != 2.5 || s.Seconds != 2 {
		t.Errorf("rates %v records/s, %v requests/s, %v MB/s over %v s; want 2500, 25, 2.5 over 2",
			s.RecordsPerSec, s.RequestsPerSec, s.MBPerSec, s.Seconds)
	}
	// 1 MiB per second is 1.048576 MB/s, not 1.
	if s := NewStats(Counts{Bytes: 1 << 20}, nil, time.Second); s.MBPerSec != 1.048576 {
		t.Errorf("1 MiB in 1 s = %v MB/s, want 1.048576", s.MBPerSec)
	}
	// No duration, no rates (and nothing that JSON cannot encode).
	if s := NewStats(Counts{Records: 10, Bytes: 10}, nil, 0); s.RecordsPerSec != 0 || s.MBPerSec != 0 {
		t.Errorf("rates over zero time = %v, %v; want 0", s.RecordsPerSec, s.MBPerSec)
	}
}

// sampleReport is a report of two loads with known samples.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	put := NewRecorder()
	for v := 1; v <= 1000; v++ {
		put.Record(time.Duration(v)*time.Microsecond, 10, 10_000)
	}
	put.RecordFailures(4, 7)
	get := NewRecorder()
	get.Record(300*time.Microsecond, 100, 100_000)
	c := &collector{loads: []*loadTotals{
		{name: "put", recs: []*Recorder{put}, total: NewHistogram(), interval: NewHistogram()},
		{name: "get", recs: []*Recorder{get}, total: NewHistogram(), interval: NewHistogram()},
	}}
	r := c.report(4 * time.Second)
	r.Scenario = "mixed"
	r.Parameters = map[string]any{"size": 1000, "batch": 10}
	r.StoppedBy = StopDuration
	return r
}

// TestReport_JSONKeys checks that the JSON form is one object with every
// documented key present and numeric, and the primary load's figures at
// the top.
func TestReport_JSONKeys(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(buf.String()), "\n"); n != 0 {
		t.Errorf("JSON spans %d lines; want one object on one line", n+1)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, buf.String())
	}
	for _, k := range []string{"records_per_sec", "mb_per_sec", "p50_us", "p90_us", "p99_us", "p999_us",
		"max_us", "errors", "throttled", "records", "bytes", "requests", "duration_s"} {
		v, ok := m[k]
		if !ok {
			t.Errorf("key %q missing", k)
			continue
		}
		if _, ok := v.(float64); !ok {
			t.Errorf("key %q = %v (%T), want a number", k, v, v)
		}
	}
	want := map[string]float64{
		"records": 10_000, "records_per_sec": 2500, "mb_per_sec": 2.5, "p50_us": 500, "p99_us": 990,
		"p999_us": 999, "max_us": 1000, "errors": 4, "throttled": 7, "duration_s": 4,
	}
	for k, w := range want {
		if m[k] != w {
			t.Errorf("%s = %v, want %v", k, m[k], w)
		}
	}
	if m["scenario"] != "mixed" || m["load"] != "put" || m["stopped_by"] != "duration" {
		t.Errorf("scenario %v, load %v, stopped_by %v; want mixed, put, duration", m["scenario"], m["load"], m["stopped_by"])
	}
	if p, ok := m["parameters"].(map[string]any); !ok || p["size"] != 1000.0 {
		t.Errorf("parameters = %v, want an object with size 1000", m["parameters"])
	}
	loads, ok := m["loads"].(map[string]any)
	if !ok {
		t.Fatalf("loads = %v, want an object", m["loads"])
	}
	if get, ok := loads["get"].(map[string]any); !ok || get["records"] != 100.0 || get["p50_us"] != 300.0 {
		t.Errorf("loads.get = %v, want 100 records at p50 300 µs", loads["get"])
	}
}

// TestReport_Text checks the human form names every load and figure.
func TestReport_Text(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"mixed", "stopped by duration", "batch=10 size=1000", "records/s", "MB/s",
		"p99.9", "10,000", "2,500.0", "2.50", "MB = 10^6 bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	var putRow, getRow string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "put "):
			putRow = l
		case strings.HasPrefix(l, "get "):
			getRow = l
		}
	}
	if !strings.Contains(putRow, " 500 ") || !strings.Contains(putRow, " 1,000") {
		t.Errorf("put row %q lacks p50 500 and max 1,000", putRow)
	}
	if !strings.Contains(getRow, " 300 ") {
		t.Errorf("get row %q lacks p50 300", getRow)
	}
}

// TestReport_WriteHgrmFiles checks one .hgrm per load, each parsing back to
// its load's percentiles.
func TestReport_WriteHgrmFiles(t *testing.T) {
	r := sampleReport(t)
	path := filepath.Join(t.TempDir(), "run.hgrm")
	paths, err := r.WriteHgrmFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 || paths[0] != path || filepath.Base(paths[1]) != "run-get.hgrm" {
		t.Fatalf("wrote %v; want run.hgrm and run-get.hgrm", paths)
	}
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHgrm(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		s := r.LoadStats(r.LoadNames()[i])
		if got, want := h.ValueAt(50), float64(s.P50)/1000; got != want {
			t.Errorf("%s: p50 %v ms, want %v", p, got, want)
		}
		if h.TotalCount != s.LatencySamples {
			t.Errorf("%s: total count %d, want %d", p, h.TotalCount, s.LatencySamples)
		}
	}
}
