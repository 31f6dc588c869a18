package bench

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// findCheck returns the named check of a result.
func findCheck(t *testing.T, r *LimitsResult, name string) LimitCheck {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", name, r.Checks)
	return LimitCheck{}
}

// TestCheckLimits covers the conformance arithmetic case by case.
func TestCheckLimits(t *testing.T) {
	type want struct {
		name      string
		expected  float64
		deviation float64
		binding   bool
		pass      bool
	}
	cases := []struct {
		name    string
		in, out Flow
		opts    LimitsOptions
		pass    bool
		checks  []want
	}{{
		name: "small records hit the records quota",
		in:   Flow{Units: 1000, Bytes: 100_000, OfferedUnits: 3000, Throttled: 20_000},
		pass: true,
		checks: []want{
			{LimitInRecords, 1000, 0, true, true},
			{LimitInBytes, 100_000, 0, false, true},
		},
	}, {
		name: "64 KiB records hit the bytes quota at 16 records/s",
		in:   Flow{Units: 16, Bytes: mib, OfferedUnits: 40, Throttled: 240},
		pass: true,
		checks: []want{
			{LimitInRecords, 16, 0, false, true},
			{LimitInBytes, mib, 0, true, true},
		},
	}, {
		name: "10 % short of the records quota fails",
		in:   Flow{Units: 900, Bytes: 90_000, OfferedUnits: 3000, Throttled: 21_000},
		pass: false,
		checks: []want{
			{LimitInRecords, 1000, -0.1, true, false},
			{LimitInBytes, 100_000, -0.1, false, false},
		},
	}, {
		name: "3 % over is within the default 5 %",
		in:   Flow{Units: 1030, Bytes: 103_000, OfferedUnits: 3000, Throttled: 19_700},
		pass: true,
		checks: []want{
			{LimitInRecords, 1000, 0.03, true, true},
		},
	}, {
		name: "over the quota with nothing throttled fails",
		in:   Flow{Units: 1000, Bytes: 100_000, OfferedUnits: 3000},
		pass: false,
		checks: []want{
			{LimitInRecords, 1000, 0, true, false},
			{LimitInBytes, 100_000, 0, false, true},
		},
	}, {
		name: "under the quota everything offered is accepted",
		in:   Flow{Units: 500, Bytes: 50_000, OfferedUnits: 500},
		pass: true,
		checks: []want{
			{LimitInRecords, 500, 0, false, true},
			{LimitInBytes, 50_000, 0, false, true},
		},
	}, {
		name: "unknown offered load is taken as saturating",
		in:   Flow{Units: 1000, Bytes: 100_000},
		pass: true,
		checks: []want{
			{LimitInRecords, 1000, 0, true, true},
		},
	}, {
		name: "reads: 5 per second of 200 KiB",
		out:  Flow{Units: 5, Bytes: 5 * 200 << 10, OfferedUnits: 20, Throttled: 150},
		pass: true,
		checks: []want{
			{LimitReads, 5, 0, true, true},
			{LimitOutBytes, 5 * 200 << 10, 0, false, true},
		},
	}, {
		name: "reads: 1 MiB each hit 2 MiB/s at 2 reads/s",
		out:  Flow{Units: 2, Bytes: 2 * mib, OfferedUnits: 5, Throttled: 30},
		pass: true,
		checks: []want{
			{LimitReads, 2, 0, false, true},
			{LimitOutBytes, 2 * mib, 0, true, true},
		},
	}, {
		name: "two shards double the quotas",
		in:   Flow{Units: 2000, Bytes: 200_000, OfferedUnits: 5000, Throttled: 30_000},
		opts: LimitsOptions{Shards: 2},
		pass: true,
		checks: []want{
			{LimitInRecords, 2000, 0, true, true},
		},
	}, {
		name: "a full bucket at the start allows a burst",
		in:   Flow{Units: 1100, Bytes: 110_000, OfferedUnits: 3000, Throttled: 19_000},
		opts: LimitsOptions{BurstSeconds: 1, Duration: 10 * time.Second},
		pass: true,
		checks: []want{
			{LimitInRecords, 1100, 0, true, true},
		},
	}, {
		name: "tight tolerance",
		in:   Flow{Units: 1030, Bytes: 103_000, OfferedUnits: 3000, Throttled: 19_700},
		opts: LimitsOptions{Tolerance: 0.01},
		pass: false,
		checks: []want{
			{LimitInRecords, 1000, 0.03, true, false},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := CheckLimits(KinesisQuotas, c.in, c.out, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Pass != c.pass {
				t.Errorf("pass = %v, want %v: %+v", r.Pass, c.pass, r.Checks)
			}
			for _, w := range c.checks {
				got := findCheck(t, r, w.name)
				if !near(got.Expected, w.expected) || !near(got.Deviation, w.deviation) || got.Binding != w.binding || got.Pass != w.pass {
					t.Errorf("%s: expected %v, deviation %v, binding %v, pass %v (%s); want %v, %v, %v, %v",
						w.name, got.Expected, got.Deviation, got.Binding, got.Pass, got.Reason,
						w.expected, w.deviation, w.binding, w.pass)
				}
				if !got.Pass && got.Reason == "" {
					t.Errorf("%s failed without a reason", w.name)
				}
			}
		})
	}
}

// TestCheckLimits_QuotaDeviation checks the deviation from the limit itself:
// 1,020 records/s against 1,000 is +2 %.
func TestCheckLimits_QuotaDeviation(t *testing.T) {
	r, err := CheckLimits(KinesisQuotas, Flow{Units: 1020, Bytes: 102_000, OfferedUnits: 2000, Throttled: 1}, Flow{}, LimitsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := findCheck(t, r, LimitInRecords)
	if !near(c.QuotaDeviation, 0.02) || c.Quota != 1000 {
		t.Errorf("quota deviation %v against %v, want +0.02 against 1000", c.QuotaDeviation, c.Quota)
	}
	if len(r.Checks) != 2 {
		t.Errorf("%d checks; an outbound flow of zero is not exercised and not checked", len(r.Checks))
	}
}

// TestCheckLimits_Invalid checks that inconsistent measurements are refused.
func TestCheckLimits_Invalid(t *testing.T) {
	cases := map[string]struct {
		q    Quotas
		in   Flow
		opts LimitsOptions
	}{
		"negative rate":         {KinesisQuotas, Flow{Units: -1}, LimitsOptions{}},
		"NaN rate":              {KinesisQuotas, Flow{Units: math.NaN()}, LimitsOptions{}},
		"offered below taken":   {KinesisQuotas, Flow{Units: 100, OfferedUnits: 50}, LimitsOptions{}},
		"bytes without records": {KinesisQuotas, Flow{Bytes: 100}, LimitsOptions{}},
		"no quota":              {Quotas{}, Flow{Units: 1}, LimitsOptions{}},
		"negative shards":       {KinesisQuotas, Flow{Units: 1}, LimitsOptions{Shards: -1}},
		"tolerance of 2":        {KinesisQuotas, Flow{Units: 1}, LimitsOptions{Tolerance: 2}},
		"burst without time":    {KinesisQuotas, Flow{Units: 1}, LimitsOptions{BurstSeconds: 1}},
	}
	for name, c := range cases {
		if _, err := CheckLimits(c.q, c.in, Flow{}, c.opts); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: err = %v, want ErrOptions", name, err)
		}
	}
}

// TestFlows checks the flows taken from a run's figures.
func TestFlows(t *testing.T) {
	put := NewStats(Counts{Requests: 100, Records: 10_000, Bytes: 1_000_000, Throttled: 5000}, nil, 10*time.Second)
	if f := InboundFlow(put); f != (Flow{Units: 1000, Bytes: 100_000, OfferedUnits: 1500, Throttled: 5000}) {
		t.Errorf("inbound flow %+v", f)
	}
	get := NewStats(Counts{Requests: 50, Records: 10_000, Bytes: 20 * mib, Throttled: 30}, nil, 10*time.Second)
	if f := OutboundFlow(get); f != (Flow{Units: 5, Bytes: 2 * mib, OfferedUnits: 8, Throttled: 30}) {
		t.Errorf("outbound flow %+v", f)
	}
}

// TestShardsWorth checks how many Kinesis shards a load would need.
func TestShardsWorth(t *testing.T) {
	// 50,000 records/s of 100 B (5 MB/s): records bind, 50 shards.
	s := NewStats(Counts{Records: 500_000, Bytes: 50_000_000}, nil, 10*time.Second)
	if got := KinesisQuotas.ShardsWorth(s, true); !near(got, 50) {
		t.Errorf("inbound shards = %v, want 50", got)
	}
	// 1,000 records/s of 100 KiB (100 MiB/s): bytes bind, 100 shards.
	s = NewStats(Counts{Records: 10_000, Bytes: 1000 * mib}, nil, 10*time.Second)
	if got := KinesisQuotas.ShardsWorth(s, true); !near(got, 100) {
		t.Errorf("inbound shards = %v, want 100", got)
	}
	// 20 reads/s moving 10 MiB/s: 4 shards by reads, 5 by bytes; 5 it is.
	s = NewStats(Counts{Requests: 200, Bytes: 100 * mib}, nil, 10*time.Second)
	if got := KinesisQuotas.ShardsWorth(s, false); !near(got, 5) {
		t.Errorf("outbound shards = %v, want 5", got)
	}
}

// TestCheckLimits_Reasons checks that a check failing two ways says both.
func TestCheckLimits_Reasons(t *testing.T) {
	r, err := CheckLimits(KinesisQuotas, Flow{}, Flow{Units: 4, Bytes: 10_000, OfferedUnits: 10}, LimitsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := findCheck(t, r, LimitReads)
	if c.Pass || !strings.Contains(c.Reason, "-20.0% off the expected 5/s") || !strings.Contains(c.Reason, "nothing was throttled") {
		t.Errorf("reads check: pass %v, reason %q; want a failure for being 20 %% short and for no throttling", c.Pass, c.Reason)
	}
}

// TestCombineLimits checks that the checks of two cases are joined, marked
// with their case, and that one failing case fails the whole.
func TestCombineLimits(t *testing.T) {
	q := KinesisQuotas
	small, err := CheckLimits(q, Flow{Units: 1000, Bytes: 116_000, OfferedUnits: 2000, Throttled: 10_000}, Flow{}, LimitsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 10 KiB records accepted at half the bytes quota while offered twice it.
	large, err := CheckLimits(q, Flow{Units: 51, Bytes: 51 * 10240, OfferedUnits: 204, Throttled: 1530}, Flow{}, LimitsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := CombineLimits([]string{"small", "large"}, small, large)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Checks) != 4 || res.Checks[0].Case != "small" || res.Checks[3].Case != "large" {
		t.Fatalf("checks %+v; want small's two then large's two, marked", res.Checks)
	}
	if !small.Pass || large.Pass || res.Pass {
		t.Errorf("pass: small %v, large %v, combined %v; want true, false, false", small.Pass, large.Pass, res.Pass)
	}
	rep := &Report{Limits: res}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "large: in_bytes_per_sec (binding)") {
		t.Errorf("text lacks the case of the binding check:\n%s", b.String())
	}
	if _, err := CombineLimits([]string{"one"}, small, large); !errors.Is(err, ErrOptions) {
		t.Errorf("one name for two results: err %v, want ErrOptions", err)
	}
	other, _ := CheckLimits(q, Flow{Units: 1}, Flow{}, LimitsOptions{Shards: 2})
	if _, err := CombineLimits([]string{"a", "b"}, small, other); !errors.Is(err, ErrOptions) {
		t.Errorf("different shard counts: err %v, want ErrOptions", err)
	}
}
