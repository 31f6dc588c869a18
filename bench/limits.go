package bench

import (
	"fmt"
	"math"
	"time"
)

// Quotas are per-shard throughput limits, per second.
type Quotas struct {
	InBytesPerSec   float64 `json:"in_bytes_per_sec"`
	InRecordsPerSec float64 `json:"in_records_per_sec"`
	OutBytesPerSec  float64 `json:"out_bytes_per_sec"`
	ReadsPerSec     float64 `json:"reads_per_sec"`
}

// KinesisQuotas are the per-shard limits of Kinesis Data Streams, and the
// default quotas of a sluice stream: 1 MiB/s and 1,000 records/s in,
// 2 MiB/s and 5 GetRecords calls/s out.
var KinesisQuotas = Quotas{
	InBytesPerSec:   1 << 20,
	InRecordsPerSec: 1000,
	OutBytesPerSec:  2 << 20,
	ReadsPerSec:     5,
}

// Names of the limits checks.
const (
	LimitInBytes   = "in_bytes_per_sec"
	LimitInRecords = "in_records_per_sec"
	LimitOutBytes  = "out_bytes_per_sec"
	LimitReads     = "reads_per_sec"
)

// Flow is one direction of traffic as measured over a run, per second.
type Flow struct {
	// Units is what the server accepted: records/s in, read requests/s out.
	Units float64
	// Bytes is the bytes/s of those units.
	Bytes float64
	// OfferedUnits is what was attempted, accepted plus throttled, per second;
	// 0 means unknown and is taken to exceed the quotas.
	OfferedUnits float64
	// Throttled is how many units were rejected for quota.
	Throttled int64
}

// InboundFlow is the inbound Flow of a put load: accepted records/s and
// bytes/s, offered records/s (accepted plus throttled).
func InboundFlow(s *Stats) Flow {
	return flowOf(s.Records, s.Bytes, s.Throttled, s.Seconds)
}

// OutboundFlow is the outbound Flow of a read load: served read requests/s
// and bytes/s, offered requests/s (served plus throttled). The load must
// count throttled reads in requests.
func OutboundFlow(s *Stats) Flow {
	return flowOf(s.Requests, s.Bytes, s.Throttled, s.Seconds)
}

func flowOf(units, bytes, throttled int64, sec float64) Flow {
	if sec <= 0 {
		return Flow{Throttled: throttled}
	}
	return Flow{
		Units:        float64(units) / sec,
		Bytes:        float64(bytes) / sec,
		OfferedUnits: float64(units+throttled) / sec,
		Throttled:    throttled,
	}
}

// LimitsOptions tune CheckLimits.
type LimitsOptions struct {
	// Shards is the number of shards the traffic spread over; default 1.
	Shards int
	// Tolerance is the largest relative deviation that passes; default 0.05
	// (±5 %).
	Tolerance float64
	// BurstSeconds is how many seconds of quota a shard's token bucket holds
	// when the run starts: over Duration a conforming server may then accept
	// quota × (1 + BurstSeconds/Duration) per second on average. Default 0:
	// no burst allowance.
	BurstSeconds float64
	// Duration is the length of the run; needed with BurstSeconds.
	Duration time.Duration
}

// LimitCheck is the conformance of one measured rate with its quota.
type LimitCheck struct {
	// Case names the traffic the check was measured on, when a run checks
	// several (a records-bound and a bytes-bound load, say); empty otherwise.
	Case string `json:"case,omitempty"`
	// Name is one of the Limit constants.
	Name string `json:"name"`
	// Quota is the limit per second, over all shards.
	Quota float64 `json:"quota"`
	// Expected is what a conforming server accepts of the offered load:
	// the offered rate, capped by both quotas of its direction at the
	// measured average size, with the burst allowance.
	Expected float64 `json:"expected"`
	// Measured is what the server accepted, per second.
	Measured float64 `json:"measured"`
	// Deviation is (Measured − Expected) / Expected: −0.02 is 2 % short.
	Deviation float64 `json:"deviation"`
	// QuotaDeviation is (Measured − Quota) / Quota, the distance from the
	// limit itself; it is the conformance figure when Binding.
	QuotaDeviation float64 `json:"quota_deviation"`
	// Binding says this quota is the one that capped the direction.
	Binding bool `json:"binding"`
	// Throttled is how many units of the direction were rejected for quota.
	Throttled int64 `json:"throttled"`
	// Pass is |Deviation| ≤ tolerance and, when the binding quota was
	// exceeded by more than the tolerance, some throttling.
	Pass bool `json:"pass"`
	// Reason says why a check failed.
	Reason string `json:"reason,omitempty"`
}

// LimitsResult is the conformance of a run with the shard quotas.
type LimitsResult struct {
	Shards    int          `json:"shards"`
	Tolerance float64      `json:"tolerance"`
	Checks    []LimitCheck `json:"checks"`
	// Pass is true when every check passed.
	Pass bool `json:"pass"`
}

// CombineLimits joins the results of several CheckLimits calls, each naming
// its traffic in cases (one name per result), into one: the checks of all,
// marked with their Case, which passes when every one passes. The results
// must agree on shards and tolerance.
func CombineLimits(cases []string, results ...*LimitsResult) (*LimitsResult, error) {
	if len(cases) != len(results) || len(results) == 0 {
		return nil, fmt.Errorf("%w: %d case names for %d limits results; give one name per result", ErrOptions, len(cases), len(results))
	}
	out := &LimitsResult{Shards: results[0].Shards, Tolerance: results[0].Tolerance, Pass: true}
	for i, r := range results {
		if r.Shards != out.Shards || r.Tolerance != out.Tolerance {
			return nil, fmt.Errorf("%w: limits results for %d shards at ±%v and %d shards at ±%v cannot be combined",
				ErrOptions, out.Shards, out.Tolerance, r.Shards, r.Tolerance)
		}
		for _, c := range r.Checks {
			c.Case = cases[i]
			out.Checks = append(out.Checks, c)
		}
		out.Pass = out.Pass && r.Pass
	}
	return out, nil
}

// CheckLimits compares the accepted inbound flow (records, bytes) and the
// served outbound flow (reads, bytes) of a run with the quotas. A zero Flow
// was not exercised and is not checked.
//
// The two quotas of a direction cap it together: at an average record size
// of s bytes, a shard accepts at most min(records quota, bytes quota / s)
// records/s, so 100-byte records hit the 1,000 records/s quota at 100 KB/s
// while 64 KiB records hit 1 MiB/s at 16 records/s. Each rate is checked
// against what that cap (or the offered load, when below it) predicts, and
// the quota that bound is marked Binding.
func CheckLimits(q Quotas, in, out Flow, opts LimitsOptions) (*LimitsResult, error) {
	if opts.Shards == 0 {
		opts.Shards = 1
	}
	if opts.Tolerance == 0 {
		opts.Tolerance = 0.05
	}
	if opts.Shards < 0 {
		return nil, fmt.Errorf("%w: %d shards; it must be at least 1", ErrOptions, opts.Shards)
	}
	if !(opts.Tolerance > 0 && opts.Tolerance < 1) {
		return nil, fmt.Errorf("%w: tolerance %v; it must be a fraction between 0 and 1", ErrOptions, opts.Tolerance)
	}
	allowance := 1.0
	if opts.BurstSeconds != 0 {
		if !(opts.BurstSeconds > 0) || opts.Duration <= 0 {
			return nil, fmt.Errorf("%w: a burst allowance of %v s needs a positive burst and the run's duration", ErrOptions, opts.BurstSeconds)
		}
		allowance += opts.BurstSeconds / opts.Duration.Seconds()
	}
	res := &LimitsResult{Shards: opts.Shards, Tolerance: opts.Tolerance, Pass: true}
	dirs := []struct {
		flow                  Flow
		unitName, bytesName   string
		unitQuota, bytesQuota float64
	}{
		{in, LimitInRecords, LimitInBytes, q.InRecordsPerSec, q.InBytesPerSec},
		{out, LimitReads, LimitOutBytes, q.ReadsPerSec, q.OutBytesPerSec},
	}
	for _, d := range dirs {
		if d.flow == (Flow{}) {
			continue
		}
		checks, err := checkDirection(d.flow, d.unitName, d.bytesName,
			d.unitQuota*float64(opts.Shards), d.bytesQuota*float64(opts.Shards), allowance, opts.Tolerance)
		if err != nil {
			return nil, err
		}
		for _, c := range checks {
			res.Pass = res.Pass && c.Pass
		}
		res.Checks = append(res.Checks, checks...)
	}
	return res, nil
}

// checkDirection checks one direction: its unit rate and its byte rate
// against quotas already multiplied by the shard count.
func checkDirection(f Flow, unitName, bytesName string, unitQuota, bytesQuota, allowance, tol float64) ([]LimitCheck, error) {
	for _, v := range []float64{f.Units, f.Bytes, f.OfferedUnits} {
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: %s flow has rate %v; rates must be finite and not negative", ErrOptions, unitName, v)
		}
	}
	if !(unitQuota > 0) || !(bytesQuota > 0) || math.IsInf(unitQuota, 0) || math.IsInf(bytesQuota, 0) {
		return nil, fmt.Errorf("%w: %s and %s quotas must be positive and finite", ErrOptions, unitName, bytesName)
	}
	if f.OfferedUnits > 0 && f.OfferedUnits < f.Units*(1-1e-9) {
		return nil, fmt.Errorf("%w: %s offered %v/s but accepted %v/s; offered must include accepted", ErrOptions, unitName, f.OfferedUnits, f.Units)
	}
	if f.Units == 0 && f.Bytes > 0 {
		return nil, fmt.Errorf("%w: %s flow has bytes without units", ErrOptions, unitName)
	}

	// The cap on units from each quota, and which one is lowest.
	capUnits := unitQuota * allowance
	bytesBind := false
	size := 0.0
	if f.Units > 0 {
		size = f.Bytes / f.Units
	}
	if size > 0 {
		if byBytes := bytesQuota * allowance / size; byBytes < capUnits {
			capUnits, bytesBind = byBytes, true
		}
	}
	expUnits := capUnits
	quotaBinds := true
	if f.OfferedUnits > 0 && f.OfferedUnits < capUnits {
		expUnits, quotaBinds = f.OfferedUnits, false
	}
	expBytes := expUnits * size

	unit := LimitCheck{Name: unitName, Quota: unitQuota, Expected: expUnits, Measured: f.Units,
		Binding: quotaBinds && !bytesBind, Throttled: f.Throttled}
	byts := LimitCheck{Name: bytesName, Quota: bytesQuota, Expected: expBytes, Measured: f.Bytes,
		Binding: quotaBinds && bytesBind, Throttled: f.Throttled}
	overQuota := quotaBinds && f.OfferedUnits > expUnits*(1+tol)
	for _, c := range []*LimitCheck{&unit, &byts} {
		c.Deviation = relative(c.Measured, c.Expected)
		c.QuotaDeviation = relative(c.Measured, c.Quota)
		c.Pass = math.Abs(c.Deviation) <= tol
		if !c.Pass {
			c.Reason = fmt.Sprintf("accepted %.4g/s, %+.1f%% off the expected %.4g/s", c.Measured, c.Deviation*100, c.Expected)
		}
		if c.Binding && overQuota && f.Throttled == 0 {
			c.Pass = false
			why := fmt.Sprintf("offered %.4g/s over a quota of %.4g/s but nothing was throttled", f.OfferedUnits, expUnits)
			if c.Reason != "" {
				why = c.Reason + "; " + why
			}
			c.Reason = why
		}
	}
	return []LimitCheck{unit, byts}, nil
}

// relative returns (measured − expected) / expected, and 0 when both are 0.
func relative(measured, expected float64) float64 {
	if expected == 0 {
		if measured == 0 {
			return 0
		}
		return 1 // something where nothing was expected: 100 % over
	}
	return (measured - expected) / expected
}

// ShardsWorth returns how many shards under the quotas it would take to
// carry a load: for puts (inbound) the larger of its records/s over the
// records quota and its bytes/s over the bytes quota; for reads (outbound)
// the larger of its requests/s over the reads quota and its bytes/s over the
// outbound bytes quota. With KinesisQuotas it states how many Kinesis shards'
// worth of throughput one sluice shard sustained.
func (q Quotas) ShardsWorth(s *Stats, inbound bool) float64 {
	if s.Seconds <= 0 {
		return 0
	}
	bytesPerSec := float64(s.Bytes) / s.Seconds
	if inbound {
		return max(over(s.RecordsPerSec, q.InRecordsPerSec), over(bytesPerSec, q.InBytesPerSec))
	}
	return max(over(s.RequestsPerSec, q.ReadsPerSec), over(bytesPerSec, q.OutBytesPerSec))
}

// over returns rate/quota, or 0 for a quota that is not positive (no limit).
func over(rate, quota float64) float64 {
	if !(quota > 0) {
		return 0
	}
	return rate / quota
}
