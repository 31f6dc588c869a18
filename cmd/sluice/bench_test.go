package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/bench"
	"github.com/sluicedb/sluice/bench/scenario"
)

func benchRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err = benchMain(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestBenchMain_PutJSON runs `sluice bench put --inproc --json` and checks
// the one JSON object a script would read, and the .hgrm file beside it.
func TestBenchMain_PutJSON(t *testing.T) {
	dir := t.TempDir()
	hgrm := filepath.Join(dir, "put.hgrm")
	out, errOut, err := benchRun(t, "put", "--inproc", "--data-dir", filepath.Join(dir, "data"),
		"--records", "1000", "--batch", "50", "--producers", "2", "--size", "200", "--json", "--hgrm", hgrm)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("stdout has %d lines; --json prints one object: %q", strings.Count(out, "\n"), out)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v: %q", err, out)
	}
	for _, k := range []string{"records_per_sec", "mb_per_sec", "p50_us", "p99_us", "p999_us", "max_us", "errors", "throttled"} {
		v, ok := rep[k].(float64)
		if !ok {
			t.Errorf("JSON lacks a number %s", k)
		}
		if k != "errors" && k != "throttled" && v <= 0 {
			t.Errorf("%s = %v, want positive", k, v)
		}
	}
	if rep["records"] != 1000.0 {
		t.Errorf("records = %v, want 1000", rep["records"])
	}
	if !strings.Contains(errOut, "created stream") || !strings.Contains(errOut, hgrm) {
		t.Errorf("stderr lacks the setup and the .hgrm path: %q", errOut)
	}
	f, err := os.Open(hgrm)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := bench.ParseHgrm(f)
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount != 20 {
		t.Errorf(".hgrm has %d values, want one per request (20)", h.TotalCount)
	}
}

// TestBenchMain_Text checks the table of a run and that --quiet silences
// the setup notes.
func TestBenchMain_Text(t *testing.T) {
	out, errOut, err := benchRun(t, "--inproc", "--data-dir", t.TempDir(), "put", "--records", "300", "--batch", "1", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"scenario    put", "records/s", "p99.9", "kinesis_shards_per_shard"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if errOut != "" {
		t.Errorf("--quiet printed %q", errOut)
	}
}

// TestBenchMain_Baseline runs the baseline scenario briefly as JSON.
func TestBenchMain_Baseline(t *testing.T) {
	out, _, err := benchRun(t, "baseline", "--data-dir", t.TempDir(), "--baseline-budget", "20ms", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Scenario string
		Baseline bench.Baseline
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if got.Scenario != "baseline" || got.Baseline.Fsync4K.Samples == 0 || got.Baseline.TCPStream.MBPerSec <= 0 {
		t.Errorf("baseline %+v; want samples of every measurement", got)
	}
}

// TestBenchMain_Usage checks help and the command lines that cannot run.
func TestBenchMain_Usage(t *testing.T) {
	out, _, err := benchRun(t, "-h")
	if err != nil || !strings.Contains(out, "usage: sluice bench SCENARIO") || !strings.Contains(out, "--producers") {
		t.Errorf("-h: err %v, usage %q", err, out)
	}
	_, errOut, err := benchRun(t)
	if !errors.Is(err, scenario.ErrUsage) || !strings.Contains(errOut, "usage:") {
		t.Errorf("no scenario: err %v, stderr %q; want ErrUsage and the usage", err, errOut)
	}
	for _, args := range [][]string{
		{"soak", "--inproc"},
		{"put", "--batch", "0x"},
		{"put", "get"},
		{"limits", "--inproc", "--quotas", "unlimited"},
	} {
		if _, _, err := benchRun(t, args...); !errors.Is(err, scenario.ErrUsage) {
			t.Errorf("%v: err %v; want ErrUsage", args, err)
		}
	}
}
