package ratelimit_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicedb/sluice/ratelimit"
)

const (
	warmup  = 2 * time.Second  // spends the initial burst before measuring
	measure = 10 * time.Second // the window the ±2% figures are taken over
)

// TestShard_PutRates drives one producer per case against a Kinesis shard on
// a simulated clock and checks that, after a warm-up that spends the initial
// burst, accepted records and bytes over 10 s are within ±2% of what the
// limits allow (or of what was offered, when that is less).
func TestShard_PutRates(t *testing.T) {
	fixed := func(n int) func(*rand.Rand) int { return func(*rand.Rand) int { return n } }
	cases := []struct {
		name   string
		period time.Duration // a batch is offered every period
		batch  int           // records per batch
		size   func(*rand.Rand) int
		// expected accepted rates; 0 means not checked
		wantRecords, wantBytes float64
	}{
		{"steady/records-bound", time.Millisecond, 2, fixed(100), 1000, 100_000},
		{"steady/bytes-bound", time.Millisecond, 1, fixed(4 * kib), 256, mib},
		{"steady/under-limit", 2 * time.Millisecond, 1, fixed(500), 500, 250_000},
		{"steady/mixed-sizes", time.Millisecond, 1, func(r *rand.Rand) int { return 1 + r.IntN(8*kib) }, 0, mib},
		{"bursty/over-limit", 250 * time.Millisecond, 600, fixed(100), 1000, 100_000},
		{"bursty/large-records", time.Second, 100, fixed(64 * kib), 16, mib},
		{"bursty/absorbed-by-burst", time.Second, 900, fixed(1000), 900, 900_000},
		{"bursty/beyond-burst", 2 * time.Second, 2000, fixed(100), 500, 50_000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk, s := manualShard(t, ratelimit.Kinesis)
			rng := rand.New(rand.NewPCG(1, 2))
			var records, bytes, offered, refused int64
			for el := time.Duration(0); el < warmup+measure; el += c.period {
				counting := el >= warmup
				for range c.batch {
					n := c.size(rng)
					ok := s.AllowPut(n)
					if !counting {
						continue
					}
					offered++
					if ok {
						records++
						bytes += int64(n)
					} else {
						refused++
					}
				}
				clk.Advance(c.period)
			}
			secs := measure.Seconds()
			if c.wantRecords != 0 {
				withinPct(t, "records/s", float64(records)/secs, c.wantRecords, 2)
			}
			withinPct(t, "bytes/s", float64(bytes)/secs, c.wantBytes, 2)
			if float64(records)/secs > 1000*1.0001 || float64(bytes)/secs > mib*1.0001 {
				t.Errorf("accepted %.0f records/s and %.0f B/s: above the Kinesis limits", float64(records)/secs, float64(bytes)/secs)
			}
			th := s.Throttled()
			if th.PutRecords < refused || th.PutRecords > refused+int64(warmup/c.period)*int64(c.batch) {
				t.Errorf("Throttled().PutRecords = %d, want %d refused in the window plus the warm-up's", th.PutRecords, refused)
			}
		})
	}
}

// TestShard_PutManyGoroutines has 8 producers share one shard and one
// simulated clock, each moving the clock forward after every attempt.
func TestShard_PutManyGoroutines(t *testing.T) {
	cases := []struct {
		name                   string
		size                   int
		wantRecords, wantBytes float64
	}{
		{"records-bound", 100, 1000, 100_000},
		{"bytes-bound", 4 * kib, 256, mib},
	}
	const (
		goroutines = 8
		step       = 50 * time.Microsecond // per attempt: 20,000 attempts/s offered
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk, s := manualShard(t, ratelimit.Kinesis)
			put := func() bool { return s.AllowPut(c.size) }
			raceOnClock(clk, goroutines, step, warmup, put)
			start := clk.Now()
			got := raceOnClock(clk, goroutines, step, warmup+measure, put)
			secs := time.Duration(clk.Now() - start).Seconds()
			withinPct(t, "records/s", float64(got)/secs, c.wantRecords, 2)
			withinPct(t, "bytes/s", float64(got)*float64(c.size)/secs, c.wantBytes, 2)
		})
	}
}

func TestShard_RefusedPutConsumesNothing(t *testing.T) {
	clk, s := manualShard(t, ratelimit.Limits{WriteRecordsPerSec: 10, WriteBytesPerSec: 1000})
	if !s.AllowPut(1000) { // drains the bytes, leaves 9 records
		t.Fatal("first put refused")
	}
	for range 50 {
		if s.AllowPut(100) {
			t.Fatal("put admitted with no bytes left")
		}
	}
	// The 50 refusals by the byte bucket must have given their records back:
	// 9 records remain, so nine 1-byte puts fit once there are bytes for them.
	clk.Advance(9 * time.Millisecond) // 9 bytes at 1000 B/s; 0.09 records
	for i := range 9 {
		if !s.AllowPut(1) {
			t.Fatalf("1-byte put %d of 9 refused: a refused put consumed a record", i+1)
		}
	}
	if s.AllowPut(0) {
		t.Fatal("10th record admitted: the record bucket holds more than 10")
	}
	if th := s.Throttled(); th.PutRecords != 51 || th.PutBytes != 50*100 {
		t.Fatalf("Throttled() = %+v, want 51 records, 5000 bytes", th)
	}
}

func TestShard_LargeReadBlocksFiveSeconds(t *testing.T) {
	clk, s := manualShard(t, ratelimit.Kinesis)
	if !s.BeginRead() {
		t.Fatal("first read refused")
	}
	s.EndRead(10 * mib) // 10 MiB at 2 MiB/s: 5 s of quota
	for el := time.Duration(0); el < 5*time.Second; el += 100 * time.Millisecond {
		if s.BeginRead() {
			t.Fatalf("read admitted %v after a 10 MiB read", el)
		}
		clk.Advance(100 * time.Millisecond)
	}
	if !s.BeginRead() {
		t.Fatal("read refused 5 s after a 10 MiB read")
	}
	if got := s.Throttled().Reads; got != 50 {
		t.Fatalf("Throttled().Reads = %d, want 50", got)
	}
}

func TestShard_OverLimitReadBlocksOneSecond(t *testing.T) {
	clk, s := manualShard(t, ratelimit.Kinesis)
	if !s.BeginRead() {
		t.Fatal("first read refused")
	}
	s.EndRead(2 * mib) // one second of the read quota in one call
	clk.Advance(time.Second - time.Nanosecond)
	if s.BeginRead() {
		t.Fatal("read admitted within 1 s of a call that used a second of quota")
	}
	clk.Advance(time.Nanosecond)
	if !s.BeginRead() {
		t.Fatal("read refused 1 s after a call that used a second of quota")
	}
	s.EndRead(0)
	// The call quota: a burst of 5, then one call per 200 ms.
	for i := range 4 {
		if !s.BeginRead() {
			t.Fatalf("call %d of the 5-call burst refused", i+2)
		}
		s.EndRead(0)
	}
	if s.BeginRead() {
		t.Fatal("6th call in the same instant admitted")
	}
	clk.Advance(200 * time.Millisecond)
	if !s.BeginRead() {
		t.Fatal("call refused 200 ms after the burst at 5 calls/s")
	}
}

// TestShard_ReadRates polls a Kinesis shard every millisecond for 10 s after
// a warm-up: calls returning little are bound by 5 calls/s, calls returning
// 1 MiB by 2 MiB/s.
func TestShard_ReadRates(t *testing.T) {
	cases := []struct {
		name                 string
		perCall              int
		wantCalls, wantBytes float64
	}{
		{"calls-bound", 64 * kib, 5, 5 * 64 * kib},
		{"bytes-bound", mib, 2, 2 * mib},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk, s := manualShard(t, ratelimit.Kinesis)
			var calls, bytes int64
			for el := time.Duration(0); el < warmup+measure; el += time.Millisecond {
				if s.BeginRead() {
					s.EndRead(c.perCall)
					if el >= warmup {
						calls++
						bytes += int64(c.perCall)
					}
				}
				clk.Advance(time.Millisecond)
			}
			withinPct(t, "calls/s", float64(calls)/measure.Seconds(), c.wantCalls, 2)
			withinPct(t, "bytes/s", float64(bytes)/measure.Seconds(), c.wantBytes, 2)
		})
	}
}

func TestShard_SetLimitsTakesEffectOnNextRequest(t *testing.T) {
	_, s := manualShard(t, ratelimit.Kinesis)
	for s.AllowPut(10 * kib) {
	}
	if s.AllowPut(10 * kib) {
		t.Fatal("put admitted at 1 MiB/s after the burst")
	}
	faster := ratelimit.Kinesis
	faster.WriteBytesPerSec = 10 * mib
	if err := s.SetLimits(faster); err != nil {
		t.Fatal(err)
	}
	if !s.AllowPut(10 * kib) {
		t.Fatal("put refused right after raising the byte limit to 10 MiB/s")
	}
	if s.Limits() != faster {
		t.Fatalf("Limits() = %+v, want %+v", s.Limits(), faster)
	}
	if err := s.SetLimits(ratelimit.Unlimited); err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		if !s.AllowPut(mib) {
			t.Fatalf("put %d refused by an unlimited shard", i)
		}
	}
	slower := ratelimit.Kinesis
	slower.WriteRecordsPerSec = 3
	if err := s.SetLimits(slower); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if !s.AllowPut(1) {
			t.Fatalf("put %d of 3 refused after lowering to 3 records/s", i+1)
		}
	}
	if s.AllowPut(1) {
		t.Fatal("4th put admitted right after lowering to 3 records/s")
	}
	// Reads follow too: from debt at 2 MiB/s to unlimited.
	s.BeginRead()
	s.EndRead(10 * mib)
	if s.BeginRead() {
		t.Fatal("read admitted after 10 MiB")
	}
	if err := s.SetLimits(ratelimit.Unlimited); err != nil {
		t.Fatal(err)
	}
	if !s.BeginRead() {
		t.Fatal("read refused right after the shard became unlimited")
	}
}

func TestShard_UnlimitedNeverThrottles(t *testing.T) {
	clk := ratelimit.NewManualClock(0)
	shards := map[string]*ratelimit.Shard{
		"zero value": new(ratelimit.Shard),
		"NewShard":   mustShard(t, clk, ratelimit.Unlimited),
		"preset":     mustShard(t, clk, mustPreset(t, "unlimited")),
		"set unlimited": func() *ratelimit.Shard {
			s := mustShard(t, clk, ratelimit.Kinesis)
			if err := s.SetLimits(ratelimit.Unlimited); err != nil {
				t.Fatal(err)
			}
			return s
		}(),
	}
	for name, s := range shards {
		c := s.NewConsumer()
		for i := range 100_000 {
			if !s.AllowPut(10*mib) || !s.BeginRead() || !c.Allow() {
				t.Fatalf("%s: request %d throttled", name, i)
			}
			s.EndRead(10 * mib)
			c.Charge(10 * mib)
		}
		if th := s.Throttled(); th != (ratelimit.Throttled{}) {
			t.Fatalf("%s: Throttled() = %+v, want all zero", name, th)
		}
		if !s.Limits().IsUnlimited() {
			t.Fatalf("%s: Limits() = %+v, want unlimited", name, s.Limits())
		}
	}
}

func TestShard_InvalidLimitsRejected(t *testing.T) {
	bad := ratelimit.Kinesis
	bad.ReadCallsPerSec = -1
	if _, err := ratelimit.NewShard(nil, bad); !errors.Is(err, ratelimit.ErrInvalidLimit) {
		t.Fatalf("NewShard with a negative limit: error = %v, want ErrInvalidLimit", err)
	}
	s := mustShard(t, nil, ratelimit.Kinesis)
	if err := s.SetLimits(bad); !errors.Is(err, ratelimit.ErrInvalidLimit) {
		t.Fatalf("SetLimits with a negative limit: error = %v, want ErrInvalidLimit", err)
	}
	if s.Limits() != ratelimit.Kinesis {
		t.Fatalf("rejected SetLimits changed the limits to %+v", s.Limits())
	}
}

func mustPreset(t *testing.T, name string) ratelimit.Limits {
	t.Helper()
	l, err := ratelimit.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestShard_ChargePutSharesTheLimit stands for one shard of a three-node
// cluster: each node judges the puts it receives with its own Shard and
// bills the records the other nodes admitted (as applying their entries
// does) with ChargePut, one millisecond later. Producers offer each node
// the shard's whole limit; together the nodes must admit about the limit,
// not three times it.
func TestShard_ChargePutSharesTheLimit(t *testing.T) {
	clk := ratelimit.NewManualClock(0)
	const nodes = 3
	var shards [nodes]*ratelimit.Shard
	for i := range shards {
		shards[i] = mustShard(t, clk, ratelimit.Kinesis)
	}
	const size = 100
	var admitted [nodes]int // in the measured window
	var lastMs [nodes]int   // admitted in the previous millisecond, billed to the others now
	for el := time.Duration(0); el < warmup+measure; el += time.Millisecond {
		clk.Set(int64(el))
		for i := range shards {
			for j := range shards {
				if j != i && lastMs[j] > 0 {
					shards[i].ChargePut(lastMs[j], lastMs[j]*size)
				}
			}
		}
		var now [nodes]int
		for i, s := range shards {
			if s.AllowPut(size) { // each node is offered 1,000 records/s
				now[i]++
				if el >= warmup {
					admitted[i]++
				}
			}
		}
		lastMs = now
	}
	total := 0
	for _, n := range admitted {
		total += n
	}
	rate := float64(total) / measure.Seconds()
	if rate < 0.95*1000 || rate > 1.10*1000 {
		t.Errorf("three nodes admitted %.0f records/s in all (%v); want about the shard's 1000", rate, admitted)
	}
}

// TestShard_ChargePutUnlimited checks that billing an unlimited shard is
// a no-op and a limited one is left in debt.
func TestShard_ChargePutUnlimited(t *testing.T) {
	_, s := manualShard(t, ratelimit.Limits{})
	s.ChargePut(1<<20, 1<<30)
	if !s.AllowPut(100) {
		t.Fatal("an unlimited shard refused a put after ChargePut")
	}
	_, s = manualShard(t, ratelimit.Kinesis)
	s.ChargePut(5000, 100)
	if s.AllowPut(100) {
		t.Fatal("a shard billed 5 s of records admitted a put at once")
	}
}
