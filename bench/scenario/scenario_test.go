package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicedb/sluice/bench"
)

// inproc returns options for a scenario against an in-process server on a
// test directory.
func inproc(t *testing.T, name string) Options {
	t.Helper()
	return Options{Scenario: name, InProc: true, DataDir: t.TempDir(), Stream: "bench-test"}
}

func runScenario(t *testing.T, o Options) *bench.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("%s: %v", o.Scenario, err)
	}
	return rep
}

// runEach runs each named scenario in a subtest, on options set by set, and
// checks its report.
func runEach(t *testing.T, names []string, set func(*Options), check func(t *testing.T, name string, rep *bench.Report)) {
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			o := inproc(t, name)
			set(&o)
			check(t, name, runScenario(t, o))
		})
	}
}

// checkLatencies checks that a load's latency figures are there and ordered.
func checkLatencies(t *testing.T, name string, s *bench.Stats) {
	t.Helper()
	if s.P50 <= 0 || s.P50 > s.P90 || s.P90 > s.P99 || s.P99 > s.P999 || s.P999 > s.Max {
		t.Errorf("%s latencies p50 %d, p90 %d, p99 %d, p99.9 %d, max %d µs; want positive and ordered", name, s.P50, s.P90, s.P99, s.P999, s.Max)
	}
}

// TestRun_Put puts a fixed count through the binary protocol and checks
// that every record is accounted for and the figures are sane.
func TestRun_Put(t *testing.T) {
	o := inproc(t, Put)
	o.Records, o.Batch, o.Producers, o.Size, o.Shards = 3000, 50, 3, 100, 2
	rep := runScenario(t, o)
	if rep.StoppedBy != bench.StopRecords || rep.Records != 3000 || rep.Requests != 60 {
		t.Fatalf("stopped by %q after %d records in %d requests; want records, 3000 in 60", rep.StoppedBy, rep.Records, rep.Requests)
	}
	if want := int64(3000 * (100 + 16)); rep.Bytes != want {
		t.Errorf("bytes %d, want %d (data and 16-character keys)", rep.Bytes, want)
	}
	if rep.Errors != 0 || rep.Throttled != 0 {
		t.Errorf("%d errors, %d throttled; want none with unlimited quotas", rep.Errors, rep.Throttled)
	}
	if rep.RecordsPerSec <= 0 || rep.MBPerSec <= 0 || rep.Ratios["kinesis_shards_per_shard"] <= 0 {
		t.Errorf("rates %v records/s, %v MB/s, %v shards' worth; want all positive", rep.RecordsPerSec, rep.MBPerSec, rep.Ratios["kinesis_shards_per_shard"])
	}
	checkLatencies(t, "put", &rep.Stats)

	var out bytes.Buffer
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"records_per_sec", "mb_per_sec", "p50_us", "p99_us", "p999_us", "max_us", "errors", "throttled"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %s: %s", k, out.String())
		}
	}
}

// TestRun_PutOpenLoop runs the producers at a rate and checks that the
// latencies were recorded with the coordinated-omission correction's
// bookkeeping (at least a sample per request) and the rate was not
// exceeded.
func TestRun_PutOpenLoop(t *testing.T) {
	o := inproc(t, Put)
	o.Records, o.Batch, o.Producers, o.Rate = 400, 10, 2, 2000
	rep := runScenario(t, o)
	if rep.Records != 400 || rep.LatencySamples < rep.Requests {
		t.Errorf("%d records, %d samples for %d requests; want 400, and a sample per request at least", rep.Records, rep.LatencySamples, rep.Requests)
	}
	// 400 records at 2,000/s take at least 0.2 s less one slot per producer.
	if rep.Duration < 190*time.Millisecond {
		t.Errorf("400 records at 2,000/s took %v; the rate was exceeded", rep.Duration)
	}
	checkLatencies(t, "put", &rep.Stats)
}

// TestRun_Limits runs the limits scenario briefly and checks that every load
// ran and was throttled, that the shard never accepted or served more than
// its quota plus its burst, and that the checks are all there.
func TestRun_Limits(t *testing.T) {
	o := inproc(t, Limits)
	// Three times the quotas drain a shard's one-second burst in half a
	// second, even from a load generator slowed by the race detector.
	o.Duration, o.Warmup, o.Tolerance, o.Offer = 2*time.Second, time.Second, 0.2, 3
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil && !errors.Is(err, ErrLimits) {
		t.Fatal(err)
	}
	if rep.Limits == nil || len(rep.Limits.Checks) != 8 {
		t.Fatalf("limits result %+v; want the 8 checks of two cases", rep.Limits)
	}
	if (err == nil) != rep.Limits.Pass {
		t.Errorf("pass %v but err %v; a failing check must fail the run", rep.Limits.Pass, err)
	}
	for _, name := range []string{"put-records", "put-bytes", "get-calls", "get-bytes"} {
		s := rep.LoadStats(name)
		if s == nil || s.Records == 0 || s.Requests == 0 || s.Bytes == 0 || s.Throttled == 0 {
			t.Errorf("%s: %+v; want records, requests and bytes, and throttling beyond the quota", name, s)
		}
	}
	// A shard admits at most its quota per second plus one second of burst
	// (and a read's overdraft), whatever the load generator managed.
	sec := rep.Seconds
	ceiling := 1.05 * (1 + 1/sec)
	binding := map[string]float64{}
	for _, c := range rep.Limits.Checks {
		if c.Binding {
			binding[c.Case+"/"+c.Name] = c.Measured / c.Quota
		}
		if c.Measured <= 0 {
			t.Errorf("%s %s measured %v; want positive", c.Case, c.Name, c.Measured)
		}
		if c.Measured > c.Quota*ceiling {
			t.Errorf("%s %s: measured %.4g/s over a quota of %.4g/s: more than quota and burst", c.Case, c.Name, c.Measured, c.Quota)
		}
	}
	for _, want := range []string{"records/in_records_per_sec", "records/reads_per_sec", "bytes/in_bytes_per_sec", "bytes/out_bytes_per_sec"} {
		if _, ok := binding[want]; !ok {
			t.Errorf("binding checks %v lack %s", binding, want)
		}
	}
	t.Logf("limits over %.2f s: pass %v, binding quotas reached %v", sec, rep.Limits.Pass, binding)
}

// TestRun_CatchUp reads a prefilled stream with two readers and with two
// subscribers: each must receive every record exactly once.
func TestRun_CatchUp(t *testing.T) {
	runEach(t, []string{Get, Subscribe}, func(o *Options) {
		o.From, o.Records, o.Readers, o.Consumers, o.Shards, o.MaxRecords = FromTrim, 5000, 2, 2, 3, 700
	}, func(t *testing.T, name string, rep *bench.Report) {
		if rep.StoppedBy != bench.StopDone || rep.Records != 2*5000 {
			t.Errorf("stopped by %q with %d records read; want done, every record twice (10000)", rep.StoppedBy, rep.Records)
		}
		if want := int64(2 * 5000 * (100 + 16)); rep.Bytes != want {
			t.Errorf("bytes %d, want %d", rep.Bytes, want)
		}
		if name == Get && rep.Requests < 2*5000/700 {
			t.Errorf("%d reads of at most 700 records for 10000 records", rep.Requests)
		}
	})
}

// TestRun_Mixed runs producers with tail subscribers: the puts bound the run
// and lead the report, the subscribers receive what was put, timed from
// each record's send.
func TestRun_Mixed(t *testing.T) {
	o := inproc(t, Mixed)
	o.Records, o.Batch, o.Producers, o.Consumers = 2000, 20, 2, 2
	rep := runScenario(t, o)
	sub := rep.LoadStats("subscribe")
	if rep.Load != "put" || rep.Records != 2000 || sub == nil {
		t.Fatalf("primary %q with %d records, subscribers %+v; want put, 2000, and the subscribers", rep.Load, rep.Records, sub)
	}
	if sub.Records == 0 || sub.Records > 2*2000 || sub.LatencySamples != sub.Records {
		t.Errorf("subscribers received %d records with %d latency samples; want some, at most 4000, a sample each", sub.Records, sub.LatencySamples)
	}
	checkLatencies(t, "subscribe", sub)
	// A record is delivered after its put was acknowledged or about then; no
	// delivery takes longer than the run.
	if time.Duration(sub.Max)*time.Microsecond > rep.Duration+time.Second {
		t.Errorf("a delivery took %d µs in a %v run; the send-time stamp is misread", sub.Max, rep.Duration)
	}
}

// TestRun_Interrupted cancels a long run and checks that the report of
// what ran comes back without an error.
func TestRun_Interrupted(t *testing.T) {
	o := inproc(t, Put)
	o.Duration = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the run is under way: the progress line's first draw.
	o.Progress = writerFunc(func(p []byte) { cancel() })
	o.ProgressInterval = 50 * time.Millisecond
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.StoppedBy != bench.StopInterrupted || rep.Records == 0 {
		t.Errorf("stopped by %q with %d records; want interrupted with what ran", rep.StoppedBy, rep.Records)
	}
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// TestOptions_Invalid checks that options no scenario can run with are
// refused before anything starts, naming the flag.
func TestOptions_Invalid(t *testing.T) {
	cases := map[string]struct {
		o    Options
		flag string
	}{
		"scenario":         {Options{Scenario: "soak"}, "soak"},
		"api":              {Options{Scenario: Put, API: "grpc"}, "--api"},
		"kinesis mixed":    {Options{Scenario: Mixed, API: APIKinesis}, "--api kinesis"},
		"batch":            {Options{Scenario: Put, Batch: 501}, "--batch"},
		"keys":             {Options{Scenario: Put, Keys: "zipf"}, "--keys"},
		"fsync":            {Options{Scenario: Put, Fsync: "sometimes"}, "--fsync"},
		"quotas":           {Options{Scenario: Put, Quotas: "generous"}, "--quotas"},
		"limits unlimited": {Options{Scenario: Limits, Quotas: "unlimited"}, "--quotas"},
		"limits shards":    {Options{Scenario: Limits, Shards: 2}, "--shards"},
		"limits records":   {Options{Scenario: Limits, Records: 10}, "--records"},
		"offer":            {Options{Scenario: Limits, Offer: 0.5}, "--offer"},
		"tail size":        {Options{Scenario: Subscribe, Size: 4}, "--size"},
		"from":             {Options{Scenario: Get, From: "middle"}, "--from"},
		"mixed from":       {Options{Scenario: Mixed, From: FromTrim}, "--from"},
		"rate":             {Options{Scenario: Put, Rate: -1}, "--rate"},
		"warm and count":   {Options{Scenario: Put, Records: 10, Warmup: time.Second}, "warm-up"},
		"tolerance":        {Options{Scenario: Limits, Tolerance: 1.5}, "--tolerance"},
	}
	for name, c := range cases {
		_, err := c.o.withDefaults()
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%s: err %v; want ErrUsage naming %s", name, err, c.flag)
		}
	}
	if _, err := Run(context.Background(), Options{Scenario: Baseline}); !errors.Is(err, ErrUsage) {
		t.Errorf("Run(baseline): err %v; want ErrUsage (MeasureBaseline runs it)", err)
	}
}

// TestOptions_Defaults checks the bounds each scenario gets by default.
func TestOptions_Defaults(t *testing.T) {
	cases := []struct {
		o        Options
		duration time.Duration
		records  int64
		warmup   time.Duration
		from     string
	}{
		{Options{Scenario: Put}, DefaultDuration, 0, 0, FromLatest},
		{Options{Scenario: Put, Records: 5}, 0, 5, 0, FromLatest},
		{Options{Scenario: Get}, 0, DefaultPrefill, 0, FromTrim},
		{Options{Scenario: Subscribe}, DefaultDuration, 0, 0, FromLatest},
		{Options{Scenario: Limits}, LimitsDuration, 0, LimitsWarmup, FromLatest},
	}
	for _, c := range cases {
		o, err := c.o.withDefaults()
		if err != nil {
			t.Fatalf("%s: %v", c.o.Scenario, err)
		}
		if o.Duration != c.duration || o.Records != c.records || o.Warmup != c.warmup || o.From != c.from {
			t.Errorf("%s: duration %v, records %d, warm-up %v, from %s; want %v, %d, %v, %s",
				c.o.Scenario, o.Duration, o.Records, o.Warmup, o.From, c.duration, c.records, c.warmup, c.from)
		}
		if o.Scenario == Limits && (o.Quotas != "kinesis" || o.Producers != LimitsProducers) ||
			o.Scenario != Limits && (o.Quotas != "unlimited" || o.Producers != 4) {
			t.Errorf("%s: quotas %s, %d producers", o.Scenario, o.Quotas, o.Producers)
		}
	}
}

// TestPayload_Stamp checks the send time written into a record's data and
// read back by a tail reader.
func TestPayload_Stamp(t *testing.T) {
	data := make([]byte, 100)
	sent := time.Unix(1_700_000_000, 123_456_789)
	stamp(data, sent)
	if got := sinceStamp(data, sent.Add(1500*time.Microsecond)); got != 1500*time.Microsecond {
		t.Errorf("since stamp %v, want 1.5ms", got)
	}
	if got := sinceStamp(data, sent.Add(-time.Second)); got != 0 {
		t.Errorf("a stamp in the future gave %v, want 0", got)
	}
	short := []byte{1, 2, 3}
	stamp(short, sent)
	if short[0] != 1 || sinceStamp(short, sent) != 0 {
		t.Errorf("data under 8 bytes was stamped or read: %v", short)
	}
}

// TestKeyPool checks both key distributions.
func TestKeyPool(t *testing.T) {
	random := keyPool("random")
	seen := map[string]bool{}
	for _, k := range random {
		if len(k) != 16 {
			t.Fatalf("random key %q is not 16 characters", k)
		}
		seen[string(k)] = true
	}
	if len(random) != randomKeys || len(seen) < randomKeys-10 {
		t.Errorf("%d random keys, %d distinct; want %d, nearly all distinct", len(random), len(seen), randomKeys)
	}
	three := keyPool("3")
	if len(three) != 3 || string(three[0]) != "key-0" || string(three[2]) != "key-2" {
		t.Errorf("3 distinct keys: %q", three)
	}
}

// TestRun_KinesisAPI drives the put and catch-up get workloads through the
// in-process server's Kinesis API with the AWS SDK for Go.
func TestRun_KinesisAPI(t *testing.T) {
	runEach(t, []string{Put, Get}, func(o *Options) {
		o.API, o.Records, o.Batch, o.Producers, o.Shards, o.MaxRecords = APIKinesis, 600, 100, 2, 2, 250
	}, func(t *testing.T, name string, rep *bench.Report) {
		// A PutRecords retried after the SDK's transport closed its
		// connection may store a batch twice; nothing is lost.
		if rep.Records < 600 || rep.Records > 1200 || rep.Errors != 0 || rep.Throttled != 0 {
			t.Errorf("%d records, %d errors, %d throttled; want the 600 and no failures", rep.Records, rep.Errors, rep.Throttled)
		}
		if name == Put && rep.Requests != 6 {
			t.Errorf("%d requests, want 6 of 100 records", rep.Requests)
		}
		if rep.Bytes < 600*(100+16) || rep.Parameters["api"] != APIKinesis {
			t.Errorf("%d bytes, parameters %v; want at least %d bytes through the kinesis API", rep.Bytes, rep.Parameters, 600*(100+16))
		}
		checkLatencies(t, name, &rep.Stats)
	})
}
